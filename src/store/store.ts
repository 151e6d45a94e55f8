/**
 * The results store (DESIGN.md §7): one SQLite file per results directory plus content-addressed
 * artifacts. A finished run is written once: artifacts first (fsync + rename), then one transaction with
 * every row, keyed by the run key with `ON CONFLICT DO NOTHING`, so resume and Slurm requeue never
 * double-count.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
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
import { killPoint } from "../util/kill-point.js";
import { type ArtifactRef, artifactPath, writeArtifact } from "./artifacts.js";
import { openDatabase } from "./schema.js";

export { ArtifactWriteError } from "./artifacts.js";

/** The database file's name inside a results directory. */
export const DB_FILE = "ezone.db";

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

/** One captured artifact of a run, already capped by the caller (see `capConsole`). */
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
  /** Null when the run was not judged (`infra-error`). */
  hostSurvived: boolean | null;
  infraError: string | null;
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
}

interface RunRow {
  id: number;
  campaign: string;
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

const SELECT_RUNS = `
  SELECT r.*, c.name AS campaign, e.evidence_json, p.ezone_version, p.ezone_commit, p.backend_version,
         p.kernel_version, p.image_hash, p.kernel_cmdline, p.host_kernel, p.hostname
  FROM runs r
  JOIN campaigns c ON c.id = r.campaign_id
  LEFT JOIN evidence e ON e.run_id = r.id
  LEFT JOIN provenance p ON p.run_id = r.id
  WHERE (@campaign IS NULL OR c.name = @campaign) AND (@backend IS NULL OR r.backend = @backend)
  ORDER BY r.id`;

/** Every statement the store runs, prepared once per connection. */
function prepareStatements(db: Database.Database) {
  return {
    upsertCampaign: db.prepare<[string, string, string, string], { id: number }>(
      `INSERT INTO campaigns (name, config_json, config_hash, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, config_hash = excluded.config_hash
       RETURNING id`,
    ),
    campaignId: db.prepare<[string], { id: number }>("SELECT id FROM campaigns WHERE name = ?"),
    hasRun: db.prepare<[string], { one: number }>("SELECT 1 AS one FROM runs WHERE run_key = ?"),
    insertRun: db.prepare<unknown[], { id: number }>(
      `INSERT INTO runs (campaign_id, run_key, backend, fault, zone, params_json, repetition, seed, nonce,
         outcome, reasons_json, started_at, finished_at, boot_ms, detection_ms, run_ms, stop_reason,
         crash_title, crash_class, proof, guest_crashed, host_survived, infra_error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(run_key) DO NOTHING
       RETURNING id`,
    ),
    insertEvidence: db.prepare("INSERT INTO evidence (run_id, evidence_json) VALUES (?, ?)"),
    insertProbe: db.prepare(
      `INSERT INTO probes (run_id, probe, severity, before, after, threshold, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertArtifact: db.prepare(
      "INSERT INTO artifacts (run_id, kind, sha256, bytes, truncated) VALUES (?, ?, ?, ?, ?)",
    ),
    insertProvenance: db.prepare(
      `INSERT INTO provenance (run_id, ezone_version, ezone_commit, backend_version, kernel_version,
         image_hash, kernel_cmdline, host_kernel, hostname)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    runs: db.prepare<{ campaign: string | null; backend: string | null }, RunRow>(SELECT_RUNS),
    probes: db.prepare<[number], ProbeRow>(
      "SELECT probe, severity, before, after, threshold, detail FROM probes WHERE run_id = ? ORDER BY rowid",
    ),
    artifacts: db.prepare<[number], ArtifactRow>(
      "SELECT kind, sha256, bytes, truncated FROM artifacts WHERE run_id = ? ORDER BY rowid",
    ),
    countByOutcome: db.prepare<[string], OutcomeCount>(
      `SELECT r.backend, r.zone, r.outcome, count(*) AS n
       FROM runs r JOIN campaigns c ON c.id = r.campaign_id
       WHERE c.name = ?
       GROUP BY r.backend, r.zone, r.outcome
       ORDER BY r.backend, r.zone, r.outcome`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** A violation raised by `ezone monitor` (src/monitor/syslog); times are epoch milliseconds. */
export interface ViolationRecord {
  /** The monitor config's name. */
  monitor: string;
  /** The enclave, or `host` / `ezone-monitor` for the host's probes and the syslog pipeline. */
  enclave: string;
  kind: string;
  detail: string;
  /** The last heartbeat's timestamp (when it reached the host), or null if none was ever seen. */
  lastHeartbeatAt: number | null;
  /** When the first heartbeat that never came was due (last + interval); null if none was seen. */
  firstMissedHeartbeatAt: number | null;
  /** Timestamp of the message that revealed the violation; null for silence. */
  sourceAt: number | null;
  detectedAt: number;
  /** What was seen, oldest first, bounded. */
  evidence: string[];
}

/** A stored violation with what became of its notification and of its incident. */
export interface StoredViolation extends ViolationRecord {
  id: number;
  notifiedAt: number | null;
  notification: "pending" | "sent" | "partial" | "failed" | "dedup" | "rate-limit";
  notificationDetail: string | null;
  closedAt: number | null;
  closedWhy: string | null;
}

/** A statement that is not a result: availability of a backend, or a refused backend × fault. */
export interface Statement {
  backend: string;
  /** `*` for the backend as a whole. */
  fault: string;
  kind: "available" | "unavailable" | "refused";
  reason: string;
}

/** One enclave boot of a perf session, or a backend the session could not run (round null). */
export interface PerfBlock {
  session: string;
  campaign: string;
  round: number | null;
  /** Position in the session's interleaved schedule. */
  seq: number;
  backend: string;
  status: "ok" | "failed" | "unavailable";
  reason: string | null;
  backendVersion: string | null;
  bootMs: number | null;
  /** Warm-up repetitions run and discarded per benchmark. */
  warmup: number;
  stealPct: number | null;
  cpuMhz: number | null;
  load1: number | null;
  /** Benchmarks that failed in this block, and why. */
  failures: Record<string, string>;
  imageHash: string | null;
  hostKernel: string;
  hostname: string;
  startedAt: Date;
  finishedAt: Date;
}

/** One measured repetition of a benchmark in a block; `value` is a cost (lower is better). */
export interface PerfResult {
  benchmark: string;
  sample: number;
  value: number;
  unit: string;
  ops: number | null;
  elapsedNs: number | null;
  /** The agent's other fields (fs, max_us). */
  detail: Record<string, string>;
}

/** A perf result as read back, with its block's coordinates. */
export interface StoredPerfResult extends PerfResult {
  session: string;
  campaign: string;
  round: number;
  backend: string;
}

/** The results of one results directory: `<resultsDir>/ezone.db` and `<resultsDir>/artifacts/`. */
export class Store implements Disposable {
  readonly resultsDir: string;
  readonly #db: Database.Database;
  readonly #stmt: Statements;

  private constructor(resultsDir: string, db: Database.Database) {
    this.resultsDir = resultsDir;
    this.#db = db;
    this.#stmt = prepareStatements(db);
  }

  /** Open the store in `resultsDir`, creating the directory and a migrated `ezone.db` as needed. */
  static open(resultsDir: string): Store {
    mkdirSync(resultsDir, { recursive: true });
    return new Store(resultsDir, openDatabase(join(resultsDir, DB_FILE)));
  }

  /** Close the database. Idempotent. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  /** Same as `close()`, for `using store = Store.open(dir)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Register campaign `name` (or update its config, when a resumed campaign's config changed: the latest
   * config and hash win) and return its id.
   */
  ensureCampaign(name: string, configJson: string, configHash: string): number {
    const row = this.#stmt.upsertCampaign.get(name, configJson, configHash, new Date().toISOString());
    if (row === undefined) throw new Error(`campaign ${JSON.stringify(name)}: upsert returned no row`);
    return row.id;
  }

  /** Record what ezone says of a backend (or a backend × fault) that is not a run; the latest wins. */
  recordStatement(campaign: string, st: Statement): void {
    const campaignId = this.#stmt.campaignId.get(campaign)?.id;
    if (campaignId === undefined) throw new Error(`campaign ${JSON.stringify(campaign)} is not registered`);
    this.#db
      .prepare(
        `INSERT INTO statements (campaign_id, backend, fault, kind, reason, checked_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (campaign_id, backend, fault) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
         checked_at = excluded.checked_at`,
      )
      .run(campaignId, st.backend, st.fault, st.kind, st.reason, new Date().toISOString());
  }

  /** The statements of a campaign, by backend then fault. */
  statements(campaign: string): Statement[] {
    return this.#db
      .prepare(
        `SELECT s.backend, s.fault, s.kind, s.reason FROM statements s JOIN campaigns c ON c.id = s.campaign_id
         WHERE c.name = ? ORDER BY s.backend, s.fault`,
      )
      .all(campaign) as Statement[];
  }

  /** Names of the campaigns stored here, oldest first. */
  campaigns(): string[] {
    return (this.#db.prepare("SELECT name FROM campaigns ORDER BY id").all() as { name: string }[]).map(
      (r) => r.name,
    );
  }

  /** The validated campaign config stored with a campaign (JSON), or null if unknown. */
  campaignConfig(campaign: string): unknown {
    const row = this.#db.prepare("SELECT config_json FROM campaigns WHERE name = ?").get(campaign) as
      | { config_json: string }
      | undefined;
    return row ? JSON.parse(row.config_json) : null;
  }

  /** The backend names of a campaign in the order its config lists them, or null if unknown. */
  campaignBackends(campaign: string): string[] | null {
    const config = this.campaignConfig(campaign) as { backends?: (string | { name: string })[] } | null;
    return config?.backends?.map((b) => (typeof b === "string" ? b : b.name)) ?? null;
  }

  /** Whether a run with this key is already stored (resume skips it). */
  hasRun(runKey: string): boolean {
    return this.#stmt.hasRun.get(runKey) !== undefined;
  }

  /**
   * Store a finished run: write its artifacts (fsync + rename), then commit all its rows in one
   * transaction. Returns `duplicate`, writing nothing, when the run key is already stored. Throws
   * `ArtifactWriteError` when an artifact cannot be written; then no row is committed. Artifacts written
   * before the failure stay as unreferenced content-addressed files.
   */
  async recordRun(rec: RunRecord): Promise<"inserted" | "duplicate"> {
    validateRecord(rec);
    const campaignId = this.#stmt.campaignId.get(rec.campaign)?.id;
    if (campaignId === undefined) {
      throw new Error(`run ${rec.runKey}: campaign ${JSON.stringify(rec.campaign)} is not registered`);
    }
    // Fast path only: the conflict clause below is what makes a concurrent duplicate safe.
    if (this.hasRun(rec.runKey)) return "duplicate";

    const written: { artifact: RunArtifact; ref: ArtifactRef }[] = [];
    for (const artifact of rec.artifacts) {
      written.push({ artifact, ref: await writeArtifact(this.resultsDir, artifact.data) });
    }
    killPoint("store.artifacts-written");

    const insert = this.#db.transaction((): "inserted" | "duplicate" => {
      const runId = this.#stmt.insertRun.get(...runColumns(campaignId, rec))?.id;
      if (runId === undefined) return "duplicate";
      this.#stmt.insertEvidence.run(runId, JSON.stringify(rec.evidence));
      for (const p of rec.evidence.probes) {
        this.#stmt.insertProbe.run(
          runId,
          p.probe,
          p.severity,
          encodeProbeValue(p.before),
          encodeProbeValue(p.after),
          p.threshold,
          p.detail,
        );
      }
      for (const { artifact, ref } of written) {
        this.#stmt.insertArtifact.run(runId, artifact.kind, ref.sha256, ref.bytes, bit(artifact.truncated));
      }
      const pv = rec.provenance;
      this.#stmt.insertProvenance.run(
        runId,
        pv.ezoneVersion,
        pv.ezoneCommit,
        pv.backendVersion,
        pv.kernelVersion,
        pv.imageHash,
        pv.kernelCmdline,
        pv.hostKernel,
        pv.hostname,
      );
      killPoint("store.in-commit");
      return "inserted";
    });
    return insert.immediate();
  }

  /** Stored runs in insertion order, optionally of one campaign and/or backend. */
  runs(filter: RunFilter = {}): StoredRun[] {
    return this.#stmt.runs
      .all({ campaign: filter.campaign ?? null, backend: filter.backend ?? null })
      .map(toStoredRun);
  }

  /** The host probe findings of run `runId`, in the order they were recorded. */
  probesFor(runId: number): ProbeFinding[] {
    return this.#stmt.probes.all(runId).map((row) => ({
      probe: row.probe,
      severity: row.severity,
      before: decodeProbeValue(row.before),
      after: decodeProbeValue(row.after),
      threshold: row.threshold,
      detail: row.detail,
    }));
  }

  /** The artifacts of run `runId`, with the path of each content file. */
  artifactsFor(runId: number): StoredArtifact[] {
    return this.#stmt.artifacts.all(runId).map((row) => ({
      kind: row.kind,
      sha256: row.sha256,
      bytes: row.bytes,
      truncated: row.truncated === 1,
      path: artifactPath(this.resultsDir, row.sha256),
    }));
  }

  /** Outcome counts per backend and zone for one campaign, sorted by backend, zone, outcome. */
  countByOutcome(campaign: string): OutcomeCount[] {
    return this.#stmt.countByOutcome.all(campaign);
  }

  /** Store a new violation (committed before anyone is notified); returns its id. */
  recordViolation(v: ViolationRecord): number {
    const row = this.#db
      .prepare(
        `INSERT INTO violations (monitor, enclave, kind, detail, last_heartbeat_at, first_missed_heartbeat_at,
           source_at, detected_at, evidence_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(
        ...[v.monitor, v.enclave, v.kind, v.detail, isoOrNull(v.lastHeartbeatAt)],
        ...[isoOrNull(v.firstMissedHeartbeatAt), isoOrNull(v.sourceAt), isoOrNull(v.detectedAt)],
        JSON.stringify(v.evidence),
      ) as { id: number };
    return row.id;
  }

  /** Record what became of a violation's notification, its later evidence, or the end of its incident. */
  updateViolation(
    id: number,
    patch: {
      notifiedAt?: number | null;
      notification?: StoredViolation["notification"];
      notificationDetail?: string;
      evidence?: string[];
      closedAt?: number;
      closedWhy?: string;
    },
  ): void {
    this.#db
      .prepare(
        `UPDATE violations SET
           notified_at = CASE WHEN @setNotified THEN @notifiedAt ELSE notified_at END,
           notification = coalesce(@notification, notification),
           notification_detail = coalesce(@notificationDetail, notification_detail),
           evidence_json = coalesce(@evidence, evidence_json),
           closed_at = coalesce(@closedAt, closed_at),
           closed_why = coalesce(@closedWhy, closed_why)
         WHERE id = @id`,
      )
      .run({
        id,
        setNotified: patch.notifiedAt === undefined ? 0 : 1,
        notifiedAt: isoOrNull(patch.notifiedAt ?? null),
        notification: patch.notification ?? null,
        notificationDetail: patch.notificationDetail ?? null,
        evidence: patch.evidence ? JSON.stringify(patch.evidence) : null,
        closedAt: patch.closedAt === undefined ? null : isoOrNull(patch.closedAt),
        closedWhy: patch.closedWhy ?? null,
      });
  }

  /** Stored violations, oldest first, of one monitor when given. */
  violations(monitor?: string): StoredViolation[] {
    const rows = this.#db
      .prepare("SELECT * FROM violations WHERE (@monitor IS NULL OR monitor = @monitor) ORDER BY id")
      .all({ monitor: monitor ?? null }) as Record<string, string | number | null>[];
    const ms = (v: string | number | null | undefined) => (typeof v === "string" ? Date.parse(v) : null);
    return rows.map((r) => ({
      id: r.id as number,
      monitor: r.monitor as string,
      enclave: r.enclave as string,
      kind: r.kind as string,
      detail: r.detail as string,
      lastHeartbeatAt: ms(r.last_heartbeat_at),
      firstMissedHeartbeatAt: ms(r.first_missed_heartbeat_at),
      sourceAt: ms(r.source_at),
      detectedAt: ms(r.detected_at) ?? Number.NaN,
      evidence: JSON.parse(r.evidence_json as string) as string[],
      notifiedAt: ms(r.notified_at),
      notification: r.notification as StoredViolation["notification"],
      notificationDetail: r.notification_detail as string | null,
      closedAt: ms(r.closed_at),
      closedWhy: r.closed_why as string | null,
    }));
  }

  /** Store one perf block and its measured repetitions in one transaction; returns the block's id. */
  recordPerfBlock(block: PerfBlock, results: PerfResult[]): number {
    if (block.round === null && results.length > 0)
      throw new TypeError(`perf block ${block.backend}: results without a round`);
    const insert = this.#db.transaction((): number => {
      const b = block;
      const { id } = this.#db
        .prepare(
          `INSERT INTO perf_blocks (session, campaign, round, seq, backend, status, reason, backend_version,
             boot_ms, warmup, steal_pct, cpu_mhz, load1, failures_json, image_hash, host_kernel, hostname,
             started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(
          ...[b.session, b.campaign, b.round, b.seq, b.backend, b.status, b.reason, b.backendVersion],
          ...[b.bootMs, b.warmup, b.stealPct, b.cpuMhz, b.load1, JSON.stringify(b.failures), b.imageHash],
          ...[b.hostKernel, b.hostname, b.startedAt.toISOString(), b.finishedAt.toISOString()],
        ) as { id: number };
      const row = this.#db.prepare(
        `INSERT INTO perf_results (block_id, session, campaign, round, backend, benchmark, sample, value, unit,
           ops, elapsed_ns, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const r of results) {
        row.run(
          ...[id, b.session, b.campaign, b.round, b.backend, r.benchmark, r.sample, r.value, r.unit],
          ...[r.ops, r.elapsedNs, JSON.stringify(r.detail)],
        );
      }
      return id;
    });
    return insert.immediate();
  }

  /** Perf sessions stored here (of one campaign, when given), oldest first. */
  perfSessions(campaign?: string): string[] {
    return (
      this.#db
        .prepare(
          `SELECT session FROM perf_blocks WHERE (@campaign IS NULL OR campaign = @campaign)
           GROUP BY session ORDER BY min(id)`,
        )
        .all({ campaign: campaign ?? null }) as { session: string }[]
    ).map((r) => r.session);
  }

  /** The blocks of a perf session in schedule order. */
  perfBlocks(session: string): PerfBlock[] {
    const rows = this.#db
      .prepare(
        `SELECT session, campaign, round, seq, backend, status, reason, backend_version AS backendVersion,
           boot_ms AS bootMs, warmup, steal_pct AS stealPct, cpu_mhz AS cpuMhz, load1,
           failures_json AS failures, image_hash AS imageHash, host_kernel AS hostKernel, hostname,
           started_at AS startedAt, finished_at AS finishedAt
         FROM perf_blocks WHERE session = ? ORDER BY seq`,
      )
      .all(session) as (Omit<PerfBlock, "failures" | "startedAt" | "finishedAt"> & {
      failures: string;
      startedAt: string;
      finishedAt: string;
    })[];
    return rows.map((r) => ({
      ...r,
      failures: JSON.parse(r.failures) as Record<string, string>,
      startedAt: new Date(r.startedAt),
      finishedAt: new Date(r.finishedAt),
    }));
  }

  /** The measured repetitions of a perf session, in the order they were stored. */
  perfResults(session: string): StoredPerfResult[] {
    const rows = this.#db
      .prepare(
        `SELECT session, campaign, round, backend, benchmark, sample, value, unit, ops,
           elapsed_ns AS elapsedNs, detail_json AS detail
         FROM perf_results WHERE session = ? ORDER BY id`,
      )
      .all(session) as (Omit<StoredPerfResult, "detail"> & { detail: string })[];
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, string> }));
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

/** The `runs` row of a record, in `insertRun` column order, with the derived columns. */
function runColumns(campaignId: number, rec: RunRecord): unknown[] {
  const ev = rec.evidence;
  const judged = isResult(rec.verdict.outcome);
  return [
    campaignId,
    rec.runKey,
    rec.backend,
    rec.fault,
    rec.zone,
    JSON.stringify(rec.params),
    rec.repetition,
    rec.seed,
    rec.nonce,
    rec.verdict.outcome,
    JSON.stringify(rec.verdict.reasons),
    rec.startedAt.toISOString(),
    rec.finishedAt.toISOString(),
    rec.bootMs,
    rec.detectionMs,
    rec.runMs,
    ev.stopReason,
    ev.guestCrash?.title ?? null,
    ev.guestCrash?.crashClass ?? null,
    bit(ev.proof),
    bit(ev.guestCrash !== null || ev.panicEvent),
    judged ? bit(!ev.probes.some((p) => p.severity === "failed")) : null,
    ev.infraError,
  ];
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

/** Epoch milliseconds as stored (ISO 8601, millisecond precision), or null. */
function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(Math.floor(ms)).toISOString();
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
