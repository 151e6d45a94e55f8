/**
 * Copy the rows of one shard database into the campaign's database, table by table and column by
 * column name, inside the caller's transaction. Rowids are renumbered and the foreign keys citing them
 * remapped. A row whose unique key (a run's `run_key`) is already there is a no-op when its content is
 * identical and a conflict when it is not: the row kept is the one already there, the shard's is written
 * to `merge_conflicts` and its child rows (evidence, probes, ...) are not copied. A table without a unique
 * key is a multiset of rows: a row is copied as many times as the shard has it more than the store does.
 */
import type Database from "better-sqlite3";
import { quoteIdent, type TableInfo } from "./sqlite-tables.js";

type Value = string | number | bigint | Buffer | null;
type Row = Record<string, Value>;

/**
 * Keyed tables whose rows legitimately differ between shards. `campaigns`: each shard registers the
 * campaign with its own `created_at` (the config hash is checked before any merge). `statements`: a
 * backend's availability as last probed; the store keeps the latest one, so merge does too.
 */
const ON_DIFFERENT: Record<string, { keep: "existing" } | { keep: "newest"; by: string }> = {
  campaigns: { keep: "existing" },
  statements: { keep: "newest", by: "checked_at" },
};

/** What merging one shard's rows did. */
export interface RowMergeCounts {
  /** Rows copied, per table. */
  inserted: Record<string, number>;
  /** Rows already there: the same content, or a difference the table's rule accepts. */
  identical: number;
  /** Rows (with their children) not copied because their key holds other content; newly recorded ones. */
  conflicts: number;
  /** Child rows not copied because their parent row was a conflict. */
  skippedChildren: number;
}

/** Per-merge state: which source rowid became which target rowid, and which target rows are new. */
interface MergeContext {
  target: Database.Database;
  source: Database.Database;
  shard: string;
  ids: Map<string, Map<number | bigint, number | bigint>>;
  fresh: Map<string, Set<number | bigint>>;
  counts: RowMergeCounts;
}

/** Merge every table of `tables` (parents first) from `source` into `target`. */
export function mergeRows(
  target: Database.Database,
  source: Database.Database,
  tables: TableInfo[],
  shard: string,
): RowMergeCounts {
  const ctx: MergeContext = {
    target,
    source,
    shard,
    ids: new Map(),
    fresh: new Map(),
    counts: { inserted: {}, identical: 0, conflicts: 0, skippedChildren: 0 },
  };
  for (const t of tables) mergeTable(ctx, t);
  return ctx.counts;
}

function mergeTable(ctx: MergeContext, t: TableInfo): void {
  const ids = new Map<number | bigint, number | bigint>();
  const fresh = new Set<number | bigint>();
  ctx.ids.set(t.name, ids);
  ctx.fresh.set(t.name, fresh);
  const columns = t.columns.filter((c) => c !== t.rowid);
  const insert = ctx.target.prepare(
    `INSERT INTO ${quoteIdent(t.name)} (${columns.map(quoteIdent).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
  );
  const seen = new Map<string, number>();
  for (const raw of ctx.source.prepare(`SELECT * FROM ${quoteIdent(t.name)}`).iterate() as Iterable<Row>) {
    const row = remapParents(ctx, t, raw);
    if (!row) {
      ctx.counts.skippedChildren++;
      continue;
    }
    const existing = t.uniqueKey ? findByKey(ctx, t, row) : findNthCopy(ctx, t, row, columns, seen);
    if (existing === null) {
      const id = insert.run(...columns.map((c) => row[c] ?? null)).lastInsertRowid;
      if (t.rowid) {
        ids.set(raw[t.rowid] as number, id);
        fresh.add(id);
      }
      ctx.counts.inserted[t.name] = (ctx.counts.inserted[t.name] ?? 0) + 1;
      continue;
    }
    if (!sameRow(existing, row, columns) && !resolveDifference(ctx, t, existing, row, columns)) {
      continue; // a conflict: the shard's row is not mapped, so its children are not copied either
    }
    ctx.counts.identical++;
    if (t.rowid) ids.set(raw[t.rowid] as number, existing[t.rowid] as number);
  }
}

/** The row with its foreign keys pointing at target rowids; null when a parent was not merged. */
function remapParents(ctx: MergeContext, t: TableInfo, raw: Row): Row | null {
  const row: Row = { ...raw };
  for (const fk of t.foreignKeys) {
    const v = raw[fk.column];
    if (v === null || v === undefined) continue;
    const mapped = ctx.ids.get(fk.parent)?.get(v as number);
    if (mapped === undefined) return null;
    row[fk.column] = mapped;
  }
  return row;
}

function findByKey(ctx: MergeContext, t: TableInfo, row: Row): Row | null {
  const key = t.uniqueKey ?? [];
  const where = key.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
  const found = ctx.target
    .prepare(`SELECT * FROM ${quoteIdent(t.name)} WHERE ${where}`)
    .get(...key.map((c) => row[c] ?? null)) as Row | undefined;
  return found ?? null;
}

/**
 * A keyless table: the target's copy matching this row as the shard's n-th identical row, or null when
 * the target has fewer copies. Rows under a parent created by this merge cannot exist yet: not searched.
 */
function findNthCopy(
  ctx: MergeContext,
  t: TableInfo,
  row: Row,
  columns: string[],
  seen: Map<string, number>,
): Row | null {
  const identity = rowJson(row, columns);
  const nth = (seen.get(identity) ?? 0) + 1;
  seen.set(identity, nth);
  if (t.foreignKeys.some((fk) => ctx.fresh.get(fk.parent)?.has(row[fk.column] as number))) return null;
  const where = columns.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
  const found = ctx.target
    .prepare(`SELECT * FROM ${quoteIdent(t.name)} WHERE ${where} LIMIT 1 OFFSET ?`)
    .get(...columns.map((c) => row[c] ?? null), nth - 1) as Row | undefined;
  return found ?? null;
}

/** Apply the table's rule for a differing row; false when it is a conflict (recorded). */
function resolveDifference(
  ctx: MergeContext,
  t: TableInfo,
  existing: Row,
  row: Row,
  columns: string[],
): boolean {
  const rule = ON_DIFFERENT[t.name];
  if (rule?.keep === "existing") return true;
  if (rule?.keep === "newest") {
    if (String(row[rule.by] ?? "") > String(existing[rule.by] ?? "")) {
      const key = t.uniqueKey ?? [];
      const set = columns.map((c) => `${quoteIdent(c)} = ?`).join(", ");
      const where = key.map((c) => `${quoteIdent(c)} IS ?`).join(" AND ");
      ctx.target
        .prepare(`UPDATE ${quoteIdent(t.name)} SET ${set} WHERE ${where}`)
        .run(...columns.map((c) => row[c] ?? null), ...key.map((c) => row[c] ?? null));
    }
    return true;
  }
  const key = Object.fromEntries((t.uniqueKey ?? []).map((c) => [c, row[c] ?? null]));
  const recorded = ctx.target
    .prepare(
      `INSERT OR IGNORE INTO merge_conflicts (shard, table_name, row_key, kept_json, shard_json, found_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    )
    .run(
      ctx.shard,
      t.name,
      rowJson(key, Object.keys(key)),
      rowJson(existing, columns),
      rowJson(row, columns),
      new Date().toISOString(),
    );
  ctx.counts.conflicts += recorded.changes;
  return false;
}

function sameRow(a: Row, b: Row, columns: string[]): boolean {
  return columns.every((c) => sameValue(a[c] ?? null, b[c] ?? null));
}

function sameValue(a: Value, b: Value): boolean {
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b))
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  // SQLite hands an integral REAL back as a JS number and a large INTEGER may come as bigint.
  return typeof a === "bigint" || typeof b === "bigint" ? String(a) === String(b) : a === b;
}

/** The row's columns as JSON (blobs as hex, bigints as strings), in column order. */
export function rowJson(row: Row, columns: string[]): string {
  return JSON.stringify(
    Object.fromEntries(
      columns.map((c) => {
        const v = row[c] ?? null;
        return [c, Buffer.isBuffer(v) ? `x'${v.toString("hex")}'` : typeof v === "bigint" ? String(v) : v];
      }),
    ),
  );
}
