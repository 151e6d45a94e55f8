import { join } from "node:path";
import { hasDebugStub, hasProcessTracer } from "../backends/backend.js";
import { fromTargetHex, GdbRemote, toTargetHex } from "../backends/qemu/gdb-remote.js";
import {
  chooseFlip,
  classifySoftError,
  FLIP_REGISTERS,
  type FlipPlan,
  type FlipRecord,
  registerBits,
  type SoftErrorEvidence,
  type SoftTarget,
  SPIN_LOOP_BYTES,
  type SpinningWorkload,
} from "../model/soft-error.js";
import { type RunMonitor, WaitTimeout } from "../monitor/run-monitor.js";
import { parkedWorkload, spinningWorkload, workloadReport } from "../monitor/soft-lines.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import { flipByPtrace } from "./bit-flip-native.js";
import type { RunState, RunStep } from "./run-state.js";

/** Every gdbstub exchange of one flip must be over within this (scaled): QEMU answers in milliseconds. */
const GDB_MS = 10_000;
/** QEMU's gdbstub answers `p`/`P` only once the client has read the target description. */
const TARGET_XML = "qXfer:features:read:target.xml:0,ffb";
/** The code segment's register number; its low two bits are the CPU's privilege level. */
const CS_REGISTER = 18;

const consoleText = (m: RunMonitor) => m.console().data.toString("latin1");

/** Bit flips: the fault-free golden run to judge against, stored once (measured now if there is none). */
export const golden: RunStep = {
  name: "golden",
  async run(st) {
    const { plan } = st;
    if (!plan.softError) return;
    if (!plan.golden) throw new InfraError("golden", "a bit flip needs a golden run and this run has none");
    st.golden = await plan.golden.get(st.signal);
  },
};

/**
 * Bit flips: once the workload has parked and reported its addresses, stop the guest through QEMU's
 * gdbstub, flip the seeded bit, read it back, and let the workload compute. The golden run (no soft
 * error plan) only lets it compute.
 */
export const flip: RunStep = {
  name: "flip",
  async run(st) {
    const { plan, enclave } = st;
    if (plan.fault !== "bitflip" || !enclave) return;
    const parked = await waitLine(st, "flip.parked", "SOFT-PARKED (its input buffer)", () =>
      parkedWorkload(consoleText(st.monitor), plan.nonce),
    );
    const go = () => enclave.send(`SOFT-GO nonce=${plan.nonce}`);
    if (!plan.softError) {
      go();
      return;
    }
    if (hasProcessTracer(enclave)) {
      st.flip = await flipByPtrace(st, enclave, parked, {
        go: (spin) => enclave.send(`SOFT-GO nonce=${plan.nonce}${spin ? " spin=1" : ""}`),
        spinning: () =>
          waitLine(st, "flip.spin", "SOFT-SPIN", () => spinningWorkload(consoleText(st.monitor), plan.nonce)),
      });
      st.flipAt = performance.now();
      return;
    }
    if (!hasDebugStub(enclave))
      throw new InfraError("flip.gdbstub", `${plan.backend.name} has no debug stub to flip bits with`);
    const where = chooseFlip(plan.softError.seed, plan.softError, parked);
    if (where.kind === "memory" && parked.physical === 0n)
      throw new InfraError("flip.parked", "the workload could not read its input's physical address");
    const signal = deadline(st.signal, GDB_MS * plan.backend.timeoutScale);
    const path = join(st.workDir, "gdb.sock");
    await enclave.openDebugStub(path, signal).catch((e: unknown) => {
      throw new InfraError("flip.gdbstub", `QEMU did not open its gdbstub: ${(e as Error).message}`);
    });
    await using gdb = await GdbRemote.connect(path, signal);
    await gdb.request("?", signal); // connecting stopped the CPUs: this is the stop reply
    await gdb.request(TARGET_XML, signal);
    st.flip =
      where.kind === "memory"
        ? await flipMemory(gdb, where, plan.softError.target, signal, go)
        : await flipRegister(st, gdb, where, signal);
    st.flipAt = performance.now();
  },
};

/** Wait for a line of the workload (or the enclave's end); no line is an infra-error of `step`. */
async function waitLine<T>(st: RunState, step: string, line: string, found: () => T | null): Promise<T> {
  const { plan, monitor } = st;
  try {
    await monitor.wait(
      {
        reason: step,
        until: (s) => s.exit !== null || s.injectFailed !== null || found() !== null,
        timeoutMs: plan.timeouts.bootMs,
      },
      st.signal,
    );
  } catch (e) {
    if (!(e instanceof WaitTimeout)) throw e;
  }
  const value = found();
  if (value === null) throw new InfraError(step, `the workload never printed ${line}`);
  return value;
}

/** Flip one bit of the parked input (physical address), read it back, then let the workload compute. */
async function flipMemory(
  gdb: GdbRemote,
  where: Extract<FlipPlan, { kind: "memory" }>,
  target: SoftTarget,
  signal: AbortSignal,
  go: () => void,
): Promise<FlipRecord> {
  await gdb.expectOk("Qqemu.PhyMemMode:1", signal);
  const old = await gdb.readMemory(where.address, 1, signal);
  const written = (Number.parseInt(old, 16) ^ (1 << where.bit)).toString(16).padStart(2, "0");
  await gdb.writeMemory(where.address, written, signal);
  const readBack = await gdb.readMemory(where.address, 1, signal);
  await gdb.expectOk("Qqemu.PhyMemMode:0", signal);
  gdb.send("c");
  go();
  return {
    target,
    where: `physical 0x${where.address.toString(16)} bit ${where.bit}`,
    old,
    written,
    readBack,
    fired: readBack === written,
  };
}

/** How many times ezone stops the spinning guest to find the workload in its loop (in user mode). */
const SPIN_TRIES = 200;

/**
 * Let the workload spin in user mode before it computes, stop the guest until the CPU is in that loop
 * (privilege level 3, RIP in it: the workload's own registers), flip one bit of a register there, read
 * it back, release the workload (its flag, at its virtual address) and continue.
 */
async function flipRegister(
  st: RunState,
  gdb: GdbRemote,
  where: Extract<FlipPlan, { kind: "register" }>,
  signal: AbortSignal,
): Promise<FlipRecord> {
  gdb.send("c");
  st.enclave?.send(`SOFT-GO nonce=${st.plan.nonce} spin=1`);
  const spinning = await waitLine(st, "flip.spin", "SOFT-SPIN", () =>
    spinningWorkload(consoleText(st.monitor), st.plan.nonce),
  );
  const cpl = await stopInLoop(gdb, spinning, signal);
  const n = FLIP_REGISTERS[where.register];
  const bytes = registerBits(where.register) / 8;
  const old = await gdb.readRegister(n, signal);
  const written = toTargetHex(fromTargetHex(old) ^ (1n << BigInt(where.bit)), bytes);
  await gdb.writeRegister(n, written, signal);
  const readBack = await gdb.readRegister(n, signal);
  await gdb.writeMemory(spinning.release, toTargetHex(1n, 4), signal);
  gdb.send("c");
  const value = (hex: string) => `0x${fromTargetHex(hex).toString(16)}`;
  return {
    target: "registers",
    where: `${where.register} bit ${where.bit}`,
    old: value(old),
    written: value(written),
    readBack: value(readBack),
    fired: readBack === written,
    cpl,
  };
}

/** Interrupt the running guest until it stops inside the workload's spin loop; returns the CPL there. */
async function stopInLoop(gdb: GdbRemote, spinning: SpinningWorkload, signal: AbortSignal): Promise<number> {
  for (let i = 0; i < SPIN_TRIES; i++) {
    gdb.interrupt();
    await gdb.reply("the stop in the workload's spin loop", signal);
    const cpl = Number(fromTargetHex(await gdb.readRegister(CS_REGISTER, signal)) & 3n);
    const rip = fromTargetHex(await gdb.readRegister(FLIP_REGISTERS.rip, signal));
    if (cpl === 3 && rip >= spinning.spin && rip < spinning.spin + SPIN_LOOP_BYTES) return cpl;
    gdb.send("c");
  }
  throw new InfraError(
    "flip.spin",
    `the guest never stopped in the workload's spin loop in ${SPIN_TRIES} tries`,
  );
}

/** The workload of this run has ended (its CHILD line is on the console). */
export function workloadEnded(st: RunState): boolean {
  return workloadReport(consoleText(st.monitor), st.plan.nonce).end !== null;
}

/** The soft-error evidence of a run: the flip, the golden run, what the workload printed, the class. */
export function softErrorEvidence(st: RunState): SoftErrorEvidence | undefined {
  // An infra-error judges nothing: no class for it.
  if (!st.golden || st.failure) return undefined;
  const s = st.monitor.state;
  const workload = workloadReport(consoleText(st.monitor), st.plan.nonce);
  const guestCrash = s.crash?.title ?? (s.panicEventAt !== null ? "pvpanic reported a guest panic" : null);
  const { class: cls, reason } = classifySoftError(st.golden.golden, {
    workload,
    guestCrash,
    heartbeatLost: s.heartbeatLostAt !== null,
  });
  return { flip: st.flip, golden: st.golden.golden, workload, class: cls, reason };
}
