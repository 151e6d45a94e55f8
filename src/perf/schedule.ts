/** The order of a perf session (pure). */

/** One round: every backend booted once (in this order), then each benchmark run on each in turn. */
export interface PerfRound {
  /** 1-based. */
  round: number;
  /** Boot order, the reference first. */
  backends: string[];
  /** Command order: for each benchmark, the reference first, then every other backend. */
  steps: { benchmark: string; backend: string }[];
}

/**
 * Interleave: each round boots every backend once and keeps the enclaves up; each benchmark then runs on
 * the reference (native) first and on every other backend right after, and the rounds repeat. Drift on a
 * noisy host (other jobs, frequency, steal) thus lands on every backend of a step alike, within seconds,
 * and a backend's cost is compared with native's of the same round.
 */
export function perfSchedule(
  backends: readonly string[],
  benchmarks: readonly string[],
  rounds: number,
  reference = "native",
): PerfRound[] {
  if (!Number.isSafeInteger(rounds) || rounds < 1)
    throw new RangeError(`perfSchedule: rounds must be a positive integer, got ${rounds}`);
  const order = [reference, ...new Set(backends.filter((b) => b !== reference))];
  const steps = [...new Set(benchmarks)].flatMap((benchmark) =>
    order.map((backend) => ({ benchmark, backend })),
  );
  return Array.from({ length: rounds }, (_, i) => ({
    round: i + 1,
    backends: [...order],
    steps: [...steps],
  }));
}
