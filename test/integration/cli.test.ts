import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";

let dir: string;
const ezone = (...args: string[]) => ezoneSync(dir, args);

function campaign(name: string, body: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bad campaign files: exit 2, one clear error, nothing written", () => {
  const cases: [string, string, RegExp][] = [
    [
      "unknown backend",
      "name: c1\nbackends: [qemu-tcg, xen-pv]\nfaults: [kerncrash]\n",
      /line 2, column 22: backends\[1\]: .*expected one of/,
    ],
    [
      "negative delay",
      "name: c2\nbackends: [qemu-tcg]\nfaults:\n  - name: kerncrash\n    trigger: { mode: boot-delay, delaySeconds: -3 }\n",
      /line 5, column 48: faults\[0\]\.trigger\.delaySeconds: .*>=0/,
    ],
    [
      "unknown key",
      "name: c3\nbackends: [qemu-tcg]\nfaults: [kerncrash]\nrepetitons: 5\n",
      /line 4, column 1: repetitons: unknown key 'repetitons'; did you mean 'repetitions'\?/,
    ],
    [
      "YAML syntax",
      "name: c4\nbackends: [qemu-tcg\n",
      /line 2, column 11: YAML syntax: this '\[' is never closed/,
    ],
  ];
  it.each(cases)("%s", (_what, body, message) => {
    const file = campaign(`bad-${_what.replace(/\W/g, "-")}`, body);
    const results = join(dir, "results-bad");
    const r = ezone("run", file, "--results", results);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(message);
    expect(existsSync(results)).toBe(false);
  });
});

describe("console parse", () => {
  it("names the crash, its class and the panic", () => {
    const r = ezone("console", "parse", resolve("test/fixtures/console/qemu-tcg/kerncrash-process.log"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("divide error in kerncrash_fire [kerncrash]");
    expect(r.stdout).toMatch(/class\s+divide-error/);
  });
  it("--json says when there is no crash", () => {
    const r = ezone("console", "parse", "--json", resolve("test/fixtures/console/qemu-tcg/sigenforce.log"));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ crashed: false, crash: null });
  });
  it("a missing file is a usage error", () => {
    const r = ezone("console", "parse", join(dir, "nope.log"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.log.*ENOENT/s);
  });
});

describe.runIf(hasBinary("qemu-system-x86_64"))("ezone run, real QEMU", () => {
  it("runs a campaign, prints the paper's table from stored runs, and a re-run repeats nothing", () => {
    const file = campaign(
      "mini",
      [
        "name: mini",
        "repetitions: 1",
        "backends: [qemu-tcg, { name: palacios, type: exec }]",
        "faults: [{ name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]",
      ].join("\n"),
    );
    const results = join(dir, "results-mini");
    const first = ezone("run", file, "--results", results);
    expect(first.stderr).not.toContain("internal error");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /\| QEMU \(TCG\) \| 1\s+\| 1\/1\s+\| 1\/1\s+\| 1\/1\s+\| contained-limited 1\/1/,
    );
    // Not the paper's campaign: Palacios, which could not run, has no row; the run says why instead.
    expect(first.stdout).not.toMatch(/\| Palacios/);
    expect(first.stdout + first.stderr).toContain("palacios: not runnable here — no such VMM installed");
    expect(first.stdout).toContain("1 run(s) executed, 0 already stored");

    const again = ezone("run", file, "--results", results, "--resume");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("0 run(s) executed, 1 already stored");
    expect(again.stdout).toMatch(/\| QEMU \(TCG\) \| 1\s+\|/);

    const gated = ezone("run", file, "--results", results, "--fail-on", "contained-limited,unknown");
    expect(gated.code).toBe(1);
    expect(gated.stderr).toContain("1 run(s) ended in contained-limited/unknown (--fail-on)");

    const exported = ezone("export", results, "--format", "jsonl");
    const key = JSON.parse(exported.stdout.split("\n")[0] as string).runKey as string;
    const rerun = ezone("rerun", key, "--results", results);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/stored +contained-limited[\s\S]*replayed contained-limited/);

    const report = ezone("report", results, "--json");
    expect(JSON.parse(report.stdout)[0].rows[0]).toMatchObject({
      backend: "qemu-tcg",
      runs: 1,
      proof: 1,
      hostSurvived: 1,
    });
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
  });

  it("a guest that cannot boot gives boot-error runs (retried once), not results, and exit code 3", () => {
    const file = campaign(
      "broken",
      "name: broken\nrepetitions: 1\nbackends: [qemu-tcg]\nfaults: [kerncrash]\nguest: { boot: fresh, kernelArgs: [rdinit=/nonexistent] }\n",
    );
    const r = ezone("run", file, "--results", join(dir, "results-broken"));
    expect(r.code).toBe(3);
    // The kernel's own last lines (its panic trace), bounded; the first attempt may instead be an
    // infra-error of a busy host's baseline probe, which the table counts apart.
    expect(r.stderr).toMatch(
      /boot-error — wait\.ready: enclave ended before READY \(exited with status \d+\); last console lines: \S/,
    );
    expect(r.stdout).toMatch(/\| QEMU \(TCG\) \| 0 \((\+2 boot-error|\+1 infra-error, \+1 boot-error)\)/);
  });
});
