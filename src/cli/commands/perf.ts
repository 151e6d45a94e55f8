import { existsSync } from "node:fs";
import { join } from "node:path";
import { BACKEND_NAMES, type BackendName, createBackend } from "../../backends/index.js";
import { buildImage } from "../../guest/image-builder.js";
import { BENCHMARKS, type BenchmarkName, DEFAULT_BENCH_PARAMS } from "../../perf/benchmarks.js";
import { summarizeSession } from "../../perf/continuum.js";
import { REFERENCE, runPerfSession } from "../../perf/run-perf.js";
import { renderPerfTable } from "../../perf/table.js";
import { DB_FILE, Store } from "../../store/store.js";
import { ConfigError, ExitError } from "../../util/errors.js";
import { handleInterrupts } from "../interrupt.js";

export interface PerfCliOptions {
  backends?: string;
  reps?: string;
  samples?: string;
  warmup?: string;
  ms?: string;
  mb?: string;
  benchmarks?: string;
  memoryMb?: string;
  results?: string;
  campaign?: string;
  json?: boolean;
}

function intFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(flag, [{ path: value, message: `expected a whole number from ${min} to ${max}` }]);
  return n;
}

/** `all` or a comma list of names from `known`; anything else is a usage error naming the flag. */
export function listFlag<T extends string>(
  flag: string,
  value: string | undefined,
  known: readonly T[],
): T[] {
  if (value === undefined || value === "all") return [...known];
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(known as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0)
    throw new ConfigError(flag, [
      { path: bad.join(",") || value, message: `expected "all" or names among ${known.join(", ")}` },
    ]);
  return [...new Set(names)] as T[];
}

/** The campaign perf rows are filed under: the flag, else the results directory's only campaign, else `perf`. */
function campaignFor(resultsDir: string, flag: string | undefined): string {
  if (flag) return flag;
  if (!existsSync(join(resultsDir, DB_FILE))) return "perf";
  using store = Store.open(resultsDir);
  const names = store.campaigns();
  return names.length === 1 ? (names[0] as string) : "perf";
}

/**
 * `ezone perf`: the benchmark set in every backend this host can run, interleaved with native, stored in
 * `<results>/ezone.db` (tables perf_blocks, perf_results) next to the campaign's crash runs, then the
 * overhead table. Exit 0 done, 3 when native cannot run, 130 interrupted.
 */
export async function run(opts: PerfCliOptions): Promise<void> {
  const names = listFlag<BackendName>("--backends", opts.backends, BACKEND_NAMES);
  const benchmarks = listFlag<BenchmarkName>("--benchmarks", opts.benchmarks, BENCHMARKS);
  const rounds = intFlag("--reps", opts.reps, 5, 1, 1000);
  const samples = intFlag("--samples", opts.samples, 3, 1, 100);
  const warmup = intFlag("--warmup", opts.warmup, 1, 0, 100);
  const params = {
    ms: intFlag("--ms", opts.ms, DEFAULT_BENCH_PARAMS.ms, 1, 10_000),
    mb: intFlag("--mb", opts.mb, DEFAULT_BENCH_PARAMS.mb, 1, 512),
  };
  const memoryMb = intFlag("--memory-mb", opts.memoryMb, 256, 128, 65_536);
  const resultsDir = opts.results ?? join("results", "perf");
  const campaign = campaignFor(resultsDir, opts.campaign);
  const refs = [REFERENCE, ...names.filter((n) => n !== REFERENCE)] as BackendName[];

  using interrupt = handleInterrupts({
    first: (sig) => `ezone: ${sig}: stopping after cleanup (again to kill at once)`,
  });
  const log = (l: string) => process.stderr.write(`${l}\n`);
  try {
    const image = await buildImage({ log: (l) => log(`image: ${l}`), signal: interrupt.signal });
    const session = `perf-${new Date().toISOString().replace(/\.\d+Z$/, "Z")}-${process.pid}`;
    log(
      `${session}: image ${image.manifest.id}, ${rounds} round(s), results in ${resultsDir} (campaign ${campaign})`,
    );
    using store = Store.open(resultsDir);
    await runPerfSession({
      image,
      backends: refs.map((type) => createBackend({ name: type, type })),
      rounds,
      samples,
      warmup,
      benchmarks,
      params,
      memoryMb,
      store,
      session,
      campaign,
      signal: interrupt.signal,
      log,
    });
    const summary = summarizeSession(store, session);
    process.stdout.write(
      opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${renderPerfTable(summary)}\n`,
    );
    if (interrupt.signal.aborted) throw new ExitError(130);
  } catch (e) {
    if (interrupt.signal.aborted && !(e instanceof ExitError)) throw new ExitError(130);
    throw e;
  }
}
