/**
 * The tag in the environment of every process ezone starts, naming the ezone that started it, so that a
 * later ezone can tell a dead owner's leftovers (the host reaper sweeps them) from a live one's.
 */
import { processStartTicks } from "./proc.js";

/** Environment tag on every process ezone starts: `<ezone pid>:<its start time in ticks>`. */
export const OWNER_ENV = "EZONE_OWNER";

let ownTag: string | null = null;

/** This ezone process's owner tag (stable for its lifetime). */
export function ownerTag(): string {
  ownTag ??= `${process.pid}:${processStartTicks(process.pid) ?? 0}`;
  return ownTag;
}

/** Whether the ezone an owner tag names still runs (same PID *and* start time: a reused PID differs). */
export function ownerAlive(tag: string): boolean {
  const [pid, ticks] = tag.split(":").map(Number);
  if (!pid || ticks === undefined) return false;
  return processStartTicks(pid) === ticks;
}
