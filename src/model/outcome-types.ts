/**
 * The vocabulary of a run's result (DESIGN.md §2). Pure types: no I/O here.
 */
import type { ControlMaxima, PeerEvidence } from "./composition.js";
import type { SoftErrorEvidence } from "./soft-error.js";
import type { Zone } from "./zone.js";

export type { Zone };

/** What happened in one run, decided from evidence only. Sorted block; keep it sorted. */
export const OUTCOMES = [
  "boot-error",
  "contained-limited",
  "contained-varied",
  "escaped-global",
  "infra-error",
  "no-effect",
  "not-fired",
  "unknown",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * Outcomes that are results. `infra-error` (ezone or the host tooling failed) and `boot-error` (the guest
 * never came up under this backend) are runs to retry, never results.
 */
export function isResult(outcome: Outcome): boolean {
  return outcome !== "infra-error" && outcome !== "boot-error";
}

/** How bad a host probe's finding is: `degraded` = measurably worse but alive, `failed` = host harmed. */
export type ProbeSeverity = "ok" | "degraded" | "failed" | "unavailable";

/** One host probe compared before/after a run, with the value and threshold it cites. */
export interface ProbeFinding {
  probe: string;
  severity: ProbeSeverity;
  before: number | string | null;
  after: number | string | null;
  threshold: string;
  detail: string;
}

/** How the enclave's process ended (or `running` if it was still alive when observation stopped). */
export type EnclaveExit =
  | { kind: "running" }
  | { kind: "exited"; code: number }
  | { kind: "signaled"; signal: string }
  | { kind: "failed-to-start"; message: string };

/** Why observation stopped; set once. */
export type StopReason =
  | "guest-panic"
  | "enclave-exit"
  | "heartbeat-loss"
  /** Zone 4: the fault's child ended as expected and the agent heartbeated after it. */
  | "fault-ended"
  | "observe-deadline"
  | "aborted";

/** Everything a verdict may look at. Produced by the run lifecycle, consumed by `decideOutcome`. */
export interface RunEvidence {
  /** Fault name; `none` for a control run. */
  fault: string;
  zone: Zone;
  /** Infrastructure failure before the fault could be judged (boot never reached READY, spawn failed...). */
  infraError: string | null;
  /**
   * The guest never came up: no READY within the boot timeout, or the enclave ended before READY after
   * printing something (its exit status and last console lines). Absent in runs stored before it existed.
   */
  bootError?: string | null;
  /** The agent's READY line was seen. */
  ready: boolean;
  /** The agent printed FIRED for this run's nonce (its claim, not proof). */
  agentFired: boolean;
  /** The agent reported that triggering failed (e.g. finit_module refused). */
  injectFailed: string | null;
  /** The fault's own proof (for a kernel module: its printk carrying the run nonce). */
  proof: boolean;
  /** A kernel crash report on the guest console (oops/panic), with its title. */
  guestCrash: { title: string; crashClass: string; panic: boolean } | null;
  /** QMP GUEST_PANICKED (pvpanic) was received. */
  panicEvent: boolean;
  /**
   * The backend's witness of a guest panic that does not go through the console (QEMU: pvpanic's QMP
   * `GUEST_PANICKED`); null where the console is the only witness. A guest's user space can print any
   * console line, so a panicking fault's proof is trusted only where this channel agrees.
   */
  panicChannel: string | null;
  /** From the console's panic line to the channel's panic event, in ms; null when either is missing. */
  panicEventDelayMs: number | null;
  /** The fault is expected to panic the guest kernel (a zone-3 crash under `oops=panic`). */
  faultPanics: boolean;
  /** Heartbeats after the fault: `null` when not applicable. */
  heartbeatsAfterFault: number | null;
  heartbeatLost: boolean;
  exit: EnclaveExit;
  stopReason: StopReason;
  /** Host probes before/after; a `failed` finding means the host was harmed. */
  probes: ProbeFinding[];
  /** Zone 2: what ezone did on the host (its own record is the proof); absent for guest-side faults. */
  hostInjection?: HostInjectionEvidence | null;
  /** How regular the enclave's heartbeat was before and while a host-side fault ran. */
  heartbeatTiming?: HeartbeatTiming | null;
  /** Healthy enclaves of the same backend run beside the faulty one (`bystanders: N`). */
  bystanders?: BystanderEvidence[];
  /** Bit flips: the flip, the golden run, what the workload printed and the class against the golden run. */
  softError?: SoftErrorEvidence;
  /** The disposable host VM the enclave ran in (`host: disposable`); absent on the real host. */
  disposableHost?: DisposableHostEvidence;
  /** A composed cell's peers, as seen while the fault ran; absent on single-enclave runs. */
  peers?: PeerEvidence[];
  /** The cell's control runs' maxima, which an effect on a peer or the host must exceed to count. */
  controlMaxima?: ControlMaxima;
  /** Where the run's time went, in ms (baseline probe, snapshot load, boot, observe, after-probe): not used by verdicts. */
  phases?: Record<string, number>;
}

/** ezone's own record of a host-side (zone 2) injection. */
export interface HostInjectionEvidence {
  kind: "signal" | "cpu-hog" | "memory-hog";
  /**
   * Whose scope the fault is: `enclave` = the enclave's own host process was hit (its death is the fault
   * staying in its zone); `beside` = a host process next to the enclave (the enclave dying is an escape).
   */
  scope: "enclave" | "beside";
  /** The signal was delivered / the hog was seen running: the proof that the fault fired. */
  delivered: boolean;
  /** What was done, to which pid, and what was measured (CPU time, resident memory, panic log line). */
  detail: string;
}

/** Heartbeat regularity, from host arrival times: the longest silence before vs. during the fault. */
export interface HeartbeatTiming {
  intervalMs: number;
  baselineMaxGapMs: number | null;
  faultMaxGapMs: number | null;
  faultWindowMs: number;
  beatsDuringFault: number;
  /** A fault-window gap above this is a degradation (DEGRADED_GAP_* in heartbeat-log.ts). */
  thresholdMs: number | null;
  /** null: nothing to compare (no heartbeat in a window). */
  degraded: boolean | null;
}

/** One bystander enclave, watched while the faulty one ran. */
export interface BystanderEvidence {
  index: number;
  /** The bystander's process ended (or its guest panicked) during the run. */
  died: boolean;
  /** Its heartbeat stopped for the heartbeat-loss interval while it was alive. */
  stalled: boolean;
  exit: EnclaveExit;
  heartbeatsDuringFault: number;
  timing: HeartbeatTiming;
}

/**
 * The disposable host (a QEMU-TCG VM playing the node) as seen from the real host: whether it survived the
 * run, its own kernel's crash report and panic channel, its heartbeat, and its probes before and after.
 */
export interface DisposableHostEvidence {
  /** Its VM process was alive and its host agent answered a probe after the run. */
  alive: boolean;
  /** Its kernel panicked (pvpanic `GUEST_PANICKED` on its QMP, or a panic line on its console). */
  panicked: boolean;
  /** A kernel crash report on its own console (not the enclave's), with its title. */
  crash: { title: string; crashClass: string; panic: boolean } | null;
  /** Its host agent's heartbeat stopped for the heartbeat-loss interval. */
  heartbeatLost: boolean;
  /** How its VM process ended (`running` when it was still alive at the end). */
  exit: EnclaveExit;
  /** Its probes (kernel log, taint, fork+exec, runnable tasks, ...) before vs after, as for the real host. */
  probes: ProbeFinding[];
  /** Zone 1: the fault module's proof line (its nonce) seen on the disposable host's console. */
  proof: boolean;
  /**
   * What its kernel said of the run's fault after the proof: the module's own report lines (cpuhog's
   * "stopped ...", memleak's "leaked ... OOM kills seen ...") and its OOM killer's kills, in order, bounded.
   * Absent in runs stored before it was kept.
   */
  faultReport?: string[];
}

/** An outcome together with the reasons that decided it, quoted in reports. */
export interface Verdict {
  outcome: Outcome;
  reasons: string[];
}
