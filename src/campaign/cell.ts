import { isResult, type Outcome } from "../model/outcome-types.js";
import { clopperPearsonUpper } from "../model/stats.js";

/** Adaptive stopping rule of a campaign (see schema `until`). */
export interface StopRule {
  maxFailureRate: number;
  confidence: number;
  maxRuns: number;
}

/**
 * One (backend, fault, params) cell of the matrix: which repetitions exist, which are running, and
 * whether more are wanted. Pure bookkeeping; the scheduler asks `next()` and reports `finished()`.
 */
export class Cell {
  private readonly done = new Set<number>();
  private readonly running = new Set<number>();
  /** Repetitions that ended in infra-error or boot-error after their retries: not redone in this invocation. */
  private readonly givenUp = new Set<number>();
  private failures = 0;
  private results = 0;

  constructor(
    /** Run key without the repetition: `<campaign>/<backend>/<fault>/<params hash>`. */
    readonly keyPrefix: string,
    private readonly repetitions: number,
    private readonly until: StopRule | null,
  ) {}

  /** A repetition already stored (resume), counted like a finished one. */
  restore(rep: number, outcome: Outcome): void {
    this.finished(rep, outcome);
  }

  /**
   * Record the result of a repetition; infra-errors and boot-errors are not results: the repetition is
   * given up for this invocation and redone by the next.
   */
  finished(rep: number, outcome: Outcome): void {
    this.running.delete(rep);
    if (!isResult(outcome)) {
      this.givenUp.add(rep);
      return;
    }
    if (this.done.has(rep)) return;
    this.done.add(rep);
    this.results++;
    if (outcome === "escaped-global") this.failures++;
  }

  /** A repetition that was abandoned (interrupted): it may be scheduled again. */
  abandoned(rep: number): void {
    this.running.delete(rep);
  }

  /** Upper bound on the host-failure rate from the results so far. */
  failureBound(): number {
    return clopperPearsonUpper(this.failures, this.results, this.until?.confidence ?? 0.95);
  }

  /** How many repetitions the cell wants in total, given what is known now. */
  target(): number {
    if (!this.until) return this.repetitions;
    if (this.results >= this.repetitions && this.failureBound() <= this.until.maxFailureRate)
      return this.results;
    return Math.max(this.repetitions, this.until.maxRuns);
  }

  /** The next repetition to run, or null when none is wanted now (more may be wanted later). */
  next(): number | null {
    const target = this.target();
    if (this.done.size + this.running.size + this.givenUp.size >= target) return null;
    for (let rep = 1; rep <= target; rep++) {
      if (!this.done.has(rep) && !this.running.has(rep) && !this.givenUp.has(rep)) {
        this.running.add(rep);
        return rep;
      }
    }
    return null;
  }

  /** True when no repetition is running and none is wanted. */
  complete(): boolean {
    return this.running.size === 0 && this.done.size + this.givenUp.size >= this.target();
  }

  /** How many repetitions ended in a result (stored or finished in this invocation). */
  resultCount(): number {
    return this.done.size;
  }

  /** Repetitions still expected (for progress and ETA). */
  remaining(): number {
    return Math.max(0, this.target() - this.done.size - this.givenUp.size);
  }
}
