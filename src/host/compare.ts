/**
 * Before/after comparison of host probes (DESIGN.md §6). Pure: no I/O.
 *
 * One finding per probe, each citing its before/after values and the threshold it was judged by.
 * A probe that could not be read after the run is `unavailable`, never `ok`; a probe that did not answer
 * within its deadline is `failed` ("probe timeout" is a host failure, DESIGN.md §2).
 */
import type { ProbeFinding, ProbeSeverity } from "../model/outcome-types.js";
import type { HostProbeName, HostProbes, KmsgRead, LeakScan, Probed } from "./probes.js";

/** The limits host findings are judged by; every one can be overridden per campaign. */
export interface ProbeThresholds {
  /** `procsRunning` above this many runnable tasks per core is `degraded`. */
  maxRunnablePerCore: number;
  /** fork+exec after the run slower than this many times the baseline is `degraded`... */
  forkExecFactor: number;
  /** ...unless it is still under this floor (a 1 ms baseline makes 5 ms no news). */
  forkExecFloorMs: number;
  /** MemAvailable dropping by more than this fraction of the baseline is `degraded`. */
  memDropFraction: number;
  /** Baseline only: a host whose fork+exec already takes longer than this is unhealthy before any run. */
  baselineForkExecMaxMs: number;
  /** Baseline only: probes that must answer before a run. */
  requiredProbes: readonly HostProbeName[];
}

export const DEFAULT_PROBE_THRESHOLDS: Readonly<ProbeThresholds> = Object.freeze({
  maxRunnablePerCore: 4,
  forkExecFactor: 5,
  forkExecFloorMs: 20,
  memDropFraction: 0.25,
  baselineForkExecMaxMs: 100,
  // The load average is informational and the leak scan needs a run tag: neither is required.
  requiredProbes: Object.freeze(["forkExecMs", "procsRunning", "memAvailableKb", "taint", "kmsg"] as const),
});

/** Compares the host probes taken before and after one run; `after` must have been read from `before`'s kmsg cursor. */
export function compareProbes(
  before: HostProbes,
  after: HostProbes,
  thresholds: ProbeThresholds,
  isOopsLine: (line: string) => boolean,
): ProbeFinding[] {
  return [
    judgeForkExec(before.forkExecMs, after.forkExecMs, thresholds),
    judge("loadavg1", before.loadavg1, after.loadavg1, {
      show: round,
      threshold: "none (informational: a 1-minute average lags a short run)",
      judge: (a) => ok(`1-minute load average ${round(a)} on ${after.cores} cores`),
    }),
    judgeRunnable(before, after, thresholds),
    judgeMemory(before.memAvailableKb, after.memAvailableKb, thresholds),
    judgeTaint(before.taint, after.taint),
    judgeKmsg(before.kmsg, after.kmsg, isOopsLine),
    judge("leakedPids", before.leakedPids, after.leakedPids, {
      show: (scan) => scan.processes.length,
      threshold: `0 processes with EZONE_RUN=${after.runTag ?? "(no tag)"} after teardown`,
      judge: (scan) =>
        scan.processes.length > 0
          ? { severity: "failed", detail: `processes left behind: ${describeLeaks(scan)}` }
          : ok(`no process carries the run tag${unreadableNote(scan)}`),
    }),
  ];
}

/** Runnable tasks allowed on `cores` cores. */
export function runnableLimit(thresholds: ProbeThresholds, cores: number): number {
  return thresholds.maxRunnablePerCore * cores;
}

/** "pid (comm), ..." for a report line, bounded to the first 10 processes. */
export function describeLeaks(scan: LeakScan): string {
  const shown = scan.processes.slice(0, 10).map((p) => `${p.pid} (${p.comm})`);
  const more = scan.processes.length - shown.length;
  return shown.join(", ") + (more > 0 ? `, and ${more} more` : "");
}

// ---------------------------------------------------------------------------------------------------------

type Judgement = Pick<ProbeFinding, "severity" | "detail">;

interface ProbeRule<T> {
  /** The value cited in the finding's before/after fields. */
  show(value: T): number | string;
  threshold: string;
  /** Judges an answered `after` probe; `before` is null when the baseline probe had no value. */
  judge(after: T, before: T | null): Judgement;
}

/** The one place that turns a probe that did not answer into a finding, so no rule can call it `ok`. */
function judge<T>(
  name: HostProbeName,
  before: Probed<T>,
  after: Probed<T>,
  rule: ProbeRule<T>,
): ProbeFinding {
  const cited = {
    probe: `host.${name}`,
    before: before.kind === "ok" ? rule.show(before.value) : null,
    after: after.kind === "ok" ? rule.show(after.value) : null,
    threshold: rule.threshold,
  };
  switch (after.kind) {
    case "timed-out":
      return { ...cited, severity: "failed", detail: `probe timeout after the run: ${after.reason}` };
    case "unavailable":
      return {
        ...cited,
        severity: "unavailable",
        detail: `could not be read after the run: ${after.reason}`,
      };
    case "ok":
      return { ...cited, ...rule.judge(after.value, before.kind === "ok" ? before.value : null) };
  }
}

function ok(detail: string): Judgement {
  return { severity: "ok", detail };
}

function verdict(severity: ProbeSeverity, bad: boolean, badDetail: string, okDetail: string): Judgement {
  return bad ? { severity, detail: badDetail } : ok(okDetail);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function judgeForkExec(before: Probed<number>, after: Probed<number>, t: ProbeThresholds): ProbeFinding {
  const baseline = before.kind === "ok" ? before.value : null;
  const limit = Math.max(baseline === null ? 0 : t.forkExecFactor * baseline, t.forkExecFloorMs);
  const threshold =
    baseline === null
      ? `<= ${t.forkExecFloorMs} ms (floor only: no baseline)`
      : `<= max(${t.forkExecFactor} x ${round(baseline)}, ${t.forkExecFloorMs}) = ${round(limit)} ms`;
  return judge("forkExecMs", before, after, {
    show: round,
    threshold,
    judge: (a) =>
      verdict(
        "degraded",
        a > limit,
        `fork+exec of /bin/true took ${round(a)} ms (median of 3), over ${round(limit)} ms`,
        `fork+exec of /bin/true took ${round(a)} ms (median of 3)`,
      ),
  });
}

function judgeRunnable(before: HostProbes, after: HostProbes, t: ProbeThresholds): ProbeFinding {
  const limit = runnableLimit(t, after.cores);
  return judge("procsRunning", before.procsRunning, after.procsRunning, {
    show: (n) => n,
    threshold: `<= ${t.maxRunnablePerCore} x ${after.cores} cores = ${limit} runnable tasks`,
    judge: (a) =>
      verdict(
        "degraded",
        a > limit,
        `${a} runnable tasks on ${after.cores} cores, over ${limit}`,
        `${a} runnable tasks on ${after.cores} cores`,
      ),
  });
}

function judgeMemory(before: Probed<number>, after: Probed<number>, t: ProbeThresholds): ProbeFinding {
  const baseline = before.kind === "ok" ? before.value : null;
  const floor = baseline === null ? null : Math.floor(baseline * (1 - t.memDropFraction));
  return judge("memAvailableKb", before, after, {
    show: (kb) => kb,
    threshold:
      floor === null
        ? `>= before x (1 - ${t.memDropFraction}) (no baseline)`
        : `>= ${baseline} x (1 - ${t.memDropFraction}) = ${floor} kB`,
    judge: (a) =>
      floor === null
        ? { severity: "unavailable", detail: `MemAvailable ${a} kB, but no baseline to compare with` }
        : verdict(
            "degraded",
            a < floor,
            `MemAvailable fell from ${baseline} kB to ${a} kB, below ${floor} kB`,
            `MemAvailable ${baseline} kB before, ${a} kB after`,
          ),
  });
}

/** Kernel taint flag letters by bit (Documentation/admin-guide/tainted-kernels.rst). */
const TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN";

function taintBits(bits: number): string {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if ((bits >>> bit) & 1) names.push(TAINT_LETTERS[bit] ?? `bit${bit}`);
  }
  return `0x${bits.toString(16)} (${names.join(",")})`;
}

function judgeTaint(before: Probed<number>, after: Probed<number>): ProbeFinding {
  return judge("taint", before, after, {
    show: (bits) => bits,
    threshold: "no new bits (after & ~before == 0)",
    judge: (a, b) => {
      if (b === null) {
        return verdict(
          "unavailable",
          a !== 0,
          `taint ${taintBits(a)} after the run, but no baseline to tell which bits are new`,
          "host kernel not tainted",
        );
      }
      const fresh = (a & ~b) >>> 0;
      return verdict(
        "failed",
        fresh !== 0,
        `new taint bits ${taintBits(fresh)}: ${b} before, ${a} after`,
        `taint unchanged (${a})`,
      );
    },
  });
}

const QUOTED_LINE_CHARS = 300;

function judgeKmsg(
  before: Probed<KmsgRead>,
  after: Probed<KmsgRead>,
  isOopsLine: (line: string) => boolean,
): ProbeFinding {
  return judge("kmsg", before, after, {
    show: (read) => read.cursor.seq,
    threshold: "no new host kernel log line matching an oops/BUG/WARNING pattern",
    judge: (read) => {
      if (read.since === null) {
        return { severity: "unavailable", detail: "after-run read had no cursor: new lines unknown" };
      }
      if (before.kind === "ok" && before.value.cursor.seq !== read.since.seq) {
        return {
          severity: "unavailable",
          detail: `after-run read started at seq ${read.since.seq}, not at the baseline's ${before.value.cursor.seq}`,
        };
      }
      const oops = read.lines.find(isOopsLine);
      if (oops !== undefined) {
        const quoted = JSON.stringify(oops.slice(0, QUOTED_LINE_CHARS));
        const cut = oops.length > QUOTED_LINE_CHARS ? " (cut)" : "";
        return { severity: "failed", detail: `host kernel log: ${quoted}${cut}` };
      }
      const unseen = read.lostRecords + read.droppedImportant;
      return verdict(
        "unavailable",
        unseen > 0,
        `${read.lostRecords} records overwritten and ${read.droppedImportant} warning-level records not kept: ` +
          "cannot rule out an oops",
        `${read.lines.length} new lines, none matches${read.droppedLines > 0 ? ` (${read.droppedLines} low-priority lines not kept)` : ""}`,
      );
    },
  });
}

function unreadableNote(scan: LeakScan): string {
  return scan.unreadable > 0 ? ` (${scan.unreadable} other users' processes not readable)` : "";
}
