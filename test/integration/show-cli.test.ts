import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Store } from "../../src/store/store.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";
import { storedRun } from "../helpers/report-fixtures.js";

let dir: string;
const KEY = "paper/qemu-tcg/kerncrash/abc/1";
const CONSOLE =
  "READY ezone-agent 1\n\x1b[2J[    2.1] divide error: 0000 [#1] SMP\nKernel panic - not syncing\n";

/** A results directory with one stored run, as `ezone run` leaves it. */
async function storeOneRun(resultsDir: string): Promise<void> {
  const {
    id: _id,
    outcome,
    reasons,
    stopReason: _s,
    crashTitle: _t,
    crashClass: _c,
    proof: _p,
    guestCrashed: _g,
    hostSurvived: _h,
    infraError: _i,
    ...fields
  } = storedRun("qemu-tcg", "contained-limited", {
    runKey: KEY,
    reasons: ["guest panicked", "host probes ok"],
  });
  using store = Store.open(resultsDir);
  store.ensureCampaign("paper", "{}", "h");
  await store.recordRun({
    ...fields,
    verdict: { outcome, reasons },
    artifacts: [
      { kind: "console", data: Buffer.from(CONSOLE), truncated: false },
      {
        kind: "control-events",
        data: Buffer.from('[{"name":"GUEST_PANICKED","atMs":2105}]'),
        truncated: false,
      },
    ],
  });
}

beforeAll(async () => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-show-"));
  await storeOneRun(join(dir, "results"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ezone show", () => {
  it("prints the run's verdict, reasons and the absolute paths of its console and QMP log", () => {
    const r = ezoneSync(dir, ["show", KEY, "--results", "results"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("verdict    contained-limited");
    expect(r.stdout).toContain("- host probes ok");
    expect(r.stdout).toMatch(
      new RegExp(
        `console log: ${join(dir, "results", "artifacts")}/[0-9a-f]{2}/[0-9a-f]{64} \\(\\d+ bytes\\)`,
      ),
    );
    expect(r.stdout).toMatch(/QMP \/ control events \(JSON\): \/\S+ \(39 bytes\)/);
  });

  it("--console prints the stored console with its escape sequences made visible", () => {
    const r = ezoneSync(dir, ["show", KEY, "--results", "results", "--console"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(CONSOLE.replace("\x1b", "\\x1b"));
  });

  it("an unknown key is exit 2 with the near matches", () => {
    const r = ezoneSync(dir, ["show", "qemu-tcg/kerncrash", "--results", "results"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no stored run with this key; did you mean: ${KEY}`);
  });

  it("a folder without results and a bad --max-bytes are exit 2", () => {
    expect(ezoneSync(dir, ["show", KEY, "--results", "."]).stderr).toContain("expected a results directory");
    const r = ezoneSync(dir, ["show", KEY, "--results", "results", "--console", "--max-bytes", "12"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("expected an integer >= 1024");
  });
});
