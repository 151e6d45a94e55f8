import { describe, expect, it } from "vitest";
import { retryAfter } from "../../src/campaign/attempts.js";
import { Cell } from "../../src/campaign/cell.js";
import { infraStreak, MachineGate, type Schedulable, schedule } from "../../src/campaign/scheduler.js";
import type { Outcome } from "../../src/model/outcome-types.js";

/** A promise with its resolve, for runs the test ends when it chooses. */
function gateOpen(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe("MachineGate", () => {
  it("an exclusive run waits for the shared ones, and new shared runs wait behind it", async () => {
    const gate = new MachineGate();
    const events: string[] = [];
    await gate.acquire(false);
    const exclusive = gate.acquire(true).then(() => events.push("exclusive"));
    const shared = gate.acquire(false).then(() => events.push("shared"));
    await Promise.resolve();
    expect(events).toEqual([]);
    gate.release(false);
    await exclusive;
    expect(events).toEqual(["exclusive"]);
    gate.release(true);
    await shared;
    expect(events).toEqual(["exclusive", "shared"]);
  });
});

describe("schedule", () => {
  const slot = (key: string, reps: number, exclusive = false): Schedulable => ({
    cell: new Cell(key, reps, null),
    exclusive,
  });

  it("runs every wanted repetition once, cells interleaved, at most `jobs` at a time", async () => {
    const slots = [slot("a", 3), slot("b", 2)];
    const started: string[] = [];
    let running = 0;
    let peak = 0;
    await schedule(slots, 2, AbortSignal.timeout(5_000), {
      run: async (s, rep) => {
        started.push(`${s.cell.keyPrefix}${rep}`);
        peak = Math.max(peak, ++running);
        await new Promise((r) => setImmediate(r));
        running--;
        return "no-effect";
      },
    });
    expect(started.slice(0, 2)).toEqual(["a1", "b1"]);
    expect([...started].sort()).toEqual(["a1", "a2", "a3", "b1", "b2"]);
    expect(peak).toBe(2);
    expect(slots.every((s) => s.cell.complete())).toBe(true);
  });

  it("an exclusive slot runs alone", async () => {
    const slots = [slot("s", 2), slot("x", 1, true)];
    const overlaps: string[] = [];
    const active = new Set<string>();
    await schedule(slots, 3, AbortSignal.timeout(5_000), {
      run: async (s, rep) => {
        const me = `${s.cell.keyPrefix}${rep}`;
        active.add(me);
        if (active.size > 1 && [...active].some((k) => k.startsWith("x")))
          overlaps.push([...active].join(","));
        await new Promise((r) => setImmediate(r));
        active.delete(me);
        return "no-effect";
      },
    });
    expect(overlaps).toEqual([]);
  });

  it("gives each worker its own index, one repetition at a time", async () => {
    const busy = new Set<number>();
    const seen = new Set<number>();
    await schedule([slot("a", 6)], 3, AbortSignal.timeout(5_000), {
      run: async (_s, _rep, worker) => {
        expect(busy.has(worker)).toBe(false);
        busy.add(worker);
        seen.add(worker);
        await new Promise((r) => setImmediate(r));
        busy.delete(worker);
        return "no-effect";
      },
    });
    expect([...seen].sort()).toEqual([0, 1, 2]);
  });

  it("an abandoned repetition (null) is not finished; the abort stops the workers", async () => {
    const stop = new AbortController();
    const hold = gateOpen();
    const s = slot("a", 2);
    const done = schedule([s], 1, stop.signal, {
      run: async () => {
        stop.abort();
        hold.open();
        return null;
      },
    });
    await hold.promise;
    await done;
    expect(s.cell.complete()).toBe(false);
    expect(s.cell.remaining()).toBe(2);
  });

  it("an error thrown by a run stops every worker and is rethrown", async () => {
    let runs = 0;
    await expect(
      schedule([slot("a", 5)], 2, AbortSignal.timeout(5_000), {
        run: async () => {
          runs++;
          throw new Error("internal");
        },
      }),
    ).rejects.toThrow("internal");
    expect(runs).toBeLessThanOrEqual(2);
  });
});

describe("infraStreak", () => {
  it.each([
    [2, "infra-error", 3],
    [2, "boot-error", 2],
    [2, "contained-limited", 0],
    [2, "unknown", 0],
  ] as [number, Outcome, number][])("after %i in a row, %s makes %i", (streak, outcome, next) => {
    expect(infraStreak(streak, outcome)).toBe(next);
  });
});

describe("retryAfter", () => {
  it.each([
    ["infra-error", 0, 3, true],
    ["infra-error", 2, 3, true],
    ["infra-error", 3, 3, false],
    ["boot-error", 0, 3, true],
    ["boot-error", 1, 3, false],
    ["boot-error", 0, 0, false],
    ["contained-limited", 0, 3, false],
  ] as [Outcome, number, number, boolean][])(
    "%s on attempt %i with %i retries → %s",
    (outcome, attempt, retries, again) => {
      expect(retryAfter(outcome, attempt, retries)).toBe(again);
    },
  );
});
