/**
 * The guest kernel's symbols a kernel bit flip may hit, read from the guest's /proc/kallsyms, and the
 * translation of their virtual addresses to physical ones. Pure: no I/O here.
 */

/**
 * The base of the x86-64 kernel image's mapping (`__START_KERNEL_map`): the image is mapped at
 * `__START_KERNEL_map + phys_base + (its link offset)`, physically contiguous from `_text`.
 */
export const START_KERNEL_MAP = 0xffff_ffff_8000_0000n;

/** A symbol's extent is up to the next symbol, at most this much (a larger gap is not one object). */
export const MAX_SYMBOL_BYTES = 64 * 1024;

/** A kernel symbol a flip may target, and at most how many of its bytes (up to the next symbol). */
export interface KernelTarget {
  name: string;
  /** Hit only its first bytes (e.g. an 8-byte counter followed by padding); absent: up to the next symbol. */
  maxBytes?: number;
}

/**
 * Kernel text a flip may hit: functions the workload's system calls, the agent's heartbeat (a console
 * line written every interval, then a sleep) and the timer tick run, so a flip there is executed within
 * the run rather than lying in code nothing calls.
 */
export const KERNEL_TEXT_TARGETS: readonly KernelTarget[] = [
  { name: "do_syscall_64" }, // every system call's entry
  { name: "ksys_write" }, // every write(2): heartbeats and the workload's lines
  { name: "n_tty_write" }, // the tty line discipline those lines pass through
  { name: "uart_write" }, // the serial core queueing them for ttyS0
  { name: "serial8250_tx_chars" }, // the 8250 driver moving them to the UART
  { name: "update_process_times" }, // the timer tick, 250 times a second
  { name: "__schedule" }, // every context switch
  { name: "do_exit" }, // the workload's own exit
];

/**
 * Kernel data a flip may hit: structures every heartbeat, system call or timer tick reads, so a flip is
 * read within the run. `jiffies_64` (the tick counter; jiffies is its low half) and `tk_core` (the
 * timekeeper behind clock_gettime and the heartbeat's uptime) move time; `sys_call_table` sends a system
 * call elsewhere; `init_task` is the idle task, switched to and from on every idle CPU.
 */
export const KERNEL_DATA_TARGETS: readonly KernelTarget[] = [
  { name: "jiffies_64", maxBytes: 8 },
  { name: "tk_core" },
  { name: "sys_call_table" },
  { name: "init_task" },
];

/** The symbols that place the kernel image: its start and end (virtual). */
export const IMAGE_SYMBOLS = ["_text", "_end"] as const;

/** One symbol as the guest reported it: its virtual address and the next symbol's (0n: none). */
export interface ReportedSymbol {
  name: string;
  address: bigint;
  next: bigint;
}

/** What the guest reported of its kernel: the symbols asked for that it has, and the code's physical start. */
export interface KernelSymbols {
  symbols: ReportedSymbol[];
  /** Physical start of the kernel's code (/proc/iomem "Kernel code"), which is `_text`'s. */
  kernelCode: bigint;
}

/** A kernel object to flip a bit of: where it is (virtual and physical) and how many bytes. */
export interface KernelObject {
  name: string;
  virtual: bigint;
  physical: bigint;
  bytes: number;
}

/** Every name a kernel flip asks the guest for: the image's bounds and both target lists. */
export function kernelSymbolNames(): string[] {
  return [...IMAGE_SYMBOLS, ...[...KERNEL_TEXT_TARGETS, ...KERNEL_DATA_TARGETS].map((t) => t.name)];
}

/**
 * The kernel image's virtual bounds (`_text`, `_end`) and `phys_base`: where the image starts physically,
 * less its link offset. The image is physically contiguous from `_text` (text, rodata, data, bss), so
 * phys(v) = v − __START_KERNEL_map + phys_base. Throws a RangeError when the report cannot place it.
 */
export function kernelImage(k: KernelSymbols): { text: bigint; end: bigint; physBase: bigint } {
  const text = symbol(k, "_text").address;
  const end = symbol(k, "_end").address;
  if (text < START_KERNEL_MAP || end <= text)
    throw new RangeError(
      `the kernel image _text 0x${hex(text)}.._end 0x${hex(end)} is not in the kernel map`,
    );
  if (k.kernelCode === 0n) throw new RangeError("the guest reported no physical start of the kernel code");
  return { text, end, physBase: k.kernelCode - (text - START_KERNEL_MAP) };
}

/**
 * The kernel object `t` in the reported symbols, its physical address by the __START_KERNEL_map
 * arithmetic. Throws a RangeError naming what is wrong: a symbol the guest lacks, an address outside
 * the kernel image, no physical start, an extent of zero or over MAX_SYMBOL_BYTES.
 */
export function kernelObject(k: KernelSymbols, t: KernelTarget): KernelObject {
  const image = kernelImage(k);
  const s = symbol(k, t.name);
  if (s.address < image.text || s.address >= image.end)
    throw new RangeError(`${t.name} at 0x${hex(s.address)} is outside the kernel image`);
  const extent = s.next > s.address ? s.next - s.address : 0n;
  if (extent === 0n || extent > BigInt(MAX_SYMBOL_BYTES))
    throw new RangeError(
      `${t.name}: its extent to the next symbol (0x${hex(s.next)}) is not 1..${MAX_SYMBOL_BYTES} bytes`,
    );
  const bytes = Math.min(Number(extent), t.maxBytes ?? MAX_SYMBOL_BYTES);
  return { name: t.name, virtual: s.address, physical: s.address - START_KERNEL_MAP + image.physBase, bytes };
}

function symbol(k: KernelSymbols, name: string): ReportedSymbol {
  const s = k.symbols.find((x) => x.name === name);
  if (!s) throw new RangeError(`${name} is not in the guest's /proc/kallsyms (or kptr_restrict hid it)`);
  return s;
}

const hex = (v: bigint) => v.toString(16);

/** The stored form of reported symbols (beside the snapshot): addresses as hex strings. */
export interface StoredKernelSymbols {
  kernelCode: string;
  symbols: { name: string; address: string; next: string }[];
}

export function storedKernelSymbols(k: KernelSymbols): StoredKernelSymbols {
  return {
    kernelCode: hex(k.kernelCode),
    symbols: k.symbols.map((s) => ({ name: s.name, address: hex(s.address), next: hex(s.next) })),
  };
}

const HEX = /^[0-9a-f]{1,16}$/;
const NAME = /^[A-Za-z0-9_.]{1,63}$/;

/** Reported symbols back from their stored form; null when it is not that shape (then read them again). */
export function kernelSymbolsFromStored(v: unknown): KernelSymbols | null {
  const o = v as Partial<StoredKernelSymbols> | null;
  if (typeof o !== "object" || o === null || typeof o.kernelCode !== "string" || !HEX.test(o.kernelCode))
    return null;
  if (!Array.isArray(o.symbols) || o.symbols.length > 64) return null;
  const symbols: ReportedSymbol[] = [];
  for (const s of o.symbols as unknown[]) {
    const x = s as Partial<StoredKernelSymbols["symbols"][number]> | null;
    if (typeof x !== "object" || x === null) return null;
    const { name, address, next } = x;
    if (typeof name !== "string" || !NAME.test(name)) return null;
    if (typeof address !== "string" || !HEX.test(address) || typeof next !== "string" || !HEX.test(next))
      return null;
    symbols.push({ name, address: BigInt(`0x${address}`), next: BigInt(`0x${next}`) });
  }
  return { kernelCode: BigInt(`0x${o.kernelCode}`), symbols };
}
