/**
 * One kernel crash report under construction: the header the oops table matched, the lines after it
 * (bounded), and the title and culprit frame computed from them. Pure apart from its own bounded state;
 * the console parser feeds it lines and asks for snapshots.
 */
import { culpritFrame, type Frame, isGenericFrame, normalSymbol, opensStack } from "./culprit-frames.js";
import { type CrashClass, OOPS_PATTERNS, type OopsPattern } from "./oops-patterns.js";

/** A kernel crash seen on the console; refined while more lines of the same report arrive. */
export interface CrashReport {
  /** e.g. `divide error in kerncrash_fire [kerncrash]`, or just `divide error` when no function was seen. */
  title: string;
  crashClass: CrashClass;
  /** The culprit function (one identifier, clone suffixes removed), or null when no line named it. */
  frame: string | null;
  /** The module the culprit function belongs to (`[kerncrash]` in a frame), or null for the kernel proper. */
  module: string | null;
  /** The header line that started the report (prefixes and timestamp stripped). */
  header: string;
  /** Index of the header among all lines parsed, counting from 0. */
  lineIndex: number;
  /** A "Kernel panic - not syncing" line followed (or was) the report. */
  panic: boolean;
  panicReason: string | null;
  /** The report lacks what its header promises (no RIP or frame named the function; a lost oops). */
  corrupted: boolean;
  /** A few lines before the header through the panic line, at most `EXCERPT_MAX_LINES`, as printed. */
  excerpt: string[];
}

/** Longest excerpt, including the context before the header and the panic line. */
export const EXCERPT_MAX_LINES = 40;
/** Lines after its header kept to find the culprit; a frame further on belongs to something else. */
const REPORT_SPAN = 200;
/** Characters of a report line kept for the culprit search (frames are short; the rest is noise). */
const REPORT_LINE_CHARS = 512;
/** Lines within which a `needsTrace` header must see its stack trace, or it was ordinary text. */
export const CONFIRM_SPAN = 30;

/** The line that closes a WARN or oops report. */
const END_TRACE = /---\[ end trace [0-9a-f]* ?\]---/;

/** An oops-table entry that matched a line, with the header's named groups. */
export interface OopsMatch {
  pattern: OopsPattern;
  groups: Record<string, string>;
}

/** The first oops-table entry whose header matches a line's kernel text. */
export function matchOops(text: string): OopsMatch | null {
  // Some reports indent their header by a space (KCSAN on some kernels); frames are indented too, but
  // no header pattern matches a frame.
  const head = text.trimStart();
  for (const pattern of OOPS_PATTERNS) {
    const m = pattern.header.exec(head);
    if (m) return { pattern, groups: { ...m.groups } };
  }
  return null;
}

function fillTitle(template: string, groups: Record<string, string | undefined>): string {
  return template
    .replace(
      /\{(\w+)(?:\|([^}]*))?\}/g,
      (_, name: string, fallback?: string) => groups[name] ?? fallback ?? "?",
    )
    .replace(/\s+/g, " ")
    .trim();
}

/** The header's own function (`func`, else `alt`), unless it is generic machinery. */
function headerFrame(match: OopsMatch): Frame | null {
  for (const name of ["func", "alt"]) {
    const raw = match.groups[name];
    const symbol = raw === undefined ? undefined : normalSymbol(raw);
    if (symbol && !isGenericFrame(symbol, match.pattern.culprit?.skip))
      return { symbol, module: (name === "func" && match.groups.mod) || null, questionable: false };
  }
  return null;
}

export class ReportBuilder {
  readonly pattern: OopsPattern;
  readonly #match: OopsMatch;
  readonly #header: string;
  readonly #lineIndex: number;
  readonly #excerpt: string[];
  readonly #lines: string[] = [];
  #detail: Record<string, string> = {};
  #closed = false;
  #omitted = 0;
  #panicReason: string | null = null;
  #confirmed: boolean;
  #ended = false;
  /** The header's printk caller id: with PRINTK_CALLER, other tasks' lines interleave with the report. */
  readonly #caller: string | null;
  /** All CPUs were asked for backtraces ("Sending NMI from CPU"): CPU-context lines belong to the report. */
  #cpuBacktraces = false;
  #cached: CrashReport | null = null;

  constructor(
    match: OopsMatch,
    line: { text: string; display: string; caller: string | null },
    lineIndex: number,
    before: string[],
  ) {
    const { text, display } = line;
    this.#caller = line.caller;
    this.pattern = match.pattern;
    this.#match = match;
    this.#header = text;
    this.#lineIndex = lineIndex;
    this.#excerpt = [...before, display];
    this.#confirmed = match.pattern.needsTrace !== true;
    if (match.pattern.panic) this.#panicReason = match.groups.reason ?? "";
  }

  get panicked(): boolean {
    return this.#panicReason !== null;
  }

  /** The header is one that needs a stack trace to count, and none has followed yet. */
  get confirmed(): boolean {
    return this.#confirmed;
  }

  /**
   * The kernel showed it carried on after this report: its `---[ end trace` line, or the guest agent
   * printing again.
   */
  get ended(): boolean {
    return this.#ended;
  }

  /** A line that only ever appears inside a kernel report followed the header. */
  confirm(): void {
    this.#confirmed = true;
  }

  /** The guest agent printed after the report: the kernel carried on. */
  agentAlive(): void {
    this.#ended = true;
  }

  /** Lines seen after the header (to give up on an unconfirmed one). */
  get linesSeen(): number {
    return this.#lines.length;
  }

  /** A line after the header: extends the excerpt (until the panic) and the lines searched for the culprit. */
  feed(text: string, display: string, caller: string | null = null): void {
    if (!this.panicked) {
      if (this.#excerpt.length < EXCERPT_MAX_LINES - 2) this.#excerpt.push(display);
      else this.#omitted++;
    }
    if (this.#closed || this.#lines.length >= REPORT_SPAN || !this.#sameContext(caller)) return;
    if (text.includes("Sending NMI from CPU")) this.#cpuBacktraces = true;
    this.#cached = null;
    const line = text.slice(0, REPORT_LINE_CHARS);
    this.#lines.push(line);
    if (!this.#confirmed && opensStack(line)) this.#confirmed = true;
    if (END_TRACE.test(line)) this.#ended = true;
    const detail = this.pattern.detail?.exec(line.trim());
    if (detail && Object.keys(this.#detail).length === 0) this.#detail = { ...detail.groups };
  }

  #sameContext(caller: string | null): boolean {
    if (this.#caller === null || caller === null || caller === this.#caller) return true;
    return this.#cpuBacktraces && caller.startsWith("C");
  }

  /** Another report started: its frames are not this report's. */
  close(): void {
    this.#closed = true;
  }

  /** The "Kernel panic - not syncing" line: ends the excerpt; its backtrace may still name the culprit. */
  panic(reason: string, display: string): void {
    if (this.#omitted > 0) this.#excerpt.push(`[... ${this.#omitted} lines omitted ...]`);
    this.#excerpt.push(display);
    this.#panicReason = reason;
    this.#cached = null;
  }

  snapshot(): CrashReport {
    this.#cached ??= this.#build();
    return { ...this.#cached, excerpt: [...this.#excerpt] };
  }

  #build(): CrashReport {
    const rule = this.pattern.culprit;
    const frame = headerFrame(this.#match) ?? (rule ? culpritFrame(this.#lines, rule) : null);
    const short = fillTitle(this.pattern.title, { ...this.#detail, ...this.#match.groups });
    const named = frame ? (frame.module ? `${frame.symbol} [${frame.module}]` : frame.symbol) : null;
    const wantsFunction = rule !== null || this.#match.groups.func !== undefined;
    return {
      title: named ? `${short} in ${named}` : short,
      crashClass: this.pattern.crashClass,
      frame: frame?.symbol ?? null,
      module: frame?.module ?? null,
      header: this.#header,
      lineIndex: this.#lineIndex,
      panic: this.panicked,
      panicReason: this.#panicReason,
      corrupted: this.pattern.corrupted === true || (wantsFunction && frame === null),
      excerpt: [],
    };
  }
}
