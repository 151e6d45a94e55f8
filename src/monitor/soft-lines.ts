import type { WorkloadProcess } from "../model/process-flip.js";
import type { MemoryRegion, ParkedWorkload, SpinningWorkload, WorkloadReport } from "../model/soft-error.js";

/*
 * The soft-error workload's lines on the console (src/guest/agent/soft-workload.c). A guest can print
 * anything: each field is matched whole, with bounded lengths, and only lines carrying the run's nonce
 * count. A line counts once its newline has arrived: a line still arriving would match cut short.
 */
const PARKED =
  /^SOFT-PARKED nonce=(\S{1,64}) pid=\d{1,10} phys=0x([0-9a-f]{1,16}) len=(\d{1,6})(?: stack=0x([0-9a-f]{1,16}) stack_len=(\d{1,6}) code=0x([0-9a-f]{1,16}) code_len=(\d{1,6}))?\r?\n/gm;
const SPIN = /^SOFT-SPIN nonce=(\S{1,64}) spin=0x([0-9a-f]{1,16}) release=0x([0-9a-f]{1,16})\r?\n/gm;
const PROCESS = /^SOFT-PROCESS nonce=(\S{1,64}) pid=(\d{1,10}) input=0x([0-9a-f]{1,16})\r?\n/gm;
const DONE = /^SOFT-DONE nonce=(\S{1,64}) digest=([0-9a-f]{16}) us=(\d{1,12})\r?\n/gm;
const CHILD = /^CHILD bitflip nonce=(\S{1,64}) pid=\d{1,10} ((?:signal|exit)=[\w-]{1,16})\r?\n/gm;

/** The parked workload's addresses for `nonce`, or null when it has not reported them. */
export function parkedWorkload(console: string, nonce: string): ParkedWorkload | null {
  for (const m of console.matchAll(PARKED)) {
    if (m[1] !== nonce) continue;
    const data = region(m[2], m[3]);
    if (!data) return null;
    const stack = region(m[4], m[5]);
    const code = region(m[6], m[7]);
    return { ...data, ...(stack ? { stack } : {}), ...(code ? { code } : {}) };
  }
  return null;
}

/** A reported region; null when absent or empty. */
function region(physical: string | undefined, length: string | undefined): MemoryRegion | null {
  if (physical === undefined || length === undefined || Number(length) <= 0) return null;
  return { physical: BigInt(`0x${physical}`), length: Number(length) };
}

/** The spinning workload's loop and release flag (virtual addresses) for `nonce`, or null. */
export function spinningWorkload(console: string, nonce: string): SpinningWorkload | null {
  for (const m of console.matchAll(SPIN))
    if (m[1] === nonce) return { spin: BigInt(`0x${m[2]}`), release: BigInt(`0x${m[3]}`) };
  return null;
}

/** What the workload of `nonce` printed after SOFT-GO: its digest and how its process ended. */
export function workloadReport(console: string, nonce: string): WorkloadReport {
  const done = [...console.matchAll(DONE)].find((m) => m[1] === nonce);
  const child = [...console.matchAll(CHILD)].find((m) => m[1] === nonce);
  return {
    digest: done?.[2] ?? null,
    durationUs: done ? Number(done[3]) : null,
    end: child?.[2] ?? null,
  };
}

/** The parked workload's pid and input buffer's virtual address for `nonce` (for ptrace), or null. */
export function workloadProcess(console: string, nonce: string): WorkloadProcess | null {
  for (const m of console.matchAll(PROCESS))
    if (m[1] === nonce && Number(m[2]) > 0) return { pid: Number(m[2]), input: BigInt(`0x${m[3]}`) };
  return null;
}
