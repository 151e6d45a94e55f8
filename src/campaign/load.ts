import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DB_FILE } from "../store/store.js";
import { ConfigError } from "../util/errors.js";
import { configErrorAt, parseYamlConfig, readConfigText } from "../util/yaml-config.js";
import { type CampaignConfig, campaignSchema } from "./schema.js";

/** A validated campaign and where it came from. */
export interface LoadedCampaign {
  file: string;
  config: CampaignConfig;
  /** The file's text, stored with the campaign. */
  text: string;
  resultsDir: string;
}

/** Parse and validate campaign YAML text; every error names the file, line, column and key path. */
export function parseCampaign(text: string, file: string): CampaignConfig {
  return parseYamlConfig(text, file, campaignSchema, "campaign");
}

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

/** Read a campaign file; results default to results/<name> beside the current directory. */
export function loadCampaign(file: string, resultsOverride?: string): LoadedCampaign {
  const text = readConfigText(file);
  const config = parseCampaign(text, file);
  const resultsDir = resultsOverride
    ? resolve(resultsOverride)
    : config.results
      ? resolve(dirname(resolve(file)), config.results)
      : resolve("results", config.name);
  const problem = resultsDirProblem(resultsDir);
  if (problem) {
    const message = `results directory ${resultsDir}: ${problem}`;
    if (resultsOverride) throw new ConfigError("--results", [{ path: resultsOverride, message }]);
    if (config.results) throw configErrorAt(text, file, ["results"], message);
    throw new ConfigError(file, [{ path: "name", message }]);
  }
  return { file, config, text, resultsDir };
}
