/**
 * Shard stores as merge and status read them: opened read-only (a shard may still be running), with a
 * fingerprint of their content, and the bookkeeping merge keeps in the campaign's store.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BUSY_TIMEOUT_MS, SCHEMA_VERSION, userVersion } from "../store/schema.js";
import { DB_FILE } from "../store/store.js";
import { UsageError } from "../util/errors.js";
import { shardDir, storedShards } from "./layout.js";
import { describeTables, quoteIdent } from "./sqlite-tables.js";

/**
 * Merge's own tables, created in the campaign's store by the first merge (not a schema migration: shard
 * stores and unsharded campaigns never have them, and every other ezone reads past them).
 */
export const MERGE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS merged_shards (
    shard       TEXT PRIMARY KEY, -- e.g. 'shards/2'
    fingerprint TEXT NOT NULL,    -- the shard's rows per table when it was merged
    merged_at   TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS merge_conflicts (
    id         INTEGER PRIMARY KEY,
    shard      TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_key    TEXT NOT NULL, -- JSON of the key columns
    kept_json  TEXT NOT NULL, -- the row this store keeps
    shard_json TEXT NOT NULL, -- the shard's differing row, not merged
    found_at   TEXT NOT NULL,
    UNIQUE (shard, table_name, row_key, shard_json)
  );`;

/** The label a shard has in merge's bookkeeping and messages: `shards/<I>`. */
export function shardLabel(index: number): string {
  return `shards/${index}`;
}

/** Open shard `index`'s database read-only; refuse one written by a newer ezone. */
export function openShardStore(resultsDir: string, index: number): Database.Database {
  const path = join(shardDir(resultsDir, index), DB_FILE);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const version = userVersion(db);
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new UsageError(
      `${path}: schema version ${version} is newer than this ezone supports (${SCHEMA_VERSION}): merge with the ezone that wrote it`,
    );
  }
  return db;
}

/** Rows per table (merge's bookkeeping left out), as a stable JSON string. */
export function fingerprint(db: Database.Database): string {
  const counts = describeTables(db).map((t) => [
    t.name,
    db
      .prepare(`SELECT COUNT(*) FROM ${quoteIdent(t.name)}`)
      .pluck()
      .get() as number,
  ]);
  return JSON.stringify(Object.fromEntries(counts));
}

/**
 * Shards whose store holds rows the campaign's store has not merged (never merged, or grown since).
 * An empty list when there are no shards.
 */
export function unmergedShards(resultsDir: string): number[] {
  const shards = storedShards(resultsDir);
  if (shards.length === 0) return [];
  const merged = new Map<string, string>();
  const mainPath = join(resultsDir, DB_FILE);
  if (existsSync(mainPath)) {
    const main = new Database(mainPath, { readonly: true });
    try {
      const has = main.prepare("SELECT 1 FROM sqlite_master WHERE name = 'merged_shards'").get();
      if (has) {
        for (const r of main.prepare("SELECT shard, fingerprint FROM merged_shards").all() as {
          shard: string;
          fingerprint: string;
        }[])
          merged.set(r.shard, r.fingerprint);
      }
    } finally {
      main.close();
    }
  }
  return shards.filter((i) => {
    const db = openShardStore(resultsDir, i);
    try {
      return merged.get(shardLabel(i)) !== fingerprint(db);
    } finally {
      db.close();
    }
  });
}

/** Tell the reader of a report that shards hold runs the report does not show yet (on stderr). */
export function warnUnmergedShards(resultsDir: string, out: NodeJS.WritableStream = process.stderr): void {
  const unmerged = unmergedShards(resultsDir);
  if (unmerged.length === 0) return;
  out.write(
    `ezone: ${unmerged.length} shard(s) of ${resultsDir} hold runs not merged yet (${unmerged.map(shardLabel).join(", ")}): ` +
      `this report leaves them out; run \`ezone merge ${resultsDir}\`\n`,
  );
}
