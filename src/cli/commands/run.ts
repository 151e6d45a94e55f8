import { loadCampaign } from "../../campaign/load.js";
import { parseShard } from "../../campaign/shard.js";
import { shardDir } from "../../cluster/layout.js";
import { isResult, OUTCOMES, type Outcome } from "../../model/outcome-types.js";
import { Store } from "../../store/store.js";
import { ConfigError, ExitError } from "../../util/errors.js";
import { runCampaignSession, summaryLine } from "../campaign-session.js";
import { paperReport } from "./report.js";

export interface RunCliOptions {
  results?: string;
  resume?: boolean;
  jobs?: string;
  failOn?: string;
  /** commander's negation of --no-snapshot */
  snapshot?: boolean;
  /** `I/N`: run only shard I of N, into `<results>/shards/<I>/`. */
  shard?: string;
}

/** Parse `--fail-on a,b` into outcomes, rejecting unknown names (exit 2). */
export function parseFailOn(value: string | undefined): Outcome[] {
  if (!value) return [];
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(OUTCOMES as readonly string[]).includes(n));
  if (bad.length > 0) {
    throw new ConfigError("--fail-on", [
      { path: bad.join(","), message: `expected outcomes among ${OUTCOMES.join(", ")}` },
    ]);
  }
  return names as Outcome[];
}

function parseJobs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new ConfigError("--jobs", [{ path: value, message: "expected a whole number from 1 to 256" }]);
  }
  return n;
}

/**
 * `ezone run <campaign.yaml>`: build (or reuse) the image, run every backend × fault × repetition not
 * yet stored, then print the paper's table from the stored runs. Re-running resumes (`--resume` is the
 * default behaviour, accepted for clarity). With `--shard I/N` only shard I's cells run, into
 * `<results>/shards/<I>/` (see `ezone merge`). Exit codes: 0 done, 1 a result matched --fail-on, 3 only
 * infra-errors or boot-errors or the campaign stopped itself (quarantine, disk full), 130 interrupted.
 */
export async function run(file: string, opts: RunCliOptions): Promise<void> {
  const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
  const whole = loadCampaign(file, opts.results);
  const loaded = shard ? { ...whole, resultsDir: shardDir(whole.resultsDir, shard.index) } : whole;
  const failOn = parseFailOn(opts.failOn);
  await runCampaignSession(loaded, {
    jobs: parseJobs(opts.jobs),
    noSnapshot: opts.snapshot === false,
    shard,
    report: (summary) => {
      for (const r of paperReport(loaded.resultsDir, loaded.config.name)) {
        process.stdout.write(
          `\nCampaign ${r.campaign}: E-Zone 3 (guest kernel) fault, as in Naughton et al. §4\n${r.table}\n`,
        );
      }
      process.stdout.write(`\n${summaryLine(summary)}\n`);
    },
    check: (summary) => {
      const results = OUTCOMES.filter((o) => isResult(o) && (summary.outcomes[o] ?? 0) > 0);
      if (summary.executed > 0 && results.length === 0) throw new ExitError(3);
      if (failOn.length === 0) return;
      using store = Store.open(loaded.resultsDir);
      const hits = store.runs({ campaign: loaded.config.name }).filter((r) => failOn.includes(r.outcome));
      if (hits.length > 0) {
        process.stderr.write(`ezone: ${hits.length} run(s) ended in ${failOn.join("/")} (--fail-on)\n`);
        throw new ExitError(1);
      }
    },
  });
}
