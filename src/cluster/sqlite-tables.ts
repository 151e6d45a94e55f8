/**
 * What `ezone merge` knows of a results database, read from SQLite itself (sqlite_master and the table
 * pragmas) rather than from ezone's schema: tables another feature adds are merged without a change here.
 */
import type Database from "better-sqlite3";

/** One table as merge sees it. */
export interface TableInfo {
  name: string;
  /** Every column, in declaration order. */
  columns: string[];
  /** The INTEGER PRIMARY KEY column (an alias of the rowid, renumbered on copy), or null. */
  rowid: string | null;
  /** The columns of the first UNIQUE constraint other than the rowid (a run's `run_key`), or null. */
  uniqueKey: string[] | null;
  /** Columns that hold another table's rowid; remapped on copy. */
  foreignKeys: { column: string; parent: string }[];
}

/** Tables merge writes for itself and never copies. */
export const MERGE_BOOKKEEPING = ["merged_shards", "merge_conflicts"] as const;

interface ColumnRow {
  name: string;
  type: string;
  pk: number;
}

/** Every table of `db` except SQLite's own and merge's bookkeeping, parents before the tables citing them. */
export function describeTables(db: Database.Database): TableInfo[] {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const tables = names
    .filter((n) => !(MERGE_BOOKKEEPING as readonly string[]).includes(n))
    .map((n) => describeTable(db, n));
  return parentsFirst(tables);
}

function describeTable(db: Database.Database, name: string): TableInfo {
  const q = quoteIdent(name);
  const cols = db.prepare(`PRAGMA table_info(${q})`).all() as ColumnRow[];
  const pks = cols.filter((c) => c.pk > 0);
  const rowid = pks.length === 1 && pks[0]?.type.toUpperCase() === "INTEGER" ? (pks[0]?.name ?? null) : null;
  const indexes = db.prepare(`PRAGMA index_list(${q})`).all() as { name: string; unique: number }[];
  let uniqueKey: string[] | null = null;
  for (const idx of indexes.filter((i) => i.unique === 1)) {
    const idxCols = (
      db.prepare(`PRAGMA index_info(${quoteIdent(idx.name)})`).all() as { name: string }[]
    ).map((c) => c.name);
    if (idxCols.length > 0 && !(idxCols.length === 1 && idxCols[0] === rowid)) {
      uniqueKey = idxCols;
      break;
    }
  }
  const fks = db.prepare(`PRAGMA foreign_key_list(${q})`).all() as { table: string; from: string }[];
  return {
    name,
    columns: cols.map((c) => c.name),
    rowid,
    uniqueKey,
    foreignKeys: fks.map((f) => ({ column: f.from, parent: f.table })),
  };
}

/** Order tables so every parent comes before the tables whose foreign keys cite it (name order otherwise). */
export function parentsFirst(tables: TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const out: TableInfo[] = [];
  const visit = (t: TableInfo, path: string[]) => {
    if (done.has(t.name)) return;
    if (path.includes(t.name)) throw new Error(`foreign keys form a cycle: ${[...path, t.name].join(" → ")}`);
    for (const fk of t.foreignKeys) {
      const parent = byName.get(fk.parent);
      if (parent && parent !== t) visit(parent, [...path, t.name]);
    }
    done.add(t.name);
    out.push(t);
  };
  for (const t of tables) visit(t, []);
  return out;
}

/** A SQL identifier, quoted (table and column names come from the database file). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
