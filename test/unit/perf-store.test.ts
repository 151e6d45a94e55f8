import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listFlag } from "../../src/cli/commands/perf.js";
import { parseConsoleLog } from "../../src/monitor/console-parser.js";
import { BENCHMARKS, fsName } from "../../src/perf/benchmarks.js";
import { readContinuumPerformance, summarizeSession } from "../../src/perf/continuum.js";
import { addCpuDelta, parseCpuMhz, parseCpuTimes, stealPercent } from "../../src/perf/host-notes.js";
import { renderPerfTable } from "../../src/perf/table.js";
import { overheadOf } from "../../src/report/overhead.js";
import { type PerfBlock, type PerfResult, Store } from "../../src/store/store.js";

describe("the agent's BENCH-RESULT lines", () => {
  const events = (text: string) => parseConsoleLog(`${text}\n`).events;

  it("parses a result with its fields", () => {
    expect(events("BENCH-RESULT file-io 2 1806.77 us/cycle ops=111 ns=200551539 fs=0xef53")).toEqual([
      {
        kind: "bench-result",
        bench: "file-io",
        rep: 2,
        value: 1806.77,
        unit: "us/cycle",
        fields: { ops: "111", ns: "200551539", fs: "0xef53" },
        failure: null,
      },
    ]);
    expect(events("BENCH-RESULT cpu-int 0 1e+06 ns/iter")[0]).toMatchObject({ value: 1e6, fields: {} });
  });

  it("parses a failed repetition", () => {
    expect(events("BENCH-RESULT fork-exec 0 FAILED errno=1 Operation not permitted")[0]).toMatchObject({
      bench: "fork-exec",
      value: null,
      failure: "errno=1 Operation not permitted",
    });
  });

  it("ignores malformed or hostile lines instead of inventing a number", () => {
    for (const bad of [
      "BENCH-RESULT cpu-int 0 nan ns/iter",
      "BENCH-RESULT cpu-int 0 -1 ns/iter",
      "BENCH-RESULT cpu-int x 1 ns/iter",
      "BENCH-RESULT cpu-int 0 1 ns/iter __proto__=1",
      "[    1.000000] BENCH-RESULT cpu-int 0 1 ns/iter",
    ])
      expect(events(bad)).toEqual([]);
  });

  it("splits a kernel message glued to a result line", () => {
    const r = parseConsoleLog("BENCH-RESULT timer 0 57.3 us/sleep ops=9 ns=10 max_us=80.1[    2.000001] x\n");
    expect(r.events[0]).toMatchObject({ bench: "timer", fields: { max_us: "80.1" } });
  });
});

describe("host notes", () => {
  it("reads steal from /proc/stat and the mean MHz from /proc/cpuinfo", () => {
    const before = parseCpuTimes("cpu  100 0 50 800 10 0 5 20 0 0\ncpu0 1 2 3\n");
    const after = parseCpuTimes("cpu  150 0 60 880 10 0 5 40 7 0\n");
    expect(before).toEqual({ total: 985, steal: 20 });
    const ticks = { total: 0, steal: 0 };
    addCpuDelta(ticks, before, after);
    addCpuDelta(ticks, before, after);
    addCpuDelta(ticks, after, null); // a missing reading adds nothing
    expect(ticks).toEqual({ total: 320, steal: 40 });
    expect(stealPercent(ticks)).toBeCloseTo(12.5, 10);
    expect(stealPercent({ total: 0, steal: 0 })).toBeNull();
    expect(parseCpuTimes("intr 1 2\n")).toBeNull();
    expect(parseCpuMhz("cpu MHz\t\t: 2000.000\ncpu MHz\t\t: 3000.000\n")).toBe(2500);
    expect(parseCpuMhz("processor : 0\n")).toBeNull();
  });

  it("names file systems by statfs magic", () => {
    expect(fsName("0x1021994")).toBe("tmpfs");
    expect(fsName("0xEF53")).toBe("ext4");
    expect(fsName("0x1234")).toBe("0x1234");
  });
});

describe("perf flags", () => {
  it("takes all, or a list of known names", () => {
    expect(listFlag("--benchmarks", undefined, BENCHMARKS)).toEqual([...BENCHMARKS]);
    expect(listFlag("--benchmarks", "timer,cpu-int,timer", BENCHMARKS)).toEqual(["timer", "cpu-int"]);
    expect(() => listFlag("--benchmarks", "cpu,timer", BENCHMARKS)).toThrow(
      /--benchmarks: cpu: expected "all"/,
    );
  });
});

describe("perf results in the store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ezone-perf-store-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const block = (over: Partial<PerfBlock>): PerfBlock => ({
    session: "s1",
    campaign: "paper",
    round: 1,
    seq: 0,
    backend: "native",
    status: "ok",
    reason: null,
    backendVersion: null,
    bootMs: 12,
    warmup: 1,
    stealPct: 0.5,
    cpuMhz: 2096,
    load1: 1.25,
    failures: {},
    imageHash: "abc",
    hostKernel: "6.1.0",
    hostname: "h",
    startedAt: new Date("2025-01-01T00:00:00Z"),
    finishedAt: new Date("2025-01-01T00:00:10Z"),
    ...over,
  });
  const result = (benchmark: string, value: number, over: Partial<PerfResult> = {}): PerfResult => ({
    benchmark,
    sample: 1,
    value,
    unit: "ns/iter",
    ops: 100,
    elapsedNs: 200,
    detail: {},
    ...over,
  });

  function session(store: Store): void {
    let seq = 0;
    store.recordPerfBlock(
      block({ seq: seq++, round: null, backend: "kvm", status: "unavailable", reason: "no /dev/kvm" }),
      [],
    );
    for (const round of [1, 2, 3]) {
      const drift = round; // the host gets slower each round: pairing must cancel it
      store.recordPerfBlock(block({ seq: seq++, round }), [
        result("cpu-int", 2 * drift),
        result("file-io", 100 * drift, { unit: "us/cycle", detail: { fs: "0xef53" } }),
      ]);
      store.recordPerfBlock(block({ seq: seq++, round, backend: "qemu-tcg", stealPct: round }), [
        result("cpu-int", 20 * drift),
        result("file-io", 50 * drift, { unit: "us/cycle", detail: { fs: "0x1021994" } }),
      ]);
    }
    store.recordPerfBlock(
      block({ seq: seq++, round: 4, backend: "qemu-tcg", status: "failed", reason: "wait.ready: no READY" }),
      [],
    );
  }

  it("stores blocks and results and reads them back by session", () => {
    using store = Store.open(dir);
    session(store);
    expect(store.perfSessions()).toEqual(["s1"]);
    expect(store.perfSessions("other")).toEqual([]);
    expect(store.perfBlocks("s1").map((b) => [b.backend, b.round, b.status])).toContainEqual([
      "kvm",
      null,
      "unavailable",
    ]);
    const rows = store.perfResults("s1");
    expect(rows).toHaveLength(12);
    expect(rows[1]).toMatchObject({
      backend: "native",
      round: 1,
      benchmark: "file-io",
      detail: { fs: "0xef53" },
    });
  });

  it("refuses a duplicate sample (one session, round, backend, benchmark, sample)", () => {
    using store = Store.open(dir);
    store.recordPerfBlock(block({}), [result("cpu-int", 1)]);
    expect(() => store.recordPerfBlock(block({ seq: 1 }), [result("cpu-int", 1)])).toThrow(/UNIQUE/);
    // The failed transaction left no half block behind.
    expect(store.perfBlocks("s1")).toHaveLength(1);
  });

  it("summarizes a session: paired ratios, statuses, host notes, file systems", () => {
    {
      using store = Store.open(dir);
      session(store);
    }
    const s = readContinuumPerformance(dir, "paper");
    expect(s?.session).toBe("s1");
    const tcg = s?.points.find((p) => p.backend === "qemu-tcg");
    expect(tcg?.status).toBe("measured");
    expect(tcg?.rounds).toBe(3);
    expect(tcg?.overall?.ratio).toBeCloseTo(Math.sqrt(10 * 0.5), 10);
    expect(tcg?.overall?.lower).toBeCloseTo(Math.sqrt(5), 10);
    // Steal 1..3 in the three good rounds, 0.5 in the failed fourth block: every boot counts for the host.
    expect(tcg?.host.stealPct).toEqual({ min: 0.5, max: 3 });
    expect(tcg?.fileSystems).toEqual(["tmpfs"]);
    expect(s?.points.find((p) => p.backend === "kvm")).toMatchObject({
      status: "unavailable",
      reason: "no /dev/kvm",
    });
    expect(s?.points[0]?.backend).toBe("native");
    expect(readContinuumPerformance(dir, "nope")).toBeNull();
  });

  it("renders the overhead table with native's costs, ratios and what was not run", () => {
    using store = Store.open(dir);
    session(store);
    const text = renderPerfTable(summarizeSession(store, "s1"));
    expect(text).toContain("| cpu-int (ns/iter)");
    expect(text).toMatch(/\| cpu-int \(ns\/iter\) +\| 4\.00 +\| 10\.0× \[10\.0–10\.0\]/);
    expect(text).toContain("overall (geomean)");
    expect(text).toContain("kvm: not run — no /dev/kvm");
    expect(text).toContain("measured order: native 1.00× [1.00–1.00] < qemu-tcg 2.24× [2.24–2.24]");
    expect(text).toContain("ext4");
    expect(text).toContain("qemu-tcg: 1 boot(s) failed — wait.ready: no READY");
  });

  it("is readable by the report's overhead reader (the perf_results contract)", () => {
    {
      using store = Store.open(dir);
      session(store);
    }
    const o = overheadOf(readContinuumPerformance(dir, "paper"), ["native", "qemu-tcg"]);
    expect(o["qemu-tcg"]?.ratio).toBeCloseTo(Math.sqrt(5), 10);
    expect(o["qemu-tcg"]?.benchmarks).toEqual(["cpu-int", "file-io"]);
    // No perf session: every backend is "not measured", never a guessed ratio.
    expect(overheadOf(null, ["native", "qemu-tcg"])).toEqual({ native: null, "qemu-tcg": null });
  });
});
