import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OUTCOMES, type Outcome, type RunEvidence } from "../../src/model/outcome-types.js";
import { artifactPath, readArtifact, writeArtifact } from "../../src/store/artifacts.js";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/schema.js";
import { ArtifactWriteError, DB_FILE, type RunRecord, Store } from "../../src/store/store.js";
import { evidenceFor, FIXTURE_PARAMS } from "../helpers/report-fixtures.js";

const TABLES = [
  "artifacts",
  "campaigns",
  "evidence",
  "golden_runs",
  "perf_blocks",
  "perf_results",
  "probes",
  "provenance",
  "runs",
  "statements",
  "violations",
] as const;

/** Row counts after one `record()` run: 2 artifacts, 3 probes, one of everything else. */
const ONE_RUN_ROWS = {
  artifacts: 2,
  campaigns: 1,
  evidence: 1,
  golden_runs: 0,
  perf_blocks: 0,
  perf_results: 0,
  probes: 3,
  provenance: 1,
  runs: 1,
  statements: 0,
  violations: 0,
};

let dir: string;
const open: Store[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ezone-store-"));
});

afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

function openStore(): Store {
  const store = Store.open(dir);
  open.push(store);
  return store;
}

/** A second, raw connection to the results db, for checks the Store API does not expose. */
function rawDb(): Database.Database {
  return new Database(join(dir, DB_FILE));
}

function rowCounts(): Record<(typeof TABLES)[number], number> {
  const db = rawDb();
  try {
    const counts = {} as Record<(typeof TABLES)[number], number>;
    for (const t of TABLES) counts[t] = db.prepare(`SELECT count(*) AS n FROM ${t}`).pluck().get() as number;
    return counts;
  } finally {
    db.close();
  }
}

function evidence(overrides: Partial<RunEvidence> = {}): RunEvidence {
  return evidenceFor("kerncrash", 3, {
    probes: [
      { probe: "fork-exec-ms", severity: "ok", before: 1.5, after: 1.7, threshold: "< 50", detail: "" },
      { probe: "taint", severity: "ok", before: "0", after: "0", threshold: "= 0", detail: "unchanged" },
      { probe: "bystander", severity: "ok", before: null, after: null, threshold: "alive", detail: "n/a" },
    ],
    ...overrides,
  });
}

function record(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    campaign: "paper",
    runKey: "paper/qemu-tcg/kerncrash/{}/0",
    backend: "qemu-tcg",
    fault: "kerncrash",
    zone: 3,
    params: FIXTURE_PARAMS,
    repetition: 0,
    seed: "42",
    nonce: "n-0001",
    verdict: { outcome: "contained-limited", reasons: ["guest panicked", "host probes ok"] },
    evidence: evidence(),
    startedAt: new Date("2024-05-01T10:00:00.000Z"),
    finishedAt: new Date("2024-05-01T10:00:07.250Z"),
    bootMs: 2100.5,
    detectionMs: 12.25,
    runMs: 7250,
    artifacts: [
      {
        kind: "console",
        data: Buffer.from("READY\nFIRED kerncrash n-0001\nKernel panic\n"),
        truncated: false,
      },
      { kind: "qmp", data: Buffer.from('{"event":"GUEST_PANICKED"}\n'), truncated: false },
    ],
    provenance: {
      ezoneVersion: "0.1.0",
      ezoneCommit: "abc1234",
      backendVersion: "QEMU 7.2.22",
      kernelVersion: "6.1.0-37-amd64",
      imageHash: "f".repeat(64),
      kernelCmdline: "console=ttyS0 panic=-1 oops=panic quiet",
      hostKernel: "6.1.0-37-cloud-amd64",
      hostname: "node1",
    },
    ...overrides,
  };
}

describe("schema", () => {
  it("creates every table, WAL and user_version on open", () => {
    openStore();
    const db = rawDb();
    try {
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .pluck()
        .all();
      expect(tables).toEqual([...TABLES]);
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("reopens a migrated database without re-running migrations", () => {
    openStore().ensureCampaign("paper", "{}", "h1");
    const again = openStore();
    expect(again.ensureCampaign("paper", "{}", "h1")).toBe(1);
  });

  it("refuses a database written by a newer ezone", () => {
    openStore().close();
    const db = rawDb();
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openStore()).toThrow(/newer than this ezone supports/);
  });

  it("CHECK accepts exactly the outcomes of OUTCOMES and rejects anything else", () => {
    const store = openStore();
    const campaignId = store.ensureCampaign("paper", "{}", "h");
    const db = rawDb();
    const insert = db.prepare(
      `INSERT INTO runs (campaign_id, run_key, backend, fault, zone, params_json, repetition, seed, nonce,
         outcome, reasons_json, started_at, finished_at, run_ms, stop_reason, proof, guest_crashed)
       VALUES (?, ?, 'qemu-tcg', 'kerncrash', 3, '{}', 0, '1', 'n', ?, '[]', 't', 't', 1, 'aborted', 0, 0)`,
    );
    try {
      for (const outcome of OUTCOMES)
        expect(() => insert.run(campaignId, `k-${outcome}`, outcome)).not.toThrow();
      expect(() => insert.run(campaignId, "k-bogus", "crashed")).toThrow(/CHECK constraint failed/);
      expect(db.prepare("SELECT count(*) FROM runs").pluck().get()).toBe(OUTCOMES.length);
    } finally {
      db.close();
    }
  });
});

describe("Store.recordRun", () => {
  it("inserts a run and reads it back typed, with derived columns", async () => {
    const store = openStore();
    store.ensureCampaign("paper", '{"name":"paper"}', "h1");
    const rec = record();
    expect(store.hasRun(rec.runKey)).toBe(false);
    expect(await store.recordRun(rec)).toBe("inserted");
    expect(store.hasRun(rec.runKey)).toBe(true);

    const [run, ...rest] = store.runs();
    expect(rest).toEqual([]);
    // Every field given comes back as given; then the columns the store derives from the evidence.
    const { verdict, artifacts: _artifacts, ...given } = rec;
    expect(run).toMatchObject({
      ...given,
      outcome: verdict.outcome,
      reasons: verdict.reasons,
      stopReason: "guest-panic",
      crashTitle: "divide error in kerncrash_fire",
      crashClass: "divide-error",
      proof: true,
      guestCrashed: true,
      hostSurvived: true,
      infraError: null,
    });
    if (run === undefined) throw new Error("no run");

    // Probe values keep their type: a number stays a number, a string a string, null null.
    expect(store.probesFor(run.id)).toEqual(rec.evidence.probes);

    const artifacts = store.artifactsFor(run.id);
    expect(artifacts.map((a) => [a.kind, a.bytes, a.truncated])).toEqual([
      ["console", rec.artifacts[0]?.data.length, false],
      ["qmp", rec.artifacts[1]?.data.length, false],
    ]);
    for (const [i, a] of artifacts.entries()) {
      expect(a.path).toBe(artifactPath(dir, a.sha256));
      expect(await readArtifact(dir, a.sha256)).toEqual(rec.artifacts[i]?.data);
    }
  });

  it("derives host_survived from failed probes, and leaves it null for infra-error", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    const harmed = evidence({
      guestCrash: null,
      panicEvent: false,
      probes: [{ probe: "taint", severity: "failed", before: 0, after: 4096, threshold: "= 0", detail: "W" }],
    });
    await store.recordRun(
      record({ runKey: "harmed", verdict: { outcome: "escaped-global", reasons: [] }, evidence: harmed }),
    );
    const infra = evidence({
      infraError: "qemu did not start",
      ready: false,
      proof: false,
      guestCrash: null,
      panicEvent: false,
    });
    await store.recordRun(
      record({ runKey: "infra", verdict: { outcome: "infra-error", reasons: [] }, evidence: infra }),
    );

    const byKey = new Map(store.runs().map((r) => [r.runKey, r]));
    expect(byKey.get("harmed")).toMatchObject({ hostSurvived: false, guestCrashed: false, crashTitle: null });
    expect(byKey.get("infra")).toMatchObject({
      hostSurvived: null,
      infraError: "qemu did not start",
      proof: false,
    });
  });

  it("counts a run key once: the second record is a duplicate and adds no row anywhere", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    expect(await store.recordRun(record())).toBe("inserted");
    expect(await store.recordRun(record({ nonce: "other" }))).toBe("duplicate");
    expect(rowCounts()).toEqual(ONE_RUN_ROWS);
    expect(store.runs()[0]?.nonce).toBe("n-0001");
  });

  it("stores a run's syslog violations with it, under its key, once", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    const v = {
      enclave: "victim",
      kind: "enclave-exit",
      detail: "EXIT: enclave ended: signal SIGKILL",
      lastHeartbeatAt: 1_000,
      firstMissedHeartbeatAt: 1_250,
      sourceAt: 1_100,
      detectedAt: 1_200,
      evidence: ["EXIT: enclave ended: signal SIGKILL"],
    };
    expect(await store.recordRun(record({ violations: [v] }))).toBe("inserted");
    expect(await store.recordRun(record({ violations: [v, v] }))).toBe("duplicate");
    const [stored, ...more] = store.runViolations(record().runKey);
    expect(more).toEqual([]);
    expect(stored).toMatchObject({ ...v, monitor: `run:${record().runKey}` });
    expect(store.runViolations("another/run")).toEqual([]);
  });

  it("resolves a race on one run key through ON CONFLICT: one inserted, one duplicate", async () => {
    const a = openStore();
    const b = openStore();
    a.ensureCampaign("paper", "{}", "h");
    // Both pass the hasRun fast path before either commits (artifact writes are awaited in between).
    const results = await Promise.all([a.recordRun(record()), b.recordRun(record())]);
    expect(results.sort()).toEqual(["duplicate", "inserted"]);
    expect(rowCounts()).toEqual(ONE_RUN_ROWS);
  });

  it("rejects an unknown outcome before writing anything", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    const bad = record({ verdict: { outcome: "crashed" as Outcome, reasons: [] } });
    await expect(store.recordRun(bad)).rejects.toThrow(/verdict.outcome "crashed" is not one of/);
    expect(rowCounts().runs).toBe(0);
    await expect(readdir(join(dir, "artifacts"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("rejects a record whose fault disagrees with its evidence", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    await expect(store.recordRun(record({ fault: "segfault" }))).rejects.toThrow(
      /fault "segfault" differs from evidence.fault "kerncrash"/,
    );
  });

  it("rejects a run of an unregistered campaign", async () => {
    const store = openStore();
    await expect(store.recordRun(record())).rejects.toThrow(/campaign "paper" is not registered/);
  });

  it("commits no row when the artifacts directory cannot be created (ENOTDIR)", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    await writeFile(join(dir, "artifacts"), "a regular file where the artifacts dir should be");
    const err = await store.recordRun(record()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactWriteError);
    expect((err as ArtifactWriteError).cause).toMatchObject({ code: "ENOTDIR" });
    expect(store.hasRun(record().runKey)).toBe(false);
    expect(rowCounts()).toMatchObject({ runs: 0, evidence: 0, probes: 0, artifacts: 0, provenance: 0 });
  });

  it("removes the temp file and commits no row when the rename fails", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    const rec = record();
    const consoleData = rec.artifacts[0]?.data ?? Buffer.alloc(0);
    const sha256 = createHash("sha256").update(consoleData).digest("hex");
    // A non-empty directory squatting on the final name: the rename over it fails with EISDIR.
    const final = artifactPath(dir, sha256);
    await mkdir(join(final, "squatter"), { recursive: true });

    await expect(store.recordRun(rec)).rejects.toBeInstanceOf(ArtifactWriteError);
    expect((await readdir(join(final, ".."))).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(rowCounts().runs).toBe(0);
  });
});

describe("Store queries", () => {
  it("filters runs by campaign and backend and counts outcomes per backend and zone", async () => {
    const store = openStore();
    store.ensureCampaign("paper", "{}", "h");
    store.ensureCampaign("other", "{}", "h");
    const noEffect = { outcome: "no-effect" as const, reasons: [] };
    await store.recordRun(record({ runKey: "k1" }));
    await store.recordRun(record({ runKey: "k2" }));
    await store.recordRun(record({ runKey: "k3", verdict: noEffect }));
    await store.recordRun(record({ runKey: "k4", backend: "uml" }));
    await store.recordRun(record({ runKey: "k5", campaign: "other" }));

    expect(store.runs().map((r) => r.runKey)).toEqual(["k1", "k2", "k3", "k4", "k5"]);
    expect(store.runs({ campaign: "paper" }).map((r) => r.runKey)).toEqual(["k1", "k2", "k3", "k4"]);
    expect(store.runs({ campaign: "paper", backend: "uml" }).map((r) => r.runKey)).toEqual(["k4"]);
    expect(store.runs({ backend: "kvm" })).toEqual([]);
    expect(store.countByOutcome("paper")).toEqual([
      { backend: "qemu-tcg", zone: 3, outcome: "contained-limited", n: 2 },
      { backend: "qemu-tcg", zone: 3, outcome: "no-effect", n: 1 },
      { backend: "uml", zone: 3, outcome: "contained-limited", n: 1 },
    ]);
    expect(store.countByOutcome("missing")).toEqual([]);
  });

  it("keeps one campaign row per name and stores the latest config", () => {
    const store = openStore();
    const id = store.ensureCampaign("paper", '{"v":1}', "h1");
    expect(store.ensureCampaign("paper", '{"v":2}', "h2")).toBe(id);
    const db = rawDb();
    try {
      expect(db.prepare("SELECT id, config_json, config_hash FROM campaigns").all()).toEqual([
        { id, config_json: '{"v":2}', config_hash: "h2" },
      ]);
    } finally {
      db.close();
    }
  });

  it("lets two Store instances on one database see each other's rows (WAL)", async () => {
    const a = openStore();
    const b = openStore();
    a.ensureCampaign("paper", "{}", "h");
    await a.recordRun(record({ runKey: "from-a" }));
    expect(b.hasRun("from-a")).toBe(true);
    await b.recordRun(record({ runKey: "from-b" }));
    expect(a.runs().map((r) => r.runKey)).toEqual(["from-a", "from-b"]);
    expect(await b.recordRun(record({ runKey: "from-a" }))).toBe("duplicate");
  });

  it("closes idempotently, also through Symbol.dispose", () => {
    const store = Store.open(dir);
    store.close();
    expect(() => store[Symbol.dispose]()).not.toThrow();
    expect(() => store.hasRun("x")).toThrow(/not open/);
  });
});

describe("artifacts", () => {
  it("writes content-addressed, idempotently, and detects a corrupted file on read", async () => {
    const first = await writeArtifact(dir, "hello\n");
    expect(first).toEqual({
      sha256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
      bytes: 6,
    });
    expect(await writeArtifact(dir, Buffer.from("hello\n"))).toEqual(first);
    const path = artifactPath(dir, first.sha256);
    expect(path).toBe(join(dir, "artifacts", "58", first.sha256));
    expect((await readdir(join(dir, "artifacts", "58"))).sort()).toEqual([first.sha256]);
    expect(await readFile(path, "utf8")).toBe("hello\n");

    await writeFile(path, "hellO\n");
    await expect(readArtifact(dir, first.sha256)).rejects.toThrow(/is corrupt/);
  });

  it("refuses a name that is not a sha256", () => {
    expect(() => artifactPath(dir, "../../etc/passwd")).toThrow(/expected 64 lowercase hex digits/);
  });
});
