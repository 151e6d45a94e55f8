/**
 * Measured overhead of each backend against native (DESIGN.md §9), as the performance axis summarized it
 * (`ezone perf`, src/perf): the geometric-mean slowdown and 95% interval per backend of one perf session.
 * Until something was measured every backend is "not measured" (null): the report says so rather than
 * guessing. The report does not read perf sessions itself (report and perf are sibling layers): the CLI
 * hands it perf's summary, which has the shape of `PerfReading`.
 */
import { rowBackend } from "./zone-matrix.js";

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

/** What the report reads of a summarized perf session: per backend its status and overall slowdown. */
export interface PerfReading {
  points: readonly {
    backend: string;
    status: string;
    overall: { ratio: number; lower: number | null; upper: number | null } | null;
    benchmarks: readonly { benchmark: string }[];
  }[];
}

/** Overhead per backend of a perf session (none: no session measured); null where not measured. */
export function overheadOf(reading: PerfReading | null, backends: string[]): Record<string, Overhead | null> {
  const out: Record<string, Overhead | null> = {};
  for (const backend of backends) {
    // A matrix row of the backend (`container (privileged, disposable host)`) has the backend's overhead.
    const point = reading?.points.find((p) => p.backend === rowBackend(backend));
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
