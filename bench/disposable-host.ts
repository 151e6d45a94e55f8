/**
 * Runs from a restored disposable host, per backend inside it.
 *   npm run bench -- disposable-host [runs]   (default 5 per backend and kind)
 * For native, container, gvisor and uml in a disposable host: the snapshot save (once, with the enclave
 * READY inside), then N runs of each kind, median wall time:
 *  - zone 1: restore, the enclave READY, `kerncrash.ko` loaded into the host's kernel through hostd, the
 *    host dead, its evidence (proof line, panic) gathered;
 *  - zone 3 (native and container, whose kernel is the host's): `kerncrash` from inside the enclave, the
 *    whole run lifecycle (runOne: real-host probes, restore, inject, observe, the host's probes, verdict);
 * beside the snapshot kerncrash qemu-tcg campaign measured in the same invocation, as ratios. Prints and
 * writes bench/results/disposable-host.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "../src/backends/backend.js";
import { DisposableHostBackend } from "../src/backends/disposable-host/disposable-host.js";
import { createBackend } from "../src/backends/index.js";
import { QemuBackend } from "../src/backends/qemu/qemu.js";
import { ensureSnapshot, type SnapshotRef } from "../src/backends/snapshot-cache.js";
import { DhWatch, dhEvidence } from "../src/campaign/host-watch.js";
import { runOne } from "../src/campaign/run-one.js";
import type { RunPlan } from "../src/campaign/run-plan.js";
import { buildHostImage } from "../src/guest/host-image.js";
import { buildImage } from "../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../src/host/compare.js";
import { stats } from "./measure.js";

const n = Number(process.argv[2] ?? 5);
const INNER = ["native", "container", "gvisor", "uml"] as const;

const image = await buildImage();
const hostImage = await buildHostImage({ guest: image });
const cache = mkdtempSync(join(tmpdir(), "ezone-bench-dh-"));

function spec(over: { restoreFrom?: string; runTag: string }) {
  return {
    image,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: ["oops=panic"],
    arm: null,
    workDir: mkdtempSync(join(tmpdir(), "ezone-run-bench-dh-")),
    ...over,
  };
}

/** One zone-1 run at the backend level: restore, READY, host module, host dead; its wall time and evidence. */
async function zone1Run(backend: DisposableHostBackend, snapshot: SnapshotRef, i: number) {
  const started = performance.now();
  const nonce = `bdh${i}`;
  const s = spec({ restoreFrom: snapshot.dir, runTag: `bench-dh-${i}` });
  const watch = new DhWatch();
  watch.expectProof(nonce);
  let text = "";
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const signal = AbortSignal.timeout(120_000);
  try {
    await using enclave = await backend.start(
      s,
      (ev) => {
        if (ev.type !== "console") return;
        text = (text + ev.data.toString()).slice(-4096);
        if (/READY ezone-agent/.test(text)) ready();
      },
      signal,
    );
    enclave.watchHost((ev) => watch.onEvent(ev));
    enclave.send(`RESUME seed=${nonce}`);
    await isReady;
    await enclave.injectHostKernel("kerncrash", `nonce=${nonce} delay_ms=0`, [], signal);
    await watch.ended;
    const after = await enclave.probeHost(signal);
    const ev = dhEvidence(watch.seen, after.answered, 2000, []);
    return { ms: performance.now() - started, dead: !ev.alive && ev.panicked && ev.proof };
  } finally {
    rmSync(s.workDir, { recursive: true, force: true });
  }
}

/** A kerncrash run plan from a snapshot (the run lifecycle as a campaign runs it). */
function kerncrashPlan(backend: Backend, snapshot: SnapshotRef, i: number): RunPlan {
  const scale = backend.timeoutScale;
  return {
    backend,
    image,
    fault: "kerncrash",
    trigger: { mode: "command", delaySeconds: 0 },
    nonce: `bz3${i}`,
    runTag: `bench-dh3-${process.pid}-${i}`,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: ["oops=panic"],
    timeouts: {
      runMs: 120_000 * scale,
      bootMs: 60_000 * scale,
      observeMs: 20_000 * scale,
      controlObserveMs: 1_500,
      heartbeatLossMs: 2_000 * scale,
      graceMs: 500,
      probeMs: 15_000,
    },
    thresholds: DEFAULT_PROBE_THRESHOLDS,
    snapshot: { get: async () => snapshot, invalidate: async () => {} },
  };
}

const rows: {
  backend: string;
  saveMs: number | null;
  zone1: number[];
  zone1Dead: number;
  zone3: number[];
  zone3Outcomes: Record<string, number>;
  skipped?: string;
}[] = [];
try {
  for (const name of INNER) {
    const inner = createBackend({ name, type: name, exec: null });
    const a = await inner.probe(image, AbortSignal.timeout(60_000));
    if (!a.available) {
      rows.push({
        backend: name,
        saveMs: null,
        zone1: [],
        zone1Dead: 0,
        zone3: [],
        zone3Outcomes: {},
        skipped: a.reason,
      });
      continue;
    }
    const backend = new DisposableHostBackend({ inner, image: async () => hostImage });
    const row = {
      backend: name,
      saveMs: null as number | null,
      zone1: [] as number[],
      zone1Dead: 0,
      zone3: [] as number[],
      zone3Outcomes: {} as Record<string, number>,
    };
    rows.push(row);
    try {
      const snap = await ensureSnapshot(
        backend,
        spec({ runTag: "bench-dh-save" }),
        AbortSignal.timeout(600_000),
        cache,
      );
      row.saveMs = snap.savedMs;
      for (let i = 0; i < n; i++) {
        const z1 = await zone1Run(backend, snap, i);
        row.zone1.push(z1.ms);
        if (z1.dead) row.zone1Dead++;
        // Zone 3 hits the host only where the enclave's kernel is the host's (UML and gVisor have their own).
        if (name !== "native" && name !== "container") continue;
        const r = await runOne(kerncrashPlan(backend, snap, i), AbortSignal.timeout(300_000));
        row.zone3.push(r.runMs);
        row.zone3Outcomes[r.verdict.outcome] = (row.zone3Outcomes[r.verdict.outcome] ?? 0) + 1;
      }
      console.log(`${name}: ${JSON.stringify(row)}`);
    } catch (e) {
      Object.assign(row, { skipped: (e as Error).message.slice(0, 300) });
      console.log(`${name}: failed: ${(e as Error).message}`);
    }
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
}

// The baseline: kerncrash in a qemu-tcg guest restored from its snapshot, through the same lifecycle.
const qemu = new QemuBackend({ accel: "tcg" });
const qemuCache = mkdtempSync(join(tmpdir(), "ezone-bench-dh-qemu-"));
const baseRuns: number[] = [];
try {
  const snap = await ensureSnapshot(
    qemu,
    spec({ runTag: "bench-qemu-save" }),
    AbortSignal.timeout(300_000),
    qemuCache,
  );
  for (let i = 0; i < n; i++)
    baseRuns.push((await runOne(kerncrashPlan(qemu, snap, 100 + i), AbortSignal.timeout(300_000))).runMs);
} finally {
  rmSync(qemuCache, { recursive: true, force: true });
}
const base = stats(baseRuns).median;

const fmt = (x: number | null | undefined) => (x == null ? "n/a" : `${Math.round(x)} ms`);
const ratio = (x: number | null | undefined) => (x == null || !base ? "n/a" : `${(x / base).toFixed(1)}x`);
const lines = [
  "# Disposable host: runs from a restored host",
  "",
  `Measured ${new Date().toISOString()} with \`npm run bench -- disposable-host ${n}\` (${n} runs per backend and kind, one worker).`,
  `Baseline: the snapshot kerncrash run on qemu-tcg through the same run lifecycle (runOne), in the same invocation: median ${fmt(base)}.`,
  "Zone 1 is timed at the backend: restore, the enclave READY, the module loaded through hostd, the host dead and its evidence read (no real-host probes, ~30 ms each).",
  "Zone 3 is the whole run (runOne). Figures on a shared 2-core machine: compare ratios, not absolute times.",
  "",
  "| backend in the disposable host | snapshot save | zone 1 (host kerncrash), median | ratio | host dead with proof | zone 3 kerncrash from inside (runOne), median | ratio | zone 3 outcomes |",
  "|---|---|---|---|---|---|---|---|",
  ...rows.map((r) => {
    if (r.skipped && r.zone1.length === 0)
      return `| ${r.backend} | not measured: ${r.skipped.replace(/\|/g, "/")} | | | | | | |`;
    const z1 = stats(r.zone1).median;
    const z3 = stats(r.zone3).median;
    return `| ${r.backend} | ${fmt(r.saveMs)} | ${fmt(z1)} | ${ratio(z1)} | ${r.zone1Dead}/${r.zone1.length} | ${fmt(z3)} | ${ratio(z3)} | ${JSON.stringify(r.zone3Outcomes)} |`;
  }),
  "",
];
const md = lines.join("\n");
console.log(md);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/disposable-host.md", md);
console.log("written bench/results/disposable-host.md");
