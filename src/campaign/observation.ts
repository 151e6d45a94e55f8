import type { EnclaveExit, StopReason, Zone } from "../model/outcome-types.js";
import type { MonitorState } from "../monitor/run-monitor.js";

/** What decides how long a run is watched after the fault (all durations already scaled). */
export interface ObserveInput {
  /** A control run (fault `none`): watched for `controlObserveMs` after READY. */
  control: boolean;
  controlObserveMs: number;
  observeMs: number;
  /** The fault's own minimum (a watchdog that reports late), scaled; 0 when none. */
  observeMinMs: number;
  /** The trigger's delay: the window opens when the fault is sent, it fires this much later. */
  delaySeconds: number;
  /** A host-side fault once injected: whether it took effect, and how long a hog is held. */
  host: { delivered: boolean; holdMs: number } | null;
}

/** How long to observe after the injection: the observation window of DESIGN.md §3 step 6. */
export function observeWindowMs(i: ObserveInput): number {
  if (i.control) return i.controlObserveMs;
  if (i.host && !i.host.delivered) return 0; // nothing was done to the host: nothing to watch
  if (i.host && i.host.holdMs > 0) return i.host.holdMs;
  return Math.max(i.observeMs, i.observeMinMs) + i.delaySeconds * 1000;
}

/** Zone 4: the fault's child ended as expected and the agent heartbeated twice after it. */
export function userFaultEnded(s: MonitorState, zone: Zone): boolean {
  return zone === 4 && s.proofAt !== null && s.hbAfterFault >= 2;
}

/**
 * The guest is down: a panic (line or pvpanic), the enclave's exit, or heartbeat loss. In zone 4 a
 * heartbeat stall is an effect to record, not the end: the agent may resume once its child ends.
 */
export function guestDown(s: MonitorState, zone: Zone): boolean {
  return (
    s.panicEventAt !== null ||
    s.exit !== null ||
    (s.heartbeatLostAt !== null && zone !== 4) ||
    (s.crash?.panic ?? false)
  );
}

/** The observation is decided: the guest went down, a zone-4 fault ended, or a failed injection is seen. */
export function observationDecided(s: MonitorState, zone: Zone): boolean {
  return guestDown(s, zone) || userFaultEnded(s, zone) || (s.injectFailed !== null && s.hbAfterFault >= 2);
}

/** Why observation stopped; `settled` is false when it ran to its deadline. First match wins. */
export function stopReasonOf(s: MonitorState, settled: boolean, zone: Zone): StopReason {
  if (!settled) return "observe-deadline";
  if (s.panicEventAt !== null || s.crash?.panic) return "guest-panic";
  if (s.exit !== null) return "enclave-exit";
  if (userFaultEnded(s, zone)) return "fault-ended";
  if (s.heartbeatLostAt !== null) return "heartbeat-loss";
  return "observe-deadline";
}

/** Keep reading for the grace period after a decided stop, so an oops's trailing lines and the exit arrive. */
export function wantsGrace(s: MonitorState, settled: boolean, control: boolean, zone: Zone): boolean {
  return settled && s.exit === null && !control && !userFaultEnded(s, zone);
}

/** Host-time windows of heartbeat timing: before the fault, and from the fault to now. */
export interface HeartbeatWindows {
  baseline: [number, number];
  fault: [number, number];
}

/** Windows from READY (or now) to the fault's start (or READY for a control), and from there to `now`. */
export function heartbeatWindows(
  readyAt: number | null,
  faultFrom: number | null,
  now: number,
): HeartbeatWindows {
  const ready = readyAt ?? now;
  const from = faultFrom ?? ready;
  return { baseline: [ready, from], fault: [from, now] };
}

/**
 * Detection latency: from the proof to the first sign that the guest is down (panic line, pvpanic event,
 * exit, heartbeat loss). Null for zone 4 (nothing to detect: its guest is meant to survive), for a run
 * that ran to its observation deadline, and for a fault that ended with the guest up (a kernel bit flip
 * the guest ran through): their exit is ezone's own.
 */
export function detectionMsOf(
  s: MonitorState,
  proofAt: number | null,
  zone: Zone,
  stopReason: StopReason,
): number | null {
  const detectedAt = firstOf(s.panicLineAt, s.panicEventAt, s.exitAt, s.heartbeatLostAt);
  if (proofAt === null || detectedAt === null || zone === 4) return null;
  if (stopReason === "observe-deadline" || stopReason === "fault-ended") return null;
  return Math.max(0, detectedAt - proofAt);
}

/** Host times (performance.now) of the lifecycle's steps, for `phases`. */
export interface Marks {
  baselineDone?: number;
  spawned?: number;
  /** The observation ended: ezone knew the guest was down, the fault ended, or the deadline passed. */
  settled?: number;
  stopped?: number;
  afterProbeDone?: number;
}

/** Where a run's time went, from its marks and the monitor's times; steps that did not happen are left out. */
export function phasesOf(m: Marks, t0: number, s: MonitorState): Record<string, number> {
  const resumedAt = s.controlEvents.find((e) => e.name === "RESUME")?.at ?? null;
  const span = (from: number | null | undefined, to: number | null | undefined) =>
    from != null && to != null ? Math.round(to - from) : null;
  const phases: Record<string, number | null> = {
    baselineProbe: span(t0, m.baselineDone),
    prepare: span(m.baselineDone, m.spawned),
    spawnToResume: span(m.spawned, resumedAt),
    spawnToReady: span(m.spawned, s.readyAt),
    readyToProof: span(s.readyAt, s.proofAt),
    // The first sign of a panic reaching the host (its console line or pvpanic's QMP event) → verdict.
    panicSeenToVerdict: span(firstOf(s.panicLineAt, s.panicEventAt), m.settled),
    readyToStopped: span(s.readyAt, m.stopped),
    afterProbe: span(m.stopped, m.afterProbeDone),
  };
  return Object.fromEntries(Object.entries(phases).filter((e): e is [string, number] => e[1] !== null));
}

function firstOf(...times: (number | null)[]): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.min(...known) : null;
}

/** The enclave's exit as the evidence states it: `running` when it was alive when observation stopped. */
export function exitAtStop(s: MonitorState): EnclaveExit {
  return s.exit ?? { kind: "running" };
}
