/**
 * Real-world console lines carry prefixes before the kernel text: a syslog or journald stamp and host
 * name, an ISO-8601 time, `dmesg -T` human times, a serial multiplexer tag, a line number, a CI stamp,
 * then (or not) the kernel's own `[    1.234567]` timestamp. `LinePrefix` strips the known kinds and
 * learns any other fixed prefix from the lines that carry a kernel timestamp after it, so the kernel
 * text is found wherever it starts; the parser never assumes column 0.
 */

/** One known kind of prefix, anchored at the start of what is left of the line. */
export interface PrefixKind {
  name: string;
  prefix: RegExp;
  /** A real-shaped line carrying this prefix (checked by the unit tests). */
  example: string;
}

/** Known prefix kinds; several may stack (a CI stamp before a syslog line), each is stripped once. */
export const PREFIX_KINDS: readonly PrefixKind[] = [
  {
    name: "syslog",
    prefix: /^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ [\w./-]+(?:\[\d+\])?: /,
    example: "Apr 18 08:58:32 node7 kernel: [  236.270000] BUG: soft lockup - CPU#0 stuck for 22s! [a:1]",
  },
  {
    name: "iso8601",
    prefix:
      /^(?:<\d{1,3}>\d? )?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?(?: \S+ [\w./-]+(?:\[\d+\])?:)? /,
    example: "2026-11-27T13:46:42.123456+00:00 node7 kernel: general protection fault: 0000 [#1] SMP",
  },
  {
    name: "dmesg-T",
    prefix: /^\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?/,
    example: "[Fri Nov 27 13:46:42 2026] divide error: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    name: "go-log",
    prefix: /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(?:\.\d+)? /,
    example: "2026/11/27 13:46:42 BUG: kernel NULL pointer dereference, address: 0000000000000000",
  },
  {
    name: "serial-mux",
    prefix: /^(?:\[[\w.:-]+(?:\/[\w.:-]+)+\]|[\w.@-]{1,40}\s+\|) ?/,
    example: "[vm0/uart0] [    2.963820] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]",
  },
  {
    name: "line-number",
    prefix: /^\s{0,8}\d{1,7}(?::\s|\t|\s\|\s?)/,
    example: "  1042: Kernel panic - not syncing: Fatal exception",
  },
];

/** `[    1.234567] `, optionally after a syslog level `<4>` and before a caller id `[    T1]`. */
const KERNEL_STAMP = /^(?:<\d{1,2}>)?\[\s*(\d{1,9}\.\d{1,9})\](?:\[\s*([CT]\d+)\])? ?/;
/** The same stamp anywhere in a line's head: whatever comes before it is a prefix to learn. */
const STAMP_INSIDE = /(?:<\d{1,2}>)?\[\s*\d{1,9}\.\d{3,9}\](?:\[\s*[CT]\d+\])? ?/;
/** How far into a line a prefix may reach. */
const MAX_PREFIX = 160;
/** Prefix rounds: a CI stamp, then syslog, then a mux tag is the deepest stack seen. */
const MAX_ROUNDS = 4;

/** A console line split into its prefix and its kernel text. */
export interface SplitLine {
  /** The kernel (or agent) text, prefixes and kernel timestamp removed. */
  text: string;
  /** Seconds since boot from the kernel timestamp; null for lines without one. */
  kernelTime: number | null;
  /** The printk caller id (`T123` a task, `C1` a CPU) of kernels built with PRINTK_CALLER, else null. */
  caller: string | null;
}

function stripKnown(line: string): number {
  let at = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rest = line.slice(at);
    const kind = PREFIX_KINDS.find((k) => k.prefix.test(rest));
    const m = kind?.prefix.exec(rest);
    if (!m || m[0].length === 0) break;
    at += m[0].length;
  }
  return at;
}

/** A prefix's shape: its digits generalised (times, counters change from line to line), the rest kept. */
function shapeOf(prefix: string): RegExp {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&").replace(/\d+/g, "\\d+");
  return new RegExp(`^${escaped.replace(/ +/g, " +")}`);
}

/** Strips the prefixes of one console's lines; stateful: it learns the console's own prefix shape. */
export class LinePrefix {
  #learned: RegExp | null = null;

  split(line: string): SplitLine {
    let at = stripKnown(line);
    let stamp = KERNEL_STAMP.exec(line.slice(at));
    if (!stamp) {
      const learned = this.#learned?.exec(line.slice(at));
      if (learned && learned[0].length > 0) {
        at += learned[0].length;
        stamp = KERNEL_STAMP.exec(line.slice(at));
      } else {
        const inside = STAMP_INSIDE.exec(line.slice(at, at + MAX_PREFIX));
        if (inside && inside.index > 0) {
          this.#learned = shapeOf(line.slice(at, at + inside.index));
          at += inside.index;
          stamp = KERNEL_STAMP.exec(line.slice(at));
        }
      }
    }
    if (stamp) at += stamp[0].length;
    return {
      text: line.slice(at),
      kernelTime: stamp?.[1] ? Number(stamp[1]) : null,
      caller: stamp?.[2] ?? null,
    };
  }
}

/** One line's kernel text with the known prefix kinds and timestamp removed (no learning: a single line). */
export function kernelText(line: string): string {
  return new LinePrefix().split(line).text;
}
