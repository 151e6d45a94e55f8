/**
 * The record `ezone slurm submit` leaves in `<results>/slurm/submission.json`: which campaign (by config
 * hash) the shards belong to, how many there are and the Slurm job that runs them. `merge` checks shards
 * against it; `slurm status` asks Slurm about its job.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { slurmDir } from "./layout.js";

const submissionSchema = z.strictObject({
  campaign: z.string().min(1),
  configHash: z.string().regex(/^[0-9a-f]{64}$/),
  campaignFile: z.string().min(1),
  shards: z.number().int().min(1),
  jobId: z.string().regex(/^\d+$/),
  script: z.string().min(1),
  submittedAt: z.string(),
});

/** One submitted job array. */
export type Submission = z.output<typeof submissionSchema>;

/** The record's path under a results directory. */
export function submissionFile(resultsDir: string): string {
  return join(slurmDir(resultsDir), "submission.json");
}

/** The submission record, or null when the campaign was not submitted with `ezone slurm submit`. */
export function readSubmission(resultsDir: string): Submission | null {
  const file = submissionFile(resultsDir);
  if (!existsSync(file)) return null;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(file, [{ path: "", message: `expected JSON: ${(e as Error).message}` }]);
  }
  const parsed = submissionSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    );
  }
  return parsed.data;
}

/** Write the record whole (temp file renamed into place). */
export function writeSubmission(resultsDir: string, s: Submission): void {
  const file = submissionFile(resultsDir);
  const tmp = `${file}.${process.pid}.tmp`;
  mkdirSync(slurmDir(resultsDir), { recursive: true });
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, file);
}
