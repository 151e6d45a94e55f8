/**
 * `ezone slurm submit`: check everything first (campaign file, flags, sbatch on PATH; the results
 * directory was checked when the campaign was loaded), then register the campaign in its store, write the
 * job script beside it and submit it. Nothing is submitted when a check fails.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { LoadedCampaign } from "../campaign/load.js";
import { Store } from "../store/store.js";
import { InfraError, UsageError } from "../util/errors.js";
import { projectRoot } from "../util/project-root.js";
import { type JobScriptOptions, renderJobScript } from "./job-script.js";
import { slurmDir } from "./layout.js";
import { onPath, slurmTool } from "./slurm-tools.js";
import { type Submission, writeSubmission } from "./submission.js";

/** The flags of `slurm submit` that shape the job, already parsed. */
export type SubmitOptions = Omit<
  JobScriptOptions,
  "campaign" | "campaignFile" | "resultsDir" | "node" | "cli"
>;

/** The job script `submit` would write for `loaded`, with ezone started as this process was. */
export function jobScriptFor(loaded: LoadedCampaign, opts: SubmitOptions): string {
  const cli = join(projectRoot(), "dist", "cli", "main.js");
  if (!existsSync(cli)) throw new UsageError(`${cli} is missing: build ezone first (npm run build)`);
  return renderJobScript({
    ...opts,
    campaign: loaded.config.name,
    campaignFile: resolve(loaded.file),
    resultsDir: resolve(loaded.resultsDir),
    node: process.execPath,
    cli,
  });
}

/** Submit the campaign as a job array; returns the submission record (also written to the results). */
export async function submitCampaign(loaded: LoadedCampaign, opts: SubmitOptions): Promise<Submission> {
  const script = jobScriptFor(loaded, opts);
  if (!(await onPath("sbatch"))) {
    throw new UsageError(
      "sbatch is not on PATH: submit from a Slurm login node (or see the job script with --dry-run)",
    );
  }
  const resultsDir = resolve(loaded.resultsDir);
  {
    using store = Store.open(resultsDir);
    store.ensureCampaign(loaded.config.name, JSON.stringify(loaded.config), configHash(loaded));
  }
  const file = join(slurmDir(resultsDir), "job.sbatch");
  mkdirSync(slurmDir(resultsDir), { recursive: true });
  writeFileSync(`${file}.tmp`, script, { mode: 0o755 });
  renameSync(`${file}.tmp`, file);
  let out: string;
  try {
    out = await slurmTool("sbatch", ["--parsable", file]);
  } catch (e) {
    rmSync(file, { force: true });
    throw e;
  }
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  const jobId = out.trim().split(";")[0] ?? "";
  if (!/^\d+$/.test(jobId)) {
    throw new InfraError(
      "slurm.sbatch",
      `expected a job id from sbatch --parsable, got ${JSON.stringify(out.slice(0, 200))}`,
    );
  }
  const submission: Submission = {
    campaign: loaded.config.name,
    configHash: configHash(loaded),
    campaignFile: resolve(loaded.file),
    shards: opts.shards,
    jobId,
    script: file,
    submittedAt: new Date().toISOString(),
  };
  writeSubmission(resultsDir, submission);
  return submission;
}

/** The campaign's identity in its store (what `ezone run` registers): the hash of the file's text. */
function configHash(loaded: LoadedCampaign): string {
  return createHash("sha256").update(loaded.text).digest("hex");
}
