import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { descendants } from "../../src/backends/host-process.js";
import { createBackend } from "../../src/backends/index.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { BENCHMARKS } from "../../src/perf/benchmarks.js";
import { summarizeSession } from "../../src/perf/continuum.js";
import { type PerfPlan, runPerfSession } from "../../src/perf/run-perf.js";
import { renderPerfTable } from "../../src/perf/table.js";
import { Store } from "../../src/store/store.js";
import { hasBinary } from "../helpers/capabilities.js";

const haveQemu = hasBinary("qemu-system-x86_64");

describe.runIf(haveQemu)("ezone perf on real enclaves (native + qemu-tcg)", () => {
  let image: BuiltImage;
  let dir: string;
  beforeAll(async () => {
    image = await buildImage();
    dir = mkdtempSync(join(tmpdir(), "ezone-perf-it-"));
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const plan = (store: Store, over: Partial<PerfPlan>): PerfPlan => ({
    image,
    backends: [
      createBackend({ name: "native", type: "native" }),
      createBackend({ name: "qemu-tcg", type: "qemu-tcg" }),
    ],
    rounds: 2,
    samples: 1,
    warmup: 1,
    benchmarks: BENCHMARKS,
    params: { ms: 40, mb: 8 },
    memoryMb: 256,
    store,
    session: "it",
    campaign: "it",
    signal: AbortSignal.timeout(85_000),
    log: () => {},
    ...over,
  });

  it("two interleaved rounds: every benchmark measured in both, TCG slower than native", async () => {
    using store = Store.open(dir);
    const blocks = await runPerfSession(plan(store, {}));
    expect(blocks.map((b) => [b.round, b.backend, b.status, b.reason])).toEqual([
      [1, "native", "ok", null],
      [1, "qemu-tcg", "ok", null],
      [2, "native", "ok", null],
      [2, "qemu-tcg", "ok", null],
    ]);
    const results = store.perfResults("it");
    // Warm-ups are discarded: one measured sample per benchmark per block.
    expect(results).toHaveLength(2 * 2 * BENCHMARKS.length);
    expect(results.every((r) => r.value > 0 && (r.ops ?? 0) > 0 && r.sample === 1)).toBe(true);

    const summary = summarizeSession(store, "it");
    const tcg = summary.points.find((p) => p.backend === "qemu-tcg");
    expect(tcg?.benchmarks.map((b) => b.benchmark)).toEqual([...BENCHMARKS]);
    expect(tcg?.benchmarks.every((b) => b.n === 2 && b.lower !== null)).toBe(true);
    // TCG runs SSE arithmetic through softfloat helpers and every load through its soft MMU: the FP loop
    // and STREAM's triad are many times slower than on the host's CPU (an integer loop is not, measured).
    expect(tcg?.benchmarks.find((b) => b.benchmark === "cpu-fp")?.ratio).toBeGreaterThan(2);
    expect(tcg?.benchmarks.find((b) => b.benchmark === "mem-triad")?.ratio).toBeGreaterThan(5);
    expect(tcg?.overall?.ratio).toBeGreaterThan(1);
    // The guest's /tmp is the initramfs's tmpfs: the table must say where file-io ran.
    expect(tcg?.fileSystems).toEqual(["tmpfs"]);
    expect(renderPerfTable(summary)).toMatch(/overall \(geomean\) +\| 1\.00× \[1\.00–1\.00\] +\| \d/);
    expect(await descendants(process.pid)).toEqual([]);
  }, 90_000);

  it("without native there is no ratio: refused before any boot, the unrunnable backend recorded", async () => {
    using store = Store.open(dir);
    const p = plan(store, {
      session: "no-native",
      backends: [createBackend({ name: "qemu-tcg", type: "qemu-tcg", binary: "/nonexistent/qemu" })],
    });
    await expect(runPerfSession(p)).rejects.toThrow(/perf\.reference: the reference backend native/);
    expect(store.perfBlocks("no-native").map((b) => [b.backend, b.status])).toEqual([
      ["qemu-tcg", "unavailable"],
    ]);
    expect(await descendants(process.pid)).toEqual([]);
  });
});
