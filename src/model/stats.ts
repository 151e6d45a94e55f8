/** Binomial statistics for zone verdicts (pure). */

import { inverseIncompleteBeta } from "./beta.js";

/**
 * One-sided Clopper–Pearson upper bound on a rate after `x` events in `n` trials: the largest p for which
 * seeing at most x events still has probability >= alpha. P(X <= x | p) = 1 - I_p(x + 1, n - x), so the
 * bound is the `confidence` quantile of Beta(x + 1, n - x). 0/5 at 95% gives 0.4507.
 */
export function clopperPearsonUpper(x: number, n: number, confidence = 0.95): number {
  if (n <= 0) return 1;
  if (x >= n) return 1;
  return inverseIncompleteBeta(confidence, x + 1, n - x);
}

/**
 * One-sided Clopper–Pearson lower bound on a rate after `x` successes in `n` trials: the smallest p for
 * which seeing at least x successes still has probability >= alpha. 5/5 at 95% gives 0.5493 (= 1 - the
 * upper bound of 0/5). With no trials, or no successes, the bound is 0.
 */
export function clopperPearsonLower(x: number, n: number, confidence = 0.95): number {
  if (n <= 0 || x <= 0) return 0;
  return 1 - clopperPearsonUpper(n - Math.min(x, n), n, confidence);
}

/** Runs needed with zero events to bound the rate below `bound` (29 for 10% at 95%). */
export function runsForBound(bound: number, confidence = 0.95): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - bound));
}

/**
 * Median of the finite numbers given, or null when there are none; with an even count, the mean of the
 * two middle values.
 */
export function median(values: (number | null | undefined)[]): number | null {
  const v = values
    .filter((x): x is number => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** "0/5 host failures: < 45% at 95%" */
export function describeBound(x: number, n: number, what: string): string {
  const ub = clopperPearsonUpper(x, n);
  return `${x}/${n} ${what}: < ${Math.round(ub * 100)}% at 95%`;
}
