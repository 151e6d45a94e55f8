import { readFile, stat } from "node:fs/promises";
import { type CrashReport, parseConsoleLog } from "../../monitor/console-parser.js";
import { ExitError, UsageError } from "../../util/errors.js";
import { escapeControl } from "../../util/escape.js";

export interface ConsoleParseOptions {
  json?: boolean;
  /** Exit 1 when any log shows a crash (for scripts); otherwise a parsed log exits 0 crash or not. */
  failOnCrash?: boolean;
}

/**
 * The `--json` contract (docs/console-parse.md): one object per log, one line each. The top-level
 * fields summarise the first report; `crash` keeps the full report (excerpt, header, panic reason).
 */
export interface ConsoleParseResult {
  file: string;
  crashed: boolean;
  title: string | null;
  class: string | null;
  frame: string | null;
  module: string | null;
  corrupted: boolean;
  panic: boolean;
  crash: CrashReport | null;
  heartbeats: number;
  faultEvents: unknown[];
  lines: number;
}

/** Why a log file cannot be read, in words (the errno code alone says little to a user). */
function unreadable(file: string, e: NodeJS.ErrnoException): UsageError {
  const why: Record<string, string> = {
    ENOENT: "no such file",
    EACCES: "permission denied",
    EISDIR: "is a directory, not a log file",
  };
  const words = why[e.code ?? ""];
  const reason = words && e.code ? `${words} (${e.code})` : (e.code ?? e.message);
  return new UsageError(`console parse: cannot read the console log ${file}: ${reason}`, { cause: e });
}

/** Parse one log file into the `--json` contract. */
export async function parseLogFile(file: string): Promise<ConsoleParseResult> {
  const data = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw unreadable(file, e);
  });
  const r = parseConsoleLog(data);
  const c = r.crash;
  return {
    file,
    crashed: c !== null,
    title: c?.title ?? null,
    class: c?.crashClass ?? null,
    frame: c?.frame ?? null,
    module: c?.module ?? null,
    corrupted: c?.corrupted ?? false,
    panic: c?.panic ?? false,
    crash: c,
    heartbeats: r.events.filter((e) => e.kind === "hb").length,
    faultEvents: r.events.filter((e) => e.kind === "fired" || e.kind === "proof"),
    lines: r.lines,
  };
}

function describe(r: ConsoleParseResult): string {
  const c = r.crash;
  if (!c) return `${r.file}: no kernel crash (${r.lines} lines, ${r.heartbeats} heartbeats)\n`;
  const panic = c.panic ? `yes${c.panicReason ? `: ${escapeControl(c.panicReason)}` : ""}` : "no";
  return (
    `${r.file}: kernel crash\n  title  ${escapeControl(c.title)}\n  class  ${c.crashClass}\n` +
    `  frame  ${c.frame === null ? "-" : escapeControl(c.frame)}${c.module ? ` [${escapeControl(c.module)}]` : ""}\n` +
    `  panic  ${panic}\n` +
    (c.corrupted ? "  note   report is truncated or corrupted\n" : "") +
    `\n${c.excerpt.map((l) => `  ${escapeControl(l)}`).join("\n")}\n`
  );
}

/**
 * `ezone console parse <log>...`: does each saved console log show a kernel crash? Which one? Every file
 * is checked for readability first, so a typo in the tenth name prints nothing half-done.
 */
export async function run(files: string[], opts: ConsoleParseOptions): Promise<void> {
  for (const file of files) {
    const info = await stat(file).catch((e: NodeJS.ErrnoException) => {
      throw unreadable(file, e);
    });
    if (info.isDirectory()) throw unreadable(file, Object.assign(new Error("EISDIR"), { code: "EISDIR" }));
  }
  let crashes = 0;
  for (const file of files) {
    const r = await parseLogFile(file);
    if (r.crashed) crashes++;
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : describe(r));
  }
  if (opts.failOnCrash && crashes > 0) throw new ExitError(1);
}
