/**
 * The campaign family of the results store: campaigns, their statements, and finished runs with the rows
 * each run cites (evidence, probes, artifacts, provenance). A finished run is written once: artifacts
 * first (fsync + rename), then one transaction with every row, keyed by the run key with `ON CONFLICT DO
 * NOTHING`, so resume and Slurm requeue never double-count.
 */

import type Database from "better-sqlite3";
import {
  isResult,
  OUTCOMES,
  type Outcome,
  type ProbeFinding,
  type RunEvidence,
  type StopReason,
  type Verdict,
  type Zone,
} from "../model/outcome-types.js";
import type { RunParams } from "../model/run-params.js";
import type { SoftClass } from "../model/soft-error.js";
import { killPoint } from "../util/kill-point.js";
import { type ArtifactRef, artifactPath, writeArtifact } from "./artifacts.js";

/** Versions and identities a run was produced with, so a result can be reproduced. */
export interface Provenance {
  ezoneVersion: string;
  /** Git commit of ezone, when run from a checkout. */
  ezoneCommit: string | null;
  /** The backend's own version string, e.g. `QEMU 7.2.22`; null when it has none (native). */
  backendVersion: string | null;
  /** Guest kernel release; null when the backend has no guest kernel. */
  kernelVersion: string | null;
  /** Content hash of the guest image (kernel + initramfs). */
  imageHash: string | null;
  kernelCmdline: string | null;
  /** `uname -r` of the host. */
  hostKernel: string;
  hostname: string;
}

/** One captured artifact of a run, already capped by the caller (the run monitor keeps head and tail). */
export interface RunArtifact {
  /** What it is: `console`, `qmp`, `probe-data`, ... */
  kind: string;
  data: Buffer;
  /** The caller cut it (e.g. the console cap). */
  truncated: boolean;
}

/** The fields a run is stored with and read back with unchanged. */
export interface RunFields {
  /** Name of a campaign registered with `ensureCampaign`. */
  campaign: string;
  runKey: string;
  backend: string;
  /** Must equal `evidence.fault`. */
  fault: string;
  /** Must equal `evidence.zone`. */
  zone: Zone;
  params: RunParams;
  repetition: number;
  seed: string;
  nonce: string;
  evidence: RunEvidence;
  startedAt: Date;
  finishedAt: Date;
  bootMs: number | null;
  detectionMs: number | null;
  runMs: number;
  provenance: Provenance;
}

/** Everything one finished run stores. Crash title/class, proof and host survival are derived here. */
export interface RunRecord extends RunFields {
  verdict: Verdict;
  artifacts: RunArtifact[];
}

/** A run as read back, with JSON columns parsed, 0/1 columns as booleans and the derived columns. */
export interface StoredRun extends RunFields {
  id: number;
  outcome: Outcome;
  reasons: string[];
  stopReason: StopReason;
  crashTitle: string | null;
  crashClass: string | null;
  proof: boolean;
  guestCrashed: boolean;
  /** Null when the run was not judged (`infra-error`, `boot-error`). */
  hostSurvived: boolean | null;
  infraError: string | null;
  /** Bit flips: the class against the golden run; null for other faults (and when none could be told). */
  softClass?: SoftClass | null;
}

/** An artifact row of a run, with the absolute path of its content. */
export interface StoredArtifact extends ArtifactRef {
  kind: string;
  truncated: boolean;
  path: string;
}

/** One cell of the zone matrix: how many runs of a backend and zone ended in an outcome. */
export interface OutcomeCount {
  backend: string;
  zone: number;
  outcome: Outcome;
  n: number;
}

/** Filter for `Store.runs`; absent fields match everything. */
export interface RunFilter {
  campaign?: string;
  backend?: string;
  /** Runs whose key starts with this (a cell's key prefix and `/`: its runs and their failed attempts). */
  keyPrefix?: string;
}

/** A statement that is not a result: availability of a backend, or a refused backend × fault. */
export interface Statement {
  backend: string;
  /** `*` for the backend as a whole. */
  fault: string;
  kind: "available" | "unavailable" | "refused";
  reason: string;
}

/** The columns of the `runs` table a record fills (all but the ids). */
interface RunColumns {
  run_key: string;
  backend: string;
  fault: string;
  zone: number;
  params_json: string;
  repetition: number;
  seed: string;
  nonce: string;
  outcome: string;
  reasons_json: string;
  started_at: string;
  finished_at: string;
  boot_ms: number | null;
  detection_ms: number | null;
  run_ms: number;
  stop_reason: string;
  crash_title: string | null;
  crash_class: string | null;
  proof: number;
  guest_crashed: number;
  host_survived: number | null;
  infra_error: string | null;
  soft_class: string | null;
}

/** The named parameters of `insertRun`. */
interface RunInsertParams extends RunColumns {
  campaign_id: number;
}

/** A run as `SELECT_RUNS` reads it: its columns, its campaign's name, evidence and provenance. */
interface RunRow extends RunColumns {
  id: number;
  campaign: string;
  evidence_json: string | null;
  ezone_version: string | null;
  ezone_commit: string | null;
  backend_version: string | null;
  kernel_version: string | null;
  image_hash: string | null;
  kernel_cmdline: string | null;
  host_kernel: string | null;
  hostname: string | null;
}

interface ProbeRow {
  probe: string;
  severity: ProbeFinding["severity"];
  before: string | null;
  after: string | null;
  threshold: string;
  detail: string;
}

interface ArtifactRow {
  kind: string;
  sha256: string;
  bytes: number;
  truncated: number;
}

const INSERT_RUN = `
  INSERT INTO runs (campaign_id, run_key, backend, fault, zone, params_json, repetition, seed, nonce,
    outcome, reasons_json, started_at, finished_at, boot_ms, detection_ms, run_ms, stop_reason,
    crash_title, crash_class, proof, guest_crashed, host_survived, infra_error, soft_class)
  VALUES (@campaign_id, @run_key, @backend, @fault, @zone, @params_json, @repetition, @seed, @nonce,
    @outcome, @reasons_json, @started_at, @finished_at, @boot_ms, @detection_ms, @run_ms, @stop_reason,
    @crash_title, @crash_class, @proof, @guest_crashed, @host_survived, @infra_error, @soft_class)
  ON CONFLICT(run_key) DO NOTHING
  RETURNING id`;

const SELECT_RUNS = `
  SELECT r.*, c.name AS campaign, e.evidence_json, p.ezone_version, p.ezone_commit, p.backend_version,
         p.kernel_version, p.image_hash, p.kernel_cmdline, p.host_kernel, p.hostname
  FROM runs r
  JOIN campaigns c ON c.id = r.campaign_id
  LEFT JOIN evidence e ON e.run_id = r.id
  LEFT JOIN provenance p ON p.run_id = r.id
  WHERE (@campaign IS NULL OR c.name = @campaign) AND (@backend IS NULL OR r.backend = @backend)
    AND (@keyPrefix IS NULL OR substr(r.run_key, 1, length(@keyPrefix)) = @keyPrefix)
  ORDER BY r.id`;

/** Every statement of the campaign family, prepared once per connection. */
function prepareStatements(db: Database.Database) {
  return {
    upsertCampaign: db.prepare<
      { name: string; configJson: string; configHash: string; createdAt: string },
      { id: number }
    >(
      `INSERT INTO campaigns (name, config_json, config_hash, created_at)
       VALUES (@name, @configJson, @configHash, @createdAt)
       ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, config_hash = excluded.config_hash
       RETURNING id`,
    ),
    campaignId: db.prepare<{ name: string }, { id: number }>("SELECT id FROM campaigns WHERE name = @name"),
    campaignNames: db.prepare<[], { name: string }>("SELECT name FROM campaigns ORDER BY id"),
    campaignConfig: db.prepare<{ name: string }, { config_json: string }>(
      "SELECT config_json FROM campaigns WHERE name = @name",
    ),
    upsertStatement: db.prepare<Statement & { campaignId: number; checkedAt: string }>(
      `INSERT INTO statements (campaign_id, backend, fault, kind, reason, checked_at)
       VALUES (@campaignId, @backend, @fault, @kind, @reason, @checkedAt)
       ON CONFLICT (campaign_id, backend, fault) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
       checked_at = excluded.checked_at`,
    ),
    statements: db.prepare<{ campaign: string }, Statement>(
      `SELECT s.backend, s.fault, s.kind, s.reason FROM statements s JOIN campaigns c ON c.id = s.campaign_id
       WHERE c.name = @campaign ORDER BY s.backend, s.fault`,
    ),
    hasRun: db.prepare<{ runKey: string }, { one: number }>(
      "SELECT 1 AS one FROM runs WHERE run_key = @runKey",
    ),
    insertRun: db.prepare<RunInsertParams, { id: number }>(INSERT_RUN),
    insertEvidence: db.prepare<{ runId: number; evidenceJson: string }>(
      "INSERT INTO evidence (run_id, evidence_json) VALUES (@runId, @evidenceJson)",
    ),
    insertProbe: db.prepare<ProbeRow & { runId: number }>(
      `INSERT INTO probes (run_id, probe, severity, before, after, threshold, detail)
       VALUES (@runId, @probe, @severity, @before, @after, @threshold, @detail)`,
    ),
    insertArtifact: db.prepare<ArtifactRow & { runId: number }>(
      `INSERT INTO artifacts (run_id, kind, sha256, bytes, truncated)
       VALUES (@runId, @kind, @sha256, @bytes, @truncated)`,
    ),
    insertProvenance: db.prepare<Provenance & { runId: number }>(
      `INSERT INTO provenance (run_id, ezone_version, ezone_commit, backend_version, kernel_version,
         image_hash, kernel_cmdline, host_kernel, hostname)
       VALUES (@runId, @ezoneVersion, @ezoneCommit, @backendVersion, @kernelVersion,
         @imageHash, @kernelCmdline, @hostKernel, @hostname)`,
    ),
    runs: db.prepare<{ campaign: string | null; backend: string | null; keyPrefix: string | null }, RunRow>(
      SELECT_RUNS,
    ),
    probes: db.prepare<{ runId: number }, ProbeRow>(
      "SELECT probe, severity, before, after, threshold, detail FROM probes WHERE run_id = @runId ORDER BY rowid",
    ),
    artifacts: db.prepare<{ runId: number }, ArtifactRow>(
      "SELECT kind, sha256, bytes, truncated FROM artifacts WHERE run_id = @runId ORDER BY rowid",
    ),
    countByOutcome: db.prepare<{ campaign: string }, OutcomeCount>(
      `SELECT r.backend, r.zone, r.outcome, count(*) AS n
       FROM runs r JOIN campaigns c ON c.id = r.campaign_id
       WHERE c.name = @campaign
       GROUP BY r.backend, r.zone, r.outcome
       ORDER BY r.backend, r.zone, r.outcome`,
    ),
  };
}

/** Campaigns, statements and runs of one results database. */
export class RunStore {
  readonly #resultsDir: string;
  readonly #db: Database.Database;
  readonly #stmt: ReturnType<typeof prepareStatements>;

  constructor(db: Database.Database, resultsDir: string) {
    this.#db = db;
    this.#resultsDir = resultsDir;
    this.#stmt = prepareStatements(db);
  }

  /**
   * Register campaign `name` (or update its config, when a resumed campaign's config changed: the latest
   * config and hash win) and return its id.
   */
  ensureCampaign(name: string, configJson: string, configHash: string): number {
    const row = this.#stmt.upsertCampaign.get({ name, configJson, configHash, createdAt: nowIso() });
    if (row === undefined) throw new Error(`campaign ${JSON.stringify(name)}: upsert returned no row`);
    return row.id;
  }

  /** Record what ezone says of a backend (or a backend × fault) that is not a run; the latest wins. */
  recordStatement(campaign: string, st: Statement): void {
    const campaignId = this.#stmt.campaignId.get({ name: campaign })?.id;
    if (campaignId === undefined) throw new Error(`campaign ${JSON.stringify(campaign)} is not registered`);
    const { backend, fault, kind, reason } = st;
    this.#stmt.upsertStatement.run({ campaignId, backend, fault, kind, reason, checkedAt: nowIso() });
  }

  /** The statements of a campaign, by backend then fault. */
  statements(campaign: string): Statement[] {
    return this.#stmt.statements.all({ campaign });
  }

  /** Names of the campaigns stored here, oldest first. */
  campaigns(): string[] {
    return this.#stmt.campaignNames.all().map((r) => r.name);
  }

  /** The validated campaign config stored with a campaign (JSON), or null if unknown. */
  campaignConfig(campaign: string): unknown {
    const row = this.#stmt.campaignConfig.get({ name: campaign });
    return row ? JSON.parse(row.config_json) : null;
  }

  /** The backend names of a campaign in the order its config lists them, or null if unknown. */
  campaignBackends(campaign: string): string[] | null {
    const config = this.campaignConfig(campaign) as { backends?: (string | { name: string })[] } | null;
    return config?.backends?.map((b) => (typeof b === "string" ? b : b.name)) ?? null;
  }

  /** Whether a run with this key is already stored (resume skips it). */
  hasRun(runKey: string): boolean {
    return this.#stmt.hasRun.get({ runKey }) !== undefined;
  }

  /**
   * Store a finished run: write its artifacts (fsync + rename), then commit all its rows in one
   * transaction. Returns `duplicate`, writing nothing, when the run key is already stored. Throws
   * `ArtifactWriteError` when an artifact cannot be written; then no row is committed. Artifacts written
   * before the failure stay as unreferenced content-addressed files.
   */
  async recordRun(rec: RunRecord): Promise<"inserted" | "duplicate"> {
    validateRecord(rec);
    const campaignId = this.#stmt.campaignId.get({ name: rec.campaign })?.id;
    if (campaignId === undefined) {
      throw new Error(`run ${rec.runKey}: campaign ${JSON.stringify(rec.campaign)} is not registered`);
    }
    // Fast path only: the conflict clause of `insertRun` is what makes a concurrent duplicate safe.
    if (this.hasRun(rec.runKey)) return "duplicate";

    const written: { artifact: RunArtifact; ref: ArtifactRef }[] = [];
    for (const artifact of rec.artifacts) {
      written.push({ artifact, ref: await writeArtifact(this.#resultsDir, artifact.data) });
    }
    killPoint("store.artifacts-written");
    const insert = this.#db.transaction((): "inserted" | "duplicate" => {
      const runId = this.#stmt.insertRun.get(runInsertParams(campaignId, rec))?.id;
      if (runId === undefined) return "duplicate";
      this.#stmt.insertEvidence.run({ runId, evidenceJson: JSON.stringify(rec.evidence) });
      for (const p of rec.evidence.probes) {
        const { probe, severity, threshold, detail } = p;
        const [before, after] = [encodeProbeValue(p.before), encodeProbeValue(p.after)];
        this.#stmt.insertProbe.run({ runId, probe, severity, before, after, threshold, detail });
      }
      for (const { artifact, ref } of written) {
        const { sha256, bytes } = ref;
        const truncated = bit(artifact.truncated);
        this.#stmt.insertArtifact.run({ runId, kind: artifact.kind, sha256, bytes, truncated });
      }
      this.#stmt.insertProvenance.run({ ...rec.provenance, runId });
      killPoint("store.in-commit");
      return "inserted";
    });
    return insert.immediate();
  }

  /** Stored runs in insertion order, optionally of one campaign and/or backend. */
  runs(filter: RunFilter = {}): StoredRun[] {
    return this.#stmt.runs
      .all({
        campaign: filter.campaign ?? null,
        backend: filter.backend ?? null,
        keyPrefix: filter.keyPrefix ?? null,
      })
      .map(toStoredRun);
  }

  /** The host probe findings of run `runId`, in the order they were recorded. */
  probesFor(runId: number): ProbeFinding[] {
    return this.#stmt.probes.all({ runId }).map((row) => ({
      ...row,
      before: decodeProbeValue(row.before),
      after: decodeProbeValue(row.after),
    }));
  }

  /** The artifacts of run `runId`, with the path of each content file. */
  artifactsFor(runId: number): StoredArtifact[] {
    return this.#stmt.artifacts.all({ runId }).map((row) => ({
      ...row,
      truncated: row.truncated === 1,
      path: artifactPath(this.#resultsDir, row.sha256),
    }));
  }

  /** Outcome counts per backend and zone for one campaign, sorted by backend, zone, outcome. */
  countByOutcome(campaign: string): OutcomeCount[] {
    return this.#stmt.countByOutcome.all({ campaign });
  }
}

/** Reject a record whose parts disagree before anything is written; messages name field and value. */
function validateRecord(rec: RunRecord): void {
  const fail = (what: string): never => {
    throw new TypeError(`run ${rec.runKey}: ${what}`);
  };
  if (!OUTCOMES.includes(rec.verdict.outcome)) {
    fail(`verdict.outcome ${JSON.stringify(rec.verdict.outcome)} is not one of ${OUTCOMES.join(", ")}`);
  }
  if (rec.fault !== rec.evidence.fault) {
    fail(
      `fault ${JSON.stringify(rec.fault)} differs from evidence.fault ${JSON.stringify(rec.evidence.fault)}`,
    );
  }
  if (rec.zone !== rec.evidence.zone)
    fail(`zone ${rec.zone} differs from evidence.zone ${rec.evidence.zone}`);
  for (const [field, date] of [
    ["startedAt", rec.startedAt],
    ["finishedAt", rec.finishedAt],
  ] as const) {
    if (Number.isNaN(date.getTime())) fail(`${field} is an invalid Date`);
  }
}

/** The `runs` row of a record, with the derived columns. */
function runInsertParams(campaignId: number, rec: RunRecord): RunInsertParams {
  const ev = rec.evidence;
  const judged = isResult(rec.verdict.outcome);
  return {
    campaign_id: campaignId,
    run_key: rec.runKey,
    backend: rec.backend,
    fault: rec.fault,
    zone: rec.zone,
    params_json: JSON.stringify(rec.params),
    repetition: rec.repetition,
    seed: rec.seed,
    nonce: rec.nonce,
    outcome: rec.verdict.outcome,
    reasons_json: JSON.stringify(rec.verdict.reasons),
    started_at: rec.startedAt.toISOString(),
    finished_at: rec.finishedAt.toISOString(),
    boot_ms: rec.bootMs,
    detection_ms: rec.detectionMs,
    run_ms: rec.runMs,
    stop_reason: ev.stopReason,
    crash_title: ev.guestCrash?.title ?? null,
    crash_class: ev.guestCrash?.crashClass ?? null,
    proof: bit(ev.proof),
    guest_crashed: bit(ev.guestCrash !== null || ev.panicEvent),
    host_survived: judged ? bit(!ev.probes.some((p) => p.severity === "failed")) : null,
    infra_error: ev.infraError,
    soft_class: ev.softError?.class ?? null,
  };
}

function toStoredRun(row: RunRow): StoredRun {
  if (row.evidence_json === null || row.ezone_version === null) {
    throw new Error(
      `run ${row.id} (${row.run_key}) has no evidence or provenance row: the database is damaged`,
    );
  }
  return {
    id: row.id,
    campaign: row.campaign,
    runKey: row.run_key,
    backend: row.backend,
    fault: row.fault,
    zone: row.zone as Zone,
    params: JSON.parse(row.params_json) as RunParams,
    repetition: row.repetition,
    seed: row.seed,
    nonce: row.nonce,
    outcome: row.outcome as Outcome,
    reasons: JSON.parse(row.reasons_json) as string[],
    startedAt: new Date(row.started_at),
    finishedAt: new Date(row.finished_at),
    bootMs: row.boot_ms,
    detectionMs: row.detection_ms,
    runMs: row.run_ms,
    stopReason: row.stop_reason as StopReason,
    crashTitle: row.crash_title,
    crashClass: row.crash_class,
    proof: row.proof === 1,
    guestCrashed: row.guest_crashed === 1,
    hostSurvived: row.host_survived === null ? null : row.host_survived === 1,
    infraError: row.infra_error,
    softClass: row.soft_class as SoftClass | null,
    evidence: JSON.parse(row.evidence_json) as RunEvidence,
    provenance: {
      ezoneVersion: row.ezone_version,
      ezoneCommit: row.ezone_commit,
      backendVersion: row.backend_version,
      kernelVersion: row.kernel_version,
      imageHash: row.image_hash,
      kernelCmdline: row.kernel_cmdline,
      hostKernel: row.host_kernel ?? "",
      hostname: row.hostname ?? "",
    },
  };
}

function nowIso(): string {
  return new Date().toISOString();
}

function bit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

/** Probe values are stored as JSON so a number stays a number and a string a string. */
function encodeProbeValue(value: ProbeFinding["before"]): string | null {
  return value === null ? null : JSON.stringify(value);
}

function decodeProbeValue(text: string | null): ProbeFinding["before"] {
  return text === null ? null : (JSON.parse(text) as number | string);
}
