import type { KernelSymbols, ReportedSymbol } from "../model/kernel-symbols.js";

/*
 * The parked soft-error workload's answer to SOFT-KSYMS (src/guest/agent/soft-workload.c): one line per
 * kernel symbol it found in /proc/kallsyms, then an end line with the kernel code's physical start. A
 * guest can print anything: each field is matched whole with bounded lengths, only the run's nonce
 * counts, a name appears once, and nothing counts before the end line has arrived whole.
 */
const KSYM =
  /^SOFT-KSYM nonce=(\S{1,64}) name=([A-Za-z0-9_.]{1,63}) addr=0x([0-9a-f]{1,16}) next=0x([0-9a-f]{1,16})\r?\n/gm;
const END = /^SOFT-KSYMS-END nonce=(\S{1,64}) found=(\d{1,3}) kernel_code=0x([0-9a-f]{1,16})\r?\n/gm;
/** At most this many symbols are taken from one answer (ezone asks for fewer). */
const MAX_SYMBOLS = 64;

/** The kernel symbols the workload of `nonce` reported, or null until its end line has arrived. */
export function reportedKernelSymbols(console: string, nonce: string): KernelSymbols | null {
  const end = [...console.matchAll(END)].find((m) => m[1] === nonce);
  if (!end) return null;
  const symbols: ReportedSymbol[] = [];
  for (const m of console.matchAll(KSYM)) {
    if (m[1] !== nonce || symbols.some((s) => s.name === m[2])) continue;
    symbols.push({ name: m[2] as string, address: BigInt(`0x${m[3]}`), next: BigInt(`0x${m[4]}`) });
    if (symbols.length === MAX_SYMBOLS) break;
  }
  return { symbols, kernelCode: BigInt(`0x${end[3]}`) };
}
