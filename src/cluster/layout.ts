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

/** The folder holding one results directory per shard. */
export function shardsRoot(resultsDir: string): string {
  return join(resultsDir, "shards");
}

/** The results directory of shard `index`. */
export function shardDir(resultsDir: string, index: number): string {
  return join(shardsRoot(resultsDir), String(index));
}

/** Name of the file a Slurm task writes in its shard's directory when its `ezone run` ended. */
export const EXIT_FILE = "exit.json";

/** The folder of the job script, the submission record and the tasks' logs. */
export function slurmDir(resultsDir: string): string {
  return join(resultsDir, "slurm");
}

/** Shards that have a store under `resultsDir`, by index, ascending. */
export function storedShards(resultsDir: string): number[] {
  const root = shardsRoot(resultsDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^\d{1,5}$/.test(name) && existsSync(join(root, name, DB_FILE)))
    .map(Number)
    .sort((a, b) => a - b);
}
