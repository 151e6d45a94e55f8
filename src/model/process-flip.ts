/**
 * Bit flips by ptrace on the `native` backend, where the soft-error workload is a plain host process:
 * the request given to ezone's flipper (src/host/flipper.c), its report, and whether the host's Yama
 * policy lets ezone ptrace the workload at all. Pure: no I/O here.
 */
import type { FlipRegister } from "./soft-error.js";

/** The workload as a process: its pid (a host pid on native) and its input buffer's virtual address. */
export interface WorkloadProcess {
  pid: number;
  input: bigint;
}

/** One flip for the flipper: a bit of a byte of the parked process, or of a register in its spin loop. */
export type ProcessFlip =
  | { kind: "memory"; pid: number; address: bigint; bit: number }
  | {
      kind: "register";
      pid: number;
      register: FlipRegister;
      bit: number;
      /** The spin loop's code, [start, end): the flipper stops the process until its RIP is inside. */
      loop: { start: bigint; end: bigint };
      /** The int that ends the spin loop (set to 1 after the flip). */
      release: bigint;
    };

/** What the flipper read and wrote: the value before, the value written, the value read back. */
export interface ProcessFlipReport {
  old: string;
  written: string;
  readBack: string;
  /** The privilege level of the register state flipped (3: user mode); register flips only. */
  cpl?: number;
}

const hex = (n: bigint) => n.toString(16);

/** The flipper's arguments for `flip` (see src/host/flipper.c). */
export function flipperArgs(flip: ProcessFlip): string[] {
  if (flip.kind === "memory") return ["mem", String(flip.pid), hex(flip.address), String(flip.bit)];
  const { loop } = flip;
  return [
    "reg",
    String(flip.pid),
    flip.register,
    String(flip.bit),
    hex(loop.start),
    hex(loop.end),
    hex(flip.release),
  ];
}

const REPORT =
  /^old=(0x[0-9a-f]{1,16}|[0-9a-f]{2}) written=(0x[0-9a-f]{1,16}|[0-9a-f]{2}) read=(0x[0-9a-f]{1,16}|[0-9a-f]{2})(?: cpl=([0-3]))?\n?$/;

/** The flipper's one-line report, or null when its output is not one. */
export function parseFlipperReport(stdout: string): ProcessFlipReport | null {
  const m = REPORT.exec(stdout);
  if (!m) return null;
  const [, old = "", written = "", readBack = "", cpl] = m;
  return { old, written, readBack, ...(cpl !== undefined ? { cpl: Number(cpl) } : {}) };
}

/**
 * Why the host's Yama policy (`kernel.yama.ptrace_scope`; null: no Yama) forbids ezone to ptrace the
 * workload, or null when it allows it. Scope 1 allows it: the workload names any process its tracer
 * (PR_SET_PTRACER_ANY), as ezone's flipper is no ancestor of it; scope 2 needs CAP_SYS_PTRACE; scope 3
 * forbids every attach.
 */
export function ptraceRefusal(scope: number | null, capSysPtrace: boolean): string | null {
  if (scope === null || scope <= 1) return null;
  if (scope === 2) {
    return capSysPtrace
      ? null
      : "kernel.yama.ptrace_scope is 2 (admin-only attach) and ezone lacks CAP_SYS_PTRACE: it cannot ptrace the workload to flip its bits";
  }
  return `kernel.yama.ptrace_scope is ${scope} (no attach at all): ezone cannot ptrace the workload to flip its bits`;
}
