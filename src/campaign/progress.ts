import type { Outcome } from "../model/outcome-types.js";

/** What the progress display shows. */
export interface ProgressState {
  done: number;
  remaining: number;
  running: number;
  outcomes: Partial<Record<Outcome, number>>;
  elapsedMs: number;
}

function eta(s: ProgressState): string {
  if (s.done === 0 || s.remaining === 0) return "";
  const ms = (s.elapsedMs / s.done) * s.remaining;
  const m = Math.floor(ms / 60_000);
  const sec = Math.round((ms % 60_000) / 1000);
  return ` | ETA ${m > 0 ? `${m}m` : ""}${sec}s`;
}

/** One line of counts: "12/40 done, 2 running | contained-limited 10, no-effect 2 | ETA 3m12s". */
export function progressLine(s: ProgressState): string {
  const total = s.done + s.remaining;
  const counts = Object.entries(s.outcomes)
    .map(([o, n]) => `${o} ${n}`)
    .join(", ");
  return `${s.done}/${total} done, ${s.running} running${counts ? ` | ${counts}` : ""}${eta(s)}`;
}

/**
 * Progress on a terminal: a bar redrawn in place under the log lines. Elsewhere (CI logs, files): the
 * same counts as a plain line at most every `intervalMs`.
 */
export class ProgressReporter {
  private lastPlain = 0;
  private barShown = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly intervalMs = 10_000,
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  /** A log line, printed above the bar. */
  log(line: string): void {
    if (this.tty && this.barShown) this.out.write("\r\x1b[2K");
    this.out.write(`${line}\n`);
    this.barShown = false;
  }

  update(s: ProgressState): void {
    const text = progressLine(s);
    if (!this.tty) {
      const now = Date.now();
      if (now - this.lastPlain < this.intervalMs && s.remaining > 0) return;
      this.lastPlain = now;
      this.out.write(`progress: ${text}\n`);
      return;
    }
    const total = s.done + s.remaining;
    const width = 24;
    const filled = total === 0 ? width : Math.round((s.done / total) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`;
    this.out.write(`\r\x1b[2K${bar.slice(0, (this.out.columns ?? 120) - 1)}`);
    this.barShown = true;
  }

  stop(): void {
    if (this.tty && this.barShown) this.out.write("\n");
    this.barShown = false;
  }
}
