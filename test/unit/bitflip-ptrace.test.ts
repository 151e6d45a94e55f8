import { describe, expect, it } from "vitest";
import type { Enclave, ProcessTracer } from "../../src/backends/backend.js";
import { flipByPtrace } from "../../src/campaign/bit-flip-native.js";
import type { RunState } from "../../src/campaign/run-state.js";
import type { ProcessFlip, ProcessFlipReport } from "../../src/model/process-flip.js";
import { chooseFlip, type SoftErrorParams } from "../../src/model/soft-error.js";

const SEED = "0123456789abcdef";
const PARKED = { physical: 0x21af5000n, length: 4096 };
const PROCESS_LINE = "SOFT-PROCESS nonce=n1 pid=77 input=0x4d8000\n";

/** Just what the ptrace path reads of a run: its plan's flip, nonce and scale, the console, the signal. */
function runState(params: SoftErrorParams, console: string): RunState {
  const plan = { softError: { ...params, seed: SEED }, nonce: "n1", backend: { timeoutScale: 1 } };
  const monitor = { console: () => ({ data: Buffer.from(console), truncated: false }) };
  return { plan, monitor, signal: AbortSignal.timeout(5_000) } as unknown as RunState;
}

/** A tracer that records each flip and the order of events, answering with `report`. */
function tracer(report: ProcessFlipReport, events: string[]) {
  const flips: ProcessFlip[] = [];
  const enclave = {
    flipProcess: async (f: ProcessFlip) => {
      flips.push(f);
      events.push("flip");
      return report;
    },
  } as unknown as Enclave & ProcessTracer;
  return { enclave, flips };
}

describe("bit flips by ptrace (the flip step on native)", () => {
  it("flips the seeded byte of the input at its virtual address, then lets the workload compute", async () => {
    const events: string[] = [];
    const { enclave, flips } = tracer({ old: "5c", written: "54", readBack: "54" }, events);
    const control = {
      go: (spin: boolean) => events.push(`go spin=${spin}`),
      spinning: async () => ({ spin: 0n, release: 0n }),
    };
    const record = await flipByPtrace(runState({ target: "data" }, PROCESS_LINE), enclave, PARKED, control);
    // The same offset into the input as a gdbstub flip of the same seed.
    const offset = chooseFlip(SEED, { target: "data" }, { physical: 0n, length: 4096 });
    if (offset.kind !== "memory") throw new Error("a data flip is a memory flip");
    expect(flips).toEqual([
      { kind: "memory", pid: 77, address: 0x4d8000n + offset.address, bit: offset.bit },
    ]);
    expect(events).toEqual(["flip", "go spin=false"]);
    expect(record).toEqual({
      target: "data",
      where: `virtual 0x${(0x4d8000n + offset.address).toString(16)} bit ${offset.bit}`,
      old: "5c",
      written: "54",
      readBack: "54",
      fired: true,
    });
  });

  it("lets the workload spin first, then flips the register in its loop; no read-back is not fired", async () => {
    const events: string[] = [];
    const { enclave, flips } = tracer({ old: "0x1", written: "0x3", readBack: "0x1", cpl: 3 }, events);
    const control = {
      go: (spin: boolean) => events.push(`go spin=${spin}`),
      spinning: async () => {
        events.push("spinning");
        return { spin: 0x401000n, release: 0x4c0010n };
      },
    };
    const params = { target: "registers" as const, register: "eflags" as const, bit: 1 };
    const record = await flipByPtrace(runState(params, PROCESS_LINE), enclave, PARKED, control);
    expect(events).toEqual(["go spin=true", "spinning", "flip"]);
    expect(flips).toEqual([
      {
        kind: "register",
        pid: 77,
        register: "eflags",
        bit: 1,
        loop: { start: 0x401000n, end: 0x401020n },
        release: 0x4c0010n,
      },
    ]);
    expect(record).toMatchObject({ where: "eflags bit 1", fired: false, cpl: 3 });
  });

  it("is an infra-error of flip.parked when the workload never said its pid and address", async () => {
    const { enclave } = tracer({ old: "5c", written: "54", readBack: "54" }, []);
    const control = { go: () => {}, spinning: async () => ({ spin: 0n, release: 0n }) };
    await expect(
      flipByPtrace(
        runState({ target: "data" }, "SOFT-PROCESS nonce=other pid=77 input=0x4d8000\n"),
        enclave,
        PARKED,
        control,
      ),
    ).rejects.toThrow(/^flip\.parked: the workload never printed SOFT-PROCESS/);
  });
});
