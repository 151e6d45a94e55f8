import { loadCampaign } from "../../campaign/load.js";
import { MAX_SHARDS } from "../../campaign/shard.js";
import { unmergedShards } from "../../cluster/shard-store.js";
import { campaignStatus } from "../../cluster/slurm-status.js";
import { jobScriptFor, type SubmitOptions, submitCampaign } from "../../cluster/slurm-submit.js";
import { ConfigError } from "../../util/errors.js";
import { escapeControl } from "../../util/escape.js";

export interface SlurmSubmitCliOptions {
  shards: string;
  results?: string;
  partition?: string;
  time?: string;
  account?: string;
  /** More sbatch options, blank-separated. */
  extra?: string;
  jobs?: string;
  maxParallel?: string;
  /** commander's negation of --no-exclusive */
  exclusive?: boolean;
  /** commander's negation of --no-snapshot */
  snapshot?: boolean;
  dryRun?: boolean;
}

function wholeNumber(flag: string, value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ConfigError(flag, [{ path: value, message: `expected a whole number from 1 to ${max}` }]);
  }
  return n;
}

/** Parse the job-shaping flags (exit 2 on a bad one). */
export function parseSubmitOptions(o: SlurmSubmitCliOptions): SubmitOptions {
  const extra = (o.extra ?? "").split(/\s+/).filter(Boolean);
  const notOption = extra.find((a) => !a.startsWith("-"));
  if (notOption !== undefined) {
    throw new ConfigError("--extra", [
      { path: escapeControl(notOption), message: "expected sbatch options, each written --name=value" },
    ]);
  }
  return {
    shards: wholeNumber("--shards", o.shards, MAX_SHARDS) as number,
    partition: o.partition,
    time: o.time,
    account: o.account,
    extra,
    jobs: wholeNumber("--jobs", o.jobs, 256),
    maxParallel: wholeNumber("--max-parallel", o.maxParallel, MAX_SHARDS),
    exclusive: o.exclusive !== false,
    noSnapshot: o.snapshot === false,
  };
}

/**
 * `ezone slurm submit <campaign.yaml> --shards N`: the campaign as a Slurm job array, one shard per task,
 * results in `<results>/shards/<I>/`. `--dry-run` prints the job script and submits nothing.
 */
export async function submit(file: string, o: SlurmSubmitCliOptions): Promise<void> {
  const opts = parseSubmitOptions(o);
  const loaded = loadCampaign(file, o.results);
  if (o.dryRun) {
    process.stdout.write(jobScriptFor(loaded, opts));
    return;
  }
  const s = await submitCampaign(loaded, opts);
  process.stdout.write(
    `${s.jobId}\n` +
      `ezone: submitted campaign ${s.campaign} as Slurm job ${s.jobId} (${s.shards} shard(s), script ${s.script})\n` +
      `  ezone slurm status ${loaded.resultsDir}    # shards done / running / pending / failed\n` +
      `  ezone merge ${loaded.resultsDir}           # once they are done (or to merge what is there)\n`,
  );
}

/** `ezone slurm status <results>`: every shard's state, node and stored runs. */
export async function status(resultsDir: string, o: { json?: boolean }): Promise<void> {
  const st = await campaignStatus(resultsDir);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
    return;
  }
  const { submission: s } = st;
  process.stdout.write(`campaign ${s.campaign}, Slurm job ${s.jobId}, ${s.shards} shard(s)\n`);
  if (st.queueNote) process.stdout.write(`(${st.queueNote})\n`);
  for (const sh of st.shards) {
    process.stdout.write(
      `  shard ${String(sh.index).padEnd(4)} ${sh.state.padEnd(8)} ${escapeControl(sh.node ?? "-").padEnd(16)} ` +
        `${String(sh.runs).padStart(5)} run(s)  ${escapeControl(sh.detail)}\n`,
    );
  }
  const count = (state: string) => st.shards.filter((x) => x.state === state).length;
  process.stdout.write(
    `${count("done")} done, ${count("running")} running, ${count("pending")} pending, ${count("failed")} failed, ${count("unknown")} unknown\n`,
  );
  const unmerged = unmergedShards(resultsDir);
  if (unmerged.length > 0)
    process.stdout.write(`${unmerged.length} shard(s) not merged yet: ezone merge ${resultsDir}\n`);
}
