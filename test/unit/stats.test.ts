import { describe, expect, it } from "vitest";
import {
  binomialCdf,
  clopperPearsonLower,
  clopperPearsonUpper,
  describeBound,
  median,
  runsForBound,
} from "../../src/model/stats.js";

describe("statistics", () => {
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
  it("median ignores nulls and handles even counts", () => {
    expect(median([3, null, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
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
