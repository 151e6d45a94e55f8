/**
 * Streaming parser for a guest's serial console: splits raw bytes into clean lines, recognises the
 * agent's protocol lines and the fault's proof, and builds a kernel crash report from the oops table
 * (oops-patterns.ts) as the lines arrive. Memory is bounded: one unfinished line of at most
 * `maxLineBytes`, a window of recent lines, and a capped excerpt.
 */
import { Buffer } from "node:buffer";
import { decodeUtf8Visible, escapeControl } from "../util/escape.js";
import { CONFIRM_SPAN, type CrashReport, matchOops, ReportBuilder } from "./crash-report.js";
import { LinePrefix } from "./line-prefix.js";
import type { OopsPattern } from "./oops-patterns.js";

export type { CrashReport } from "./crash-report.js";
export { EXCERPT_MAX_LINES } from "./crash-report.js";
export type { CrashClass } from "./oops-patterns.js";

export type AgentEvent =
  | { kind: "ready"; version: string; hbMs: number }
  | { kind: "hb"; seq: number; uptimeMs: number }
  | { kind: "fired"; fault: string; nonce: string }
  | { kind: "inject-failed"; fault: string; errno: number; message: string }
  | { kind: "proof"; fault: string; nonce: string; context: string }
  | { kind: "pong"; uptimeMs: number }
  /** The guest kernel's OOM killer killed a process (a kernel line, like `proof`). */
  | { kind: "oom-kill"; pid: number; comm: string }
  /** A zone-4 fault's child ended: `end` is `signal=SIGSEGV`, `exit=0` or `lost errno=N` (wait failed). */
  | { kind: "child"; fault: string; nonce: string; pid: number; end: string }
  | { kind: "agent-error"; text: string }
  | {
      kind: "bench-result";
      bench: string;
      rep: number;
      /** The repetition's cost (lower is better); null when it failed, and `failure` says why. */
      value: number | null;
      unit: string | null;
      /** The `key=value` fields after the unit (ops, ns, fs, max_us). */
      fields: Record<string, string>;
      failure: string | null;
    };

/** One console line, cleaned: no line ending, no ANSI sequences, other controls made visible. */
export interface ConsoleLine {
  /** The line without its prefixes (syslog stamp, mux tag, ...) and kernel timestamp (line-prefix.ts). */
  text: string;
  /** Seconds since guest boot from the `[    1.234567] ` prefix; null for lines without one. */
  kernelTime: number | null;
  /** Host monotonic time (ms) of the chunk that completed the line. */
  atMs: number;
  /** The line was longer than `maxLineBytes`; its end was dropped. */
  truncated: boolean;
}

export interface ConsoleParserOptions {
  /** Longest line kept, in bytes; the rest of a longer line is dropped. Default 4096. */
  maxLineBytes?: number;
  /** Recent lines kept for `window()`. Default 2000. */
  windowLines?: number;
}

const DEFAULT_MAX_LINE_BYTES = 4096;
const DEFAULT_WINDOW_LINES = 2000;
/** Lines of context kept before a crash header in the excerpt. */
const EXCERPT_BEFORE = 4;

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences start with ESC
const ANSI_SEQUENCE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])/g;
/** A kernel timestamp inside a line: where a printk glued to an agent line begins. */
const GLUED_TIMESTAMP = /\[\s*\d{1,9}\.\d{6}\]/;
const AGENT_LINE_START = /^(?:READY|HB|FIRED|INJECT-FAILED|CHILD|PONG|ERROR|BENCH-RESULT) /;
/** A kernel timestamp at the start of a line (after an optional syslog level). */
const LEADING_STAMP = /^(?:<\d{1,2}>)?\[\s*\d{1,9}\.\d{1,9}\]/;

/** Where a second printk glued into a kernel or agent line begins (its timestamp), or -1. */
function gluedAt(line: string): number {
  const first = LEADING_STAMP.exec(line);
  if (!first && !AGENT_LINE_START.test(line)) return -1;
  const from = first ? first[0].length : 0;
  const m = GLUED_TIMESTAMP.exec(line.slice(from));
  return m ? from + m.index : -1;
}
const PROOF_LINE = /^ezone-fault: (\S+) nonce=(\S+) firing context=(\S+)/;
/** The kernel's OOM killer at work (a whole-guest or a memory cgroup OOM): evidence, not a crash. */
const OOM_KILL_LINE = /^(?:Memory cgroup )?[Oo]ut of memory: Killed process (\d+) \(([^)]*)\)/;

/** A number the agent printed, or null when it is not a safe non-negative integer. */
function count(digits: string | undefined): number | null {
  const value = Number(digits);
  return digits !== undefined && Number.isSafeInteger(value) ? value : null;
}

/** Agent protocol lines (see src/guest/agent/ezone-agent.c); recognised only at line start. */
const AGENT_LINES: ReadonlyArray<{ line: RegExp; event(m: RegExpExecArray): AgentEvent | null }> = [
  {
    line: /^READY (\S+) hb=(\d+)(?:\s|$)/,
    event: (m) => {
      const hbMs = count(m[2]);
      return m[1] && hbMs !== null ? { kind: "ready", version: m[1], hbMs } : null;
    },
  },
  {
    line: /^HB (\d+) (\d+)(?:\s|$)/,
    event: (m) => {
      const seq = count(m[1]);
      const uptimeMs = count(m[2]);
      return seq !== null && uptimeMs !== null ? { kind: "hb", seq, uptimeMs } : null;
    },
  },
  {
    line: /^FIRED (\S+) nonce=(\S+)/,
    event: (m) => (m[1] && m[2] ? { kind: "fired", fault: m[1], nonce: m[2] } : null),
  },
  {
    line: /^INJECT-FAILED (\S+) errno=(\d+)(?: (.*))?$/,
    event: (m) => {
      const errno = count(m[2]);
      return m[1] && errno !== null
        ? { kind: "inject-failed", fault: m[1], errno, message: (m[3] ?? "").trim() }
        : null;
    },
  },
  {
    // src/guest/agent/faults-user.c: how a zone-4 fault's child process ended.
    line: /^CHILD (\S+) nonce=(\S+) pid=(\d+) ((?:signal|exit)=[\w-]+|lost errno=\d+)$/,
    event: (m) => {
      const pid = count(m[3]);
      return m[1] && m[2] && m[4] && pid !== null
        ? { kind: "child", fault: m[1], nonce: m[2], pid, end: m[4] }
        : null;
    },
  },
  {
    line: /^PONG (\d+)(?:\s|$)/,
    event: (m) => {
      const uptimeMs = count(m[1]);
      return uptimeMs !== null ? { kind: "pong", uptimeMs } : null;
    },
  },
  {
    line: /^ERROR (.+)$/,
    event: (m) => (m[1] ? { kind: "agent-error", text: m[1] } : null),
  },
  {
    // src/guest/agent/bench.c: `<name> <rep> <value> <unit> key=value...` or `<name> <rep> FAILED <why>`.
    line: /^BENCH-RESULT ([\w.-]+) (\d+) (?:FAILED ?(.*)|(\d+(?:\.\d+)?(?:e[-+]?\d+)?) (\S+)((?: [a-z][a-z_]{0,15}=\S+){0,8}))$/,
    event: (m) => {
      const rep = count(m[2]);
      if (!m[1] || rep === null) return null;
      const base = { kind: "bench-result", bench: m[1], rep } as const;
      if (m[3] !== undefined)
        return { ...base, value: null, unit: null, fields: {}, failure: m[3] || "failed" };
      const fields = Object.fromEntries(
        (m[6] ?? "")
          .trim()
          .split(" ")
          .filter(Boolean)
          .map((f) => f.split("=", 2)),
      );
      return { ...base, value: Number(m[4]), unit: m[5] ?? null, fields, failure: null };
    },
  },
];

function agentEvent(text: string): AgentEvent | null {
  for (const { line, event } of AGENT_LINES) {
    const m = line.exec(text);
    if (m) return event(m);
  }
  return null;
}

/** Kernel lines ezone acts on: a fault's proof printk, an OOM kill. */
function kernelEvent(text: string): AgentEvent | null {
  const m = PROOF_LINE.exec(text);
  if (m?.[1] && m[2] && m[3]) return { kind: "proof", fault: m[1], nonce: m[2], context: m[3] };
  const oom = OOM_KILL_LINE.exec(text);
  const pid = count(oom?.[1]);
  return oom && pid !== null ? { kind: "oom-kill", pid, comm: oom[2] ?? "" } : null;
}

/** A line as printed (for excerpts) next to its parsed form. */
interface HeldLine {
  line: ConsoleLine;
  display: string;
}

interface Batch {
  lines: ConsoleLine[];
  events: AgentEvent[];
}

function positiveInteger(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`ConsoleParser: ${field} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Bytes of an incomplete UTF-8 sequence at the end of `bytes` (a line cut in the middle of a character). */
function incompleteTail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue;
    if (byte < 0xc0) return 0;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return needed > back ? back : 0;
  }
  return 0;
}

/**
 * Parses a console stream chunk by chunk. Chunks may split lines and UTF-8 characters anywhere; lines
 * end in `\n` (a `\r` before or after it is dropped, so `\r\n` and `\r\n\r` work too).
 */
export class ConsoleParser {
  readonly #maxLineBytes: number;
  readonly #windowLines: number;
  /** The unfinished line: copies, never views of a caller's chunk (which may be large). */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** The unfinished line overflowed `maxLineBytes`; its bytes are dropped until the next newline. */
  #cut = false;
  #lineCount = 0;
  #window: HeldLine[] = [];
  #report: ReportBuilder | null = null;
  readonly #prefix = new LinePrefix();

  constructor(opts: ConsoleParserOptions = {}) {
    this.#maxLineBytes = positiveInteger("maxLineBytes", opts.maxLineBytes, DEFAULT_MAX_LINE_BYTES);
    this.#windowLines = positiveInteger("windowLines", opts.windowLines, DEFAULT_WINDOW_LINES);
  }

  /**
   * Feed raw bytes or text as they arrive; `atMs` is the host's monotonic time of arrival. Returns the
   * lines completed by this chunk, their agent events, and the current crash report (null until a crash
   * header has been seen).
   */
  push(
    chunk: Buffer | string,
    atMs: number,
  ): { lines: ConsoleLine[]; events: AgentEvent[]; crash: CrashReport | null } {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    const batch: Batch = { lines: [], events: [] };
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      const end = newline === -1 ? bytes.length : newline;
      this.#hold(bytes, start, end);
      if (newline === -1) break;
      this.#finishLine(atMs, batch);
      start = newline + 1;
    }
    return { ...batch, crash: this.crash() };
  }

  /** Flush the final partial line, if any (a lone `\r` does not count as a line). */
  end(atMs: number): { lines: ConsoleLine[]; events: AgentEvent[] } {
    const batch: Batch = { lines: [], events: [] };
    const onlyCarriageReturns = this.#parts.every((part) => part.every((byte) => byte === 0x0d));
    if (this.#cut || !onlyCarriageReturns) this.#finishLine(atMs, batch);
    this.#parts = [];
    this.#partBytes = 0;
    return batch;
  }

  /** The current best crash report: the title refines as RIP/frame lines arrive, `panic` turns true on panic. */
  crash(): CrashReport | null {
    return this.#report?.confirmed ? this.#report.snapshot() : null;
  }

  /** The most recent lines (at most `windowLines`), oldest first. */
  window(): ConsoleLine[] {
    return this.#window.slice(-this.#windowLines).map((held) => held.line);
  }

  /** Bytes held for the unfinished line; never more than `maxLineBytes`. */
  get bufferedBytes(): number {
    return this.#partBytes;
  }

  #hold(bytes: Buffer, start: number, end: number): void {
    const take = Math.min(end - start, this.#maxLineBytes - this.#partBytes);
    if (take > 0) {
      this.#parts.push(Buffer.from(bytes.subarray(start, start + take)));
      this.#partBytes += take;
    }
    if (take < end - start) this.#cut = true;
  }

  #finishLine(atMs: number, batch: Batch): void {
    let raw = Buffer.concat(this.#parts, this.#partBytes);
    const truncated = this.#cut;
    this.#parts = [];
    this.#partBytes = 0;
    this.#cut = false;
    if (truncated) raw = raw.subarray(0, raw.length - incompleteTail(raw));
    let first = 0;
    let last = raw.length;
    while (first < last && raw[first] === 0x0d) first++;
    while (last > first && raw[last - 1] === 0x0d) last--;
    const cleaned = escapeControl(
      decodeUtf8Visible(raw.subarray(first, last)).replace(ANSI_SEQUENCE, ""),
    ).trimEnd();
    // A printk can land right after an agent line, or inside another printk's line (two CPUs printing at
    // once), before its newline: split it off at its timestamp.
    let rest = cleaned;
    for (let at = gluedAt(rest); at > 0; at = gluedAt(rest)) {
      this.#accept(rest.slice(0, at).trimEnd(), atMs, false, batch);
      rest = rest.slice(at);
    }
    this.#accept(rest, atMs, truncated, batch);
  }

  #accept(display: string, atMs: number, truncated: boolean, batch: Batch): void {
    const { text, kernelTime, caller } = this.#prefix.split(display);
    const line: ConsoleLine = { text, kernelTime, atMs, truncated };
    const index = this.#lineCount++;
    batch.lines.push(line);
    const event = line.kernelTime === null ? agentEvent(text) : null;
    const proof = event ?? kernelEvent(text);
    if (proof) batch.events.push(proof);
    if (event) this.#report?.agentAlive();
    this.#observeCrash({ text, display, caller }, index);
    this.#window.push({ line, display });
    // Trim in batches so a push stays O(1) amortised.
    if (this.#window.length > 2 * this.#windowLines)
      this.#window.splice(0, this.#window.length - this.#windowLines);
  }

  #observeCrash(line: { text: string; display: string; caller: string | null }, index: number): void {
    const { text, display, caller } = line;
    const found = matchOops(text);
    const current = this.#report;
    if (found?.pattern.panic && current && !current.panicked) {
      current.panic(found.groups.reason ?? "", display);
      return;
    }
    if (current && found && endsReport(found.pattern, current.pattern)) current.close();
    // A die line ("Internal error", "Oops") inside a report that waited for its stack confirms it.
    if (found?.pattern.inReport && current && !current.confirmed) current.confirm();
    else if (found && (current === null || !current.confirmed || supersedes(current, found.pattern))) {
      const before = this.#window.slice(-EXCERPT_BEFORE).map((held) => held.display);
      this.#report = new ReportBuilder(found, line, index, before);
      return;
    }
    current?.feed(text, display, caller);
    // A header that needs a stack trace and saw none in time was ordinary text, not a report.
    if (current && !current.confirmed && current.linesSeen >= CONFIRM_SPAN) this.#report = null;
  }
}

/**
 * Whether a header starts a report of its own, so that the lines after it are no longer the current
 * report's. A panic, a die line, a weak header or the same kind of header again (the second half of a
 * report printed in two parts) continue it.
 */
function endsReport(next: OopsPattern, current: OopsPattern): boolean {
  return !next.panic && !next.inReport && next.needsTrace !== true && next.title !== current.title;
}

/**
 * The first report in a log wins, with one exception: a report the kernel survived (a WARNING, a stall)
 * and visibly ended gives way to a fatal oops that follows before any panic: that is what took the guest
 * down. A report still in progress (a KASAN report whose access then faults) keeps the title.
 */
function supersedes(current: ReportBuilder, next: OopsPattern): boolean {
  return (
    !next.panic &&
    next.needsTrace !== true &&
    next.survivable !== true &&
    current.pattern.survivable === true &&
    current.ended &&
    !current.panicked
  );
}

/** Parse a whole console log at once (fixtures, stored artifacts). */
export function parseConsoleLog(text: string | Buffer): {
  events: AgentEvent[];
  crash: CrashReport | null;
  lines: number;
} {
  const parser = new ConsoleParser();
  const body = parser.push(text, 0);
  const tail = parser.end(0);
  return {
    events: [...body.events, ...tail.events],
    crash: parser.crash(),
    lines: body.lines.length + tail.lines.length,
  };
}
