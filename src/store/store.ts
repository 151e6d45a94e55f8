/**
 * The results store (DESIGN.md §7): one SQLite file per results directory plus content-addressed
 * artifacts. Three families of tables live in it, each with its own module: campaigns and runs
 * (`run-store.ts`), monitor violations (`violation-store.ts`) and perf sessions (`perf-store.ts`); `Store`
 * opens the file once and answers for all three.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import type { ProbeFinding } from "../model/outcome-types.js";
import type { Golden } from "../model/soft-error.js";
import { GoldenStore } from "./golden-store.js";
import { type PerfBlock, type PerfResult, PerfStore, type StoredPerfResult } from "./perf-store.js";
import {
  type OutcomeCount,
  type RunFilter,
  type RunRecord,
  RunStore,
  type Statement,
  type StoredArtifact,
  type StoredRun,
} from "./run-store.js";
import { openDatabase } from "./schema.js";
import {
  runMonitor,
  type StoredViolation,
  type ViolationPatch,
  type ViolationRecord,
  ViolationStore,
} from "./violation-store.js";

export { ArtifactWriteError } from "./artifacts.js";
export type { PerfBlock, PerfResult, StoredPerfResult } from "./perf-store.js";
export type {
  OutcomeCount,
  Provenance,
  RunArtifact,
  RunFields,
  RunFilter,
  RunRecord,
  Statement,
  StoredArtifact,
  StoredRun,
} from "./run-store.js";
export type { StoredViolation, ViolationPatch, ViolationRecord } from "./violation-store.js";

/** The database file's name inside a results directory. */
export const DB_FILE = "ezone.db";

/** The results of one results directory: `<resultsDir>/ezone.db` and `<resultsDir>/artifacts/`. */
export class Store implements Disposable {
  readonly resultsDir: string;
  readonly #db: Database.Database;
  readonly #runs: RunStore;
  readonly #violations: ViolationStore;
  readonly #perf: PerfStore;
  readonly #golden: GoldenStore;

  private constructor(resultsDir: string, db: Database.Database) {
    this.resultsDir = resultsDir;
    this.#db = db;
    this.#runs = new RunStore(db, resultsDir);
    this.#violations = new ViolationStore(db);
    this.#perf = new PerfStore(db);
    this.#golden = new GoldenStore(db);
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

  // Campaigns and runs: see `RunStore`.

  /** Register campaign `name` or update its config (the latest wins); returns its id. */
  ensureCampaign(name: string, configJson: string, configHash: string): number {
    return this.#runs.ensureCampaign(name, configJson, configHash);
  }

  /** Record what ezone says of a backend (or a backend × fault) that is not a run; the latest wins. */
  recordStatement(campaign: string, st: Statement): void {
    this.#runs.recordStatement(campaign, st);
  }

  /** The statements of a campaign, by backend then fault. */
  statements(campaign: string): Statement[] {
    return this.#runs.statements(campaign);
  }

  /** Names of the campaigns stored here, oldest first. */
  campaigns(): string[] {
    return this.#runs.campaigns();
  }

  /** The validated campaign config stored with a campaign (JSON), or null if unknown. */
  campaignConfig(campaign: string): unknown {
    return this.#runs.campaignConfig(campaign);
  }

  /** The backend names of a campaign in the order its config lists them, or null if unknown. */
  campaignBackends(campaign: string): string[] | null {
    return this.#runs.campaignBackends(campaign);
  }

  /** Whether a run with this key is already stored (resume skips it). */
  hasRun(runKey: string): boolean {
    return this.#runs.hasRun(runKey);
  }

  /** Store a finished run, artifacts first, rows in one transaction; `duplicate` when already stored. */
  /** The stored golden run of the soft-error workload under `key`, or null (see `GoldenStore`). */
  golden(key: string): Golden | null {
    return this.#golden.golden(key);
  }

  /** Store a golden run unless one is there already; returns the one stored. */
  recordGolden(key: string, g: Golden): Golden {
    return this.#golden.recordGolden(key, g);
  }

  recordRun(rec: RunRecord): Promise<"inserted" | "duplicate"> {
    return this.#runs.recordRun(rec, () => {
      for (const v of rec.violations ?? [])
        this.#violations.recordViolation({ ...v, monitor: runMonitor(rec.runKey) });
    });
  }

  /** The violations stored with run `runKey` (its `guest.syslog` monitor's), oldest first. */
  runViolations(runKey: string): StoredViolation[] {
    return this.#violations.violations(runMonitor(runKey));
  }

  /** Stored runs in insertion order, optionally of one campaign and/or backend. */
  runs(filter: RunFilter = {}): StoredRun[] {
    return this.#runs.runs(filter);
  }

  /** The host probe findings of run `runId`, in the order they were recorded. */
  probesFor(runId: number): ProbeFinding[] {
    return this.#runs.probesFor(runId);
  }

  /** The artifacts of run `runId`, with the path of each content file. */
  artifactsFor(runId: number): StoredArtifact[] {
    return this.#runs.artifactsFor(runId);
  }

  /** Outcome counts per backend and zone for one campaign, sorted by backend, zone, outcome. */
  countByOutcome(campaign: string): OutcomeCount[] {
    return this.#runs.countByOutcome(campaign);
  }

  // Violations of `ezone monitor`: see `ViolationStore`.

  /** Store a new violation (committed before anyone is notified); returns its id. */
  recordViolation(v: ViolationRecord): number {
    return this.#violations.recordViolation(v);
  }

  /** Record what became of a violation's notification, its later evidence, or the end of its incident. */
  updateViolation(id: number, patch: ViolationPatch): void {
    this.#violations.updateViolation(id, patch);
  }

  /** Stored violations, oldest first, of one monitor when given. */
  violations(monitor?: string): StoredViolation[] {
    return this.#violations.violations(monitor);
  }

  // Perf sessions: see `PerfStore`.

  /** Store one perf block and its measured repetitions in one transaction; returns the block's id. */
  recordPerfBlock(block: PerfBlock, results: PerfResult[]): number {
    return this.#perf.recordPerfBlock(block, results);
  }

  /** Perf sessions stored here (of one campaign, when given), oldest first. */
  perfSessions(campaign?: string): string[] {
    return this.#perf.perfSessions(campaign);
  }

  /** The blocks of a perf session in schedule order. */
  perfBlocks(session: string): PerfBlock[] {
    return this.#perf.perfBlocks(session);
  }

  /** The measured repetitions of a perf session, in the order they were stored. */
  perfResults(session: string): StoredPerfResult[] {
    return this.#perf.perfResults(session);
  }
}
