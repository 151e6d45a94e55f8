/**
 * What `ezone slurm status` says of each shard, from two sources only: `squeue` (tasks still queued or
 * running) and what the shard left on the shared file system (its store and the task's exit record).
 * No `sacct`: it needs slurmdbd, which many clusters and every test cluster lack. Pure functions.
 */

/** One array task as `squeue --array --noheader --format=%K|%T|%N|%r` prints it. */
export interface QueuedTask {
  index: number;
  /** Slurm's job state, e.g. PENDING, RUNNING, COMPLETING, REQUEUED. */
  state: string;
  node: string;
  reason: string;
}

/** How a task's `ezone run` ended, written by the job script. */
export interface ExitRecord {
  exitCode: number;
  node: string;
  restarts: number;
  finishedAt: string;
}

/** What a shard's store holds. */
export interface ShardRuns {
  runs: number;
  /** The host of the latest run (its provenance). */
  lastHost: string | null;
  /** How many of the latest runs in a row ended in infra-error. */
  trailingInfraErrors: number;
  /** `infra.quarantineAfter` of the campaign. */
  quarantineAfter: number;
}

export type ShardState = "done" | "running" | "pending" | "failed" | "unknown";

/** One line of the status table. */
export interface ShardStatus {
  index: number;
  state: ShardState;
  node: string | null;
  runs: number;
  detail: string;
}

/** Slurm states of a task that holds a node now. */
const RUNNING_STATES = new Set(["RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING"]);

/**
 * Parse squeue's `%K|%T|%N|%r` lines. A pending array may still be listed as a range (`2-5`, `1,3`,
 * `0-9%2`): each index gets its own task. Lines that do not parse are skipped.
 */
export function parseSqueue(text: string): QueuedTask[] {
  const tasks: QueuedTask[] = [];
  for (const line of text.split("\n")) {
    const [indexes, state, node, reason] = line.trim().split("|");
    if (!indexes || !state) continue;
    for (const index of expandIndexes(indexes)) {
      tasks.push({ index, state, node: node ?? "", reason: reason ?? "" });
    }
  }
  return tasks;
}

function expandIndexes(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.replace(/%\d+$/, "").split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let i = from; i <= to && out.length < 100_000; i++) out.push(i);
  }
  return out;
}

/** The status of shard `index` from its queue entry (if still queued), exit record and store. */
export function shardStatus(
  index: number,
  queued: QueuedTask | undefined,
  exit: ExitRecord | null,
  store: ShardRuns | null,
): ShardStatus {
  const runs = store?.runs ?? 0;
  if (queued) {
    const running = RUNNING_STATES.has(queued.state);
    return {
      index,
      state: running ? "running" : "pending",
      node: queued.node || null,
      runs,
      detail: running ? queued.state.toLowerCase() : `${queued.state.toLowerCase()} (${queued.reason})`,
    };
  }
  if (exit) {
    const node = exit.node;
    if (exit.exitCode === 0) return { index, state: "done", node, runs, detail: "finished" };
    if (store && store.trailingInfraErrors >= store.quarantineAfter) {
      return {
        index,
        state: "failed",
        node,
        runs,
        detail: `node ${node} quarantined itself: its last ${store.trailingInfraErrors} runs ended in infra-error (exit ${exit.exitCode}); fix or exclude it (sbatch --exclude=${node}), then requeue`,
      };
    }
    return {
      index,
      state: "failed",
      node,
      runs,
      detail: `ezone run exited with ${exit.exitCode} on ${node}`,
    };
  }
  if (store && runs > 0) {
    return {
      index,
      state: "unknown",
      node: store.lastHost,
      runs,
      detail: "not queued and no exit record: the task was killed (node failure, time limit?)",
    };
  }
  return { index, state: "unknown", node: null, runs, detail: "not queued and never ran" };
}
