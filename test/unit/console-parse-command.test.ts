import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { type ConsoleParseResult, parseLogFile, run } from "../../src/cli/commands/console-parse.js";
import { ExitError, UsageError } from "../../src/util/errors.js";
import { expectOneFunction } from "./console-contract.js";

const ROOT = fileURLToPath(new URL("../fixtures/console/", import.meta.url));
const CRASH = path.join(ROOT, "qemu-tcg/kerncrash-process.log");
const CLEAN = path.join(ROOT, "qemu-tcg/segfault.log");

function allFixtures(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? allFixtures(path.join(dir, e.name))
      : e.name.endsWith(".log")
        ? [path.join(dir, e.name)]
        : [],
  );
}

describe("ezone console parse", () => {
  let out: MockInstance<typeof process.stdout.write>;
  beforeEach(() => {
    out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  });
  afterEach(() => out.mockRestore());
  const printed = (): string => out.mock.calls.map((c) => String(c[0])).join("");

  it("prints one JSON object per log, one line each, with the contract's top-level fields", async () => {
    await run([CRASH, CLEAN], { json: true });
    const lines = printed().trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    const [crash, clean] = lines.map((l) => JSON.parse(l) as ConsoleParseResult);
    expect(crash).toMatchObject({
      file: CRASH,
      crashed: true,
      title: "divide error in kerncrash_fire [kerncrash]",
      class: "divide-error",
      frame: "kerncrash_fire",
      module: "kerncrash",
      corrupted: false,
      panic: true,
    });
    expect(crash?.crash?.excerpt.length).toBeGreaterThan(0);
    expect(typeof crash?.heartbeats).toBe("number");
    expect(clean).toMatchObject({
      file: CLEAN,
      crashed: false,
      title: null,
      class: null,
      frame: null,
      module: null,
    });
  });

  it("names at most one function in every fixture's title and frame", async () => {
    for (const file of allFixtures(ROOT)) expectOneFunction(await parseLogFile(file));
  });

  it("exits 0 when the logs parsed, crash or not; 1 with --fail-on-crash when one crashed", async () => {
    await expect(run([CRASH], {})).resolves.toBeUndefined();
    await expect(run([CLEAN], { failOnCrash: true })).resolves.toBeUndefined();
    await expect(run([CLEAN, CRASH], { failOnCrash: true })).rejects.toEqual(new ExitError(1));
    expect(printed()).toContain("title  divide error in kerncrash_fire [kerncrash]");
  });

  it("says which log file it cannot read, in words, and prints nothing for the others", async () => {
    const missing = path.join(ROOT, "no-such.log");
    const failure = run([CRASH, missing], { json: true });
    await expect(failure).rejects.toBeInstanceOf(UsageError);
    await expect(failure).rejects.toThrow(
      `console parse: cannot read the console log ${missing}: no such file`,
    );
    await expect(run([ROOT], {})).rejects.toThrow("is a directory, not a log file");
    expect(printed()).toBe("");
  });
});
