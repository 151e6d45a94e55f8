import { resolve } from "node:path";
import { stringify } from "yaml";
import { BACKEND_NAMES, type BackendName } from "../../backends/index.js";
import type { LoadedCampaign } from "../../campaign/load.js";
import { parseCampaign } from "../../campaign/load.js";
import { SHARED_KERNEL_TYPES } from "../../campaign/schema.js";
import { FAULT_NAMES, type FaultName, faultSpec } from "../../faults/catalogue.js";
import { renderZoneMatrix, zoneMatrix } from "../../report/zone-matrix.js";
import { Store } from "../../store/store.js";
import { ConfigError } from "../../util/errors.js";
import { runCampaignSession, summaryLine } from "../campaign-session.js";

export interface MatrixOptions {
  runs?: string;
  backends?: string;
  faults?: string;
  results?: string;
  jobs?: string;
  /** commander's negation of --no-snapshot */
  snapshot?: boolean;
  json?: boolean;
}

/** The campaign the matrix runs under: one name, so re-running resumes and adds repetitions. */
export const MATRIX_CAMPAIGN = "matrix";

function intFlag(flag: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ConfigError(flag, [{ path: value, message: `expected a whole number from 1 to ${max}` }]);
  }
  return n;
}

/** A comma list checked against the known names; absent = all of `known` minus `exclude`. */
function listFlag<T extends string>(
  flag: string,
  value: string | undefined,
  known: readonly T[],
  exclude: T[],
): T[] {
  if (value === undefined || value === "all") return known.filter((k) => !exclude.includes(k));
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(known as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw new ConfigError(flag, [
      { path: bad.join(",") || value, message: `expected a comma list among ${known.join(", ")}` },
    ]);
  }
  return names as T[];
}

/**
 * The matrix as a campaign file's text: every backend × every fault (not the control run), triggered
 * over the console at once, `runs` repetitions each. Validated by the same schema as a user's campaign.
 */
export function matrixCampaignText(runs: number, backends: BackendName[], faults: string[]): string {
  return stringify({
    name: MATRIX_CAMPAIGN,
    description: "ezone matrix: every supported (backend, fault) pair, backend × error zone",
    repetitions: runs,
    backends: backends.map(matrixBackend),
    // A bit flip has no trigger: it is `runs` flips into the workload's data (qemu-tcg and native).
    faults: faults.map((name) =>
      name === "bitflip"
        ? { name, target: "data", flips: runs }
        : { name, trigger: { mode: "command", delaySeconds: 0 } },
    ),
    // Many short runs on what is often a shared machine: a busy moment (baseline probe) is retried more
    // before a run is left as infra-error, and before the host is quarantined.
    infra: { retries: 2, quarantineAfter: 8 },
  });
}

/**
 * The faults of `--faults` (default `all`: every fault but the control run, ezone's self-checks and the
 * zone-3 twins of zone-1 modules).
 */
export function matrixFaults(value: string | undefined): FaultName[] {
  const leftOut = FAULT_NAMES.filter(
    (f) => faultSpec(f).selfCheck === true || faultSpec(f).twinOf !== undefined,
  );
  return listFlag("--faults", value, FAULT_NAMES, ["none", ...leftOut]);
}

/**
 * A matrix backend entry: each cell on the real host where it may run there, else in the disposable host
 * (zone 1, a shared kernel's zone 3, native's bounded hogs), so no cell is refused for the real host's
 * sake; a shared-kernel enclave's zone-3 cells run privileged and unprivileged.
 */
function matrixBackend(name: BackendName) {
  return {
    name,
    type: name,
    host: "auto",
    ...(SHARED_KERNEL_TYPES.includes(name) ? { privileges: "both" } : {}),
  };
}

/**
 * `ezone matrix --runs N`: run every supported (backend, fault) pair through the campaign runner (stored,
 * resumable: re-running adds only what is missing), then print backend × zone from the stored runs with
 * refused and skipped cells and their reasons, and the wall time.
 */
export async function run(opts: MatrixOptions): Promise<void> {
  const runs = intFlag("--runs", opts.runs, 3, 1000);
  const jobs = opts.jobs === undefined ? undefined : intFlag("--jobs", opts.jobs, 1, 256);
  const backends = listFlag("--backends", opts.backends, BACKEND_NAMES, []);
  const faults = matrixFaults(opts.faults);
  const text = matrixCampaignText(runs, backends, faults);
  const loaded: LoadedCampaign = {
    file: "(ezone matrix)",
    config: parseCampaign(text, "(ezone matrix)"),
    text,
    resultsDir: resolve(opts.results ?? `results/${MATRIX_CAMPAIGN}`),
  };
  const started = performance.now();
  await runCampaignSession(loaded, {
    jobs,
    noSnapshot: opts.snapshot === false,
    report: (summary) => {
      using store = Store.open(loaded.resultsDir);
      const matrix = zoneMatrix(
        store.runs({ campaign: MATRIX_CAMPAIGN }),
        store.statements(MATRIX_CAMPAIGN),
        backends,
      );
      const wallS = (performance.now() - started) / 1000;
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ matrix, summary, wallSeconds: wallS }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `\n${renderZoneMatrix(matrix, { color: process.stdout.isTTY === true })}\n` +
          `\n${summaryLine(summary)}; matrix wall time ${wallS.toFixed(1)} s\n`,
      );
    },
  });
}
