import { resolve } from "node:path";
import { boundedConsole } from "../../report/console-print.js";
import { renderRunShow } from "../../report/run-show.js";
import { readArtifact } from "../../store/artifacts.js";
import { openResults } from "../../store/open-results.js";
import type { Store, StoredRun } from "../../store/store.js";
import { ConfigError } from "../../util/errors.js";

export interface ShowOptions {
  results: string;
  /** Print the run's stored console (bounded, escaped) instead of the summary. */
  console?: boolean;
  /** Bound of `--console` in bytes (head and tail are kept). */
  maxBytes?: string;
}

/** Default bound of `--console`: a boot log and an oops fit; a flooded console is cut in the middle. */
export const DEFAULT_CONSOLE_PRINT_BYTES = 256 * 1024;

/** The stored run with this key; an unknown key is a config error that names near matches. */
export function findRun(store: Store, resultsDir: string, key: string): StoredRun {
  const runs = store.runs();
  const exact = runs.find((r) => r.runKey === key);
  if (exact) return exact;
  const near = runs.filter((r) => r.runKey.includes(key)).map((r) => r.runKey);
  const hint =
    near.length === 0
      ? `${runs.length} run(s) stored; \`ezone export ${resultsDir} --format csv\` lists their keys`
      : `did you mean: ${near.slice(0, 5).join(", ")}${near.length > 5 ? `, ... (${near.length} match)` : ""}`;
  throw new ConfigError(resultsDir, [{ path: key, message: `no stored run with this key; ${hint}` }]);
}

function parseMaxBytes(value: string | undefined): number {
  if (value === undefined) return DEFAULT_CONSOLE_PRINT_BYTES;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024) {
    throw new ConfigError("--max-bytes", [{ path: value, message: "expected an integer >= 1024" }]);
  }
  return n;
}

/**
 * `ezone show <run-key> --results DIR`: a stored run's verdict, reasons, evidence and the paths of its
 * artifacts; with `--console`, its console log (bounded, control characters made visible).
 */
export async function run(key: string, opts: ShowOptions): Promise<void> {
  const maxBytes = parseMaxBytes(opts.maxBytes);
  // Absolute, so the artifact paths printed can be used from any directory.
  const resultsDir = resolve(opts.results);
  using store = openResults(resultsDir);
  const found = findRun(store, opts.results, key);
  const artifacts = store.artifactsFor(found.id);
  if (!opts.console) {
    process.stdout.write(
      renderRunShow({
        run: found,
        probes: store.probesFor(found.id),
        artifacts,
        violations: store.runViolations(found.runKey),
      }),
    );
    return;
  }
  const consoleArtifact = artifacts.find((a) => a.kind === "console");
  if (!consoleArtifact) {
    throw new ConfigError(opts.results, [{ path: key, message: "this run has no stored console" }]);
  }
  let log: Buffer;
  try {
    log = await readArtifact(resultsDir, consoleArtifact.sha256);
  } catch (err) {
    throw new ConfigError(consoleArtifact.path, [{ path: "", message: (err as Error).message }]);
  }
  if (log.length === 0) process.stderr.write("ezone: the stored console of this run is empty\n");
  process.stdout.write(boundedConsole(log, maxBytes));
}
