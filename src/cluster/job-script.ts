/**
 * The sbatch script of a sharded campaign: a job array of N tasks, task I running shard I into
 * `<results>/shards/<I>/`. Requeue-safe: a requeued task starts again from the top, and `ezone run`
 * resumes its shard store (stored runs are never repeated). Pure: the same options give the same text.
 */

import { ConfigError } from "../util/errors.js";
import { escapeControl, shellQuote } from "../util/escape.js";
import { OWNER_ENV } from "../util/owner-tag.js";
import { EXIT_FILE, shardsRoot, slurmDir } from "./layout.js";

/** What the job script is made of. */
export interface JobScriptOptions {
  campaign: string;
  /** Absolute paths, as every node sees them (a shared file system). */
  campaignFile: string;
  resultsDir: string;
  shards: number;
  /** At most this many tasks at once (`--array=0-N%M`); absent = as many as Slurm gives. */
  maxParallel?: number;
  partition?: string;
  time?: string;
  account?: string;
  /** Ask for a whole node per task (the default: runs measure their host). */
  exclusive: boolean;
  /** More sbatch options, each one argument, e.g. `--cpus-per-task=1`. */
  extra: string[];
  /** `ezone run --jobs` per task; absent = the node's default (from its cores and memory). */
  jobs?: number;
  noSnapshot: boolean;
  /** How to start ezone on a node: node's binary and ezone's CLI script. */
  node: string;
  cli: string;
}

/** Characters an `#SBATCH` line cannot carry in a value: sbatch splits on blanks and expands `%`. */
const SBATCH_UNSAFE = /[\s%"'\\]/;

/** The job script's text. Throws ConfigError when a value cannot be written into an #SBATCH line. */
export function renderJobScript(o: JobScriptOptions): string {
  const directives = [
    `--job-name=${sbatchValue("campaign name", `ezone-${o.campaign}`)}`,
    `--array=0-${o.shards - 1}${o.maxParallel ? `%${o.maxParallel}` : ""}`,
    "--requeue",
    // A requeued task appends to its log instead of wiping what the first attempt printed.
    "--open-mode=append",
    `--output=${sbatchValue("--results", slurmDir(o.resultsDir))}/shard-%a.log`,
    ...(o.exclusive ? ["--exclusive"] : []),
    ...(o.partition ? [`--partition=${sbatchValue("--partition", o.partition)}`] : []),
    ...(o.time ? [`--time=${sbatchValue("--time", o.time)}`] : []),
    ...(o.account ? [`--account=${sbatchValue("--account", o.account)}`] : []),
    ...o.extra.map((a) => sbatchValue("--extra", a)),
  ];
  const run = [
    ...[o.node, o.cli, "run", o.campaignFile, "--results", o.resultsDir].map(shellQuote),
    `--shard "$shard/${o.shards}"`,
    ...(o.jobs ? [`--jobs ${o.jobs}`] : []),
    ...(o.noSnapshot ? ["--no-snapshot"] : []),
  ];
  const dir = `${shellQuote(shardsRoot(o.resultsDir))}/"$shard"`;
  return [
    "#!/bin/bash",
    `# ezone campaign ${o.campaign}: ${o.shards} shard(s) as a Slurm job array (written by \`ezone slurm submit\`)`,
    ...directives.map((d) => `#SBATCH ${d}`),
    "set -u",
    // sbatch hands the submitting shell's environment to the job: an ezone owner tag there names a
    // process long gone, and another shard's orphan sweep would kill this task's ezone.
    `unset ${OWNER_ENV}`,
    `shard="\${SLURM_ARRAY_TASK_ID:?run this script with sbatch: it is a job array}"`,
    `node="\${SLURMD_NODENAME:-$(hostname)}"`,
    `mkdir -p ${dir}`,
    `rm -f ${dir}/${EXIT_FILE}`,
    `echo "ezone: shard $shard/${o.shards} on $node, restart \${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)"`,
    run.join(" "),
    "rc=$?",
    "# How the task ended, for `ezone slurm status` (Slurm's own record of it needs slurmdbd).",
    `printf '{"exitCode":%d,"node":"%s","restarts":%d,"finishedAt":"%s"}\\n' "$rc" "$node" "\${SLURM_RESTART_COUNT:-0}" "$(date -u +%FT%TZ)" > ${dir}/${EXIT_FILE}.tmp`,
    `mv ${dir}/${EXIT_FILE}.tmp ${dir}/${EXIT_FILE}`,
    'exit "$rc"',
    "",
  ].join("\n");
}

function sbatchValue(flag: string, value: string): string {
  if (value.length === 0 || SBATCH_UNSAFE.test(value)) {
    throw new ConfigError(flag, [
      {
        path: escapeControl(value),
        message: "expected a value without blanks, quotes, backslashes or '%' (it goes into an #SBATCH line)",
      },
    ]);
  }
  return value;
}
