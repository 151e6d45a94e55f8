/**
 * Measured overhead of each backend against native (DESIGN.md §9), as the performance axis stored it
 * (`ezone perf`, src/perf): the latest perf session of the campaign, its geometric-mean slowdown and 95%
 * interval per backend. Until something was measured every backend is "not measured" (null): the report
 * says so rather than guessing.
 */
import { readContinuumPerformance } from "../perf/continuum.js";

/** A backend's slowdown against native: geometric mean over benchmarks, with its 95% interval over rounds. */
export interface Overhead {
  /** Geometric mean of per-benchmark slowdowns; 1 = native. */
  ratio: number;
  /** 95% interval of the ratio (equal to it when too few rounds give no interval). */
  min: number;
  max: number;
  /** Benchmarks compared, sorted. */
  benchmarks: string[];
}

/** Overhead per backend of a results directory; null where not measured. */
export function readOverhead(
  resultsDir: string,
  backends: string[],
  campaign?: string,
): Record<string, Overhead | null> {
  const summary = readContinuumPerformance(resultsDir, campaign);
  const out: Record<string, Overhead | null> = {};
  for (const backend of backends) {
    const point = summary?.points.find((p) => p.backend === backend);
    const overall = point?.status === "measured" ? point.overall : null;
    out[backend] = overall
      ? {
          ratio: overall.ratio,
          min: overall.lower ?? overall.ratio,
          max: overall.upper ?? overall.ratio,
          benchmarks: (point?.benchmarks ?? []).map((b) => b.benchmark).sort(),
        }
      : null;
  }
  return out;
}
