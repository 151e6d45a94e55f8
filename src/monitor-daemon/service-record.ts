/**
 * The record of a long-running service ezone starts on purpose (the private rsyslogd of `ezone monitor
 * setup`, an enclave of `ezone enclave start`): a JSON file with its PID and start time, so that a
 * later `stop` or `list` never mistakes a reused PID for the service, and never leaves it running.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { OWNER_ENV } from "../util/owner-tag.js";
import { processStartTicks } from "../util/proc.js";

/** Who a service is: a PID alone could have been reused since. */
export interface ServiceRecord {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: number;
}

/** The record of the running process `pid`, or null when it is gone. */
export function recordOf(pid: number): ServiceRecord | null {
  const startTicks = processStartTicks(pid);
  return startTicks === null ? null : { pid, startTicks };
}

/** Write `record` to `path` whole or not at all (a reader never sees half a file). */
export function writeRecord<T extends object>(path: string, record: T): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The record at `path`; null when there is none or it is not a record. */
export function readRecord<T extends ServiceRecord>(path: string): T | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
  const r = value as Partial<ServiceRecord> | null;
  return r && Number.isInteger(r.pid) && Number.isInteger(r.startTicks) ? (value as T) : null;
}

/** The process the record names still runs (same PID, same start time). */
export function isAlive(r: ServiceRecord): boolean {
  return processStartTicks(r.pid) === r.startTicks;
}

/**
 * SIGTERM the service, SIGKILL it after `graceMs`, and resolve once it is gone (false: it was not
 * running). It is not our child, so no exit event exists for it: its /proc entry is checked every
 * 20 ms, under a deadline.
 */
export async function stopService(r: ServiceRecord, graceMs: number): Promise<boolean> {
  if (!isAlive(r)) return false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(r.pid, s);
    } catch {
      // ESRCH: it ended meanwhile.
    }
  };
  signal("SIGTERM");
  const killAt = Date.now() + graceMs;
  let killed = false;
  while (isAlive(r)) {
    if (!killed && Date.now() >= killAt) {
      signal("SIGKILL");
      killed = true;
    }
    if (Date.now() > killAt + 5000)
      throw new Error(`pid ${r.pid} still runs 5 s after SIGKILL (uninterruptible?)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * The environment of a service ezone starts on purpose: without the owner tag of the ezone that
 * started it (if that one was itself started by an ezone), so no orphan sweep takes it for a leftover.
 */
export function serviceEnv(): NodeJS.ProcessEnv {
  const { [OWNER_ENV]: _owner, ...env } = process.env;
  return env;
}
