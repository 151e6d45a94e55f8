/**
 * Bit flips: the flip run against the snapshot kerncrash run, side by side in one invocation, and a large
 * flip campaign on one target with two workers.
 *   npm run bench -- bitflip [runsPerMode] [campaignFlips] [target]   (defaults 20, 1000, data)
 * 1. Per-run wall time (median, p95) of snapshot kerncrash runs and of `data` and `registers` flips on
 *    qemu-tcg (and `data` flips on native, for context), alternating halves so drift hits all alike;
 *    the goal is flip median <= 2 x kerncrash median.
 * 2. `campaignFlips` flips into `target` on qemu-tcg with --jobs 2: wall time (goal: 1,000 flips in
 *    under 15 min) and the class distribution with 95% intervals.
 * `runsPerMode` 0 leaves part 1 out. Prints a summary and writes bench/results/bitflip-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { buildImage } from "../src/guest/image-builder.js";
import { SOFT_CLASSES } from "../src/model/soft-error.js";
import { countWithInterval } from "../src/report/soft-errors.js";
import type { StoredRun } from "../src/store/store.js";
import { kerncrashCampaign, measureCampaign, stats } from "./measure.js";

const n = Number(process.argv[2] ?? 20);
const campaignFlips = Number(process.argv[3] ?? 1000);
const target = process.argv[4] ?? "data";

/** A busy moment (a baseline probe) is retried, and many short runs must not quarantine the host. */
const INFRA = "infra: { retries: 2, quarantineAfter: 50 }";

function flipCampaign(backend: string, flipTarget: string, flips: number, name: string): string {
  return [
    `name: ${name}`,
    `backends: [${backend}]`,
    `faults: [{ name: bitflip, target: ${flipTarget}, flips: ${flips} }]`,
    INFRA,
    "",
  ].join("\n");
}

const MODES: Record<string, (reps: number) => string> = {
  "kerncrash (qemu-tcg, snapshot)": (reps) => `${kerncrashCampaign("snapshot", reps)}${INFRA}\n`,
  "bitflip data (qemu-tcg)": (reps) => flipCampaign("qemu-tcg", "data", reps, "bench-flip-data"),
  "bitflip registers (qemu-tcg)": (reps) => flipCampaign("qemu-tcg", "registers", reps, "bench-flip-regs"),
  "bitflip data (native)": (reps) => flipCampaign("native", "data", reps, "bench-flip-native"),
};

function classes(runs: StoredRun[]): Record<string, string> {
  const flips = runs.length;
  const out: Record<string, string> = {};
  for (const c of SOFT_CLASSES)
    out[c] = countWithInterval(runs.filter((r) => r.softClass === c).length, flips);
  out["no class"] = String(runs.filter((r) => !r.softClass).length);
  return out;
}

const image = await buildImage();
const out: Record<string, unknown> = {
  at: new Date().toISOString(),
  image: image.manifest.id,
  runsPerMode: n,
};

// 1. Per-run wall time, alternating halves so drift hits every mode alike.
const perRun: Record<string, (number | null)[]> = {};
for (let half = 0; half < (n > 0 ? 2 : 0); half++) {
  for (const [mode, campaign] of Object.entries(MODES)) {
    const m = await measureCampaign(campaign(Math.ceil(n / 2)), image, { jobs: 1 });
    perRun[mode] = [...(perRun[mode] ?? []), ...m.runs.map((r) => r.runMs)];
    console.log(`${mode}: ${m.runs.length} runs, ${JSON.stringify(m.summary.outcomes)}`);
  }
}
const perRunMs = Object.fromEntries(Object.entries(perRun).map(([mode, v]) => [mode, stats(v)]));
const kerncrash = perRunMs["kerncrash (qemu-tcg, snapshot)"]?.median ?? null;
const ratio = (mode: string) => {
  const m = perRunMs[mode]?.median;
  return m != null && kerncrash ? m / kerncrash : null;
};
out.perRunMs = perRunMs;
out.ratioToKerncrash = {
  "bitflip data (qemu-tcg)": ratio("bitflip data (qemu-tcg)"),
  "bitflip registers (qemu-tcg)": ratio("bitflip registers (qemu-tcg)"),
  "bitflip data (native)": ratio("bitflip data (native)"),
};

// 2. One large flip campaign with two workers.
const big = await measureCampaign(
  flipCampaign("qemu-tcg", target, campaignFlips, "bench-flip-campaign"),
  image,
  {
    jobs: 2,
  },
);
out.campaign = {
  target,
  flips: campaignFlips,
  jobs: 2,
  judged: big.runs.length,
  wallS: big.summary.wallMs / 1000,
  perHour: big.perHour,
  outcomes: big.summary.outcomes,
  infraErrors: big.infraErrors,
  stoppedBecause: big.summary.stoppedBecause,
  classes: classes(big.runs),
  runMs: stats(big.runs.map((r) => r.runMs)),
};

console.log(`\n${JSON.stringify(out, null, 2)}`);
const fmt = (x: number | null | undefined) => (x == null ? "n/a" : `${Math.round(x)} ms`);
console.log("\nmode                                   median    p95       n    ratio to kerncrash");
for (const [mode, s] of Object.entries(perRunMs)) {
  const r = mode.startsWith("kerncrash") ? 1 : ratio(mode);
  console.log(
    `${mode.padEnd(39)}${fmt(s.median).padEnd(10)}${fmt(s.p95).padEnd(10)}${String(s.n).padEnd(5)}${r?.toFixed(2) ?? "n/a"}`,
  );
}
console.log(
  `\n${campaignFlips} flips (${target}, qemu-tcg, --jobs 2): ${(big.summary.wallMs / 1000).toFixed(1)} s wall, ${big.runs.length} judged; ${JSON.stringify(classes(big.runs))}`,
);
mkdirSync("bench/results", { recursive: true });
const file = `bench/results/bitflip-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
console.log(`written ${file}`);
