/**
 * `ezone slurm status <results>`: the shards of a submitted campaign, from squeue and the shard stores.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { UsageError } from "../util/errors.js";
import { EXIT_FILE, shardDir, storedShards } from "./layout.js";
import {
  type ExitRecord,
  parseSqueue,
  type ShardRuns,
  type ShardStatus,
  shardStatus,
} from "./shard-status.js";
import { openShardStore } from "./shard-store.js";
import { onPath, slurmTool } from "./slurm-tools.js";
import { readSubmission, type Submission, submissionFile } from "./submission.js";

/** The answer of `slurm status`. */
export interface CampaignStatus {
  submission: Submission;
  shards: ShardStatus[];
  /** Why the queue could not be asked (no squeue on PATH), or null. */
  queueNote: string | null;
}

const exitRecordSchema = z.object({
  exitCode: z.number().int(),
  node: z.string().max(256),
  restarts: z.number().int(),
  finishedAt: z.string().max(64),
});

/** Status of every shard of the campaign submitted into `resultsDir`. */
export async function campaignStatus(resultsDir: string): Promise<CampaignStatus> {
  const submission = readSubmission(resultsDir);
  if (!submission) {
    throw new UsageError(
      `${resultsDir}: no ${submissionFile(resultsDir)}: was this campaign submitted with \`ezone slurm submit\`?`,
    );
  }
  let queueNote: string | null = null;
  let queued: ReturnType<typeof parseSqueue> = [];
  if (await onPath("squeue")) {
    queued = parseSqueue(
      await slurmTool("squeue", [
        "--noheader",
        "--array",
        `--jobs=${submission.jobId}`,
        "--format=%K|%T|%N|%r",
      ]).catch((e: Error) => {
        // A job that left the queue (MinJobAge) is "invalid" to squeue: nothing of it is queued.
        if (/Invalid job id/i.test(e.message)) return "";
        throw e;
      }),
    );
  } else {
    queueNote = "squeue is not on PATH: shown from the shard stores only";
  }
  const stored = new Set(storedShards(resultsDir));
  const shards = Array.from({ length: submission.shards }, (_, i) =>
    shardStatus(
      i,
      queued.find((t) => t.index === i),
      readExitRecord(resultsDir, i),
      stored.has(i) ? shardRuns(resultsDir, i) : null,
    ),
  );
  return { submission, shards, queueNote };
}

function readExitRecord(resultsDir: string, index: number): ExitRecord | null {
  const file = join(shardDir(resultsDir, index), EXIT_FILE);
  if (!existsSync(file)) return null;
  try {
    return exitRecordSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return null; // written by the job script: a broken one means the task died writing it
  }
}

/** What shard `index`'s store holds: its runs, the latest host, the infra-errors it ended on. */
function shardRuns(resultsDir: string, index: number): ShardRuns {
  const db = openShardStore(resultsDir, index);
  try {
    const latest = db
      .prepare(
        `SELECT r.outcome, p.hostname FROM runs r LEFT JOIN provenance p ON p.run_id = r.id
         ORDER BY r.finished_at DESC, r.id DESC LIMIT 1000`,
      )
      .all() as { outcome: string; hostname: string | null }[];
    const config = db.prepare("SELECT config_json FROM campaigns ORDER BY id LIMIT 1").pluck().get() as
      | string
      | undefined;
    const quarantineAfter =
      (JSON.parse(config ?? "{}") as { infra?: { quarantineAfter?: number } }).infra?.quarantineAfter ?? 3;
    const trailing = latest.findIndex((r) => r.outcome !== "infra-error");
    return {
      runs: db.prepare("SELECT COUNT(*) FROM runs").pluck().get() as number,
      lastHost: latest[0]?.hostname ?? null,
      trailingInfraErrors: trailing === -1 ? latest.length : trailing,
      quarantineAfter,
    };
  } finally {
    db.close();
  }
}
