import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shardDir } from "../../src/cluster/layout.js";
import { DB_FILE } from "../../src/store/store.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";
import { type SlurmCluster, startSlurmCluster, waitFor } from "../helpers/slurm-cluster.js";

const haveSlurm = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol"].every(hasBinary);
const REPETITIONS = 6;

let dir: string;
let cluster: SlurmCluster | null = null;

/** Runs (not infra-error attempts) per backend, fault and outcome: what a verdict is made of. */
function verdictCounts(resultsDir: string): string[] {
  const db = new Database(join(resultsDir, DB_FILE), { readonly: true });
  try {
    return (
      db
        .prepare(
          `SELECT backend, fault, outcome, COUNT(*) AS n FROM runs WHERE run_key NOT LIKE '%!infra-%'
           GROUP BY backend, fault, outcome ORDER BY backend, fault, outcome`,
        )
        .all() as { backend: string; fault: string; outcome: string; n: number }[]
    ).map((r) => `${r.backend} ${r.fault} ${r.outcome} ${r.n}`);
  } finally {
    db.close();
  }
}

function scalar(resultsDir: string, sql: string): number {
  const file = join(resultsDir, DB_FILE);
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Wait, and on a timeout say what the queue, the tasks' logs and the daemons showed. */
async function waitOrExplain(
  c: SlurmCluster,
  results: string,
  check: () => Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  try {
    await waitFor(check, ms, what);
  } catch (e) {
    const queue = await c.tool("squeue", ["--array"]).catch((err: Error) => err.message);
    const logs = [0, 1, 2].map((i) => {
      const log = join(results, "slurm", `shard-${i}.log`);
      return `--- shard-${i}.log\n${existsSync(log) ? readFileSync(log, "utf8").slice(-3000) : "none"}`;
    });
    throw new Error([(e as Error).message, queue, ...logs, c.logs()].join("\n"));
  }
}

/** Submit the campaign as 3 shards sharing the one node; the job id. */
function submitThreeShards(c: SlurmCluster, file: string, results: string): string {
  const submitted = ezoneSync(
    dir,
    // One core per task, on the one node: the three tasks share it (two at a time on two cores).
    ["slurm", "submit", file, "--shards", "3", "--results", results, "--no-exclusive"].concat([
      "--extra=--cpus-per-task=1",
      "--jobs",
      "1",
    ]),
    c.env,
  );
  expect(submitted.stderr).toBe("");
  expect(submitted.code).toBe(0);
  const jobId = submitted.stdout.split("\n")[0] as string;
  expect(jobId).toMatch(/^\d+$/);
  return jobId;
}

/** Every run of the campaign stored once in the merged store, no conflict. */
function expectEveryRunOnce(results: string): void {
  const keys = "SELECT COUNT(*) FROM runs WHERE run_key NOT LIKE '%!infra-%'";
  const infra = "SELECT COUNT(*) FROM runs WHERE outcome = 'infra-error'";
  // A repetition whose every attempt ended in infra-error (a saturated host) is missing: say so.
  expect(scalar(results, keys), `${scalar(results, infra)} infra-error attempt(s) stored`).toBe(
    3 * REPETITIONS,
  );
  expect(scalar(results, "SELECT COUNT(DISTINCT run_key) FROM runs")).toBe(
    scalar(results, "SELECT COUNT(*) FROM runs"),
  );
  expect(scalar(results, "SELECT COUNT(*) FROM merge_conflicts")).toBe(0);
}

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-slurm-test-"));
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
  for (const daemon of ["munged", "slurmctld", "slurmd", "slurmstepd"]) {
    expect(processesMatching(daemon), `${daemon} left running`).toEqual([]);
  }
});

describe.runIf(haveSlurm)("a campaign on a private Slurm cluster", () => {
  it("a 3-task array with one task requeued merges to the verdict counts of an unsharded run", async () => {
    cluster = await startSlurmCluster();
    const c = cluster;
    const file = join(dir, "slurmed.yaml");
    writeFileSync(
      file,
      [
        "name: slurmed",
        `repetitions: ${REPETITIONS}`,
        "backends: [native]",
        "faults: [segfault, abort, none]",
        // A busy machine fails the host's baseline probe now and then: retry rather than quarantine.
        "infra: { retries: 10, quarantineAfter: 100 }",
      ].join("\n"),
    );
    const results = join(dir, "sharded");
    const jobId = submitThreeShards(c, file, results);
    const task0 = `${jobId}_0`;
    const taskState = async (task: string) =>
      (await c.tool("squeue", ["--noheader", "--array", `--jobs=${task}`, "--format=%T|%r"])).trim();

    await waitOrExplain(
      c,
      results,
      async () =>
        (await taskState(task0)) === "RUNNING|None" &&
        scalar(shardDir(results, 0), "SELECT COUNT(*) FROM runs") > 0,
      90_000,
      "task 0 running with a run stored",
    );
    await c.tool("scontrol", ["requeue", task0]);
    await waitOrExplain(
      c,
      results,
      async () => (await taskState(task0)) === "PENDING|BeginTime",
      30_000,
      "task 0 requeued",
    );
    // Slurm 22.05 holds a requeued job back for 121 s before it may start again: let it start now.
    await c.tool("scontrol", ["update", `JobId=${task0}`, "StartTime=now"]);

    const during = ezoneSync(dir, ["slurm", "status", results], c.env);
    expect(during.code).toBe(0);
    expect(during.stdout).toMatch(/shard 0 +(pending|running)/);

    await waitOrExplain(
      c,
      results,
      async () => (await taskState(jobId)) === "",
      180_000,
      "every task to finish",
    );
    const status = ezoneSync(dir, ["slurm", "status", results], c.env);
    expect(status.stdout).toMatch(/3 done, 0 running, 0 pending, 0 failed/);
    expect(readFileSync(join(results, "slurm", "shard-0.log"), "utf8")).toMatch(/restart 1/);

    const before = ezoneSync(dir, ["report", results]);
    expect(before.stderr).toMatch(/3 shard\(s\) .* not merged yet/);
    const merged = ezoneSync(dir, ["merge", results]);
    expect(merged.stderr).toBe("");
    expect(merged.stdout).toMatch(/merged 3 shard\(s\) .*no conflict/);
    expect(ezoneSync(dir, ["report", results]).stderr).not.toMatch(/not merged/);

    expectEveryRunOnce(results);

    const single = join(dir, "single");
    const unsharded = ezoneSync(dir, ["run", file, "--results", single, "--jobs", "2"]);
    expect(unsharded.code, unsharded.stderr).toBe(0);
    expect(verdictCounts(results)).toEqual(verdictCounts(single));
  }, 240_000);
});
