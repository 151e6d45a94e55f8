import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type JobScriptOptions, renderJobScript } from "../../src/cluster/job-script.js";
import { parseSqueue, shardStatus } from "../../src/cluster/shard-status.js";
import { ConfigError } from "../../src/util/errors.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";

const base: JobScriptOptions = {
  campaign: "paper",
  campaignFile: "/shared/paper.yaml",
  resultsDir: "/shared/results/paper",
  shards: 4,
  exclusive: true,
  extra: [],
  noSnapshot: false,
  node: "/usr/bin/node",
  cli: "/opt/ezone/dist/cli/main.js",
};

describe("the sbatch job script", () => {
  it("is a job array of N tasks, requeue-safe, a whole node each, task I running shard I", () => {
    const s = renderJobScript(base);
    expect(s.startsWith("#!/bin/bash\n")).toBe(true);
    for (const line of [
      "#SBATCH --array=0-3",
      "#SBATCH --requeue",
      "#SBATCH --open-mode=append",
      "#SBATCH --exclusive",
      "#SBATCH --output=/shared/results/paper/slurm/shard-%a.log",
      "unset EZONE_OWNER",
    ]) {
      expect(s.split("\n")).toContain(line);
    }
    expect(s).toContain(
      `'/usr/bin/node' '/opt/ezone/dist/cli/main.js' 'run' '/shared/paper.yaml' '--results' '/shared/results/paper' --shard "$shard/4"\n`,
    );
    expect(s).toContain('shard="${SLURM_ARRAY_TASK_ID:?');
    expect(s).not.toContain("--jobs");
  });

  it("carries partition, time, account, extra options, --jobs, a parallel limit and --no-exclusive", () => {
    const s = renderJobScript({
      ...base,
      exclusive: false,
      partition: "batch",
      time: "02:00:00",
      account: "hpc42",
      extra: ["--cpus-per-task=1", "--mem=4G"],
      jobs: 1,
      maxParallel: 2,
      noSnapshot: true,
    });
    const lines = s.split("\n");
    for (const line of [
      "#SBATCH --array=0-3%2",
      "#SBATCH --partition=batch",
      "#SBATCH --time=02:00:00",
      "#SBATCH --account=hpc42",
      "#SBATCH --cpus-per-task=1",
      "#SBATCH --mem=4G",
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines).not.toContain("#SBATCH --exclusive");
    expect(s).toContain('--shard "$shard/4" --jobs 1 --no-snapshot\n');
  });

  it("quotes paths for the shell", () => {
    const s = renderJobScript({ ...base, campaignFile: "/shared/it's.yaml" });
    expect(s).toContain("'/shared/it'\\''s.yaml'");
  });

  it.each([
    ["--results", { resultsDir: "/shared/my results" }],
    ["--results", { resultsDir: "/shared/100%" }],
    ["--partition", { partition: "a b" }],
    ["--extra", { extra: ["--comment='x y'"] }],
  ])("refuses a value an #SBATCH line cannot carry (%s)", (flag, o) => {
    expect(() => renderJobScript({ ...base, ...o })).toThrow(ConfigError);
    expect(() => renderJobScript({ ...base, ...o })).toThrow(new RegExp(`^${flag}: `));
  });
});

describe("squeue's answer", () => {
  it("one task per line, and ranges of a pending array expanded", () => {
    expect(
      parseSqueue("0|RUNNING|node7|None\n2-4%2|PENDING||Resources\n6,8|PENDING||Priority\n\ngarbage\n"),
    ).toEqual([
      { index: 0, state: "RUNNING", node: "node7", reason: "None" },
      { index: 2, state: "PENDING", node: "", reason: "Resources" },
      { index: 3, state: "PENDING", node: "", reason: "Resources" },
      { index: 4, state: "PENDING", node: "", reason: "Resources" },
      { index: 6, state: "PENDING", node: "", reason: "Priority" },
      { index: 8, state: "PENDING", node: "", reason: "Priority" },
    ]);
  });
});

describe("a shard's status", () => {
  const store = { runs: 7, lastHost: "node7.cluster", trailingInfraErrors: 0, quarantineAfter: 3 };
  const exit = (exitCode: number) => ({
    exitCode,
    node: "node7",
    restarts: 0,
    finishedAt: "2026-01-01T00:00:00Z",
  });

  it.each([
    [{ index: 0, state: "RUNNING", node: "node7", reason: "None" }, "running"],
    [{ index: 0, state: "COMPLETING", node: "node7", reason: "None" }, "running"],
    [{ index: 0, state: "PENDING", node: "", reason: "BeginTime" }, "pending"],
  ] as const)("queued as %o: %s", (queued, state) => {
    expect(shardStatus(0, queued, null, store).state).toBe(state);
  });

  it("done once its task exited 0", () => {
    expect(shardStatus(1, undefined, exit(0), store)).toMatchObject({
      state: "done",
      node: "node7",
      runs: 7,
    });
  });

  it("names the node that quarantined itself, with the exit code", () => {
    const s = shardStatus(2, undefined, exit(3), { ...store, trailingInfraErrors: 3 });
    expect(s.state).toBe("failed");
    expect(s.detail).toMatch(
      /node node7 quarantined itself: its last 3 runs ended in infra-error \(exit 3\)/,
    );
    expect(s.detail).toMatch(/--exclude=node7/);
  });

  it("another failure is a failure with its exit code, not a quarantine", () => {
    const s = shardStatus(2, undefined, exit(70), { ...store, trailingInfraErrors: 1 });
    expect(s).toMatchObject({ state: "failed", detail: "ezone run exited with 70 on node7" });
  });

  it("gone from the queue without an exit record: unknown, saying why", () => {
    expect(shardStatus(3, undefined, null, store)).toMatchObject({ state: "unknown", node: "node7.cluster" });
    expect(shardStatus(3, undefined, null, null).detail).toBe("not queued and never ran");
  });
});

describe("ezone slurm submit: bad input submits nothing (exit 2)", () => {
  let dir: string;
  let campaign: string;
  beforeAll(() => {
    requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), "ezone-submit-"));
    campaign = join(dir, "c.yaml");
    writeFileSync(campaign, "name: c\nbackends: [native]\nfaults: [none]\n");
    // A fake sbatch that records being called: none of these cases may reach it.
    writeFileSync(join(dir, "sbatch"), `#!/bin/sh\n: > ${join(dir, "submitted")}\necho 1\n`, {
      mode: 0o755,
    });
    mkdirSync(join(dir, "bin"));
    symlinkSync("/bin/sh", join(dir, "bin", "sh"));
    symlinkSync(process.execPath, join(dir, "bin", "node"));
    writeFileSync(join(dir, "a-file"), "");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** A PATH with sh and node only, plus the fake sbatch when asked for. */
  const path = (withSbatch: boolean) => ({
    PATH: [withSbatch ? dir : null, join(dir, "bin")].filter(Boolean).join(":"),
  });

  it("without sbatch on PATH", () => {
    const r = ezoneSync(
      dir,
      ["slurm", "submit", campaign, "--shards", "2", "--results", join(dir, "r1")],
      path(false),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sbatch is not on PATH/);
    expect(existsSync(join(dir, "r1"))).toBe(false);
  });

  it("with --shards 0", () => {
    const r = ezoneSync(
      dir,
      ["slurm", "submit", campaign, "--shards", "0", "--results", join(dir, "r2")],
      path(true),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--shards\n {2}0: expected a whole number from 1/);
  });

  it("with a results directory that cannot be written", () => {
    const r = ezoneSync(
      dir,
      ["slurm", "submit", campaign, "--shards", "2", "--results", join(dir, "a-file", "results")],
      path(true),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--results\n {2}.*a-file\/results: .*a-file is not a directory/);
  });

  it("none of them reached sbatch; --dry-run prints the script without it", () => {
    expect(existsSync(join(dir, "submitted"))).toBe(false);
    const r = ezoneSync(
      dir,
      ["slurm", "submit", campaign, "--shards", "2", "--results", join(dir, "r3"), "--dry-run"],
      path(false),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^#!\/bin\/bash\n/);
    expect(existsSync(join(dir, "r3"))).toBe(false);
  });

  it("with a fake sbatch: the job id, the record and the script", () => {
    const results = join(dir, "r4");
    const r = ezoneSync(
      dir,
      ["slurm", "submit", campaign, "--shards", "2", "--results", results],
      path(true),
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")[0]).toBe("1");
    expect(existsSync(join(dir, "submitted"))).toBe(true);
    expect(existsSync(join(results, "slurm", "submission.json"))).toBe(true);
    expect(existsSync(join(results, "slurm", "job.sbatch"))).toBe(true);
  });
});
