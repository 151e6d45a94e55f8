import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCampaign } from "../src/campaign/load.js";
import { type CampaignSummary, runCampaign } from "../src/campaign/run-campaign.js";
import type { BuiltImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";
import { Store, type StoredRun } from "../src/store/store.js";

/** One campaign measured end to end (ezone's real work: probes, agent, store rows), then thrown away. */
export interface Measured {
  summary: CampaignSummary;
  runs: StoredRun[];
  perHour: number;
  cpuMs: number;
}

export async function measureCampaign(
  text: string,
  image: BuiltImage,
  opts: { jobs: number; noSnapshot?: boolean },
): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), "ezone-bench-"));
  try {
    const config = parseCampaign(text, "bench");
    const cpu0 = process.cpuUsage();
    const summary = await runCampaign(
      { file: "bench", config, text, resultsDir: dir },
      {
        image,
        signal: AbortSignal.timeout(3_600_000),
        log: () => {},
        jobs: opts.jobs,
        noSnapshot: opts.noSnapshot,
      },
    );
    const cpu = process.cpuUsage(cpu0);
    using store = Store.open(dir);
    const runs = store.runs().filter((r) => r.outcome !== "infra-error");
    return {
      summary,
      runs,
      perHour: (summary.executed / summary.wallMs) * 3_600_000,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The p-th percentile (nearest rank) of the numbers given. */
export function percentile(values: (number | null)[], p: number): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] ?? null;
}

export function stats(values: (number | null)[]): { median: number | null; p95: number | null; n: number } {
  return { median: median(values), p95: percentile(values, 95), n: values.filter((x) => x !== null).length };
}
