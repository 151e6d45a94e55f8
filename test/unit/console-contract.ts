import { expect } from "vitest";
import type { ConsoleParseResult } from "../../src/cli/commands/console-parse.js";

/**
 * The contract's promise that a title names at most one function: the frame is one identifier, the
 * title ends with it (and its module), and nothing before it lists another frame.
 */
export function expectOneFunction(r: Pick<ConsoleParseResult, "title" | "frame" | "module">): void {
  const title = r.title ?? "";
  expect(title).not.toMatch(/\+0x[0-9a-f]+/);
  expect(title).not.toMatch(/ \/ /);
  if (r.frame === null) return;
  expect(r.frame).toMatch(/^[A-Za-z_$][\w.$]*$/);
  const suffix = ` in ${r.frame}${r.module ? ` [${r.module}]` : ""}`;
  expect(title.endsWith(suffix), title).toBe(true);
  expect(title.slice(0, -suffix.length)).not.toContain(" in ");
}
