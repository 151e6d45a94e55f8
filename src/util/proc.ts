/**
 * Readers of Linux's /proc: process start times and CPU use, numbers out of the kernel's text files, and
 * per-process files that may vanish while we look. What only one module reads stays beside its parser
 * (the perf host notes, the orphan sweep's scan).
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** Clock ticks per second of /proc times (USER_HZ): 100 on every Linux architecture ezone runs on. */
export const USER_HZ = 100;

/**
 * The fields of a /proc/<pid>/stat line after `comm` (field 2), so that index 0 is field 3 (state).
 * `comm` may contain spaces and parentheses: the fields after it start at the last ")".
 */
export function statFieldsAfterComm(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** The `comm` of a /proc/<pid>/stat line: the text between the first "(" and the last ")". */
export function statComm(stat: string): string {
  return stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
}

/** Start time of a process in clock ticks since boot (stat field 22), or null when it does not exist. */
export function processStartTicks(pid: number): number | null {
  try {
    const ticks = Number(statFieldsAfterComm(readFileSync(`/proc/${pid}/stat`, "utf8"))[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Now, in the unit of a process's start time: clock ticks since boot. */
export function clockTicksNow(): number {
  return Math.floor(Number(readFileSync("/proc/uptime", "latin1").split(" ")[0]) * USER_HZ);
}

/** CPU time (user + system, stat fields 14 and 15) a process has used so far, in ms; null when it is gone. */
export async function cpuTimeMs(pid: number): Promise<number | null> {
  try {
    const fields = statFieldsAfterComm(await readFile(`/proc/${pid}/stat`, "utf8"));
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/** Resident memory of a process in kB (VmRSS of /proc/<pid>/status), or null. */
export async function residentKb(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** One non-negative number out of a /proc file's `text`, with `pattern`'s first group. */
export function procNumber(path: string, text: string, pattern: RegExp): number {
  const found = pattern.exec(text)?.[1];
  const value = found === undefined ? Number.NaN : Number(found);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(
      `${path}: expected a number matching ${pattern}, got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  return value;
}

/** Reads a /proc file and extracts one non-negative number with `pattern`'s first group. */
export async function readProcNumber(path: string, pattern: RegExp, signal?: AbortSignal): Promise<number> {
  return procNumber(path, await readFile(path, { encoding: "utf8", signal }), pattern);
}

/** The memory available for new work without swapping (MemAvailable of /proc/meminfo), in kB. */
export function readMemAvailableKb(signal?: AbortSignal): Promise<number> {
  return readProcNumber("/proc/meminfo", /^MemAvailable:\s+(\d+) kB$/m, signal);
}

/** A read of a process's /proc file: its text, or why there is none. */
export type ProcRead = { kind: "read"; text: string } | { kind: "gone" } | { kind: "forbidden" };

/** Reads a /proc file of a process that may exit while we look, or belong to another user. */
export async function readVanishing(
  path: string,
  encoding: BufferEncoding,
  signal: AbortSignal,
): Promise<ProcRead> {
  try {
    return { kind: "read", text: await readFile(path, { encoding, signal }) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (code === "ENOENT" || code === "ESRCH") return { kind: "gone" };
    if (code === "EACCES" || code === "EPERM") return { kind: "forbidden" };
    throw error;
  }
}
