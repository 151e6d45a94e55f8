import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasBinary } from "../helpers/capabilities.js";
import { expectNoQemuLeft, ezoneSync, requireBuiltCli } from "../helpers/cli.js";

let dir: string;
const EXAMPLE = resolve("examples/campaigns/bitflip.yaml");

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-bitflip-"));
});
afterAll(() => {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

interface Row {
  run_key: string;
  outcome: string;
  zone: number;
  soft_class: string | null;
  evidence_json: string;
}

/** How many of the stored runs' consoles carry the guest kernel's symbols (SOFT-KSYMS-END). */
function consolesWithKallsyms(results: string): number {
  const db = new Database(join(results, "ezone.db"), { readonly: true });
  try {
    const shas = db.prepare("SELECT sha256 FROM artifacts WHERE kind = 'console'").all() as {
      sha256: string;
    }[];
    return shas.filter(({ sha256 }) =>
      readFileSync(join(results, "artifacts", sha256.slice(0, 2), sha256), "latin1").includes(
        "SOFT-KSYMS-END",
      ),
    ).length;
  } finally {
    db.close();
  }
}

function stored(results: string): { runs: Row[]; goldens: { golden_key: string; recorded_at: string }[] } {
  const db = new Database(join(results, "ezone.db"), { readonly: true });
  try {
    const rows = db
      .prepare(
        "SELECT r.run_key, r.outcome, r.zone, r.soft_class, r.infra_error, e.evidence_json FROM runs r JOIN evidence e ON e.run_id = r.id",
      )
      .all() as (Row & { infra_error: string | null })[];
    // A busy shared host may fail a baseline probe (an infra-error, retried); the flip's own steps may not.
    const stepFailures = rows.filter((r) => /^(golden|flip)/.test(r.infra_error ?? ""));
    expect(stepFailures, JSON.stringify(stepFailures.map((r) => r.infra_error))).toEqual([]);
    return {
      runs: rows.filter((r) => !r.run_key.includes("!")),
      goldens: db.prepare("SELECT golden_key, recorded_at FROM golden_runs").all() as {
        golden_key: string;
        recorded_at: string;
      }[],
    };
  } finally {
    db.close();
  }
}

describe.runIf(hasBinary("qemu-system-x86_64"))("bit flips on qemu-tcg against a golden run", () => {
  it("classifies 32 seeded flips on six targets with their evidence; the golden run is reused on resume", async () => {
    const results = join(dir, "results");
    const first = ezoneSync(dir, ["run", EXAMPLE, "--results", results]);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const { runs, goldens } = stored(results);
    expect(runs).toHaveLength(32);
    expect(goldens).toHaveLength(1);
    for (const r of runs) {
      const ev = JSON.parse(r.evidence_json);
      // Every run has a class and the flip it comes from, read back as written.
      expect(r.soft_class, `${r.run_key}: ${r.outcome} ${JSON.stringify(ev.softError)}`).not.toBeNull();
      expect(ev.softError.flip.fired).toBe(true);
      expect(ev.softError.golden.digest).toMatch(/^[0-9a-f]{16}$/);
    }
    const classOf = (where: RegExp) =>
      runs
        .filter((r) => where.test(JSON.parse(r.evidence_json).softError.flip.where))
        .map((r) => r.soft_class);
    expect(classOf(/^physical /)).toContain("silent-data-corruption");
    expect(classOf(/^rip bit 63$/)).toEqual(["detected", "detected"]);
    // Every target got its flips, each placed where its target says: kernel flips at a listed symbol, zone 3.
    const byTarget = (t: string) =>
      runs.filter((r) => JSON.parse(r.evidence_json).softError.flip.target === t);
    for (const t of ["stack", "code", "kernel-text", "kernel-data"]) expect(byTarget(t)).toHaveLength(3);
    for (const r of [...byTarget("stack"), ...byTarget("code")]) {
      expect(r.zone).toBe(4);
      expect(JSON.parse(r.evidence_json).softError.flip.where).toMatch(/^physical 0x[0-9a-f]+ bit [0-7]$/);
    }
    for (const r of [...byTarget("kernel-text"), ...byTarget("kernel-data")]) {
      expect(r.zone).toBe(3);
      expect(JSON.parse(r.evidence_json).softError.flip.where).toMatch(
        /^\w+\+0x[0-9a-f]+ \(virtual 0xffffffff[0-9a-f]{8}, physical 0x[0-9a-f]+\) bit [0-7]$/,
      );
    }
    // The kernel's symbols are read once per snapshot (at most one console: the cache may hold them already).
    expect(consolesWithKallsyms(results)).toBeLessThanOrEqual(1);
    expect(first.stderr + first.stdout).toMatch(/\[silent-data-corruption\]/);

    // Remove each cell's first run (repetitions count from 1), keep the golden run, resume: it is read back, not measured again.
    const db = new Database(join(results, "ezone.db"));
    db.prepare("DELETE FROM artifacts WHERE run_id IN (SELECT id FROM runs WHERE run_key LIKE '%/1')").run();
    db.prepare("DELETE FROM evidence WHERE run_id IN (SELECT id FROM runs WHERE run_key LIKE '%/1')").run();
    db.prepare("DELETE FROM probes WHERE run_id IN (SELECT id FROM runs WHERE run_key LIKE '%/1')").run();
    db.prepare("DELETE FROM provenance WHERE run_id IN (SELECT id FROM runs WHERE run_key LIKE '%/1')").run();
    db.prepare("DELETE FROM runs WHERE run_key LIKE '%/1'").run();
    db.close();
    const again = ezoneSync(dir, ["run", EXAMPLE, "--results", results, "--resume"]);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    expect(again.stderr + again.stdout).not.toMatch(/golden run .*: digest/);
    expect(again.stderr + again.stdout).toMatch(/7 run\(s\) executed, 25 already stored/);
    const after = stored(results);
    expect(after.runs).toHaveLength(32);
    expect(after.goldens).toEqual(goldens);
    await expectNoQemuLeft();
  }, 240_000);
});
