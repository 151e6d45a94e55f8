/**
 * Campaign throughput at --jobs 1 and --jobs 2, measured side by side in one invocation on the same
 * campaign (kerncrash on qemu-tcg), alternating so drift hits both alike. Prints runs/hour and the ratio.
 *   npm run bench -- jobs [runsPerRound] [rounds] [fresh|snapshot]
 */
import { buildImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";
import { kerncrashCampaign, measureCampaign } from "./measure.js";

export async function compareJobs(
  runsPerRound: number,
  rounds: number,
  boot: "fresh" | "snapshot",
  log = console.log,
) {
  const image = await buildImage();
  const text = kerncrashCampaign(boot, runsPerRound, "bench-jobs");
  const rates: Record<1 | 2, number[]> = { 1: [], 2: [] };
  for (let round = 0; round < rounds; round++) {
    for (const jobs of [1, 2] as const) {
      const m = await measureCampaign(text, image, { jobs });
      rates[jobs].push(m.perHour);
      log(
        `round ${round + 1} jobs ${jobs} (${boot}): ${m.summary.executed} runs in ${(m.summary.wallMs / 1000).toFixed(1)} s = ${m.perHour.toFixed(0)} runs/hour ${JSON.stringify(m.summary.outcomes)}`,
      );
    }
  }
  const j1 = median(rates[1]) ?? 0;
  const j2 = median(rates[2]) ?? 0;
  return { boot, runsPerRound, rounds, jobs1PerHour: j1, jobs2PerHour: j2, scaling: j1 > 0 ? j2 / j1 : null };
}

if (process.argv[1]?.endsWith("jobs.js")) {
  const r = await compareJobs(
    Number(process.argv[2] ?? 6),
    Number(process.argv[3] ?? 2),
    (process.argv[4] as "fresh" | "snapshot") ?? "snapshot",
  );
  console.log(
    `\nmedian runs/hour: jobs 1 = ${r.jobs1PerHour.toFixed(0)}, jobs 2 = ${r.jobs2PerHour.toFixed(0)}, scaling = ${r.scaling?.toFixed(2)}`,
  );
}
