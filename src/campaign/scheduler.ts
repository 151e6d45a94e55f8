import { availableParallelism, freemem } from "node:os";
import type { Outcome } from "../model/outcome-types.js";
import type { Cell } from "./cell.js";

/** Default worker count: one per core, and no more than memory allows (guest RAM + QEMU overhead, twice). */
export function defaultJobs(memoryMb: number): number {
  const byMemory = Math.floor(freemem() / ((memoryMb + 256) * 2 * 1024 * 1024));
  return Math.max(1, Math.min(availableParallelism(), byMemory));
}

/** Shared/exclusive gate over the machine: exclusive runs wait for the others and block them. */
export class MachineGate {
  private shared = 0;
  private exclusive = false;
  /** Exclusive runs waiting: new shared runs wait behind them, or a busy pool would starve them forever. */
  private exclusiveWaiting = 0;
  private waiters: (() => void)[] = [];

  /** Resolve once this run may start (exclusive: alone on the machine). */
  async acquire(exclusive: boolean): Promise<void> {
    if (exclusive) this.exclusiveWaiting++;
    while (exclusive ? this.shared > 0 || this.exclusive : this.exclusive || this.exclusiveWaiting > 0) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (exclusive) {
      this.exclusiveWaiting--;
      this.exclusive = true;
    } else this.shared++;
  }

  /** The run acquired with `exclusive` has ended. */
  release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.shared--;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** What the scheduler needs of a (backend, fault) pair of the matrix. */
export interface Schedulable {
  cell: Cell;
  /** Affects the host (hogs, bystanders): runs with the machine to itself. */
  exclusive: boolean;
  /**
   * A cell that must be complete before this one's runs start, and how many results it must have then
   * (a composed cell's control runs): with fewer, this slot's runs are not started in this invocation,
   * since they could not be judged; a resume runs them once the missing control runs are done.
   */
  after?: { cell: Cell; results: number };
}

/** Whether a slot may run now (`go`), must wait for its prerequisite (`wait`), or is left out (`starved`). */
export function readiness(slot: Schedulable): "go" | "wait" | "starved" {
  if (!slot.after) return "go";
  if (!slot.after.cell.complete()) return "wait";
  return slot.after.cell.resultCount() >= slot.after.results ? "go" : "starved";
}

/** How the scheduler runs one repetition and reports what is going on. */
export interface ScheduleWork<S extends Schedulable> {
  /**
   * Run one repetition on worker `worker` (0 … jobs-1, one repetition at a time each): its outcome, or
   * null when it was abandoned (not stored; may be scheduled again).
   */
  run(slot: S, rep: number, worker: number): Promise<Outcome | null>;
  /** Repetitions running now changed (for progress). */
  onChange?(running: number): void;
}

/**
 * The worker loop: `jobs` workers take repetitions round-robin over the slots (each cell says which it
 * wants), exclusive slots alone on the machine, until every cell is complete or `signal` aborts. A
 * worker with nothing to take waits for a running repetition to end (it may open more work). An error
 * thrown by `run` stops every worker and is rethrown.
 */
export async function schedule<S extends Schedulable>(
  slots: S[],
  jobs: number,
  parent: AbortSignal,
  work: ScheduleWork<S>,
): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([parent, stop.signal]);
  const gate = new MachineGate();
  const pick = roundRobin(slots);
  let running = 0;
  let wake: (() => void)[] = [];
  const wakeAll = () => {
    for (const w of wake.splice(0)) w();
  };
  const worker = async (index: number) => {
    while (!signal.aborted) {
      const next = pick();
      if (!next) {
        if (slots.every((s) => s.cell.complete() || readiness(s) === "starved")) return;
        await new Promise<void>((r) => wake.push(r));
        continue;
      }
      const { slot, rep } = next;
      running++;
      work.onChange?.(running);
      await gate.acquire(slot.exclusive);
      try {
        const outcome = await work.run(slot, rep, index);
        if (outcome === null) slot.cell.abandoned(rep);
        else slot.cell.finished(rep, outcome);
      } catch (e) {
        slot.cell.abandoned(rep);
        stop.abort(e);
        throw e;
      } finally {
        gate.release(slot.exclusive);
        running--;
        wakeAll();
        work.onChange?.(running);
      }
    }
  };
  signal.addEventListener("abort", wakeAll, { once: true });
  try {
    await Promise.all(Array.from({ length: jobs }, (_, i) => worker(i)));
  } finally {
    signal.removeEventListener("abort", wakeAll);
    wake = [];
  }
}

/** Take the next wanted repetition, starting after the slot served last, so cells are interleaved. */
function roundRobin<S extends Schedulable>(slots: S[]): () => { slot: S; rep: number } | null {
  let cursor = 0;
  return () => {
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(cursor + i) % slots.length] as S;
      if (readiness(slot) !== "go") continue;
      const rep = slot.cell.next();
      if (rep !== null) {
        cursor = (cursor + i + 1) % slots.length;
        return { slot, rep };
      }
    }
    return null;
  };
}

/**
 * Infra-errors in a row after `outcome`: an infra-error adds one, a result resets the count, and a
 * boot-error leaves it as it was (a guest that cannot boot under a backend is not the host's fault).
 */
export function infraStreak(streak: number, outcome: Outcome): number {
  if (outcome === "infra-error") return streak + 1;
  if (outcome === "boot-error") return streak;
  return 0;
}
