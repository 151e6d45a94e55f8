import { type MergeConflict, mergeShards } from "../../cluster/merge.js";
import { ExitError } from "../../util/errors.js";
import { escapeControl } from "../../util/escape.js";

/** At most this many characters of a conflicting row are printed (the full rows stay in the store). */
const ROW_EXCERPT = 300;

/**
 * `ezone merge <results>`: merge the shard stores under `<results>/shards/` into the campaign's store.
 * Idempotent and resumable. Exit codes: 0 merged, 1 some run key holds different content in two places
 * (conflicts, listed and kept in the store's `merge_conflicts` table), 2 nothing to merge or shards of
 * another campaign.
 */
export async function run(resultsDir: string): Promise<void> {
  const summary = await mergeShards(resultsDir);
  for (const s of summary.shards) {
    const inserted = Object.entries(s.inserted)
      .map(([t, n]) => `${t} ${n}`)
      .join(", ");
    process.stdout.write(
      `${s.shard}: ${inserted || "no new rows"}; ${s.identical} row(s) already merged; ` +
        `${s.artifactsCopied} artifact(s) copied; ${s.conflicts} new conflict(s)\n`,
    );
  }
  if (summary.conflicts.length > 0) {
    process.stdout.write(`\n${summary.conflicts.length} conflict(s): the same key with different content\n`);
    for (const c of summary.conflicts) process.stdout.write(describeConflict(c));
    throw new ExitError(1);
  }
  process.stdout.write(`merged ${summary.shards.length} shard(s) into ${resultsDir}; no conflict\n`);
}

function describeConflict(c: MergeConflict): string {
  const cut = (s: string) => (s.length > ROW_EXCERPT ? `${s.slice(0, ROW_EXCERPT)}…` : s);
  const line = (s: string) => escapeControl(cut(s));
  return `  ${c.table} ${line(c.key)} from ${c.shard}\n    kept:     ${line(c.kept)}\n    ${c.shard}: ${line(c.shardRow)}\n`;
}
