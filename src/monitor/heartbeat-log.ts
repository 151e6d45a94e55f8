import type { EnclaveEvent } from "../backends/backend.js";
import type { HeartbeatTiming } from "../model/outcome-types.js";
import type { RunMonitor } from "./run-monitor.js";

/**
 * Host arrival times of an enclave's heartbeats, recorded by sitting between the backend and the monitor:
 * the monitor decides loss, this log measures how regular the heartbeats were while a fault ran (a
 * "varied" effect is a guest that slowed down without dying).
 */
export class HeartbeatLog {
  readonly arrivals: number[] = [];
  constructor(private readonly monitor: RunMonitor) {}

  /** The backend's sink: feeds the monitor, then notes each new heartbeat's arrival. */
  readonly sink = (ev: EnclaveEvent): void => {
    const before = this.monitor.state.heartbeats;
    this.monitor.sink(ev);
    for (let n = this.monitor.state.heartbeats - before; n > 0; n--) this.arrivals.push(ev.at);
  };

  /** Heartbeats that arrived in (from, to]. */
  countBetween(from: number, to: number): number {
    return this.arrivals.filter((t) => t > from && t <= to).length;
  }
}

/**
 * The longest time without a heartbeat within [from, to]: the gap that spans `from` counts from the last
 * heartbeat before it, and a silence running into `to` counts up to `to`. Null with no heartbeat at or
 * before `to` at all (nothing to measure from).
 */
export function maxHeartbeatGap(arrivals: readonly number[], from: number, to: number): number | null {
  const last = arrivals.filter((t) => t <= from).at(-1);
  const inside = arrivals.filter((t) => t > from && t <= to);
  const start = last ?? inside[0];
  if (start === undefined) return null;
  const points = [start, ...(last === undefined ? inside.slice(1) : inside), to];
  let max = 0;
  for (let i = 1; i < points.length; i++)
    max = Math.max(max, (points[i] as number) - (points[i - 1] as number));
  return max;
}

/** A gap this many intervals long counts as degraded, provided it is also well above the baseline. */
export const DEGRADED_GAP_INTERVALS = 3;
/** ...and at least this many times the longest gap seen before the fault. */
export const DEGRADED_GAP_OVER_BASELINE = 2;

/**
 * Did the heartbeat degrade while the fault ran? Compares the longest gap during the fault window with
 * the one in the baseline window before it. `degraded` is null when either window has nothing to measure.
 */
export function heartbeatTiming(
  arrivals: readonly number[],
  intervalMs: number,
  baseline: [number, number],
  fault: [number, number],
): HeartbeatTiming {
  const baselineMaxGapMs = maxHeartbeatGap(arrivals, ...baseline);
  const faultMaxGapMs = maxHeartbeatGap(arrivals, ...fault);
  const thresholdMs =
    baselineMaxGapMs === null
      ? null
      : Math.max(DEGRADED_GAP_INTERVALS * intervalMs, DEGRADED_GAP_OVER_BASELINE * baselineMaxGapMs);
  const round = (x: number | null) => (x === null ? null : Math.round(x));
  return {
    intervalMs,
    baselineMaxGapMs: round(baselineMaxGapMs),
    faultMaxGapMs: round(faultMaxGapMs),
    faultWindowMs: Math.round(fault[1] - fault[0]),
    beatsDuringFault: arrivals.filter((t) => t > fault[0] && t <= fault[1]).length,
    thresholdMs: round(thresholdMs),
    degraded: thresholdMs === null || faultMaxGapMs === null ? null : faultMaxGapMs > thresholdMs,
  };
}
