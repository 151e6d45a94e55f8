/**
 * Measured overhead of each backend against native (DESIGN.md §9), read from a `perf_results` table when
 * the results database has one. The performance axis fills that table; until it exists every backend is
 * "not measured" (null) and the report says so rather than guessing.
 *
 * The columns read (any others are ignored):
 *   backend TEXT, benchmark TEXT, value REAL            required
 *   campaign TEXT                                        optional: rows of other campaigns are left out
 *   session TEXT                                         optional: only the latest session is read, so
 *                                                        native and each backend were measured together
 *   lower_is_better INTEGER (1/0)                        optional, default 1 (times, latencies)
 * A backend's overhead is the geometric mean over benchmarks of its slowdown against `native` on the same
 * benchmark (median of repeated rows first), so 1.0 is native speed and 2.0 twice as slow. Benchmarks
 * native did not measure are left out; a backend with no benchmark in common with native is null.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { median } from "../model/stats.js";
import { DB_FILE } from "../store/store.js";

/** One measurement as stored. */
export interface PerfRow {
  backend: string;
  benchmark: string;
  value: number;
  lowerIsBetter: boolean;
}

/** A backend's slowdown against native: the geometric mean and the range over benchmarks. */
export interface Overhead {
  /** Geometric mean of per-benchmark slowdowns; 1 = native. */
  ratio: number;
  /** Smallest and largest per-benchmark slowdown. */
  min: number;
  max: number;
  /** Benchmarks compared, sorted. */
  benchmarks: string[];
}

/** The backend every ratio is taken against. */
export const NATIVE = "native";

/** Overhead per backend in `backends`; null where not measured (or native was not measured). Pure. */
export function overheadFromRows(rows: PerfRow[], backends: string[]): Record<string, Overhead | null> {
  const byKey = new Map<string, { values: number[]; lowerIsBetter: boolean }>();
  for (const r of rows) {
    if (!Number.isFinite(r.value) || r.value <= 0) continue;
    const key = `${r.backend}\u0000${r.benchmark}`;
    const entry = byKey.get(key) ?? { values: [], lowerIsBetter: r.lowerIsBetter };
    entry.values.push(r.value);
    byKey.set(key, entry);
  }
  const typical = (backend: string, benchmark: string) => {
    const e = byKey.get(`${backend}\u0000${benchmark}`);
    return e ? { value: median(e.values) as number, lowerIsBetter: e.lowerIsBetter } : null;
  };
  const benchmarks = [...new Set(rows.filter((r) => r.backend === NATIVE).map((r) => r.benchmark))].sort();
  const out: Record<string, Overhead | null> = {};
  for (const backend of backends) {
    const ratios: { benchmark: string; ratio: number }[] = [];
    for (const benchmark of benchmarks) {
      const base = typical(NATIVE, benchmark);
      const mine = typical(backend, benchmark);
      if (!base || !mine) continue;
      ratios.push({
        benchmark,
        ratio: base.lowerIsBetter ? mine.value / base.value : base.value / mine.value,
      });
    }
    if (ratios.length === 0) {
      out[backend] = null;
      continue;
    }
    const logMean = ratios.reduce((s, r) => s + Math.log(r.ratio), 0) / ratios.length;
    out[backend] = {
      ratio: Math.exp(logMean),
      min: Math.min(...ratios.map((r) => r.ratio)),
      max: Math.max(...ratios.map((r) => r.ratio)),
      benchmarks: ratios.map((r) => r.benchmark),
    };
  }
  return out;
}

/**
 * The `perf_results` rows of a results directory (of one campaign when the table has a campaign column),
 * or null when there is no database, no such table, or it lacks a required column.
 */
export function readPerfRows(resultsDir: string, campaign?: string): PerfRow[] | null {
  const file = join(resultsDir, DB_FILE);
  if (!existsSync(file)) return null;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const columns = new Set(
      (db.prepare("SELECT name FROM pragma_table_info('perf_results')").all() as { name: string }[]).map(
        (c) => c.name,
      ),
    );
    if (!["backend", "benchmark", "value"].every((c) => columns.has(c))) return null;
    const lib = columns.has("lower_is_better") ? "lower_is_better" : "1";
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (campaign !== undefined && columns.has("campaign")) {
      conditions.push("campaign = ?");
      params.push(campaign);
    }
    if (columns.has("session")) {
      const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
      const latest = db
        .prepare(`SELECT session FROM perf_results ${where} ORDER BY rowid DESC LIMIT 1`)
        .get(...params) as { session: unknown } | undefined;
      if (latest === undefined) return [];
      conditions.push("session = ?");
      params.push(latest.session);
    }
    const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
    const rows = db
      .prepare(`SELECT backend, benchmark, value, ${lib} AS lib FROM perf_results ${where}`)
      .all(...params) as { backend: string; benchmark: string; value: number; lib: number }[];
    return rows.map((r) => ({
      backend: String(r.backend),
      benchmark: String(r.benchmark),
      value: Number(r.value),
      lowerIsBetter: r.lib !== 0,
    }));
  } finally {
    db.close();
  }
}

/** Overhead per backend of a results directory; every backend null when nothing was measured. */
export function readOverhead(
  resultsDir: string,
  backends: string[],
  campaign?: string,
): Record<string, Overhead | null> {
  return overheadFromRows(readPerfRows(resultsDir, campaign) ?? [], backends);
}
