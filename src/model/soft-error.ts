/**
 * Soft errors (bit flips) judged against a golden run: where a seeded flip goes, how long a run may take
 * before it counts as a hang, and the class of a flip from its evidence. Pure: no I/O here.
 */

/** What a flip is judged as, against the fault-free golden run. Sorted block; keep it sorted. */
export const SOFT_CLASSES = ["benign", "detected", "hang", "silent-data-corruption"] as const;
export type SoftClass = (typeof SOFT_CLASSES)[number];

/** Where a flip may land: the parked workload's input buffer, or a CPU register while it computes. */
export const SOFT_TARGETS = ["data", "registers"] as const;
export type SoftTarget = (typeof SOFT_TARGETS)[number];

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

/** What the parked workload reported: its input buffer's physical address and length. */
export interface ParkedWorkload {
  physical: bigint;
  length: number;
}

/** The workload spinning in user mode before it computes: its loop and its release flag (virtual). */
export interface SpinningWorkload {
  spin: bigint;
  release: bigint;
}

/** The spin loop's code is shorter than this from the function's start (a load, a test, a pause, a jump). */
export const SPIN_LOOP_BYTES = 32n;

/** One flip to place, fixed by the run's seed. */
export type FlipPlan =
  | { kind: "memory"; address: bigint; bit: number }
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

/** The flip a seed fixes: a bit of the input buffer, or a register (pinned or seeded) and a bit. */
export function chooseFlip(seed: string, p: SoftErrorParams, parked: ParkedWorkload): FlipPlan {
  if (p.target === "data") {
    const bitIndex = seedWord(seed, 0) % BigInt(parked.length * 8);
    return { kind: "memory", address: parked.physical + bitIndex / 8n, bit: Number(bitIndex % 8n) };
  }
  const register = p.register ?? FLIP_REGISTER_NAMES[Number(seedWord(seed, 1) % 18n)] ?? "rip";
  const bit = p.bit ?? Number(seedWord(seed, 2) % BigInt(registerBits(register)));
  return { kind: "register", register, bit };
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
  if (workload.digest === null)
    return { class: null, reason: "the workload exited 0 without printing its digest" };
  if (workload.digest === golden.digest)
    return { class: "benign", reason: `digest ${workload.digest} equals the golden run's` };
  return {
    class: "silent-data-corruption",
    reason: `digest ${workload.digest} differs from the golden run's ${golden.digest}; exit 0, no report`,
  };
}
