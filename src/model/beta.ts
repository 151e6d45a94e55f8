/**
 * The regularized incomplete beta function and its inverse (pure): the one numerical core behind the
 * Clopper–Pearson bounds of zone verdicts and the Student t intervals of the performance axis.
 */

// Lanczos approximation (g = 7, n = 9): log Γ(x) to ~15 digits for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log of 1 / B(a, b). */
function logInverseBeta(a: number, b: number): number {
  return logGamma(a + b) - logGamma(a) - logGamma(b);
}

/** Continued fraction of the regularized incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    for (const even of [true, false]) {
      const num = even
        ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
        : (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1 + num * d;
      d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= c * d;
      if (!even && Math.abs(c * d - 1) < 1e-15) return h;
    }
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b): the CDF at x of the Beta(a, b) distribution. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logInverseBeta(a, b) + a * Math.log(x) + b * Math.log1p(-x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(x, a, b)) / a
    : 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** A starting point for the inverse: a normal approximation for a, b >= 1, else the two tails' power laws. */
function initialGuess(p: number, a: number, b: number): number {
  if (a >= 1 && b >= 1) {
    const pp = p < 0.5 ? p : 1 - p;
    const t = Math.sqrt(-2 * Math.log(pp));
    let z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t;
    if (p < 0.5) z = -z;
    const al = (z * z - 3) / 6;
    const h = 2 / (1 / (2 * a - 1) + 1 / (2 * b - 1));
    const w = (z * Math.sqrt(al + h)) / h - (1 / (2 * b - 1) - 1 / (2 * a - 1)) * (al + 5 / 6 - 2 / (3 * h));
    return a / (a + b * Math.exp(2 * w));
  }
  const lna = Math.log(a / (a + b));
  const lnb = Math.log(b / (a + b));
  const t = Math.exp(a * lna) / a;
  const u = Math.exp(b * lnb) / b;
  const w = t + u;
  return p < t / w ? (a * w * p) ** (1 / a) : 1 - (b * w * (1 - p)) ** (1 / b);
}

/**
 * The x with I_x(a, b) = p: the `p` quantile of Beta(a, b). Halley's method on the incomplete beta from
 * an approximate start; it converges in a handful of steps to the full precision of `incompleteBeta`.
 */
export function inverseIncompleteBeta(p: number, a: number, b: number): number {
  if (!(a > 0 && b > 0) || Number.isNaN(p))
    throw new RangeError(`inverseIncompleteBeta: p=${p}, a=${a}, b=${b}`);
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const logNorm = logInverseBeta(a, b);
  let x = initialGuess(p, a, b);
  for (let i = 0; i < 100; i++) {
    if (x <= 0 || x >= 1) return x;
    const err = incompleteBeta(x, a, b) - p;
    const density = Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) + logNorm);
    const newton = err / density;
    const step = newton / (1 - 0.5 * Math.min(1, newton * ((a - 1) / x - (b - 1) / (1 - x))));
    const before = x;
    x -= step;
    // A step out of (0, 1) goes halfway to the edge instead.
    if (x <= 0) x = before / 2;
    if (x >= 1) x = (before + 1) / 2;
    if (Math.abs(x - before) <= 1e-15 * Math.max(x, 1e-300)) break;
  }
  return x;
}
