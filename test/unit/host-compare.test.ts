import { describe, expect, it } from "vitest";
import { judgeBaseline } from "../../src/host/baseline-health.js";
import { compareProbes, DEFAULT_PROBE_THRESHOLDS, type ProbeThresholds } from "../../src/host/compare.js";
import { HOST_PROBES, type HostProbes, type KmsgRead, type Probed } from "../../src/host/probes.js";
import type { ProbeSeverity } from "../../src/model/outcome-types.js";

const isOopsLine = (line: string): boolean => /\b(Oops|BUG|WARNING):/.test(line);

function ok<T>(value: T): Probed<T> {
  return { kind: "ok", value };
}

const unavailable: Probed<never> = { kind: "unavailable", reason: "EACCES: permission denied" };
const timedOut: Probed<never> = {
  kind: "timed-out",
  deadlineMs: 2000,
  reason: "did not answer within 2000 ms",
};

function kmsg(read: Partial<KmsgRead> = {}): Probed<KmsgRead> {
  return ok({
    cursor: { seq: 100 },
    since: { seq: 100 },
    lines: [],
    droppedLines: 0,
    droppedImportant: 0,
    lostRecords: 0,
    ...read,
  });
}

/** A healthy 2-core host; `before` probes are baseline kmsg reads (no cursor, no lines). */
function probes(overrides: Partial<HostProbes> = {}): HostProbes {
  return {
    takenAt: "2025-01-01T00:00:00.000Z",
    runTag: "run-1",
    cores: 2,
    forkExecMs: ok(2),
    loadavg1: ok(0.5),
    procsRunning: ok(1),
    memAvailableKb: ok(1_000_000),
    taint: ok(0),
    kmsg: kmsg({ since: null }),
    leakedPids: ok({ processes: [], unreadable: 0 }),
    ...overrides,
  };
}

function afterRun(overrides: Partial<HostProbes> = {}): HostProbes {
  return probes({ kmsg: kmsg(), ...overrides });
}

/** [name, expected severity, after-run overrides (their first probe is the one judged), extras] */
type Case = [name: string, severity: ProbeSeverity, after: Partial<HostProbes>, extra?: CaseExtra];
interface CaseExtra {
  before?: Partial<HostProbes>;
  thresholds?: Partial<ProbeThresholds>;
  detail?: RegExp;
}

const leak = { processes: [{ pid: 4242, comm: "qemu-system-x86" }], unreadable: 0 };

const cases: Case[] = [
  ["fork+exec under the floor", "ok", { forkExecMs: ok(19) }],
  [
    "fork+exec over the floor and 5x baseline",
    "degraded",
    { forkExecMs: ok(21) },
    { detail: /21 ms .*over 20 ms/ },
  ],
  ["fork+exec within 5x a slow baseline", "ok", { forkExecMs: ok(50) }, { before: { forkExecMs: ok(10) } }],
  [
    "fork+exec over 5x a slow baseline",
    "degraded",
    { forkExecMs: ok(51) },
    { before: { forkExecMs: ok(10) } },
  ],
  [
    "fork+exec factor overridden",
    "degraded",
    { forkExecMs: ok(25) },
    { before: { forkExecMs: ok(10) }, thresholds: { forkExecFactor: 2 } },
  ],
  [
    "fork+exec without baseline: floor only",
    "degraded",
    { forkExecMs: ok(25) },
    { before: { forkExecMs: unavailable } },
  ],
  ["runnable at the limit", "ok", { procsRunning: ok(8) }],
  [
    "runnable over 4 per core",
    "degraded",
    { procsRunning: ok(9) },
    { detail: /9 runnable tasks on 2 cores, over 8/ },
  ],
  ["runnable limit scales with cores", "ok", { procsRunning: ok(9), cores: 4 }],
  [
    "runnable limit overridden",
    "degraded",
    { procsRunning: ok(5) },
    { thresholds: { maxRunnablePerCore: 2 } },
  ],
  ["memory dropped by exactly a quarter", "ok", { memAvailableKb: ok(750_000) }],
  [
    "memory dropped by more than a quarter",
    "degraded",
    { memAvailableKb: ok(749_999) },
    { detail: /to 749999 kB/ },
  ],
  [
    "memory drop fraction overridden",
    "ok",
    { memAvailableKb: ok(600_000) },
    { thresholds: { memDropFraction: 0.5 } },
  ],
  [
    "memory without baseline",
    "unavailable",
    { memAvailableKb: ok(1) },
    { before: { memAvailableKb: unavailable } },
  ],
  ["new taint bit D", "failed", { taint: ok(0x80) }, { detail: /0x80 \(D\)/ }],
  ["taint already set, no new bit", "ok", { taint: ok(0x201) }, { before: { taint: ok(0x201) } }],
  [
    "taint W added to P",
    "failed",
    { taint: ok(0x201) },
    { before: { taint: ok(0x1) }, detail: /0x200 \(W\)/ },
  ],
  [
    "taint set, no baseline to tell new bits",
    "unavailable",
    { taint: ok(0x1) },
    { before: { taint: unavailable } },
  ],
  ["untainted, no baseline", "ok", { taint: ok(0) }, { before: { taint: unavailable } }],
  [
    "host oops line",
    "failed",
    { kmsg: kmsg({ lines: ["eth0: link up", "BUG: kernel NULL pointer dereference, address: 0"] }) },
    { detail: /host kernel log: "BUG: kernel NULL pointer dereference, address: 0"/ },
  ],
  [
    "quoted oops line is escaped",
    "failed",
    { kmsg: kmsg({ lines: ['WARNING: at "x"\u001b[31m'] }) },
    { detail: /"WARNING: at \\"x\\"\\u001b\[31m"/ },
  ],
  [
    "new lines without oops",
    "ok",
    { kmsg: kmsg({ lines: ["eth0: up", "usb 1-1: new"] }) },
    { detail: /2 new lines/ },
  ],
  [
    "overwritten records",
    "unavailable",
    { kmsg: kmsg({ lostRecords: 3 }) },
    { detail: /3 records overwritten/ },
  ],
  ["dropped warning-level records", "unavailable", { kmsg: kmsg({ droppedLines: 10, droppedImportant: 2 }) }],
  ["dropped low-priority records only", "ok", { kmsg: kmsg({ droppedLines: 10 }) }],
  [
    "an oops despite lost records",
    "failed",
    { kmsg: kmsg({ lostRecords: 3, lines: ["Oops: general protection"] }) },
  ],
  ["after-run read without cursor", "unavailable", { kmsg: kmsg({ since: null }) }],
  [
    "after-run read from another cursor",
    "unavailable",
    { kmsg: kmsg({ since: { seq: 90 } }) },
    { detail: /seq 90, not at the baseline's 100/ },
  ],
  ["leaked process", "failed", { leakedPids: ok(leak) }, { detail: /4242 \(qemu-system-x86\)/ }],
  [
    "no leak, some processes unreadable",
    "ok",
    { leakedPids: ok({ processes: [], unreadable: 3 }) },
    { detail: /3 other users' processes/ },
  ],
  ["load average is informational", "ok", { loadavg1: ok(40) }],
  ["probe read before but not after", "unavailable", { procsRunning: unavailable }, { detail: /EACCES/ }],
];

function findingFor(findings: ReturnType<typeof compareProbes>, probe: string) {
  const found = findings.find((f) => f.probe === `host.${probe}`);
  if (found === undefined) throw new Error(`no finding for ${probe}`);
  return found;
}

describe("compareProbes", () => {
  it.each(cases)("%s → %s", (_name, severity, after, extra = {}) => {
    const probe = HOST_PROBES.find((p) => p in after);
    if (probe === undefined) throw new Error("case names no probe");
    const thresholds = { ...DEFAULT_PROBE_THRESHOLDS, ...extra.thresholds };
    const findings = compareProbes(probes(extra.before), afterRun(after), thresholds, isOopsLine);
    const finding = findingFor(findings, probe);
    expect(finding.severity).toBe(severity);
    if (extra.detail) expect(finding.detail).toMatch(extra.detail);
  });

  it("gives one ok finding per probe on an unchanged healthy host", () => {
    const findings = compareProbes(probes(), afterRun(), DEFAULT_PROBE_THRESHOLDS, isOopsLine);
    expect(findings.map((f) => f.probe)).toEqual(HOST_PROBES.map((p) => `host.${p}`));
    expect(findings.filter((f) => f.severity !== "ok")).toEqual([]);
  });

  it("cites before and after values and the threshold", () => {
    const findings = compareProbes(
      probes({ forkExecMs: ok(4.567) }),
      afterRun({ forkExecMs: ok(30) }),
      DEFAULT_PROBE_THRESHOLDS,
      isOopsLine,
    );
    expect(findingFor(findings, "forkExecMs")).toEqual({
      probe: "host.forkExecMs",
      severity: "degraded",
      before: 4.57,
      after: 30,
      threshold: "<= max(5 x 4.57, 20) = 22.84 ms",
      detail: "fork+exec of /bin/true took 30 ms (median of 3), over 22.84 ms",
    });
    expect(findingFor(findings, "kmsg")).toMatchObject({ before: 100, after: 100 });
  });

  it.each(HOST_PROBES)("%s unavailable after the run is never ok", (probe) => {
    const finding = findingFor(
      compareProbes(probes(), afterRun({ [probe]: unavailable }), DEFAULT_PROBE_THRESHOLDS, isOopsLine),
      probe,
    );
    expect(finding).toMatchObject({ severity: "unavailable", after: null });
    expect(finding.detail).toContain("EACCES: permission denied");
  });

  it.each(HOST_PROBES)("%s timing out after the run is a host failure", (probe) => {
    const finding = findingFor(
      compareProbes(probes(), afterRun({ [probe]: timedOut }), DEFAULT_PROBE_THRESHOLDS, isOopsLine),
      probe,
    );
    expect(finding.severity).toBe("failed");
    expect(finding.detail).toMatch(/probe timeout.*2000 ms/);
  });

  it("bounds a long oops line in the detail", () => {
    const line = `BUG: ${"x".repeat(5000)}`;
    const finding = findingFor(
      compareProbes(
        probes(),
        afterRun({ kmsg: kmsg({ lines: [line] }) }),
        DEFAULT_PROBE_THRESHOLDS,
        isOopsLine,
      ),
      "kmsg",
    );
    expect(finding.severity).toBe("failed");
    expect(finding.detail.length).toBeLessThan(400);
    expect(finding.detail).toMatch(/\(cut\)$/);
  });
});

interface BaselineCase {
  name: string;
  probes: Partial<HostProbes>;
  thresholds?: Partial<ProbeThresholds>;
  reason: RegExp | null;
}

const baselineCases: BaselineCase[] = [
  { name: "healthy host", probes: {}, reason: null },
  { name: "runnable at the limit", probes: { procsRunning: ok(8) }, reason: null },
  {
    name: "runnable over the limit",
    probes: { procsRunning: ok(9) },
    reason: /9 runnable tasks on 2 cores, over 4 x 2 = 8/,
  },
  {
    name: "required probe unavailable",
    probes: { kmsg: unavailable },
    reason: /probe kmsg is required but unavailable: EACCES/,
  },
  { name: "optional probe unavailable", probes: { leakedPids: unavailable }, reason: null },
  {
    name: "optional probe made required",
    probes: { leakedPids: unavailable },
    thresholds: { requiredProbes: ["leakedPids"] },
    reason: /probe leakedPids is required/,
  },
  {
    name: "any probe timing out",
    probes: { loadavg1: timedOut },
    reason: /probe loadavg1 did not answer within 2000 ms/,
  },
  { name: "slow fork+exec", probes: { forkExecMs: ok(150) }, reason: /fork\+exec already takes 150 ms/ },
  {
    name: "processes left by an earlier attempt",
    probes: { leakedPids: ok({ processes: [{ pid: 77, comm: "linux.uml" }], unreadable: 0 }) },
    reason: /EZONE_RUN=run-1 .*77 \(linux\.uml\)/,
  },
  {
    name: "several reasons at once",
    probes: { procsRunning: ok(20), taint: timedOut },
    reason: /probe taint did not answer.*; 20 runnable tasks/,
  },
];

describe("judgeBaseline", () => {
  it.each(baselineCases)("$name", (c) => {
    const reason = judgeBaseline(probes(c.probes), { ...DEFAULT_PROBE_THRESHOLDS, ...c.thresholds });
    if (c.reason === null) expect(reason).toBeNull();
    else expect(reason).toMatch(c.reason);
  });

  it("uses the default thresholds when none are given", () => {
    expect(judgeBaseline(probes({ procsRunning: ok(9) }))).toMatch(/over 4 x 2 = 8/);
  });
});
