/**
 * Pure helpers of a composed cell's verdict: the maxima of its control runs, the effects on its peers that
 * stand out from them, and the names of the parties a `contained-varied` verdict blames. No I/O here.
 */
import type { CompositionParams, ControlMaxima, PeerEvidence } from "./composition.js";
import type { ProbeFinding, RunEvidence } from "./outcome-types.js";

/** A composed cell's fault runs are judged only once this many of its control runs (per toggle) finished. */
export const MIN_CONTROL_RUNS = 5;
/** An effect counts only at or above this multiple of the control runs' maximum (20 % above it). */
export const EFFECT_MARGIN = 1.2;
/** ...and at or above these floors: a heartbeat gap of 2 intervals, 3 failed or late requests. */
export const GAP_FLOOR_HEARTBEATS = 2;
export const REQUEST_FLOOR = 3;

/**
 * Who a `contained-varied` verdict blames: the host, the victim's own guest (beyond a fault whose scope
 * is one guest process, or an enclave beside a host-side hog), a bystander, or a peer of a composed cell.
 */
export type Party =
  | { kind: "host" }
  | { kind: "victim-guest" }
  | { kind: "bystander"; index: number }
  | { kind: "peer"; name: string };

/** A party in words, as the first words of a verdict's reason: "host", "peer b", "bystander 0". */
export function partyName(p: Party): string {
  switch (p.kind) {
    case "host":
      return "host";
    case "victim-guest":
      return "victim guest";
    case "bystander":
      return `bystander ${p.index}`;
    case "peer":
      return `peer ${p.name}`;
  }
}

/** A measured effect on a named party, with its figure: "14 failed requests (controls max 0)". */
export interface PartyEffect {
  party: Party;
  figure: string;
}

/**
 * The control runs' maxima per peer, and how many of them saw each host probe degraded, from the
 * evidence of a composed cell's fault `none` runs.
 */
export function controlMaximaOf(
  controls: readonly Pick<RunEvidence, "peers" | "probes">[],
  heartbeatMs: number,
): ControlMaxima {
  const parties: ControlMaxima["parties"] = {};
  const hostDegraded: Record<string, number> = {};
  for (const control of controls) {
    for (const probe of control.probes) {
      if (probe.severity === "degraded") hostDegraded[probe.probe] = (hostDegraded[probe.probe] ?? 0) + 1;
    }
    for (const p of control.peers ?? []) {
      const m = parties[p.name] ?? { maxHeartbeatGapMs: null, failed: 0, late: 0 };
      parties[p.name] = m;
      if (p.maxHeartbeatGapMs !== null)
        m.maxHeartbeatGapMs = Math.max(m.maxHeartbeatGapMs ?? 0, p.maxHeartbeatGapMs);
      m.failed = Math.max(m.failed, p.requests?.failed ?? 0);
      m.late = Math.max(m.late, p.requests?.late ?? 0);
    }
  }
  return { runs: controls.length, heartbeatMs, parties, hostDegraded };
}

/**
 * A composed fault run's degraded host probes, split: those its cell's control runs never showed are
 * blamed on the fault; one the controls showed too is excused, with a reason saying so (DESIGN §2:
 * degradation the control runs show as often is not blamed). Without control maxima all are blamed.
 */
export function excuseHostProbes(
  probes: readonly ProbeFinding[],
  maxima: ControlMaxima | undefined,
): { blamed: ProbeFinding[]; excused: string[] } {
  const degraded = probes.filter((p) => p.severity === "degraded");
  const seen = (p: ProbeFinding) => maxima?.hostDegraded[p.probe] ?? 0;
  return {
    blamed: degraded.filter((p) => seen(p) === 0),
    excused: degraded
      .filter((p) => seen(p) > 0)
      .map(
        (p) =>
          `host probe ${p.probe} degraded (${p.detail}), as in ${seen(p)} of the cell's ${maxima?.runs} control runs: not blamed on the fault`,
      ),
  };
}

/** Does `value` stand out: at or above the floor and at least EFFECT_MARGIN times the controls' maximum? */
export function standsOut(value: number, controlMax: number, floor: number): boolean {
  return value >= floor && value >= controlMax * EFFECT_MARGIN;
}

/**
 * The effects on surviving peers that stand out from the cell's control runs: a longer heartbeat gap,
 * more failed or late requests. A peer the controls never saw is compared with zero.
 */
export function peerEffects(peers: readonly PeerEvidence[], maxima: ControlMaxima): PartyEffect[] {
  const effects: PartyEffect[] = [];
  for (const p of peers) {
    if (p.died) continue;
    const party: Party = { kind: "peer", name: p.name };
    const m = maxima.parties[p.name] ?? { maxHeartbeatGapMs: null, failed: 0, late: 0 };
    const gap = p.maxHeartbeatGapMs;
    if (gap !== null && standsOut(gap, m.maxHeartbeatGapMs ?? 0, GAP_FLOOR_HEARTBEATS * maxima.heartbeatMs))
      effects.push({
        party,
        figure: `heartbeat gap ${gap} ms (controls max ${m.maxHeartbeatGapMs ?? "-"} ms)`,
      });
    for (const what of ["failed", "late"] as const) {
      const n = p.requests?.[what] ?? 0;
      if (standsOut(n, m[what], REQUEST_FLOOR))
        effects.push({ party, figure: `${n} ${what} requests (controls max ${m[what]})` });
    }
  }
  return effects;
}

/** A composition in words for logs and reports: "depends-on b→victim off, network b→victim on, limits off". */
export function describeComposition(c: CompositionParams): string {
  const links = c.links.map((l) => `${l.kind} ${l.from}→${l.to} ${l.enabled ? "on" : "off"}`);
  return [...links, `limits ${c.limits ? "on" : "off"}`].join(", ");
}
