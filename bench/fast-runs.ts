/**
 * Fast runs: fresh boot vs snapshot restore, side by side in one invocation.
 *   npm run bench -- fast-runs [snapshotRuns]   (default 20; fresh boots: a quarter as many, at least 4)
 * Prints and writes bench/results/fast-runs-<timestamp>.json: per-run wall time (median, p95) fresh vs
 * snapshot and the ratio, boot-to-READY per backend, runs/hour at 1 and 2 workers, detection latency
 * (fault proof → guest known down; last heartbeat → hang verdict), a host slow to read the console
 * (bench/slow-reader.ts) and ezone's CPU use while watching an idle guest (bench/idle-cpu.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { BACKEND_NAMES, createBackend } from "../src/backends/index.js";
import { buildImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";
import { idleMonitorCpu } from "./idle-cpu.js";
import { compareJobs } from "./jobs.js";
import { kerncrashCampaign, measureCampaign, stats } from "./measure.js";
import { compareSlowReader } from "./slow-reader.js";

/** Snapshot runs per mode measurement; fresh boots take ~8x longer, so a quarter as many (at least 4). */
const n = Number(process.argv[2] ?? 20);
const nFresh = Math.max(4, Math.ceil(n / 4));

const image = await buildImage();
const out: Record<string, unknown> = {
  at: new Date().toISOString(),
  image: image.manifest.id,
  runsPerMode: n,
};

// 1. Per-run wall time, fresh vs snapshot, alternating halves so drift hits both.
const wall: Record<string, number[]> = { fresh: [], snapshot: [] };
const perRun: Record<string, (number | null)[]> = { fresh: [], snapshot: [] };
const detection: (number | null)[] = [];
const phases: Record<string, Record<string, number[]>> = { fresh: {}, snapshot: {} };
/** CPU per run: ezone itself, and the processes it started (QEMU above all): what bounds runs/hour. */
const cpu: Record<string, { ezone: number[]; children: number[] }> = {
  fresh: { ezone: [], children: [] },
  snapshot: { ezone: [], children: [] },
};
for (let half = 0; half < 2; half++) {
  for (const boot of ["fresh", "snapshot"] as const) {
    const reps = Math.ceil((boot === "fresh" ? nFresh : n) / 2);
    const m = await measureCampaign(kerncrashCampaign(boot, reps), image, { jobs: 1 });
    const executed = Math.max(1, m.summary.executed);
    wall[boot]?.push(m.summary.wallMs / executed);
    cpu[boot]?.ezone.push(m.cpuMs / executed);
    cpu[boot]?.children.push(m.childrenCpuMs / executed);
    perRun[boot]?.push(...m.runs.map((r) => r.runMs));
    if (boot === "snapshot") detection.push(...m.runs.map((r) => r.detectionMs));
    for (const r of m.runs) {
      for (const [phase, ms] of Object.entries(r.evidence.phases ?? {})) {
        const into = phases[boot] as Record<string, number[]>;
        into[phase] = [...(into[phase] ?? []), ms];
      }
    }
    console.log(
      `${boot}: ${m.summary.executed} runs, ${JSON.stringify(m.summary.outcomes)}, boot ${JSON.stringify(stats(m.runs.map((r) => r.bootMs)))}`,
    );
  }
}
// Where a run's time goes (medians per lifecycle phase): what bounds the per-run time.
out.phasesMedianMs = Object.fromEntries(
  Object.entries(phases).map(([boot, byPhase]) => [
    boot,
    Object.fromEntries(Object.entries(byPhase).map(([phase, v]) => [phase, stats(v).median])),
  ]),
);
out.cpuPerRunMs = Object.fromEntries(
  Object.entries(cpu).map(([boot, c]) => [boot, { ezone: median(c.ezone), children: median(c.children) }]),
);
const fresh = stats(perRun.fresh ?? []);
const snap = stats(perRun.snapshot ?? []);
out.perRunMs = {
  fresh,
  snapshot: snap,
  ratioMedian: fresh.median && snap.median ? fresh.median / snap.median : null,
};
out.campaignWallPerRunMs = { fresh: stats(wall.fresh ?? []), snapshot: stats(wall.snapshot ?? []) };
out.detectionMs = stats(detection);
out.panicSeenToVerdictMs = stats(phases.snapshot?.panicSeenToVerdict ?? []);

// 2. Boot-to-READY per backend (control runs, fresh boots), and the snapshot restore for qemu-tcg.
const boots: Record<string, unknown> = {};
for (const name of BACKEND_NAMES) {
  const backend = createBackend({ name, type: name, exec: null });
  const a = await backend.probe(image, AbortSignal.timeout(60_000));
  if (!a.available) {
    boots[name] = { skipped: a.reason };
    continue;
  }
  const m = await measureCampaign(
    `name: bench-boot\nrepetitions: 3\nbackends: [${name}]\nfaults: [none]\nguest: { boot: fresh }\ntimeouts: { controlObserveSeconds: 1 }\n`,
    image,
    { jobs: 1 },
  );
  boots[name] = stats(m.runs.map((r) => r.bootMs));
}
const restore = await measureCampaign(
  "name: bench-restore\nrepetitions: 3\nbackends: [qemu-tcg]\nfaults: [none]\ntimeouts: { controlObserveSeconds: 1 }\n",
  image,
  { jobs: 1 },
);
boots["qemu-tcg (snapshot restore)"] = stats(restore.runs.map((r) => r.bootMs));
out.bootToReadyMs = boots;

// 3. Hang detection: last heartbeat → verdict with the loss threshold at 2 intervals.
const hang = await measureCampaign(
  "name: bench-hang\nrepetitions: 3\nbackends: [qemu-tcg]\nfaults: [{ name: hang, trigger: { mode: command, delaySeconds: 0 } }]\ntimeouts: { heartbeatMissIntervals: 2 }\n",
  image,
  { jobs: 1 },
).catch((e: Error) => ({ error: e.message }));
out.hangDetection =
  "error" in hang
    ? hang
    : {
        heartbeatMs: 250,
        missIntervals: 2,
        outcomes: hang.summary.outcomes,
        proofToHangVerdictMs: stats(hang.runs.map((r) => r.detectionMs)),
      };

// 4. ezone's own CPU while watching an idle guest: the marginal cost of 20 s more watching.
const idle = await idleMonitorCpu(image, 2, 1);
out.idleMonitorCpuPercentOfCore = idle.idleMonitorCpuPercentOfCore;
out.idleMonitorCpu = idle;

// 5. A host slow to read the console: the same kerncrash runs with ezone's event loop mostly blocked.
const slow = await compareSlowReader(image, Math.max(4, n));
out.slowReader = slow;

// 6. Runs/hour at 1 and 2 workers with snapshots (enough runs that campaign set-up does not dominate).
const throughput = await compareJobs(Math.max(30, 4 * n), 1, "snapshot");
out.throughput = throughput;

// The fast path's goals beside what this run measured.
const fmt = (x: number | null | undefined, unit = " ms") => (x == null ? "n/a" : `${Math.round(x)}${unit}`);
const freshBoot = (boots["qemu-tcg"] as { median?: number | null } | undefined)?.median;
const hangMs = "error" in hang ? null : stats(hang.runs.map((r) => r.detectionMs)).median;
const best = Math.max(throughput.jobs1PerHour, throughput.jobs2PerHour);
const goals: [string, string, string][] = [
  ["snapshot kerncrash run, median", fmt(snap.median), "<= 300 ms"],
  ["snapshot kerncrash run, p95", fmt(snap.p95), "<= 600 ms"],
  [
    "fresh / snapshot, median",
    `${(out.perRunMs as { ratioMedian: number | null }).ratioMedian?.toFixed(1)}x`,
    ">= 10x",
  ],
  ["runs/hour, best of 1 and 2 workers", fmt(best, ""), ">= 20000"],
  [
    "CPU per snapshot run: ezone + children",
    `${fmt(median(cpu.snapshot?.ezone ?? []), "")} + ${fmt(median(cpu.snapshot?.children ?? []))}`,
    "(bounds runs/h)",
  ],
  ["scaling 1 -> 2 workers", `${throughput.scaling?.toFixed(2)}x`, ">= 1.8x hoped"],
  ["fresh qemu-tcg boot to READY, median", fmt(freshBoot), "<= 2500 ms"],
  [
    "panic seen by host -> verdict, p95",
    fmt(stats(phases.snapshot?.panicSeenToVerdict ?? []).p95),
    "<= 20 ms",
  ],
  ["fault proof -> guest known down, p95", fmt(stats(detection).p95), "(context)"],
  ["last heartbeat -> hang verdict, median", fmt(hangMs), "<= 500 ms"],
  ["idle monitoring CPU", `${idle.idleMonitorCpuPercentOfCore?.toFixed(2)}% of a core`, "< 1%"],
];

out.goals = goals;
console.log(`\n${JSON.stringify(out, null, 2)}`);
const pct = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(2)}%`);
console.log(
  `idle monitor CPU: ${pct(idle.idleMonitorCpuPercentOfCore)} of a core marginal (whole campaign ${pct(idle.wholeCampaignCpuPercentOfCore)})`,
);
console.log(
  `slow reader (loop blocked ${slow.blocker.blockedMs}/${slow.blocker.periodMs} ms): detection median ${slow.draining.detectionMs.median?.toFixed(0)} → ${slow.slowReader.detectionMs.median?.toFixed(0)} ms (x${slow.ratioMedian.detectionMs?.toFixed(2)}), guest printk proof→panic ${slow.draining.guestProofToPanicMs.median?.toFixed(0)} → ${slow.slowReader.guestProofToPanicMs.median?.toFixed(0)} ms, run median ${slow.draining.runMs.median?.toFixed(0)} → ${slow.slowReader.runMs.median?.toFixed(0)} ms (x${slow.ratioMedian.runMs?.toFixed(2)})`,
);
console.log("\ngoal                                      measured         goal");
for (const [what, got, goal] of goals) console.log(`${what.padEnd(42)}${got.padEnd(17)}${goal}`);
mkdirSync("bench/results", { recursive: true });
const file = `bench/results/fast-runs-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
console.log(`written ${file}`);
