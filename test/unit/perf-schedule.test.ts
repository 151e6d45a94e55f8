import { describe, expect, it } from "vitest";
import { perfSchedule } from "../../src/perf/schedule.js";

describe("interleaving order", () => {
  it("each round boots native first, then every other backend; each benchmark runs on all in that order", () => {
    const rounds = perfSchedule(["container", "native", "qemu-tcg"], ["cpu-int", "syscall"], 2);
    expect(rounds.map((r) => r.round)).toEqual([1, 2]);
    for (const r of rounds) {
      expect(r.backends).toEqual(["native", "container", "qemu-tcg"]);
      expect(r.steps.map((s) => `${s.benchmark}@${s.backend}`)).toEqual([
        "cpu-int@native",
        "cpu-int@container",
        "cpu-int@qemu-tcg",
        "syscall@native",
        "syscall@container",
        "syscall@qemu-tcg",
      ]);
    }
  });

  it("adds the reference when it is not listed and names each backend and benchmark once", () => {
    const [r] = perfSchedule(["gvisor", "gvisor"], ["timer", "timer"], 1);
    expect(r?.backends).toEqual(["native", "gvisor"]);
    expect(r?.steps).toEqual([
      { benchmark: "timer", backend: "native" },
      { benchmark: "timer", backend: "gvisor" },
    ]);
  });

  it("rejects a round count that is not a positive integer", () => {
    expect(() => perfSchedule(["native"], ["timer"], 0)).toThrow(/rounds must be a positive integer, got 0/);
    expect(() => perfSchedule(["native"], ["timer"], 1.5)).toThrow(RangeError);
  });
});
