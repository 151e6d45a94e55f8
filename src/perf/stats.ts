/**
 * Statistics of the performance axis (pure). A backend's cost on a benchmark is compared with native's in
 * the same round (the rounds interleave native and every backend, so drift on a noisy host hits both
 * sides of a pair alike); the ratios are log-normal-ish, so the interval is a Student t interval on the
 * logs of the paired ratios, mapped back with exp: a geometric mean with an asymmetric 95% interval.
 */
import { incompleteBeta, inverseIncompleteBeta } from "../model/beta.js";
import { median } from "../model/stats.js";

/** One measured (not warm-up) repetition of a benchmark. `value` is a cost: lower is better. */
export interface PerfSample {
  round: number;
  backend: string;
  benchmark: string;
  value: number;
}

/** A ratio to native with its interval; bounds are null with fewer than two paired rounds. */
export interface RatioInterval {
  ratio: number;
  lower: number | null;
  upper: number | null;
  /** Paired rounds the interval rests on. */
  n: number;
}

/** A backend's slowdown on one benchmark. */
export interface BenchmarkOverhead extends RatioInterval {
  benchmark: string;
  /** Median over rounds of the backend's round values (the round value is the median of its samples). */
  value: number;
  /** The same for native. */
  nativeValue: number;
}

/** A backend's overall overhead: the geometric mean of its per-benchmark slowdowns, with an interval. */
export interface BackendOverhead {
  backend: string;
  overall: RatioInterval | null;
  /** Benchmarks the overall figure covers (those measured on both the backend and native). */
  benchmarks: BenchmarkOverhead[];
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The `p` quantile of Student's t with `df` degrees of freedom (df >= 1): the two-sided tail 2(1 - p) is
 * I_x(df/2, 1/2) at x = df / (df + t²), so t comes from the inverse incomplete beta.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df >= 1)) throw new RangeError(`studentTQuantile: p=${p}, df=${df}`);
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  if (p === 0.5) return 0;
  const x = inverseIncompleteBeta(2 * (1 - p), df / 2, 0.5);
  return Math.sqrt((df * (1 - x)) / x);
}

/**
 * exp(mean) of log ratios with a two-sided t interval at `confidence`: exp(m ± t(n-1) · s/√n). With one
 * value the ratio stands alone (no interval); with none there is nothing to say.
 */
export function logRatioInterval(logRatios: number[], confidence = 0.95): RatioInterval | null {
  const n = logRatios.length;
  if (n === 0) return null;
  const mean = logRatios.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { ratio: Math.exp(mean), lower: null, upper: null, n };
  const variance = logRatios.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const half = studentTQuantile(1 - (1 - confidence) / 2, n - 1) * Math.sqrt(variance / n);
  return { ratio: Math.exp(mean), lower: Math.exp(mean - half), upper: Math.exp(mean + half), n };
}

/** round → value: the median of each round's samples of one backend and benchmark. */
function roundValues(samples: PerfSample[], backend: string, benchmark: string): Map<number, number> {
  const byRound = new Map<number, number[]>();
  for (const s of samples) {
    if (s.backend !== backend || s.benchmark !== benchmark || !(s.value > 0) || !Number.isFinite(s.value))
      continue;
    byRound.set(s.round, [...(byRound.get(s.round) ?? []), s.value]);
  }
  return new Map([...byRound].map(([round, values]) => [round, median(values) as number]));
}

/**
 * Every backend's slowdown against `reference`, per benchmark and overall. Only rounds where both sides
 * measured a benchmark count (paired). The overall figure pairs by round too: per round the mean over
 * benchmarks of the log ratios, over the rounds where every one of the backend's benchmarks was
 * measured; when no round is complete it is the geometric mean of the per-benchmark ratios, without an
 * interval. Non-positive or non-finite values are ignored.
 */
export function summarize(samples: PerfSample[], reference = "native", confidence = 0.95): BackendOverhead[] {
  const benchmarks = [...new Set(samples.map((s) => s.benchmark))];
  const backends = [...new Set(samples.map((s) => s.backend))];
  const refValues = new Map(benchmarks.map((b) => [b, roundValues(samples, reference, b)]));
  return backends.map((backend): BackendOverhead => {
    const perRound = new Map<number, Map<string, number>>();
    const rows: BenchmarkOverhead[] = [];
    for (const benchmark of benchmarks) {
      const ref = refValues.get(benchmark) ?? new Map<number, number>();
      const mine = roundValues(samples, backend, benchmark);
      const logs: number[] = [];
      for (const [round, value] of mine) {
        const base = ref.get(round);
        if (base === undefined) continue;
        const log = Math.log(value / base);
        logs.push(log);
        perRound.set(round, (perRound.get(round) ?? new Map()).set(benchmark, log));
      }
      const interval = logRatioInterval(logs, confidence);
      if (!interval) continue;
      rows.push({
        benchmark,
        ...interval,
        value: median([...mine.values()]) as number,
        nativeValue: median([...ref.values()]) as number,
      });
    }
    const complete = [...perRound.values()].filter((m) => m.size === rows.length);
    const overall =
      rows.length === 0
        ? null
        : complete.length > 0
          ? logRatioInterval(
              complete.map((m) => [...m.values()].reduce((s, x) => s + x, 0) / m.size),
              confidence,
            )
          : {
              ratio: Math.exp(rows.reduce((s, r) => s + Math.log(r.ratio), 0) / rows.length),
              lower: null,
              upper: null,
              n: 0,
            };
    return { backend, overall, benchmarks: rows };
  });
}

/** One pair of backends whose measured order contradicts their continuum ranks, beyond the intervals. */
export interface OrderViolation {
  /** Ranked lower (expected faster) ... */
  expectedFaster: string;
  /** ... yet measured clearly slower than this one. */
  slower: string;
}

/**
 * Pairs (a, b) with rank(a) < rank(b) where a is measured slower than b with confidence: a's interval lies
 * wholly above b's. Equal ranks are not ordered; without both intervals (one round) nothing is claimed.
 * Pure.
 */
export function orderViolations(
  overall: { backend: string; rank: number; overall: RatioInterval }[],
): OrderViolation[] {
  const out: OrderViolation[] = [];
  for (const a of overall) {
    for (const b of overall) {
      if (a.rank >= b.rank || a.overall.lower === null || b.overall.upper === null) continue;
      if (a.overall.lower > b.overall.upper) out.push({ expectedFaster: a.backend, slower: b.backend });
    }
  }
  return out;
}
