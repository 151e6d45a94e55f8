import type { Golden } from "../model/soft-error.js";
import { workloadReport } from "../monitor/soft-lines.js";
import type { Store } from "../store/store.js";
import { InfraError } from "../util/errors.js";
import { runOne } from "./run-one.js";
import type { GoldenSource, RunPlan } from "./run-plan.js";

/** The workload's version in golden keys: a change to its computation must not reuse old digests. */
const WORKLOAD = "soft-workload/1";

/**
 * The golden runs of a campaign: per (image, backend, workload) the fault-free digest and compute time,
 * read from the store when there, otherwise measured once (one run of the workload with no flip, through
 * the same lifecycle) and stored, so a resume reuses it.
 */
export class GoldenRuns {
  private readonly measuring = new Map<string, Promise<Golden>>();

  constructor(
    private readonly store: Store,
    private readonly log: (line: string) => void,
  ) {}

  /** The golden run a bit-flip run of `plan` on `backendName` is judged against. */
  source(plan: RunPlan, backendName: string): GoldenSource {
    const key = `${plan.image.manifest.id}/${backendName}/${WORKLOAD}`;
    return {
      get: async (signal) => {
        const stored = this.store.golden(key);
        if (stored) return { golden: stored, reused: true };
        let measured = this.measuring.get(key);
        if (!measured) {
          measured = this.measure(key, plan, signal);
          this.measuring.set(key, measured);
          // A failed measurement is tried again by the next run, not remembered.
          measured.catch(() => this.measuring.delete(key));
        }
        return { golden: await measured, reused: false };
      },
    };
  }

  private async measure(key: string, plan: RunPlan, signal: AbortSignal): Promise<Golden> {
    const nonce = `golden${plan.nonce}`;
    const result = await runOne(
      { ...plan, nonce, runTag: `${plan.runTag}-golden`, softError: null, golden: null },
      signal,
    );
    const w = workloadReport(result.console.data.toString("latin1"), nonce);
    if (w.end !== "exit=0" || w.digest === null || w.durationUs === null) {
      throw new InfraError(
        "golden",
        `the fault-free workload run gave no digest (workload ended ${w.end ?? "never"}; run ${result.verdict.outcome}: ${result.verdict.reasons[0] ?? ""})`,
      );
    }
    const golden = this.store.recordGolden(key, { digest: w.digest, durationUs: w.durationUs });
    this.log(`  golden run ${key}: digest ${golden.digest}, ${golden.durationUs} µs`);
    return golden;
  }
}
