/** Whether a results directory can be used, asked before a command builds or starts anything. */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DB_FILE } from "./store.js";

const SQLITE_HEADER = "SQLite format 3\0";

function startsLikeSqlite(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString("latin1") === SQLITE_HEADER;
  } finally {
    closeSync(fd);
  }
}

/**
 * Why results cannot be kept in `dir`, or undefined: it must be a writable directory or be creatable
 * in one, and an `ezone.db` already there must be a database. Checked before anything is built or run.
 */
export function resultsDirProblem(dir: string): string | undefined {
  // A path under a file (ENOTDIR) or an unreadable directory (EACCES) does not exist either, for this.
  const stat = (path: string) => {
    try {
      return statSync(path);
    } catch {
      return undefined;
    }
  };
  let existing = dir;
  while (!stat(existing) && dirname(existing) !== existing) existing = dirname(existing);
  if (!stat(existing)?.isDirectory()) {
    return existing === dir ? "exists and is not a directory" : `${existing} is not a directory`;
  }
  try {
    accessSync(existing, constants.W_OK);
  } catch {
    return `${existing} is not writable`;
  }
  const db = join(dir, DB_FILE);
  const st = stat(db);
  if (st && (!st.isFile() || !startsLikeSqlite(db))) return `${db} is not an ezone results database`;
  return undefined;
}
