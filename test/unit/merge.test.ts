import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { shardDir } from "../../src/cluster/layout.js";
import { mergeShards } from "../../src/cluster/merge.js";
import { unmergedShards, warnUnmergedShards } from "../../src/cluster/shard-store.js";
import { writeSubmission } from "../../src/cluster/submission.js";
import type { Outcome } from "../../src/model/outcome-types.js";
import { DB_FILE, type RunRecord, Store } from "../../src/store/store.js";
import { UsageError } from "../../src/util/errors.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";
import { evidenceFor, FIXTURE_PARAMS } from "../helpers/report-fixtures.js";

const HASH = "a".repeat(64);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ezone-merge-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(key: string, host: string, outcome: Outcome = "contained-limited", console = key): RunRecord {
  return {
    campaign: "sharded",
    runKey: key,
    backend: "qemu-tcg",
    fault: "kerncrash",
    zone: 3,
    params: FIXTURE_PARAMS,
    repetition: Number(key.split("/").at(-1)),
    seed: "42",
    nonce: `n-${key}`,
    verdict: { outcome, reasons: [`${outcome} on ${host}`] },
    evidence: evidenceFor("kerncrash", 3, {
      probes: [{ probe: "taint", severity: "ok", before: "0", after: "0", threshold: "= 0", detail: "" }],
    }),
    startedAt: new Date("2026-01-01T10:00:00.000Z"),
    finishedAt: new Date("2026-01-01T10:00:07.000Z"),
    bootMs: 2000,
    detectionMs: 10,
    runMs: 7000,
    artifacts: [
      { kind: "console", data: Buffer.from(`READY\n${console}\nKernel panic\n`), truncated: false },
      { kind: "control-events", data: Buffer.from("[]"), truncated: false },
    ],
    provenance: {
      ezoneVersion: "0.1.0",
      ezoneCommit: null,
      backendVersion: "QEMU 7.2.22",
      kernelVersion: "6.1.0",
      imageHash: "f".repeat(64),
      kernelCmdline: "oops=panic",
      hostKernel: "6.1.0-cloud",
      hostname: host,
    },
  };
}

/** A shard store holding `runs`, registered under `hash`. */
async function shard(index: number, runs: RunRecord[], hash = HASH): Promise<void> {
  using store = Store.open(shardDir(dir, index));
  store.ensureCampaign("sharded", '{"name":"sharded"}', hash);
  for (const r of runs) await store.recordRun(r);
}

function query<T>(sql: string): T[] {
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** Every row of every table (ids left out: merge renumbers them), sorted: the store's content. */
function content(): string[] {
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    return tables
      .filter((t) => t !== "merged_shards")
      .flatMap((t) =>
        (db.prepare(`SELECT * FROM "${t}"`).all() as Record<string, unknown>[]).map((r) => {
          const { id: _id, found_at: _f, created_at: _c, ...rest } = r;
          return `${t} ${JSON.stringify(rest)}`;
        }),
      )
      .sort();
  } finally {
    db.close();
  }
}

function artifactFiles(): string[] {
  return readdirSync(join(dir, "artifacts"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe("ezone merge", () => {
  it("copies every run of every shard with its evidence, probes, artifacts and node", async () => {
    await shard(0, [run("sharded/a/0", "node-a"), run("sharded/a/1", "node-a", "escaped-global")]);
    await shard(1, [run("sharded/b/0", "node-b"), run("sharded/b/1", "node-c", "no-effect")]);
    const summary = await mergeShards(dir);
    expect(summary.conflicts).toEqual([]);
    expect(summary.shards.map((s) => s.inserted.runs)).toEqual([2, 2]);

    using store = Store.open(dir);
    const runs = store.runs({ campaign: "sharded" });
    expect(runs.map((r) => [r.runKey, r.provenance.hostname, r.outcome])).toEqual([
      ["sharded/a/0", "node-a", "contained-limited"],
      ["sharded/a/1", "node-a", "escaped-global"],
      ["sharded/b/0", "node-b", "contained-limited"],
      ["sharded/b/1", "node-c", "no-effect"],
    ]);
    for (const r of runs) {
      expect(store.probesFor(r.id)).toHaveLength(1);
      const console = store.artifactsFor(r.id).find((a) => a.kind === "console");
      expect(console?.path.startsWith(dir)).toBe(true);
    }
    expect(unmergedShards(dir)).toEqual([]);
  });

  it("is idempotent: a second merge changes nothing and copies no artifact", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    await shard(1, [run("sharded/b/0", "node-b")]);
    await mergeShards(dir);
    const first = content();
    const again = await mergeShards(dir);
    expect(content()).toEqual(first);
    expect(again.shards.every((s) => Object.keys(s.inserted).length === 0 && s.artifactsCopied === 0)).toBe(
      true,
    );
    // campaign, run, evidence, probe, provenance and two artifact rows per shard
    expect(again.shards.map((s) => s.identical)).toEqual([7, 7]);
  });

  it("copies an artifact two shards share once", async () => {
    await shard(0, [run("sharded/a/0", "node-a", "contained-limited", "same console")]);
    await shard(1, [run("sharded/b/0", "node-b", "contained-limited", "same console")]);
    const summary = await mergeShards(dir);
    // One console (shared) and one control-events file (shared): two files, copied once each.
    expect(summary.shards.map((s) => s.artifactsCopied)).toEqual([2, 0]);
    expect(artifactFiles()).toHaveLength(2);
  });

  it("the same run in two shards with the same content merges once (a requeued task)", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    await shard(1, [run("sharded/a/0", "node-a"), run("sharded/b/0", "node-b")]);
    const summary = await mergeShards(dir);
    expect(summary.conflicts).toEqual([]);
    expect(query<{ n: number }>("SELECT COUNT(*) AS n FROM runs")[0]?.n).toBe(2);
    expect(query<{ n: number }>("SELECT COUNT(*) AS n FROM probes")[0]?.n).toBe(2);
  });

  it("the same run key with different content is a conflict: kept, reported, never dropped silently", async () => {
    await shard(0, [run("sharded/a/0", "node-a", "contained-limited")]);
    await shard(1, [run("sharded/a/0", "node-b", "escaped-global")]);
    const summary = await mergeShards(dir);
    expect(summary.conflicts).toHaveLength(1);
    const [c] = summary.conflicts;
    expect(c?.table).toBe("runs");
    expect(c?.shard).toBe("shards/1");
    expect(JSON.parse(c?.key ?? "")).toEqual({ run_key: "sharded/a/0" });
    expect(JSON.parse(c?.kept ?? "").outcome).toBe("contained-limited");
    expect(JSON.parse(c?.shardRow ?? "").outcome).toBe("escaped-global");
    // The first shard's run is kept whole; none of the second's rows are mixed in.
    expect(query("SELECT hostname FROM provenance")).toEqual([{ hostname: "node-a" }]);
    expect(query<{ n: number }>("SELECT COUNT(*) AS n FROM evidence")[0]?.n).toBe(1);
    const again = await mergeShards(dir);
    expect(again.conflicts).toHaveLength(1);
    expect(again.shards[1]?.conflicts).toBe(0);
  });

  it("refuses shards of another campaign (config hash differs), naming both hashes, writing nothing", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    await shard(1, [run("sharded/b/0", "node-b")], "b".repeat(64));
    await expect(mergeShards(dir)).rejects.toThrow(UsageError);
    await expect(mergeShards(dir)).rejects.toThrow(new RegExp(`${"b".repeat(64)}.*${"a".repeat(64)}`));
    expect(query("SELECT * FROM runs")).toEqual([]);
  });

  it("refuses shards that do not match the Slurm submission record", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    writeSubmission(join(dir), {
      campaign: "sharded",
      configHash: "c".repeat(64),
      campaignFile: "/x/sharded.yaml",
      shards: 1,
      jobId: "7",
      script: "/x/job.sbatch",
      submittedAt: "2026-01-01T00:00:00Z",
    });
    await expect(mergeShards(dir)).rejects.toThrow(/config hash a{64}.*c{64}.*another campaign/);
  });

  it("merges a table another feature added, remapping its reference to the run", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    await shard(1, [run("sharded/b/0", "node-b"), run("sharded/b/1", "node-b")]);
    const db = new Database(join(shardDir(dir, 1), DB_FILE));
    db.exec(`CREATE TABLE golden (run_id INTEGER NOT NULL REFERENCES runs(id), bits TEXT NOT NULL);
             CREATE INDEX golden_run ON golden(run_id);
             INSERT INTO golden SELECT id, 'flip ' || run_key FROM runs;`);
    db.close();
    await mergeShards(dir);
    expect(
      query("SELECT r.run_key, g.bits FROM golden g JOIN runs r ON r.id = g.run_id ORDER BY r.run_key"),
    ).toEqual([
      { run_key: "sharded/b/0", bits: "flip sharded/b/0" },
      { run_key: "sharded/b/1", bits: "flip sharded/b/1" },
    ]);
    expect(query("SELECT name FROM sqlite_master WHERE name = 'golden_run'")).toHaveLength(1);
  });

  it("names the shards whose runs are not merged yet", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    await shard(1, [run("sharded/b/0", "node-b")]);
    expect(unmergedShards(dir)).toEqual([0, 1]);
    await mergeShards(dir);
    expect(unmergedShards(dir)).toEqual([]);
    await shard(1, [run("sharded/b/1", "node-b")]);
    expect(unmergedShards(dir)).toEqual([1]);
  });

  it("a report on unmerged shards says so, and says nothing once they are merged", async () => {
    await shard(0, [run("sharded/a/0", "node-a")]);
    const said: string[] = [];
    const out = { write: (s: string) => said.push(s) } as unknown as NodeJS.WritableStream;
    warnUnmergedShards(dir, out);
    expect(said.join("")).toMatch(/1 shard\(s\) of .* hold runs not merged yet \(shards\/0\).*ezone merge/);
    await mergeShards(dir);
    warnUnmergedShards(dir, out);
    expect(said).toHaveLength(1);
  });

  it("has nothing to merge without shards", async () => {
    await expect(mergeShards(dir)).rejects.toThrow(/no shard stores/);
  });
});

describe("ezone merge after kill -9", () => {
  it.each(["merge.artifacts-copied", "merge.before-commit"])(
    "killed at %s, merged again: the same store as an uninterrupted merge",
    async (point) => {
      requireBuiltCli();
      await shard(0, [run("sharded/a/0", "node-a"), run("sharded/a/1", "node-a")]);
      await shard(1, [run("sharded/b/0", "node-b")]);
      const killed = ezoneSync(dir, ["merge", dir], { EZONE_TEST_KILL_AT: point });
      expect(killed.signal).toBe("SIGKILL");
      expect(unmergedShards(dir)).toEqual([0, 1]);
      const resumed = ezoneSync(dir, ["merge", dir]);
      expect(resumed.stderr).toBe("");
      expect(resumed.code).toBe(0);
      const afterKill = content();
      rmSync(join(dir, DB_FILE));
      rmSync(join(dir, "artifacts"), { recursive: true });
      await mergeShards(dir);
      expect(afterKill).toEqual(content());
    },
  );
});
