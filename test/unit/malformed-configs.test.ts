/**
 * Every malformed config in test/fixtures/configs/malformed/ through the CLI, in process: `ezone validate`
 * exits 2 and reports the problem at the line the fixture's header names (`# line N: <regex>`); the
 * command that would use the file (`run`, `monitor --config`) exits 2 as well, never 70. File-level
 * problems (a missing path, a directory, an oversize file) have no line. Mangled examples give config
 * errors and nothing else.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseCampaign } from "../../src/campaign/load.js";
import { main } from "../../src/cli/main.js";
import { parseMonitorConfig } from "../../src/monitor-daemon/monitor-config.js";
import { ConfigError } from "../../src/util/errors.js";
import { MAX_CONFIG_BYTES } from "../../src/util/yaml-config.js";

const DIR = "test/fixtures/configs/malformed";
const HEADER = /^# line (\d+): (.*)$/m;

/** Run the CLI in this process, capturing what it prints. */
async function ezone(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: "", stderr: "" };
  const capture = (stream: "stdout" | "stderr") =>
    vi.spyOn(process[stream], "write").mockImplementation((chunk: string | Uint8Array) => {
      out[stream] += String(chunk);
      return true;
    });
  const spies = [capture("stdout"), capture("stderr")];
  try {
    return { code: await main(args), ...out };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .map((name) => {
    // latin1: the binary fixtures must still yield their (ASCII) header.
    const header = HEADER.exec(readFileSync(join(DIR, name), "latin1"));
    if (!header) throw new Error(`${DIR}/${name}: the first line must be "# line N: <regex>"`);
    return { name, line: Number(header[1]), expected: header[2] ?? "" };
  });

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "ezone-malformed-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("malformed configs: exit 2 and the line of the offending key or value", () => {
  it("the corpus has at least 40 cases", () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases)("$name: line $line", async ({ name, line, expected }) => {
    const file = join(DIR, name);
    const r = await ezone("validate", file);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`ezone: invalid input: ${file}\n`);
    expect(r.stderr).toMatch(new RegExp(`^ {2}line ${line}, column \\d+: .*${expected}`, "m"));
    // Only once validate has refused it: the command that would use the file refuses it too.
    const results = join(tmp, "results");
    const used = name.startsWith("monitor-")
      ? await ezone("monitor", "--config", file)
      : await ezone("run", file, "--results", results);
    expect(used.code, used.stderr).toBe(2);
    expect(used.stderr).toContain(file);
    expect(existsSync(results)).toBe(false);
  });

  it.each([
    ["a missing path", () => join(tmp, "nowhere.yaml"), /\(file\): no such file/],
    [
      "a directory",
      () => {
        mkdirSync(join(tmp, "dir.yaml"));
        return join(tmp, "dir.yaml");
      },
      /\(file\): is a directory/,
    ],
    [
      "a FIFO nothing writes to (no hang)",
      () => {
        execFileSync("mkfifo", [join(tmp, "fifo.yaml")]);
        return join(tmp, "fifo.yaml");
      },
      /\(file\): empty \(or a pipe nothing wrote to\)/,
    ],
    [
      "an oversize file",
      () => {
        writeFileSync(join(tmp, "big.yaml"), `name: c\n#${"x".repeat(MAX_CONFIG_BYTES)}\n`);
        return join(tmp, "big.yaml");
      },
      new RegExp(`\\(file\\): larger than ${MAX_CONFIG_BYTES} bytes`),
    ],
  ] as const)("%s", async (_what, make, message) => {
    const r = await ezone("validate", make());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe("config kinds: each file is sent to the command that takes it", () => {
  it("validate recognises a monitor config and names `ezone monitor --config`", async () => {
    const r = await ezone("validate", "examples/monitor/monitor.yaml");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("ok, a monitor config (2 enclave(s))");
    expect(r.stdout).toContain("`ezone monitor --config examples/monitor/monitor.yaml`");
  });

  it("validate says a campaign is for `ezone run`", async () => {
    const r = await ezone("validate", "examples/campaigns/paper.yaml");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("ok, a campaign (3 backend(s), 1 fault(s), 5 repetition(s))");
    expect(r.stdout).toContain("`ezone run examples/campaigns/paper.yaml`");
  });

  it("run refuses a monitor config at its first monitor key, naming the command that takes it", async () => {
    const r = await ezone("run", "examples/monitor/monitor.yaml", "--results", join(tmp, "never"));
    expect(r.code).toBe(2);
    const syslogLine =
      readFileSync("examples/monitor/monitor.yaml", "utf8").split("\n").indexOf("syslog:") + 1;
    expect(r.stderr).toContain(
      `line ${syslogLine}, column 1: (root): this is a monitor config, not a campaign: use \`ezone monitor --config examples/monitor/monitor.yaml\``,
    );
  });

  it("monitor refuses a campaign, naming `ezone run`", async () => {
    const r = await ezone("monitor", "--config", "examples/campaigns/paper.yaml");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /this is a campaign, not a monitor config: use `ezone run examples\/campaigns\/paper.yaml`/,
    );
  });
});

describe("no input makes the loaders fail with anything but a config error", () => {
  /** A small deterministic generator (LCG), so a failure replays. */
  function random(seed: number): (n: number) => number {
    let state = seed;
    return (n) => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state % n;
    };
  }
  const ALPHABET = [
    "[",
    "]",
    "{",
    "}",
    ":",
    "-",
    "&a",
    "*a",
    "!",
    "|",
    ">",
    "'",
    '"',
    "#",
    "\t",
    "\n",
    "\0",
    "\\",
    "? ",
    "---\n",
    "0",
    "é",
    "\u202e",
    "<<: *a",
  ];

  function mutate(text: string, pick: (n: number) => number): string {
    let out = text;
    for (let k = 1 + pick(4); k > 0; k--) {
      const at = pick(out.length + 1);
      const op = pick(3);
      if (op === 0) out = out.slice(0, at) + out.slice(at + 1 + pick(8));
      else if (op === 1) out = out.slice(0, at) + ALPHABET[pick(ALPHABET.length)] + out.slice(at);
      else out = out.slice(0, at) + out.slice(pick(out.length), pick(out.length)) + out.slice(at);
    }
    return out;
  }

  it.each([
    ["examples/campaigns/paper.yaml", parseCampaign],
    ["examples/monitor/monitor.yaml", parseMonitorConfig],
  ] as const)("%s mutated 300 ways", (file, parse) => {
    const text = readFileSync(file, "utf8");
    const pick = random(file.length);
    for (let i = 0; i < 300; i++) {
      const mutated = mutate(text, pick);
      try {
        parse(mutated, file);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw new Error(`mutation ${i}: ${e}\n${JSON.stringify(mutated)}`);
      }
    }
  });
});
