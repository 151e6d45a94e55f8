import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { DEFAULT_PROBE_THRESHOLDS, type ProbeThresholds } from "../../src/host/compare.js";

/** Busy loops a host-load test starts. */
export const BUSY_LOOPS = 12;

/** Runnable tasks the busy loops bring a host to, at least: over the limit of `loadedThresholds`. */
export const LOADED_RUNNABLE = 9;

/** A busy loop bounded in time: should the test runner be SIGKILLed, it still ends on its own. */
export const BUSY_LOOP = {
  command: process.execPath,
  args: ["-e", "const end = Date.now() + 60000; while (Date.now() < end);"],
};

/**
 * Probe thresholds under which BUSY_LOOPS are load on this host, derived from its core count: the
 * default runnable limit (4 per core) on a 2-core host, at most LOADED_RUNNABLE - 1 runnable tasks on a
 * bigger one, where the loops would otherwise stay under the limit and the test would prove nothing.
 */
export function loadedThresholds(cores = availableParallelism()): ProbeThresholds {
  return {
    ...DEFAULT_PROBE_THRESHOLDS,
    maxRunnablePerCore: Math.min(DEFAULT_PROBE_THRESHOLDS.maxRunnablePerCore, (LOADED_RUNNABLE - 1) / cores),
  };
}

/** Runnable tasks now (/proc/stat `procs_running`) once at least `atLeast`, or at the deadline. */
export async function waitForRunnable(atLeast: number, deadlineMs: number): Promise<number> {
  const end = performance.now() + deadlineMs;
  for (;;) {
    const running = Number(/^procs_running\s+(\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    if (running >= atLeast || performance.now() >= end) return running;
    await delay(50);
  }
}
