import { describe, expect, it } from "vitest";
import { incompleteBeta } from "../../src/model/beta.js";
import {
  logRatioInterval,
  orderViolations,
  type PerfSample,
  studentTCdf,
  studentTQuantile,
  summarize,
} from "../../src/perf/stats.js";

describe("Student t quantiles", () => {
  it.each([
    [1, 12.7062],
    [2, 4.3027],
    [4, 2.7764],
    [10, 2.2281],
    [30, 2.0423],
    [1000, 1.9623],
  ])("t(0.975, df=%i) = %f (tables)", (df, expected) => {
    expect(studentTQuantile(0.975, df)).toBeCloseTo(expected, 3);
  });

  it("is symmetric and inverts the CDF", () => {
    expect(studentTQuantile(0.025, 5)).toBeCloseTo(-studentTQuantile(0.975, 5), 10);
    expect(studentTCdf(studentTQuantile(0.9, 7), 7)).toBeCloseTo(0.9, 9);
    expect(studentTCdf(0, 3)).toBe(0.5);
  });

  it("rejects what has no quantile", () => {
    expect(() => studentTQuantile(1, 3)).toThrow(RangeError);
    expect(() => studentTQuantile(0.5, 0)).toThrow(RangeError);
  });

  it("incomplete beta matches closed forms", () => {
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(incompleteBeta(0.5, 4, 4)).toBeCloseTo(0.5, 12);
    // I_x(a, 1) = x^a
    expect(incompleteBeta(0.7, 3, 1)).toBeCloseTo(0.343, 12);
  });
});

describe("log-ratio t interval", () => {
  it("computes exp(mean ± t·s/√n) on the logs (worked by hand)", () => {
    const r = logRatioInterval([0.1, 0.2, 0.3]);
    // mean 0.2, s = 0.1, n = 3, t(0.975, 2) = 4.302653 → half width 0.248414
    expect(r?.ratio).toBeCloseTo(Math.exp(0.2), 10);
    expect(r?.lower).toBeCloseTo(Math.exp(0.2 - 0.248414), 5);
    expect(r?.upper).toBeCloseTo(Math.exp(0.2 + 0.248414), 5);
    expect(r?.n).toBe(3);
  });

  it("is asymmetric around the ratio (a geometric interval)", () => {
    const r = logRatioInterval([Math.log(2), Math.log(4), Math.log(8)]);
    expect(r?.ratio).toBeCloseTo(4, 10);
    expect((r?.upper as number) / 4).toBeCloseTo(4 / (r?.lower as number), 10);
  });

  it("has no interval with one round and nothing with none", () => {
    expect(logRatioInterval([Math.log(3)])).toMatchObject({ lower: null, upper: null, n: 1 });
    expect(logRatioInterval([Math.log(3)])?.ratio).toBeCloseTo(3, 12);
    expect(logRatioInterval([])).toBeNull();
  });

  it("narrows with a lower confidence", () => {
    const wide = logRatioInterval([0.1, 0.3, 0.2, 0.5]);
    const narrow = logRatioInterval([0.1, 0.3, 0.2, 0.5], 0.8);
    expect((narrow?.upper as number) < (wide?.upper as number)).toBe(true);
  });
});

/** native drifts by round (a noisy host); the backend is exactly `factor` times native in each round. */
function drifting(factor: number, bench = "cpu-int", rounds = [1, 2, 3], drift = [1, 2, 3]): PerfSample[] {
  return rounds.flatMap((round, i) => [
    { round, backend: "native", benchmark: bench, value: 10 * (drift[i] as number) },
    { round, backend: "slow", benchmark: bench, value: 10 * factor * (drift[i] as number) },
  ]);
}

describe("summarize: pairing by round", () => {
  it("pairs each round with native's of the same round, so common drift cancels", () => {
    const [native, slow] = summarize(drifting(2));
    expect(native?.overall).toEqual({ ratio: 1, lower: 1, upper: 1, n: 3 });
    expect(slow?.benchmarks[0]?.ratio).toBeCloseTo(2, 12);
    expect(slow?.benchmarks[0]?.lower).toBeCloseTo(2, 12);
    expect(slow?.benchmarks[0]?.upper).toBeCloseTo(2, 12);
    expect(slow?.benchmarks[0]?.nativeValue).toBe(20);
    expect(slow?.benchmarks[0]?.value).toBe(40);
  });

  it("uses the median of a round's samples and ignores non-positive values", () => {
    const samples: PerfSample[] = [
      { round: 1, backend: "native", benchmark: "b", value: 10 },
      { round: 1, backend: "x", benchmark: "b", value: 20 },
      { round: 1, backend: "x", benchmark: "b", value: 30 },
      { round: 1, backend: "x", benchmark: "b", value: 1000 },
      { round: 1, backend: "x", benchmark: "b", value: 0 },
      { round: 1, backend: "x", benchmark: "b", value: Number.NaN },
    ];
    expect(summarize(samples)[1]?.benchmarks[0]?.ratio).toBeCloseTo(3, 12);
  });

  it("drops rounds native did not measure", () => {
    const samples = drifting(2).filter((s) => !(s.backend === "native" && s.round === 2));
    expect(summarize(samples)[1]?.benchmarks[0]?.n).toBe(2);
  });

  it("overall is the geometric mean over benchmarks, paired by round", () => {
    const r = summarize([...drifting(2, "a"), ...drifting(8, "b")])[1];
    expect(r?.overall?.ratio).toBeCloseTo(4, 12);
    expect(r?.overall?.n).toBe(3);
    expect(r?.benchmarks.map((b) => b.benchmark)).toEqual(["a", "b"]);
  });

  it("without a complete round the overall figure has no interval", () => {
    const samples = [...drifting(2, "a", [1], [1]), ...drifting(8, "b", [2], [1])];
    expect(summarize(samples)[1]?.overall).toMatchObject({ lower: null, upper: null, n: 0 });
    expect(summarize(samples)[1]?.overall?.ratio).toBeCloseTo(4, 12);
  });

  it("a backend with nothing in common with native has no overall figure", () => {
    const r = summarize([
      { round: 1, backend: "native", benchmark: "a", value: 1 },
      { round: 1, backend: "x", benchmark: "b", value: 1 },
    ]);
    expect(r.find((o) => o.backend === "x")?.overall).toBeNull();
  });
});

describe("continuum order check", () => {
  const at = (backend: string, rank: number, ratio: number, lower: number, upper: number) => ({
    backend,
    rank,
    overall: { ratio, lower, upper, n: 3 },
  });

  it("flags a lower-ranked backend measured slower beyond both intervals", () => {
    expect(orderViolations([at("uml", 4, 9, 8, 10), at("qemu-tcg", 5, 5, 4, 6)])).toEqual([
      { expectedFaster: "uml", slower: "qemu-tcg" },
    ]);
  });

  it("claims nothing without intervals (one round)", () => {
    const one = (backend: string, rank: number, ratio: number) => ({
      backend,
      rank,
      overall: { ratio, lower: null, upper: null, n: 1 },
    });
    expect(orderViolations([one("native", 0, 1), one("container", 1, 0.9)])).toEqual([]);
  });

  it("does not flag overlapping intervals, equal ranks or the expected order", () => {
    expect(
      orderViolations([
        at("native", 0, 1, 1, 1),
        at("container", 1, 1.05, 0.9, 1.2),
        at("gvisor", 3, 2, 1.5, 3),
        at("kvm", 3, 1.1, 1, 1.2),
        at("uml", 4, 5.5, 4, 7),
        at("qemu-tcg", 5, 5, 4.5, 6),
      ]),
    ).toEqual([]);
  });
});
