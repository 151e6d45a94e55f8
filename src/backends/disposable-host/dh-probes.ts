/**
 * The disposable host's probes (hostd's PROBE answer) as host probes, compared before/after a run like the
 * real host's (`compareProbes`), plus hostd's count of oops lines in the disposable host's kernel log.
 * Pure: no I/O.
 */
import { compareProbes, type ProbeThresholds } from "../../host/compare.js";
import type { HostProbes, Probed } from "../../host/probes.js";
import type { ProbeFinding } from "../../model/outcome-types.js";

/** The disposable host's probes at one moment: the host-probe shape, and hostd's oops-line count. */
export interface DhProbes {
  /** hostd answered (with figures or an error): the host was alive to answer. */
  answered: boolean;
  probes: HostProbes;
  oopsLines: Probed<number>;
  /** hostd's online vCPUs and those whose time stood still over its probe's 300 ms (no timer tick). */
  cpus: { online: Probed<number>; stalled: Probed<number> };
}

/** Probes the real host has that hostd does not take. */
const NOT_PROBED = "not probed inside the disposable host";

/** A PROBE value as a probe: a non-negative number, else why not. */
function value(values: Record<string, string>, key: string): Probed<number> {
  const raw = values[key];
  const n = Number(raw);
  if (raw === undefined) return { kind: "unavailable", reason: `hostd's PROBE has no ${key}` };
  if (raw === "" || !Number.isFinite(n) || n < 0)
    return {
      kind: "unavailable",
      reason: `hostd's PROBE ${key}=${JSON.stringify(raw.slice(0, 40))}: expected a number >= 0`,
    };
  return { kind: "ok", value: n };
}

/** How hostd answered PROBE: its key=value lines, an error (it is alive), or not at all. */
export type ProbeAnswer =
  | { kind: "answered"; values: Record<string, string> }
  | { kind: "refused"; message: string }
  | { kind: "silent"; message: string };

/**
 * hostd's PROBE answer as probes. A host that did not answer has every probe timed out, which
 * `compareProbes` judges `failed` (a host that does not answer is a failed host).
 */
export function dhProbesOf(answer: ProbeAnswer, takenAt: Date, vcpus: number): DhProbes {
  const none: Probed<never> =
    answer.kind === "answered"
      ? { kind: "unavailable", reason: NOT_PROBED }
      : answer.kind === "refused"
        ? { kind: "unavailable", reason: `hostd refused PROBE: ${answer.message}` }
        : { kind: "timed-out", deadlineMs: 0, reason: answer.message };
  const values = answer.kind === "answered" ? answer.values : null;
  const take = (key: string): Probed<number> => (values ? value(values, key) : none);
  return {
    answered: answer.kind !== "silent",
    probes: {
      takenAt: takenAt.toISOString(),
      runTag: null,
      cores: vcpus,
      forkExecMs: take("forkexec_ms"),
      loadavg1: values ? { kind: "unavailable", reason: NOT_PROBED } : none,
      procsRunning: take("runnable"),
      memAvailableKb: take("mem_available_kb"),
      taint: take("taint"),
      kmsg: values ? { kind: "unavailable", reason: "read as hostd's oops-line count" } : none,
      leakedPids: values ? { kind: "unavailable", reason: "the disposable host is thrown away" } : none,
    },
    oopsLines: take("oops"),
    cpus: { online: take("cpus_online"), stalled: take("cpus_stalled") },
  };
}

/** The disposable host after the run against before: the host findings (as `dh.*`) and its oops lines. */
export function compareDhProbes(
  before: DhProbes,
  after: DhProbes,
  thresholds: ProbeThresholds,
): ProbeFinding[] {
  const host = compareProbes(
    withoutModuleTaint(before.probes),
    withoutModuleTaint(after.probes),
    thresholds,
    () => false,
  )
    .filter((f) => f.probe !== "host.kmsg" && f.probe !== "host.leakedPids" && f.probe !== "host.loadavg1")
    .map((f) => ({ ...f, probe: f.probe.replace(/^host\./, "dh.") }));
  return [...host, oopsFinding(before.oopsLines, after.oopsLines), stallFinding(before.cpus, after.cpus)];
}

/**
 * Taint bits O (12, an out-of-tree module) and E (13, an unsigned one): loading ezone's own fault module
 * sets them, so in a disposable host they say a zone-1 or zone-3 module was loaded, not that the host was
 * harmed. Every other bit (W: a warning, D: an oops, L: a soft lockup...) still counts.
 */
const MODULE_TAINT = (1 << 12) | (1 << 13);

function withoutModuleTaint(p: HostProbes): HostProbes {
  return p.taint.kind === "ok"
    ? { ...p, taint: { ...p.taint, value: (p.taint.value & ~MODULE_TAINT) >>> 0 } }
    : p;
}

function oopsFinding(before: Probed<number>, after: Probed<number>): ProbeFinding {
  const cited = {
    probe: "dh.kmsg",
    before: before.kind === "ok" ? before.value : null,
    after: after.kind === "ok" ? after.value : null,
    threshold: "no new oops/BUG/panic/soft lockup line in the disposable host's kernel log",
  };
  if (after.kind === "timed-out")
    return { ...cited, severity: "failed", detail: `probe timeout after the run: ${after.reason}` };
  if (after.kind === "unavailable")
    return { ...cited, severity: "unavailable", detail: `could not be read after the run: ${after.reason}` };
  if (before.kind !== "ok")
    return { ...cited, severity: "unavailable", detail: `${after.value} oops lines, but no baseline count` };
  const fresh = after.value - before.value;
  return fresh > 0
    ? { ...cited, severity: "failed", detail: `${fresh} new oops lines in the disposable host's kernel log` }
    : { ...cited, severity: "ok", detail: "no new oops line in the disposable host's kernel log" };
}

/**
 * vCPUs that stopped advancing. A probe answer without the key (a hostd older than the key) is not a
 * measurement: ok, "not reported"; only an after-probe that lost the key the before-probe had is unavailable.
 */
function stallFinding(before: DhProbes["cpus"], after: DhProbes["cpus"]): ProbeFinding {
  const cited = {
    probe: "dh.cpusStalled",
    before: before.stalled.kind === "ok" ? before.stalled.value : null,
    after: after.stalled.kind === "ok" ? after.stalled.value : null,
    threshold: "no more vCPUs of the disposable host without a timer tick than before the run",
  };
  const reported = (p: Probed<number>) =>
    p.kind !== "unavailable" || !p.reason.startsWith("hostd's PROBE has no ");
  if (after.stalled.kind === "timed-out")
    return { ...cited, severity: "failed", detail: `probe timeout after the run: ${after.stalled.reason}` };
  if (after.stalled.kind === "unavailable")
    return reported(after.stalled) || reported(before.stalled)
      ? {
          ...cited,
          severity: "unavailable",
          detail: `could not be read after the run: ${after.stalled.reason}`,
        }
      : { ...cited, severity: "ok", detail: "not reported" };
  if (before.stalled.kind !== "ok")
    return {
      ...cited,
      severity: "unavailable",
      detail: `${after.stalled.value} stalled vCPUs, but no baseline`,
    };
  const fresh = after.stalled.value - before.stalled.value;
  if (fresh <= 0)
    return {
      ...cited,
      severity: "ok",
      detail: "no vCPU of the disposable host stopped advancing during the run",
    };
  const online = after.online.kind === "ok" ? after.online.value : "?";
  return {
    ...cited,
    severity: "failed",
    detail: `${fresh} of ${online} vCPUs stopped advancing (no timer tick): a CPU of the node is lost`,
  };
}
