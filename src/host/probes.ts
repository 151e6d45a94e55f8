/**
 * Host integrity probes (DESIGN.md §6): the host's health at one moment, probed before and after a run.
 *
 * Every probe has its own deadline derived from the caller's signal. A probe that cannot be read comes back
 * `unavailable` with the reason, one that does not answer in time comes back `timed-out`: a probing never
 * pretends a probe was clean. Aborting the caller's signal is not a probe result: it rejects the probing.
 */
import { spawn } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, readSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { median } from "../model/stats.js";
import { deadline as withDeadline } from "../util/deadline.js";
import {
  processStartTicks,
  procNumber,
  readMemAvailableKb,
  readProcNumber,
  readVanishing,
} from "../util/proc.js";

/** One probe's answer: a value, or why there is none. */
export type Probed<T> =
  | { kind: "ok"; value: T }
  | { kind: "unavailable"; reason: string }
  | { kind: "timed-out"; deadlineMs: number; reason: string };

/** Position in the host kernel log: the highest record sequence number already seen (-1: empty log). */
export interface KmsgCursor {
  seq: number;
}

/** What one read of /dev/kmsg found. */
export interface KmsgRead {
  /** The cursor to pass to the next probing. */
  cursor: KmsgCursor;
  /** The cursor this read started after; `null` for a baseline read, which returns no lines. */
  since: KmsgCursor | null;
  /** Text of the records newer than `since`, in log order; at most 500 lines of at most 1000 chars. */
  lines: string[];
  /** New records left out of `lines` to keep it bounded. */
  droppedLines: number;
  /** Of those, records at printk level warning or worse (where oops, BUG and WARNING reports go). */
  droppedImportant: number;
  /** New records the kernel overwrote in its ring buffer before this read reached them. */
  lostRecords: number;
}

/** A process still carrying this run's tag. */
export interface LeakedProcess {
  pid: number;
  comm: string;
}

/** Result of scanning /proc for processes tagged `EZONE_RUN=<runTag>`. */
export interface LeakScan {
  processes: LeakedProcess[];
  /** Processes whose environment we may not read (another user's); a process we started is never one. */
  unreadable: number;
}

/** The host's health at one moment. */
export interface HostProbes {
  /** ISO-8601 time the probing started. */
  takenAt: string;
  runTag: string | null;
  /** os.availableParallelism(): the cores this process may use. */
  cores: number;
  /** Median wall time of spawning `/bin/true` and awaiting its exit, 3 times. */
  forkExecMs: Probed<number>;
  /** 1-minute load average from /proc/loadavg. */
  loadavg1: Probed<number>;
  /** Runnable tasks right now (/proc/stat `procs_running`, median of 3 samples 3 ms apart; counts us). */
  procsRunning: Probed<number>;
  memAvailableKb: Probed<number>;
  /** /proc/sys/kernel/tainted as a bit set. */
  taint: Probed<number>;
  kmsg: Probed<KmsgRead>;
  /** Skipped (unavailable) when `runTag` is null. */
  leakedPids: Probed<LeakScan>;
}

/** The probes, in the order they are taken and reported. */
export const HOST_PROBES = [
  "forkExecMs",
  "loadavg1",
  "procsRunning",
  "memAvailableKb",
  "taint",
  "kmsg",
  "leakedPids",
] as const satisfies readonly (keyof HostProbes)[];
export type HostProbeName = (typeof HOST_PROBES)[number];

/** Each probe's own deadline. Generous: a healthy host answers each in milliseconds. */
export const PROBE_DEADLINES_MS: Readonly<Record<HostProbeName, number>> = Object.freeze({
  forkExecMs: 5_000,
  loadavg1: 2_000,
  procsRunning: 2_000,
  memAvailableKb: 2_000,
  taint: 2_000,
  kmsg: 2_000,
  leakedPids: 5_000,
});

export interface HostProbesOptions {
  /** The run's tag (`EZONE_RUN=<runTag>` in the environment of everything it starts); null skips the leak scan. */
  runTag: string | null;
  /** Other tags the run's processes carry (a VMM started ahead as a spare, then claimed by the run). */
  alsoTags?: readonly string[];
  /**
   * The leak scan reads the environment only of processes started at or after this moment (clock ticks
   * since boot, see `clockTicksNow` in util/proc.ts), and of `alsoPids`: a process carrying the run's tag cannot be older
   * than the run. Absent: every process.
   */
  startedSince?: number;
  alsoPids?: readonly number[];
  signal: AbortSignal;
  /** Where the previous probing left the kernel log; absent or null takes a baseline (no lines). */
  kmsgCursor?: KmsgCursor | null;
}

/**
 * Takes every probe. The two that measure the host's responsiveness go first and alone, so that nothing of
 * ours disturbs them (our file reads run on libuv threads, which `procs_running` would count); the reads
 * that follow do not disturb each other and run together. Probing takes ~30 ms on an idle host.
 */
export async function probeHost(opts: HostProbesOptions): Promise<HostProbes> {
  const { runTag, signal } = opts;
  signal.throwIfAborted();
  const takenAt = new Date().toISOString();
  const cores = availableParallelism();
  const forkExecMs = await runProbe("forkExecMs", signal, (d) => measureForkExec(d.signal));
  const procsRunning = await runProbe("procsRunning", signal, (d) => sampleProcsRunning(d.signal));
  const [loadavg1, memAvailableKb, taint, kmsg, leakedPids] = await Promise.all([
    runProbe("loadavg1", signal, (d) => readLoadavg1(d.signal)),
    runProbe("memAvailableKb", signal, (d) => readMemAvailableKb(d.signal)),
    runProbe("taint", signal, (d) => readTaint(d.signal)),
    runProbe("kmsg", signal, async (d) => readKmsg(opts.kmsgCursor ?? null, d.expired)),
    runProbe("leakedPids", signal, (d) => scanLeaks(runTag, opts, d.signal)),
  ]);
  return {
    takenAt,
    runTag,
    cores,
    forkExecMs,
    loadavg1,
    procsRunning,
    memAvailableKb,
    taint,
    kmsg,
    leakedPids,
  };
}

/** The kmsg cursor to pass to the next probing: null when this one could not read the log. */
export function kmsgCursorOf(probes: HostProbes): KmsgCursor | null {
  return probes.kmsg.kind === "ok" ? probes.kmsg.value.cursor : null;
}

// ---------------------------------------------------------------------------------------------------------
// Deadlines

/** A probe's deadline: its signal, and a clock check for synchronous loops in which no timer can fire. */
interface Deadline {
  signal: AbortSignal;
  expired(): boolean;
}

/** Thrown by a synchronous probe that noticed its deadline passed. */
class ProbeDeadlineError extends Error {
  override name = "ProbeDeadlineError";
}

async function runProbe<T>(
  name: HostProbeName,
  parent: AbortSignal,
  work: (deadline: Deadline) => Promise<T>,
): Promise<Probed<T>> {
  parent.throwIfAborted();
  const deadlineMs = PROBE_DEADLINES_MS[name];
  const signal = withDeadline(parent, deadlineMs);
  const end = performance.now() + deadlineMs;
  const deadline: Deadline = { signal, expired: () => signal.aborted || performance.now() >= end };
  try {
    return { kind: "ok", value: await untilAborted(work(deadline), signal) };
  } catch (error) {
    if (parent.aborted) throw parent.reason;
    // The parent did not abort (checked above): an aborted signal is this probe's own deadline.
    if (signal.aborted || error instanceof ProbeDeadlineError) {
      return { kind: "timed-out", deadlineMs, reason: `${name} did not answer within ${deadlineMs} ms` };
    }
    return { kind: "unavailable", reason: error instanceof Error ? error.message : String(error) };
  }
}

/** Settles with `work`, or rejects as soon as `signal` aborts even if `work` ignores the signal. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) {
      onAbort();
    } else {
      signal.addEventListener("abort", onAbort, { once: true });
    }
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

// ---------------------------------------------------------------------------------------------------------
// Responsiveness, load, memory, taint

const FORK_EXEC_SAMPLES = 3;

async function measureForkExec(signal: AbortSignal): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < FORK_EXEC_SAMPLES; i++) samples.push(await forkExecOnce(signal));
  return median(samples) as number;
}

function forkExecOnce(signal: AbortSignal): Promise<number> {
  const started = performance.now();
  return new Promise<number>((resolve, reject) => {
    // `signal` kills the child if the deadline passes, so a hung exec leaves nothing behind.
    const child = spawn("/bin/true", [], { stdio: "ignore", signal });
    child.once("error", reject);
    child.once("exit", (code, sig) => {
      if (code === 0) resolve(performance.now() - started);
      else reject(new Error(`/bin/true ended with ${code === null ? `signal ${sig}` : `exit code ${code}`}`));
    });
  });
}

function readLoadavg1(signal: AbortSignal): Promise<number> {
  return readProcNumber("/proc/loadavg", /^(\d+(?:\.\d+)?)\s/, signal);
}

const PROCS_RUNNING_SAMPLES = 3;

/** Median of a few samples: one instantaneous sample flaps with every short burst on the host. */
async function sampleProcsRunning(signal: AbortSignal): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < PROCS_RUNNING_SAMPLES; i++) {
    if (i > 0) await delay(3, undefined, { signal });
    samples.push(readProcStatRunning());
  }
  return median(samples) as number;
}

/**
 * Read synchronously: an asynchronous read would run on a libuv thread, which is itself a runnable task
 * of ours at that moment. /proc/stat is the kernel's own counters; reading it never waits on a process.
 */
function readProcStatRunning(): number {
  return procNumber("/proc/stat", readFileSync("/proc/stat", "utf8"), /^procs_running\s+(\d+)$/m);
}

function readTaint(signal: AbortSignal): Promise<number> {
  return readProcNumber("/proc/sys/kernel/tainted", /^(\d+)\s*$/, signal);
}

// ---------------------------------------------------------------------------------------------------------
// Host kernel log

const KMSG_MAX_LINES = 500;
const KMSG_MAX_LINE_CHARS = 1000;
/** One read returns one record and fails with EINVAL if the buffer is smaller than the record. */
const KMSG_READ_BYTES = 16 * 1024;
/** printk levels 0–4 (emerg … warning) carry oops, BUG and WARNING reports: kept first when over budget. */
const KMSG_IMPORTANT_LEVEL = 4;

interface KmsgRecord {
  seq: number;
  level: number;
  text: string;
}

/**
 * Reads every record /dev/kmsg still holds, without blocking (O_NONBLOCK: EAGAIN = end of log).
 * Synchronous on purpose: the whole ring is at most a few MiB and a read never waits.
 */
function readKmsg(since: KmsgCursor | null, expired: () => boolean): KmsgRead {
  const fd = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
  const fresh: KmsgRecord[] = [];
  let highest = since?.seq ?? -1;
  let lostRecords = 0;
  let expected = since === null ? null : since.seq + 1;
  const buffer = Buffer.alloc(KMSG_READ_BYTES);
  try {
    for (;;) {
      if (expired()) throw new ProbeDeadlineError("kmsg read passed its deadline");
      let length: number;
      try {
        length = readSync(fd, buffer, 0, buffer.length, null);
      } catch (error) {
        const code = errnoCode(error);
        if (code === "EAGAIN") break;
        // EPIPE: records were overwritten under us; the next read resumes at the oldest one left,
        // and the gap shows in the sequence numbers.
        if (code === "EPIPE") continue;
        throw error;
      }
      if (length === 0) break;
      const record = parseKmsgRecord(buffer.toString("utf8", 0, length));
      if (record === null) continue;
      highest = Math.max(highest, record.seq);
      if (expected === null || record.seq < expected) continue;
      lostRecords += record.seq - expected;
      expected = record.seq + 1;
      fresh.push(record);
    }
  } finally {
    closeSync(fd);
  }
  return { cursor: { seq: highest }, since, lostRecords, ...boundLines(fresh) };
}

/** "prio,seq,usec,flags[,...];text\n[ KEY=value\n...]" → its level, sequence number and first text line. */
function parseKmsgRecord(raw: string): KmsgRecord | null {
  const semicolon = raw.indexOf(";");
  if (semicolon < 0) return null;
  const [prio, seq] = raw.slice(0, semicolon).split(",");
  const level = Number(prio) & 7;
  const seqNumber = Number(seq);
  if (prio === undefined || prio === "" || !Number.isSafeInteger(seqNumber)) return null;
  const end = raw.indexOf("\n", semicolon);
  const text = raw.slice(semicolon + 1, end < 0 ? undefined : end);
  return { seq: seqNumber, level, text: text.slice(0, KMSG_MAX_LINE_CHARS) };
}

function boundLines(
  records: readonly KmsgRecord[],
): Pick<KmsgRead, "lines" | "droppedLines" | "droppedImportant"> {
  const important = records.filter((r) => r.level <= KMSG_IMPORTANT_LEVEL);
  const keptImportant = important.slice(0, KMSG_MAX_LINES);
  const room = KMSG_MAX_LINES - keptImportant.length;
  const keptOther = records.filter((r) => r.level > KMSG_IMPORTANT_LEVEL).slice(0, room);
  const kept = new Set([...keptImportant, ...keptOther]);
  return {
    lines: records.filter((r) => kept.has(r)).map((r) => r.text),
    droppedLines: records.length - kept.size,
    droppedImportant: important.length - keptImportant.length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Leaked processes

async function scanLeaks(
  runTag: string | null,
  opts: Pick<HostProbesOptions, "alsoTags" | "startedSince" | "alsoPids">,
  signal: AbortSignal,
): Promise<LeakScan> {
  if (runTag === null) throw new Error("no run tag given: nothing to look for");
  const tags = [runTag, ...(opts.alsoTags ?? [])];
  const since = opts.startedSince ?? 0;
  const alsoPids = new Set((opts.alsoPids ?? []).map(String));
  // /proc/<pid>/environ is raw bytes; latin1 maps bytes 1:1, so compare the tag's bytes the same way.
  const needles = tags.map((t) => Buffer.from(`EZONE_RUN=${t}`, "utf8").toString("latin1"));
  const pids = (await readdir("/proc")).filter(
    (e) =>
      /^\d+$/.test(e) &&
      Number(e) !== process.pid &&
      // A process's start time (/proc/<pid>/stat) is read without waiting on its memory map lock.
      (since <= 0 || alsoPids.has(e) || (processStartTicks(Number(e)) ?? Number.POSITIVE_INFINITY) >= since),
  );
  // All at once: each read waits on a libuv thread, and one stuck process must not hold up the rest.
  const found = await Promise.all(
    pids.map(async (pid): Promise<LeakedProcess | "forbidden" | null> => {
      const environ = await readVanishing(`/proc/${pid}/environ`, "latin1", signal);
      if (environ.kind !== "read" || !environ.text.split("\0").some((v) => needles.includes(v))) {
        // A sandbox that scrubs its helpers' environment (gVisor's runsc) names the tag in their arguments.
        const cmdline =
          environ.kind === "gone" ? null : await readVanishing(`/proc/${pid}/cmdline`, "latin1", signal);
        if (cmdline?.kind !== "read" || !tags.some((t) => cmdline.text.includes(t)))
          return environ.kind === "forbidden" ? "forbidden" : null;
      }
      const comm = await readVanishing(`/proc/${pid}/comm`, "utf8", signal);
      if (comm.kind === "gone") return null;
      return { pid: Number(pid), comm: comm.kind === "read" ? comm.text.trimEnd() : "?" };
    }),
  );
  return {
    processes: found.filter((f): f is LeakedProcess => typeof f === "object" && f !== null),
    unreadable: found.filter((f) => f === "forbidden").length,
  };
}
