import { join } from "node:path";
import { hasDebugStub, hasProcessTracer } from "../backends/backend.js";
import { fromTargetHex, GdbRemote, toTargetHex } from "../backends/qemu/gdb-remote.js";
import { type KernelSymbols, kernelImage, kernelSymbolNames } from "../model/kernel-symbols.js";
import {
  chooseFlip,
  classifySoftError,
  FLIP_REGISTERS,
  type FlipPlan,
  type FlipRecord,
  isKernelTarget,
  KERNEL_SETTLE_BEATS,
  type MemoryRegion,
  type ParkedWorkload,
  registerBits,
  type SoftErrorEvidence,
  type SoftTarget,
  SPIN_LOOP_BYTES,
  type SpinningWorkload,
} from "../model/soft-error.js";
import { reportedKernelSymbols } from "../monitor/kallsyms-lines.js";
import { type RunMonitor, WaitTimeout } from "../monitor/run-monitor.js";
import { parkedWorkload, spinningWorkload, workloadReport } from "../monitor/soft-lines.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import { flipByPtrace } from "./bit-flip-native.js";
import { symbolsBesideSnapshot } from "./kallsyms-cache.js";
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
    const parked = await waitLine(
      st,
      "flip.parked",
      "SOFT-PARKED (the addresses of its input, stack table and code)",
      () => parkedWorkload(consoleText(st.monitor), plan.nonce),
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
    const where = await placeFlip(st, parked);
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

/**
 * Where the seed puts this run's flip (for a kernel target, among the guest kernel's symbols). A region
 * the workload or the kernel did not report, or an address outside it, is an infra-error of
 * `flip.address`: never a result.
 */
async function placeFlip(st: RunState, parked: ParkedWorkload): Promise<FlipPlan> {
  const soft = st.plan.softError;
  if (!soft) throw new InfraError("flip.address", "a flip needs the run's soft-error plan");
  const regions: Partial<Record<SoftTarget, MemoryRegion | undefined>> = {
    data: parked,
    stack: parked.stack,
    code: parked.code,
  };
  const region = regions[soft.target];
  if (region?.physical === 0n)
    throw new InfraError("flip.parked", `the workload could not read its ${soft.target}'s physical address`);
  const kernel = isKernelTarget(soft.target) ? await kernelSymbols(st) : null;
  try {
    return chooseFlip(soft.seed, soft, parked, kernel);
  } catch (e) {
    if (e instanceof RangeError) throw new InfraError("flip.address", e.message);
    throw e;
  }
}

/**
 * The guest kernel's symbols: from a snapshot, read once and stored beside it (the snapshot froze the
 * kernel and its KASLR offset); from a fresh boot, read in this run (its boot chose its own offset).
 * The parked workload reads them (SOFT-KSYMS) while the guest runs, before the gdbstub stops it.
 */
async function kernelSymbols(st: RunState): Promise<KernelSymbols> {
  const { plan } = st;
  const read = async () => {
    st.enclave?.send(`SOFT-KSYMS nonce=${plan.nonce} names=${kernelSymbolNames().join(",")}`);
    const k = await waitLine(st, "flip.kallsyms", "SOFT-KSYMS-END (the kernel's symbols)", () =>
      reportedKernelSymbols(consoleText(st.monitor), plan.nonce),
    );
    try {
      kernelImage(k);
    } catch (e) {
      throw new InfraError("flip.kallsyms", (e as Error).message);
    }
    return k;
  };
  if (!plan.snapshot) return read();
  return symbolsBesideSnapshot((await plan.snapshot.get(st.signal)).dir, read);
}

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

/**
 * Flip one bit at a physical address (the parked workload's memory, or the kernel's), read it back, then
 * let the workload compute. A kernel address is first checked against the kernel's own mapping.
 */
async function flipMemory(
  gdb: GdbRemote,
  where: Extract<FlipPlan, { kind: "memory" }>,
  target: SoftTarget,
  signal: AbortSignal,
  go: () => void,
): Promise<FlipRecord> {
  if (where.kernel) await checkTranslation(gdb, where.address, where.kernel.virtual, signal);
  await gdb.expectOk("Qqemu.PhyMemMode:1", signal);
  const old = await gdb.readMemory(where.address, 1, signal);
  const written = (Number.parseInt(old, 16) ^ (1 << where.bit)).toString(16).padStart(2, "0");
  await gdb.writeMemory(where.address, written, signal);
  const readBack = await gdb.readMemory(where.address, 1, signal);
  await gdb.expectOk("Qqemu.PhyMemMode:0", signal);
  gdb.send("c");
  go();
  const k = where.kernel;
  const physical = `physical 0x${where.address.toString(16)}`;
  return {
    target,
    where: k
      ? `${k.symbol}+0x${k.offset.toString(16)} (virtual 0x${k.virtual.toString(16)}, ${physical}) bit ${where.bit}`
      : `${physical} bit ${where.bit}`,
    old,
    written,
    readBack,
    fired: readBack === written,
  };
}

/**
 * The 8 bytes around a kernel flip's virtual address, read through the stopped CPU's page tables, must be
 * the 8 bytes around its physical address: the __START_KERNEL_map arithmetic placed it right. (The guest's
 * CPU model is not affected by Meltdown, so the kernel is mapped whatever mode the CPU stopped in.)
 */
async function checkTranslation(
  gdb: GdbRemote,
  physical: bigint,
  virtual: bigint,
  signal: AbortSignal,
): Promise<void> {
  const start = virtual & ~7n;
  const viaMapping = await gdb.readMemory(start, 8, signal);
  await gdb.expectOk("Qqemu.PhyMemMode:1", signal);
  const viaPhysical = await gdb.readMemory(physical - (virtual - start), 8, signal);
  await gdb.expectOk("Qqemu.PhyMemMode:0", signal);
  if (viaMapping !== viaPhysical)
    throw new InfraError(
      "flip.address",
      `virtual 0x${start.toString(16)} holds ${viaMapping} but physical 0x${(physical - (virtual - start)).toString(16)} holds ${viaPhysical}: the kernel address translation is wrong`,
    );
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

/**
 * The flip of this run has played out: its workload has ended (its CHILD line is on the console) and,
 * after a kernel flip, the guest has heartbeaten KERNEL_SETTLE_BEATS times through the flipped kernel.
 */
export function flipSettled(st: RunState): boolean {
  if (workloadReport(consoleText(st.monitor), st.plan.nonce).end === null) return false;
  const beats = beatsAfterFlip(st);
  return beats === null || beats >= KERNEL_SETTLE_BEATS;
}

/** Heartbeats since a kernel flip was placed; null when the flip was not in the kernel. */
function beatsAfterFlip(st: RunState): number | null {
  const target = st.plan.softError?.target;
  if (!target || !isKernelTarget(target)) return null;
  return st.flipAt === null ? 0 : st.beats.countBetween(st.flipAt, performance.now());
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
    beatsAfterFlip: beatsAfterFlip(st),
  });
  return { flip: st.flip, golden: st.golden.golden, workload, class: cls, reason };
}
