/**
 * Composed cells: a victim enclave and its peers, each with a backend, and the links between them.
 * Pure types: no I/O here. These go into the run's typed parameters (so into its key) and its evidence.
 */

/** A link between two enclaves of a cell. */
export type LinkKind = "network" | "shared-storage" | "depends-on";

/** One enclave of a composed cell besides the victim. */
export interface PeerParams {
  /** The peer's name in the cell: [a-z0-9-], unique in the cell, never "victim" or "host". */
  name: string;
  backend: string;
}

/**
 * A link. `depends-on`: a workload in `from` uses a service in `to` (the dependent counts failed and late
 * requests). `network`: both NICs on one bridge. `shared-storage`: a directory both use. `enabled: false`
 * is the link's toggle: the load stays the same and only the link is cut (a local copy of the service,
 * a flood to the sender's own loopback, ...).
 */
export interface LinkParams {
  kind: LinkKind;
  /** Enclave names: "victim" or a peer's name. */
  from: string;
  to: string;
  enabled: boolean;
}

/** A composed cell's parameters; absent on single-enclave runs, so their keys stay. */
export interface CompositionParams {
  peers: PeerParams[];
  links: LinkParams[];
  /** cgroup limits (cpu.max, memory.max) on every enclave of the cell: a hog's toggle. */
  limits: boolean;
}

/** Requests a dependent made during the run, as its agent counted them (one report per heartbeat). */
export interface RequestCounts {
  ok: number;
  failed: number;
  late: number;
}

/** What was seen of one peer during a composed run. */
export interface PeerEvidence {
  name: string;
  backend: string;
  /** Its enclave ended, or its guest panicked, during the run. */
  died: boolean;
  /** The longest silence between two of its heartbeats while the fault ran (ms); null: none to measure. */
  maxHeartbeatGapMs: number | null;
  /** Its dependent workload's counts while the fault ran; null when it depends on nothing. */
  requests: RequestCounts | null;
}

/**
 * The largest figures the cell's control runs (same cell and toggle, fault `none`) showed, per party: an
 * effect counts only above these (DESIGN: ≥ 20 % above the maximum and above a floor).
 */
export interface ControlMaxima {
  /** How many control runs the maxima come from. */
  runs: number;
  /** The cell's heartbeat interval (ms): a peer's heartbeat gap counts only from two of them. */
  heartbeatMs: number;
  /** Per party ("host" or a peer's name). */
  parties: Record<string, { maxHeartbeatGapMs: number | null; failed: number; late: number }>;
  /** Per host probe: in how many control runs it was degraded (a fault run's same degradation is not blamed). */
  hostDegraded: Record<string, number>;
}
