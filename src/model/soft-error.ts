/**
 * Soft errors (bit flips) judged against a golden run: where a seeded flip goes, how long a run may take
 * before it counts as a hang, and the class of a flip from its evidence. Pure: no I/O here.
 */

import {
  KERNEL_DATA_TARGETS,
  KERNEL_TEXT_TARGETS,
  type KernelSymbols,
  kernelObject,
} from "./kernel-symbols.js";
import type { Zone } from "./zone.js";

/** What a flip is judged as, against the fault-free golden run. Sorted block; keep it sorted. */
export const SOFT_CLASSES = ["benign", "detected", "hang", "silent-data-corruption"] as const;
export type SoftClass = (typeof SOFT_CLASSES)[number];

/**
 * Where a flip may land: the parked workload's input buffer (`data`), its stack table (`stack`) or its
 * computation's code (`code`); a CPU register while it is about to compute; the guest kernel's text or
 * data (a seeded symbol of a fixed list).
 */
export const SOFT_TARGETS = ["code", "data", "kernel-data", "kernel-text", "registers", "stack"] as const;
export type SoftTarget = (typeof SOFT_TARGETS)[number];

/** Targets in the guest kernel: their symbols come from the guest's /proc/kallsyms. */
export function isKernelTarget(t: SoftTarget): t is "kernel-data" | "kernel-text" {
  return t === "kernel-data" || t === "kernel-text";
}

/**
 * The zone of a flip: the guest kernel's text or data is zone 3 (its scope is the guest); the workload's
 * memory and registers are zone 4 (a register flip is placed at privilege level 3, in the workload).
 */
export function softTargetZone(t: SoftTarget): Zone {
  return isKernelTarget(t) ? 3 : 4;
}

/**
 * After a kernel flip the guest must heartbeat this many times (and the workload end) before the run is
 * settled: the heartbeat path runs through the flipped kernel; fewer by the end of the window is a hang.
 */
export const KERNEL_SETTLE_BEATS = 2;

/**
 * x86-64 registers a flip may hit, by their gdb remote-protocol number (QEMU's i386-64bit.xml): the
 * general-purpose registers, RIP and EFLAGS.
 */
export const FLIP_REGISTERS = {
  rax: 0,
  rbx: 1,
  rcx: 2,
  rdx: 3,
  rsi: 4,
  rdi: 5,
  rbp: 6,
  rsp: 7,
  r8: 8,
  r9: 9,
  r10: 10,
  r11: 11,
  r12: 12,
  r13: 13,
  r14: 14,
  r15: 15,
  rip: 16,
  eflags: 17,
} as const;
export type FlipRegister = keyof typeof FLIP_REGISTERS;
export const FLIP_REGISTER_NAMES = Object.keys(FLIP_REGISTERS) as [FlipRegister, ...FlipRegister[]];

/** The width of a register in bits (EFLAGS is 32 bits in the gdb protocol). */
export function registerBits(reg: FlipRegister): number {
  return reg === "eflags" ? 32 : 64;
}

/** The soft-error part of a run's parameters (hence of its key). */
export interface SoftErrorParams {
  target: SoftTarget;
  /** Pin the register (target `registers`); absent: the seed picks it. */
  register?: FlipRegister;
  /** Pin the bit; absent: the seed picks it. */
  bit?: number;
}

/** A region of guest memory: its physical start and length in bytes. */
export interface MemoryRegion {
  physical: bigint;
  length: number;
}

/**
 * What the parked workload reported: its input buffer's physical address and length, and (when its agent
 * reports them) its stack table and its computation's code, each locked in memory.
 */
export interface ParkedWorkload extends MemoryRegion {
  stack?: MemoryRegion;
  code?: MemoryRegion;
}

/** The workload spinning in user mode before it computes: its loop and its release flag (virtual). */
export interface SpinningWorkload {
  spin: bigint;
  release: bigint;
}

/** A kernel flip's symbol: its name, the flipped byte's offset in it and virtual address. */
export interface KernelPlace {
  symbol: string;
  offset: number;
  virtual: bigint;
}

/** The spin loop's code is shorter than this from the function's start (a load, a test, a pause, a jump). */
export const SPIN_LOOP_BYTES = 32n;

/** One flip to place, fixed by the run's seed: a bit at a physical address, or of a register. */
export type FlipPlan =
  | { kind: "memory"; address: bigint; bit: number; kernel?: KernelPlace }
  | { kind: "register"; register: FlipRegister; bit: number };

/** The fault-free run of the workload: its digest and compute time, recorded once per image and backend. */
export interface Golden {
  digest: string;
  durationUs: number;
}

/** The flip as placed: where, the value before, the value written and the value read back. */
export interface FlipRecord {
  target: SoftTarget;
  /** e.g. `physical 0x1234a64 bit 3` or `rip bit 63`. */
  where: string;
  old: string;
  written: string;
  readBack: string;
  /** The value read back is the one written: the flip's proof. */
  fired: boolean;
  /** The CPU's privilege level at the stop (3 = user mode), for register flips. */
  cpl?: number;
}

/** What the workload printed after the flip: its digest, and how its process ended (the agent's CHILD). */
export interface WorkloadReport {
  digest: string | null;
  durationUs: number | null;
  /** `exit=0`, `signal=SIGSEGV`...; null: it never ended within the window. */
  end: string | null;
}

/** Everything the soft-error class and its outcome rows look at. */
export interface SoftErrorEvidence {
  flip: FlipRecord | null;
  golden: Golden;
  workload: WorkloadReport;
  class: SoftClass | null;
  /** Why that class (or why none). */
  reason: string;
}

/** 64 bits of the run's seed (hex) from `offset`, as a number generator's state. */
function seedWord(seed: string, offset: number): bigint {
  const hex = seed.padEnd(16, "0").slice(offset % 8, (offset % 8) + 8);
  return BigInt(`0x${hex}`);
}

/**
 * The flip a seed fixes: a bit of the workload's input, stack table or code; of a kernel symbol (seeded
 * from the target's list); or a register (pinned or seeded) and a bit. Throws a RangeError naming what
 * is missing when the workload or the guest kernel did not report the target's region.
 */
export function chooseFlip(
  seed: string,
  p: SoftErrorParams,
  parked: ParkedWorkload,
  kernel: KernelSymbols | null = null,
): FlipPlan {
  if (isKernelTarget(p.target)) {
    if (!kernel) throw new RangeError(`target ${p.target} needs the guest kernel's symbols`);
    const list = p.target === "kernel-text" ? KERNEL_TEXT_TARGETS : KERNEL_DATA_TARGETS;
    const chosen = list[Number(seedWord(seed, 1) % BigInt(list.length))] ?? list[0];
    if (!chosen) throw new RangeError(`target ${p.target} has no symbols to choose from`);
    const o = kernelObject(kernel, chosen);
    const at = bitIn(seed, { physical: o.physical, length: o.bytes });
    const offset = Number(at.address - o.physical);
    return { ...at, kernel: { symbol: o.name, offset, virtual: o.virtual + BigInt(offset) } };
  }
  if (p.target !== "registers") {
    const region = p.target === "data" ? parked : parked[p.target];
    if (!region || region.length <= 0) throw new RangeError(`the workload reported no ${p.target} region`);
    return bitIn(seed, region);
  }
  const register = p.register ?? FLIP_REGISTER_NAMES[Number(seedWord(seed, 1) % 18n)] ?? "rip";
  const bit = p.bit ?? Number(seedWord(seed, 2) % BigInt(registerBits(register)));
  return { kind: "register", register, bit };
}

/** A seeded bit of a region: its byte's physical address and the bit in it. */
function bitIn(seed: string, r: MemoryRegion): Extract<FlipPlan, { kind: "memory" }> {
  const bitIndex = seedWord(seed, 0) % BigInt(r.length * 8);
  return { kind: "memory", address: r.physical + bitIndex / 8n, bit: Number(bitIndex % 8n) };
}

/**
 * After this long without the workload ending, a flip is a hang: max(3 × golden, golden + 2 s), scaled
 * like every timeout of the backend, with the workload's own start-up (`floorMs`) added.
 */
export function hangWindowMs(golden: Golden, scale: number, floorMs: number): number {
  const goldenMs = golden.durationUs / 1000;
  return Math.ceil(floorMs + Math.max(3 * goldenMs, goldenMs + 2000) * scale);
}

/** The facts a class is decided from, besides the golden run. */
export interface SoftFacts {
  workload: WorkloadReport;
  /** The guest kernel's crash title (console parser), or pvpanic's word when it is the only witness. */
  guestCrash: string | null;
  heartbeatLost: boolean;
  /** Heartbeats after a kernel flip (the heartbeat path runs through the flipped kernel); null otherwise. */
  beatsAfterFlip: number | null;
}

/** A flip's class from the evidence against the golden run; null (with the reason) when it cannot tell. */
export function classifySoftError(golden: Golden, f: SoftFacts): { class: SoftClass | null; reason: string } {
  const { workload } = f;
  if (f.guestCrash) return { class: "detected", reason: `guest kernel: ${f.guestCrash}` };
  if (workload.end === null) {
    const why = f.heartbeatLost ? "the guest stopped heartbeating" : "the workload never ended";
    return { class: "hang", reason: `${why} within the hang window (golden ${golden.durationUs} µs)` };
  }
  if (workload.end !== "exit=0")
    return { class: "detected", reason: `the workload ended with ${workload.end}` };
  if (f.beatsAfterFlip !== null && f.beatsAfterFlip < KERNEL_SETTLE_BEATS)
    return {
      class: "hang",
      reason: `the guest sent ${f.beatsAfterFlip} heartbeat(s) after the kernel flip within the hang window (${KERNEL_SETTLE_BEATS} expected)`,
    };
  if (workload.digest === null)
    return { class: null, reason: "the workload exited 0 without printing its digest" };
  if (workload.digest === golden.digest)
    return { class: "benign", reason: `digest ${workload.digest} equals the golden run's` };
  return {
    class: "silent-data-corruption",
    reason: `digest ${workload.digest} differs from the golden run's ${golden.digest}; exit 0, no report`,
  };
}
