/**
 * Where a sharded campaign keeps its files under its results directory:
 *
 *   <results>/ezone.db, artifacts/    the campaign's store, which `ezone merge` fills
 *   <results>/shards/<I>/             shard I's own store (`ezone run --shard I/N`)
 *   <results>/shards/<I>/exit.json    how shard I's last Slurm task ended (written by the job script)
 *   <results>/slurm/                  the job script, the submission record and the tasks' logs
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DB_FILE } from "../store/store.js";

/** The results directory of shard `index`. */
export function shardDir(resultsDir: string, index: number): string {
  return join(resultsDir, "shards", String(index));
}

/** The file a Slurm task writes when its shard's `ezone run` ended. */
export function shardExitFile(resultsDir: string, index: number): string {
  return join(shardDir(resultsDir, index), "exit.json");
}

/** The folder of the job script, the submission record and the tasks' logs. */
export function slurmDir(resultsDir: string): string {
  return join(resultsDir, "slurm");
}

/** Shards that have a store under `resultsDir`, by index, ascending. */
export function storedShards(resultsDir: string): number[] {
  const root = join(resultsDir, "shards");
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^\d{1,5}$/.test(name) && existsSync(join(root, name, DB_FILE)))
    .map(Number)
    .sort((a, b) => a - b);
}
