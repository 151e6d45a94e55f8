import { describe, expect, it } from "vitest";
import { incompleteBeta, inverseIncompleteBeta } from "../../src/model/beta.js";
import {
  clopperPearsonLower,
  clopperPearsonUpper,
  describeBound,
  median,
  runsForBound,
} from "../../src/model/stats.js";

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
  return s;
}

/** P(X <= x) for X ~ Binomial(n, p), summed term by term: the reference the bounds are checked against. */
function binomialCdf(x: number, n: number, p: number): number {
  if (x < 0) return 0;
  if (x >= n || p <= 0) return 1;
  if (p >= 1) return 0;
  let sum = 0;
  for (let k = 0; k <= x; k++) sum += Math.exp(logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p));
  return Math.min(1, sum);
}

/** The upper bound found by bisection on the binomial CDF, as ezone computed it before. */
function upperByBisection(x: number, n: number, confidence: number): number {
  let lo = x / n;
  let hi = 1;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(x, n, mid) > 1 - confidence) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

describe("statistics", () => {
  it("the Clopper–Pearson bounds from the inverse incomplete beta match bisection on the binomial CDF within 1e-9", () => {
    for (const n of [1, 2, 5, 10, 29, 100, 200]) {
      for (const x of new Set([0, 1, Math.floor(n / 3), Math.floor(n / 2), n - 1])) {
        if (x < 0 || x >= n) continue;
        for (const confidence of [0.9, 0.95, 0.99]) {
          const expected = upperByBisection(x, n, confidence);
          expect(Math.abs(clopperPearsonUpper(x, n, confidence) - expected)).toBeLessThan(1e-9);
        }
      }
    }
  });
  it("the inverse incomplete beta inverts it, also for shapes below 1", () => {
    for (const [a, b] of [
      [0.5, 0.5],
      [1, 1],
      [3, 0.5],
      [0.3, 7],
      [40, 60],
    ] as const) {
      for (const p of [1e-6, 0.025, 0.5, 0.9, 0.999]) {
        expect(incompleteBeta(inverseIncompleteBeta(p, a, b), a, b)).toBeCloseTo(p, 10);
      }
    }
    expect(inverseIncompleteBeta(0, 2, 3)).toBe(0);
    expect(inverseIncompleteBeta(1, 2, 3)).toBe(1);
    expect(() => inverseIncompleteBeta(0.5, 0, 3)).toThrow(RangeError);
  });
  it("0/5 bounds the rate below 45% at 95% (one-sided Clopper–Pearson)", () => {
    expect(clopperPearsonUpper(0, 5)).toBeCloseTo(1 - 0.05 ** (1 / 5), 6);
    expect(describeBound(0, 5, "host failures")).toBe("0/5 host failures: < 45% at 95%");
  });
  it("29 clean runs are needed for a 10% bound", () => {
    expect(runsForBound(0.1)).toBe(29);
    expect(clopperPearsonUpper(0, 29)).toBeLessThan(0.1);
    expect(clopperPearsonUpper(0, 28)).toBeGreaterThan(0.1);
  });
  it("with events the bound solves P(X ≤ x) = alpha", () => {
    const ub = clopperPearsonUpper(2, 10);
    expect(binomialCdf(2, 10, ub)).toBeCloseTo(0.05, 6);
    expect(ub).toBeCloseTo(0.5069, 3);
    expect(clopperPearsonUpper(10, 10)).toBe(1);
  });
  it("median ignores nulls and takes the mean of the two middle values of an even count", () => {
    expect(median([3, null, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([10, 1])).toBe(5.5);
    expect(median([Number.NaN, 7])).toBe(7);
    expect(median([null, undefined])).toBeNull();
  });
  it("the lower bound mirrors the upper one: 5/5 bounds the rate above 55% at 95%", () => {
    expect(clopperPearsonLower(5, 5)).toBeCloseTo(0.05 ** (1 / 5), 6);
    expect(clopperPearsonLower(29, 29)).toBeGreaterThan(0.9);
    expect(clopperPearsonLower(0, 5)).toBe(0);
    expect(clopperPearsonLower(3, 0)).toBe(0);
    const lb = clopperPearsonLower(8, 10);
    expect(lb).toBeCloseTo(1 - clopperPearsonUpper(2, 10), 9);
    // P(X >= 8 | p = lb) = alpha
    expect(1 - binomialCdf(7, 10, lb)).toBeCloseTo(0.05, 6);
    expect(lb).toBeLessThan(0.8);
  });
});
