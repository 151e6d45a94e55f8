import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasBinary } from "../helpers/capabilities.js";
import { eventually, expectNoQemuLeft, ezoneAsync, ezoneSync, requireBuiltCli } from "../helpers/cli.js";

let dir: string;

function campaignFile(name: string, body: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, body);
  return file;
}

/** Rows per table of a results database, checked for the exactly-once invariants. */
function tableCounts(results: string) {
  const db = new Database(join(results, "ezone.db"), { readonly: true });
  try {
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      results: count("SELECT COUNT(*) AS n FROM runs WHERE run_key NOT LIKE '%!infra-%'"),
      distinctKeys: count("SELECT COUNT(DISTINCT run_key) AS n FROM runs"),
      runs: count("SELECT COUNT(*) AS n FROM runs"),
      evidence: count("SELECT COUNT(*) AS n FROM evidence"),
      provenance: count("SELECT COUNT(*) AS n FROM provenance"),
      orphanEvidence: count("SELECT COUNT(*) AS n FROM evidence WHERE run_id NOT IN (SELECT id FROM runs)"),
      runsWithoutConsole: count(
        "SELECT COUNT(*) AS n FROM runs WHERE id NOT IN (SELECT run_id FROM artifacts WHERE kind = 'console')",
      ),
    };
  } finally {
    db.close();
  }
}

const savedTmpdir = process.env.TMPDIR;

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-resilience-"));
  // An ezone killed with -9 cannot remove its runs' scratch dirs (ezone-run-*, ezone-spare-*); the next
  // ezone sweeps them. The ones started here get a temp dir inside this test's, to check that.
  mkdirSync(join(dir, "tmp"));
  process.env.TMPDIR = join(dir, "tmp");
});
afterAll(() => {
  restoreEnv("TMPDIR", savedTmpdir);
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(hasBinary("qemu-system-x86_64"))("campaigns survive kill -9, Ctrl-C and a full disk", () => {
  it("kill -9 at 10 random moments and at each named point, then resume: every run stored exactly once", async () => {
    const reps = 5;
    const file = campaignFile(
      "killme",
      [
        "name: killme",
        `repetitions: ${reps}`,
        "backends: [qemu-tcg]",
        "faults: [{ name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]",
        "timeouts: { controlObserveSeconds: 1 }",
      ].join("\n"),
    );
    const results = join(dir, "results-killme");
    const args = ["run", file, "--results", results, "--jobs", "2"];
    // A fixed sequence of "random" moments (a seeded LCG), so a failure can be replayed.
    let seed = 20261126;
    const nextDelay = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return 300 + (seed % 7000);
    };
    for (let trial = 0; trial < 10; trial++) {
      const run = ezoneAsync(dir, args);
      const timer = setTimeout(() => run.child.kill("SIGKILL"), nextDelay());
      await run.exited;
      clearTimeout(timer);
      await expectNoQemuLeft();
    }
    for (const point of ["run.booted", "run.injected", "store.artifacts-written", "store.in-commit"]) {
      const run = ezoneAsync(dir, args, { EZONE_TEST_KILL_AT: point });
      const exit = await run.exited;
      if (tableCounts(results).results < reps)
        expect(exit.signal, `${point}: ${run.out.stderr}`).toBe("SIGKILL");
      await expectNoQemuLeft();
    }
    const last = ezoneSync(dir, args);
    expect(last.code, last.stderr).toBe(0);
    const counts = tableCounts(results);
    expect(counts.results).toBe(reps);
    expect(counts.distinctKeys).toBe(counts.runs);
    expect(counts.evidence).toBe(counts.runs);
    expect(counts.provenance).toBe(counts.runs);
    expect(counts.orphanEvidence).toBe(0);
    expect(counts.runsWithoutConsole).toBe(0);
    const again = ezoneSync(dir, args);
    expect(again.stdout).toContain(`0 run(s) executed, ${reps} already stored`);
    // The killed ezones' scratch dirs were swept by the ones that came after them.
    expect(readdirSync(join(dir, "tmp")).filter((n) => /^ezone-(run|spare)-/.test(n))).toEqual([]);
  }, 600_000);

  it("Ctrl-C abandons the running run (not stored) and exits 130; a second Ctrl-C kills at once", async () => {
    const file = campaignFile(
      "ctrlc",
      "name: ctrlc\nrepetitions: 3\nbackends: [qemu-tcg]\nfaults: [none]\ntimeouts: { controlObserveSeconds: 30 }\n",
    );
    const results = join(dir, "results-ctrlc");
    const once = ezoneAsync(dir, ["run", file, "--results", results, "--jobs", "1"]);
    await eventually(() => /1 running/.test(once.out.stderr), 60_000, "a run in flight");
    once.child.kill("SIGINT");
    const exit = await once.exited;
    expect(exit.code).toBe(130);
    expect(once.out.stderr).toContain("abandoning the running ones");
    expect(once.out.stdout).toMatch(/0 run\(s\) executed, 0 already stored, 1 abandoned \(not stored\)/);
    await expectNoQemuLeft();
    expect(tableCounts(results).runs).toBe(0);

    const twice = ezoneAsync(dir, ["run", file, "--results", results, "--jobs", "1"]);
    await eventually(() => /1 running/.test(twice.out.stderr), 60_000, "a run in flight");
    twice.child.kill("SIGINT");
    twice.child.kill("SIGINT");
    const exit2 = await twice.exited;
    expect(exit2.code).toBe(130);
    expect(twice.out.stderr).toMatch(/killing now|abandoning the running ones/);
    await expectNoQemuLeft();
  }, 240_000);

  it("a full disk under the artifacts stops the campaign (exit 3) with no partial row", async () => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === "true")
        throw new Error("CI=true: the disk-full test needs root to mount a tmpfs");
      return;
    }
    const file = campaignFile(
      "full",
      "name: full\nrepetitions: 2\nbackends: [qemu-tcg]\nfaults: [{ name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]\n",
    );
    const results = join(dir, "results-full");
    const artifacts = join(results, "artifacts");
    mkdirSync(artifacts, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4k", "ezone-test-full", artifacts]);
    try {
      const r = ezoneSync(dir, ["run", file, "--results", results, "--jobs", "1"]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/campaign stopped: cannot write results \(disk full\?\).*ENOSPC/);
      expect(tableCounts(results).runs).toBe(0);
      const leftovers = readdirSync(artifacts, { recursive: true }).filter((f) => String(f).includes(".tmp"));
      expect(leftovers).toEqual([]);
    } finally {
      execFileSync("umount", [artifacts]);
    }
    await expectNoQemuLeft();
  }, 180_000);
});
