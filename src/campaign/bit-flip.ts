import { join } from "node:path";
import { hasDebugStub } from "../backends/backend.js";
import { fromTargetHex, GdbRemote, toTargetHex } from "../backends/qemu/gdb-remote.js";
import {
  chooseFlip,
  classifySoftError,
  FLIP_REGISTERS,
  type FlipPlan,
  type FlipRecord,
  type ParkedWorkload,
  registerBits,
  type SoftErrorEvidence,
  type SoftTarget,
} from "../model/soft-error.js";
import { type RunMonitor, WaitTimeout } from "../monitor/run-monitor.js";
import { parkedWorkload, workloadReport } from "../monitor/soft-lines.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
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
    const parked = await waitParked(st);
    const go = () => enclave.send(`SOFT-GO nonce=${plan.nonce}`);
    if (!plan.softError) {
      go();
      return;
    }
    if (!hasDebugStub(enclave))
      throw new InfraError("flip.gdbstub", `${plan.backend.name} has no debug stub to flip bits with`);
    const where = chooseFlip(plan.softError.seed, plan.softError, parked);
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
        : await flipRegister(gdb, where, parked, signal, go);
    st.flipAt = performance.now();
  },
};

/** Wait for the workload's SOFT-PARKED line (or the enclave's end); no line is an infra-error. */
async function waitParked(st: RunState): Promise<ParkedWorkload> {
  const { plan, monitor } = st;
  const found = () => parkedWorkload(consoleText(monitor), plan.nonce);
  try {
    await monitor.wait(
      {
        reason: "flip.parked",
        until: (s) => s.exit !== null || s.injectFailed !== null || found() !== null,
        timeoutMs: plan.timeouts.bootMs,
      },
      st.signal,
    );
  } catch (e) {
    if (!(e instanceof WaitTimeout)) throw e;
  }
  const parked = found();
  if (!parked)
    throw new InfraError("flip.parked", "the workload never reported its input buffer (SOFT-PARKED)");
  return parked;
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

/**
 * Stop at the workload's first instruction of its computation (a breakpoint at its entry, in user
 * mode), flip one bit of a register there, read it back, and continue.
 */
async function flipRegister(
  gdb: GdbRemote,
  where: Extract<FlipPlan, { kind: "register" }>,
  parked: ParkedWorkload,
  signal: AbortSignal,
  go: () => void,
): Promise<FlipRecord> {
  const entry = parked.entry.toString(16);
  await gdb.expectOk(`Z0,${entry},1`, signal);
  gdb.send("c");
  go();
  await gdb.reply("the breakpoint at the workload's entry", signal);
  await gdb.expectOk(`z0,${entry},1`, signal);
  const cpl = Number(fromTargetHex(await gdb.readRegister(CS_REGISTER, signal)) & 3n);
  const n = FLIP_REGISTERS[where.register];
  const bytes = registerBits(where.register) / 8;
  const old = await gdb.readRegister(n, signal);
  const written = toTargetHex(fromTargetHex(old) ^ (1n << BigInt(where.bit)), bytes);
  await gdb.writeRegister(n, written, signal);
  const readBack = await gdb.readRegister(n, signal);
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
