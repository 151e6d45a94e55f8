/**
 * Campaign throughput at --jobs 1 and --jobs 2, measured side by side in one invocation on the same
 * campaign (kerncrash on qemu-tcg), alternating so drift hits both alike. Prints runs/hour and the ratio.
 *   npm run bench -- jobs [runsPerRound] [rounds]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCampaign } from "../src/campaign/load.js";
import { runCampaign } from "../src/campaign/run-campaign.js";
import { buildImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";

const runsPerRound = Number(process.argv[2] ?? 6);
const rounds = Number(process.argv[3] ?? 2);

const text = [
  "name: bench-jobs",
  `repetitions: ${runsPerRound}`,
  "backends: [qemu-tcg]",
  "faults: [{ name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]",
].join("\n");

async function main(): Promise<void> {
  const image = await buildImage();
  const config = parseCampaign(text, "bench/jobs");
  const rates: Record<1 | 2, number[]> = { 1: [], 2: [] };
  for (let round = 0; round < rounds; round++) {
    for (const jobs of [1, 2] as const) {
      const dir = mkdtempSync(join(tmpdir(), "ezone-bench-jobs-"));
      try {
        writeFileSync(join(dir, "c.yaml"), text);
        const s = await runCampaign(
          { file: "bench/jobs", config, text, resultsDir: dir },
          { image, signal: AbortSignal.timeout(3_600_000), log: () => {}, jobs },
        );
        const perHour = (s.executed / s.wallMs) * 3_600_000;
        rates[jobs].push(perHour);
        console.log(
          `round ${round + 1} jobs ${jobs}: ${s.executed} runs in ${(s.wallMs / 1000).toFixed(1)} s = ${perHour.toFixed(0)} runs/hour (${JSON.stringify(s.outcomes)})`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const j1 = median(rates[1]) ?? 0;
  const j2 = median(rates[2]) ?? 0;
  console.log(
    `\nmedian runs/hour: jobs 1 = ${j1.toFixed(0)}, jobs 2 = ${j2.toFixed(0)}, ratio jobs2/jobs1 = ${(j2 / j1).toFixed(2)}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
