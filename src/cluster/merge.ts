/**
 * `ezone merge`: fold the shard stores under `<results>/shards/` into the campaign's store. Per shard,
 * artifacts are copied first (content-addressed, each file once: written whole and renamed), then every
 * row goes in one transaction with the shard's fingerprint. A kill -9 leaves either all of a shard's
 * rows or none, and at most some artifact files nobody cites yet; running merge again finishes the job,
 * and merging what is already merged changes nothing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { acquireCampaignLock } from "../campaign/lock.js";
import { artifactPath, readArtifact, writeArtifact } from "../store/artifacts.js";
import { openDatabase } from "../store/schema.js";
import { DB_FILE } from "../store/store.js";
import { InfraError, UsageError } from "../util/errors.js";
import { killPoint } from "../util/kill-point.js";
import { shardDir, storedShards } from "./layout.js";
import { mergeRows, type RowMergeCounts } from "./row-merge.js";
import { fingerprint, MERGE_SCHEMA, openShardStore, shardLabel } from "./shard-store.js";
import { describeTables, quoteIdent, type TableInfo } from "./sqlite-tables.js";
import { readSubmission } from "./submission.js";

/** What merging one shard did. */
export interface ShardMerge extends RowMergeCounts {
  shard: string;
  artifactsCopied: number;
}

/** A row the campaign's store keeps while a shard holds other content under the same key. */
export interface MergeConflict {
  shard: string;
  table: string;
  key: string;
  kept: string;
  shardRow: string;
}

/** The outcome of `ezone merge`. */
export interface MergeSummary {
  shards: ShardMerge[];
  /** Every conflict recorded in the store so far (this merge's and earlier ones). */
  conflicts: MergeConflict[];
}

/** Merge every shard store under `resultsDir` into its store (created when missing). */
export async function mergeShards(resultsDir: string): Promise<MergeSummary> {
  const shards = storedShards(resultsDir);
  if (shards.length === 0) {
    throw new UsageError(`${resultsDir}: no shard stores under ${join(resultsDir, "shards")} to merge`);
  }
  using _lock = acquireCampaignLock(resultsDir);
  const target = openDatabase(join(resultsDir, DB_FILE));
  try {
    target.exec(MERGE_SCHEMA);
    checkCampaigns(resultsDir, target, shards);
    const done: ShardMerge[] = [];
    for (const index of shards) done.push(await mergeShard(resultsDir, target, index));
    return { shards: done, conflicts: conflicts(target) };
  } finally {
    target.close();
  }
}

async function mergeShard(resultsDir: string, target: Database.Database, index: number): Promise<ShardMerge> {
  const label = shardLabel(index);
  const source = openShardStore(resultsDir, index);
  try {
    const tables = describeTables(source);
    const artifactsCopied = await copyArtifacts(shardDir(resultsDir, index), resultsDir, source, tables);
    killPoint("merge.artifacts-copied");
    const merge = target.transaction(() => {
      for (const t of tables) ensureTable(target, source, t);
      const counts = mergeRows(target, source, tables, label);
      target
        .prepare(
          `INSERT INTO merged_shards (shard, fingerprint, merged_at) VALUES (?, ?, ?)
           ON CONFLICT(shard) DO UPDATE SET fingerprint = excluded.fingerprint, merged_at = excluded.merged_at`,
        )
        .run(label, fingerprint(source), new Date().toISOString());
      killPoint("merge.before-commit");
      return counts;
    });
    return { shard: label, artifactsCopied, ...merge.immediate() };
  } finally {
    source.close();
  }
}

/** A table a feature created outside the migrations exists in the shard only: create it alike. */
function ensureTable(target: Database.Database, source: Database.Database, t: TableInfo): void {
  const has = target.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t.name);
  if (has) return;
  const ddl = source
    .prepare("SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC")
    .pluck()
    .all(t.name) as string[];
  for (const sql of ddl) target.exec(sql);
}

/** Copy the artifact files the shard's rows cite (any table with a `sha256` column), each once. */
async function copyArtifacts(
  from: string,
  to: string,
  source: Database.Database,
  tables: TableInfo[],
): Promise<number> {
  let copied = 0;
  for (const t of tables.filter((t) => t.columns.includes("sha256"))) {
    const hashes = source
      .prepare(`SELECT DISTINCT sha256 FROM ${quoteIdent(t.name)} WHERE sha256 IS NOT NULL`)
      .pluck()
      .all() as string[];
    for (const sha of hashes) {
      if (existsSync(artifactPath(to, sha))) continue;
      let data: Buffer;
      try {
        data = await readArtifact(from, sha);
      } catch (e) {
        throw new InfraError("merge.artifacts", `${from}: ${(e as Error).message}`, { cause: e });
      }
      await writeArtifact(to, data);
      copied++;
    }
  }
  return copied;
}

interface CampaignRow {
  name: string;
  config_hash: string;
}

/**
 * Refuse, before anything is written, shards of another campaign: each shard's campaigns must match
 * the submission record (when there is one), the campaign's store and each other by config hash.
 */
function checkCampaigns(resultsDir: string, target: Database.Database, shards: number[]): void {
  const known = new Map<string, { hash: string; where: string }>();
  const submission = readSubmission(resultsDir);
  if (submission) {
    known.set(submission.campaign, { hash: submission.configHash, where: "the Slurm submission record" });
  }
  for (const r of target.prepare("SELECT name, config_hash FROM campaigns").all() as CampaignRow[]) {
    if (!known.has(r.name)) known.set(r.name, { hash: r.config_hash, where: join(resultsDir, DB_FILE) });
  }
  for (const index of shards) {
    const db = openShardStore(resultsDir, index);
    try {
      for (const r of db.prepare("SELECT name, config_hash FROM campaigns").all() as CampaignRow[]) {
        const seen = known.get(r.name);
        if (submission && r.name !== submission.campaign) {
          throw new UsageError(
            `refusing to merge ${shardLabel(index)}: it holds campaign ${r.name} (config hash ${r.config_hash}), but ${resultsDir} was submitted for ${submission.campaign} (config hash ${submission.configHash})`,
          );
        }
        if (seen && seen.hash !== r.config_hash) {
          throw new UsageError(
            `refusing to merge ${shardLabel(index)}: campaign ${r.name} has config hash ${r.config_hash} there but ${seen.hash} in ${seen.where}: another campaign's results`,
          );
        }
        known.set(r.name, seen ?? { hash: r.config_hash, where: shardLabel(index) });
      }
    } finally {
      db.close();
    }
  }
}

function conflicts(target: Database.Database): MergeConflict[] {
  return target
    .prepare(
      `SELECT shard, table_name AS "table", row_key AS key, kept_json AS kept, shard_json AS shardRow
       FROM merge_conflicts ORDER BY id`,
    )
    .all() as MergeConflict[];
}
