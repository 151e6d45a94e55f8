import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../util/errors.js";
import { DB_FILE, Store } from "./store.js";

/** Open an existing results directory for reading; a directory without ezone.db is a usage error. */
export function openResults(resultsDir: string): Store {
  if (!existsSync(join(resultsDir, DB_FILE))) {
    throw new ConfigError(resultsDir, [
      { path: "", message: `no ${DB_FILE} here: expected a results directory` },
    ]);
  }
  return Store.open(resultsDir);
}
