/**
 * Shards of a campaign (`ezone run --shard I/N`): a deterministic 1/N of the campaign's cells. A cell is
 * one declared (backend, fault) pair; its repetitions, its control runs and its adaptive `until:` rule
 * belong to it, so they stay in one shard. Cells are dealt round-robin in declaration order (every
 * backend as the YAML lists it × every fault as the YAML lists it): balanced, the same on every node
 * whatever that node can run, and the same cell always lands in the same shard for a given campaign.
 */
import { ConfigError } from "../util/errors.js";
import type { CampaignConfig } from "./schema.js";

/** Shard `index` (0-based, as Slurm's `SLURM_ARRAY_TASK_ID`) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

/** Most shards one campaign may be split into (a Slurm array's size is bounded by MaxArraySize too). */
export const MAX_SHARDS = 10_000;

/** Parse `I/N` (0 ≤ I < N ≤ MAX_SHARDS); anything else is a usage error naming the flag (exit 2). */
export function parseShard(text: string, flag = "--shard"): Shard {
  const m = /^(\d{1,5})\/(\d{1,5})$/.exec(text.trim());
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || count > MAX_SHARDS || index >= count) {
    throw new ConfigError(flag, [
      {
        path: text,
        message: `expected I/N with N from 1 to ${MAX_SHARDS} and 0 ≤ I < N (I is 0-based, as SLURM_ARRAY_TASK_ID)`,
      },
    ]);
  }
  return { index, count };
}

/** The shard of the cell at `position` in declaration order. */
export function shardOfPosition(position: number, count: number): number {
  return position % count;
}

/** The items of a declared list that fall in `shard` (all of them without a shard), order kept. */
export function selectShard<T>(items: readonly T[], shard: Shard | undefined): T[] {
  if (!shard) return [...items];
  return items.filter((_, i) => shardOfPosition(i, shard.count) === shard.index);
}

/** A declared cell: a backend (by its campaign name) and the index of a fault in the campaign's list. */
export interface DeclaredCell {
  backend: string;
  faultIndex: number;
}

/** Every cell the campaign declares, in declaration order: backends × faults as the YAML lists them. */
export function declaredCells(config: CampaignConfig): DeclaredCell[] {
  return config.backends.flatMap((b) =>
    config.faults.map((_, faultIndex) => ({ backend: typeof b === "string" ? b : b.name, faultIndex })),
  );
}

/** Does the cell (backend name, fault index) belong to `shard`? Every cell does without a shard. */
export function shardFilter(
  config: CampaignConfig,
  shard: Shard | undefined,
): (backend: string, faultIndex: number) => boolean {
  if (!shard) return () => true;
  const mine = new Set(selectShard(declaredCells(config), shard).map((c) => `${c.faultIndex}:${c.backend}`));
  return (backend, faultIndex) => mine.has(`${faultIndex}:${backend}`);
}
