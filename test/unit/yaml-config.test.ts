import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { loadCampaign } from "../../src/campaign/load.js";
import { resultsDirProblem } from "../../src/store/results-dir.js";
import { closest, editDistance } from "../../src/util/did-you-mean.js";
import { ConfigError } from "../../src/util/errors.js";
import { commandFor, configKindOf, parseYamlConfig } from "../../src/util/yaml-config.js";

const tmp = mkdtempSync(join(tmpdir(), "ezone-yaml-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function issuesOf(run: () => unknown): ConfigError["issues"] {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("did you mean", () => {
  it.each([
    ["kitten", "sitting", 3],
    ["qemu-tgc", "qemu-tcg", 1],
    ["repetitons", "repetitions", 1],
    ["", "abc", 3],
    ["same", "same", 0],
  ])("editDistance(%s, %s) = %i", (a, b, d) => expect(editDistance(a, b)).toBe(d));

  it.each([
    ["repetitons", ["name", "repetitions", "results"], "repetitions"],
    ["QEMU-TCG", ["qemu-tcg", "uml"], "qemu-tcg"],
    ["quarantine", ["retries", "quarantineAfter"], "quarantineAfter"],
    ["x", ["a", "b"], undefined],
    ["backend", ["faults", "guest"], undefined],
    // A prefix of several candidates names none of them.
    ["boot", ["bootSeconds", "bootDelay"], undefined],
  ] as const)("closest(%s) is %s", (input, candidates, expected) =>
    expect(closest(input, candidates)).toBe(expected),
  );
});

const schema = z.strictObject({
  name: z.string(),
  items: z.array(z.strictObject({ size: z.number(), mode: z.enum(["fast", "slow"]) })).default([]),
});
const parse = (text: string) => parseYamlConfig(text, "t.yaml", schema, "campaign");

describe("parseYamlConfig", () => {
  it("accepts honest reuse through anchors and aliases", () => {
    const c = parse("name: a\nitems:\n  - &i { size: 1, mode: fast }\n  - *i\n  - *i\n");
    expect(c.items).toHaveLength(3);
  });

  it("reports a misspelt key once, at its own line, not also as the key it misspells being missing", () => {
    const issues = issuesOf(() => parse("name: a\nitems:\n  - mode: fast\n    sise: 2\n"));
    expect(issues).toEqual([
      { path: "line 4, column 5: items[0].sise", message: "unknown key 'sise'; did you mean 'size'?" },
    ]);
  });

  it("points at a list or mapping by its key, since a block collection starts on the next line", () => {
    const issues = issuesOf(() => parse("name: a\nitems:\n  size: 1\n"));
    expect(issues[0]?.path).toBe("line 2, column 1: items");
  });

  it("finds where an unclosed quote opened, past apostrophes inside plain words", () => {
    const issues = issuesOf(() => parse("name: don't\nitems: []\nnote: 'never closed\nmore: 1\n"));
    expect(issues[0]).toEqual({ path: "line 3, column 7", message: "YAML syntax: this ''' is never closed" });
  });

  it("refuses more keys and values than any config has, at the first one past the limit", () => {
    const text = `name: a\nitems:\n${"  - { size: 1, mode: fast }\n".repeat(5000)}`;
    const issues = issuesOf(() => parse(text));
    expect(issues).toEqual([
      { path: "line 4002, column 5", message: "more than 20000 keys and values: not a config file" },
    ]);
  });

  it("bounds the list of problems", () => {
    const text = `name: a\n${Array.from({ length: 30 }, (_, i) => `k${i}: 1`).join("\n")}\n`;
    const issues = issuesOf(() => parse(text));
    expect(issues).toHaveLength(21);
    expect(issues.at(-1)?.message).toBe("… and 10 more problems");
  });
});

describe("config kinds", () => {
  it.each([
    ["name: c\nbackends: [uml]\nfaults: [kerncrash]\n", "campaign"],
    ["name: m\nsyslog: {}\nenclaves: []\n", "monitor"],
    ["name: m\nenclaves: []\n", "monitor"],
    ["name: x\n", undefined],
  ])("%j is %s", (text, kind) => expect(configKindOf(text, "t.yaml")).toBe(kind));

  it("quotes a file name for the shell only when it needs it", () => {
    expect(commandFor("campaign", "examples/campaigns/paper.yaml")).toBe(
      "ezone run examples/campaigns/paper.yaml",
    );
    expect(commandFor("monitor", "my watch.yaml")).toBe("ezone monitor --config 'my watch.yaml'");
  });
});

describe("results directory", () => {
  it("may be created, and may hold an ezone database", () => {
    expect(resultsDirProblem(join(tmp, "new", "deeper"))).toBeUndefined();
    mkdirSync(join(tmp, "db"));
    writeFileSync(
      join(tmp, "db", "ezone.db"),
      Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(84)]),
    );
    expect(resultsDirProblem(join(tmp, "db"))).toBeUndefined();
  });

  it("may not be a file, lie under one, or hold something else as its database", () => {
    writeFileSync(join(tmp, "file"), "x");
    expect(resultsDirProblem(join(tmp, "file"))).toBe("exists and is not a directory");
    expect(resultsDirProblem(join(tmp, "file", "sub"))).toBe(`${join(tmp, "file")} is not a directory`);
    mkdirSync(join(tmp, "junk"));
    writeFileSync(join(tmp, "junk", "ezone.db"), "not a database");
    expect(resultsDirProblem(join(tmp, "junk"))).toMatch(/ezone\.db is not an ezone results database/);
  });

  it("is reported at the campaign's results key", () => {
    const file = join(tmp, "c.yaml");
    writeFileSync(file, "name: c\nbackends: [uml]\nfaults: [kerncrash]\nresults: c.yaml/sub\n");
    const issues = issuesOf(() => loadCampaign(file));
    expect(issues[0]?.path).toBe("line 4, column 10: results");
  });
});
