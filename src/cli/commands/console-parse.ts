import { readFile } from "node:fs/promises";
import { parseConsoleLog } from "../../monitor/console-parser.js";
import { ConfigError } from "../../util/errors.js";
import { escapeControl } from "../../util/escape.js";

export interface ConsoleParseOptions {
  json?: boolean;
}

/** `ezone console parse <log>`: does a saved console log show a kernel crash? Which one? */
export async function run(file: string, opts: ConsoleParseOptions): Promise<void> {
  const data = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(file, [{ path: "", message: `cannot read: ${e.code ?? e.message}` }]);
  });
  const r = parseConsoleLog(data);
  const fired = r.events.filter((e) => e.kind === "fired" || e.kind === "proof");
  const heartbeats = r.events.filter((e) => e.kind === "hb").length;
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ file, crashed: r.crash !== null, crash: r.crash, heartbeats, faultEvents: fired, lines: r.lines }, null, 2)}\n`,
    );
    return;
  }
  if (!r.crash) {
    process.stdout.write(`${file}: no kernel crash (${r.lines} lines, ${heartbeats} heartbeats)\n`);
    return;
  }
  const c = r.crash;
  process.stdout.write(
    `${file}: kernel crash\n  title  ${escapeControl(c.title)}\n  class  ${c.crashClass}\n  panic  ${c.panic ? `yes${c.panicReason ? `: ${escapeControl(c.panicReason)}` : ""}` : "no"}\n` +
      (c.corrupted ? "  note   report is truncated or corrupted\n" : "") +
      `\n${c.excerpt.map((l) => `  ${escapeControl(l)}`).join("\n")}\n`,
  );
}
