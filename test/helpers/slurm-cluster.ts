/**
 * A private single-node Slurm cluster for tests, without systemd or root: munged with its own key,
 * socket, pid and seed files; slurmctld -D and slurmd -D with their own slurm.conf in a temp dir, on
 * free ports, all as the user running the test. Every process it starts — the daemons, the jobs'
 * slurmstepd and whatever the jobs run — carries its SLURM_CONF path, and `stop()` kills them all.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, hostname, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type GroupChild, spawnGroup } from "../../src/util/child.js";

const exec = promisify(execFile);

/** The node's name in the private cluster. */
export const SLURM_NODE = "ezonenode";

export interface SlurmCluster {
  dir: string;
  /** Environment for Slurm's client tools (and ezone) to reach this cluster. */
  env: NodeJS.ProcessEnv;
  /** Run a Slurm client tool against this cluster; its stdout. */
  tool(name: string, args: string[]): Promise<string>;
  /** The daemons' logs, for a failure message. */
  logs(): string;
  /** Kill every job and daemon, then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

function slurmConf(dir: string, ports: [number, number]): string {
  const user = userInfo().username;
  return `${[
    "ClusterName=ezonetest",
    "SlurmctldHost=localhost(127.0.0.1)",
    `SlurmctldPort=${ports[0]}`,
    `SlurmdPort=${ports[1]}`,
    `SlurmUser=${user}`,
    `SlurmdUser=${user}`,
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${dir}/munge.sock`,
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.pid`,
    `SlurmctldLogFile=${dir}/slurmctld.log`,
    `SlurmdLogFile=${dir}/slurmd.log`,
    // 22.05's cgroup/v2 plugins expect systemd: track processes through /proc instead.
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "SchedulerType=sched/backfill",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_CPU",
    "ReturnToService=2",
    "MinJobAge=600",
    "KillWait=5",
    `NodeName=${SLURM_NODE} NodeHostname=${hostname()} NodeAddr=127.0.0.1 CPUs=${availableParallelism()} State=UNKNOWN`,
    `PartitionName=debug Nodes=${SLURM_NODE} Default=YES MaxTime=INFINITE State=UP`,
  ].join("\n")}\n`;
}

/** Wait (re-checking every 200 ms, with a deadline) until `check` resolves true; a throw counts as false. */
export async function waitFor(
  check: () => Promise<boolean>,
  deadlineMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  let lastError = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      lastError = ` (last check threw: ${(e as Error).message})`;
    }
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${lastError}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** PIDs whose environment names this cluster's slurm.conf (daemons, slurmstepd, job processes). */
function clusterProcesses(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(marker)) found.push(pid);
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return found;
}

/** A temp dir with the cluster's munge key and slurm.conf; returns the dir and the conf path. */
async function clusterFiles(): Promise<{ dir: string; key: string; conf: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ezone-slurm-"));
  // munged wants every directory above its socket searchable by all (clients of any user connect).
  chmodSync(dir, 0o711);
  for (const d of ["state", "spool"]) mkdirSync(join(dir, d));
  const key = join(dir, "munge.key");
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });
  chmodSync(key, 0o600);
  const conf = join(dir, "slurm.conf");
  writeFileSync(conf, slurmConf(dir, [await freePort(), await freePort()]));
  return { dir, key, conf };
}

/** The tail of each daemon's log file, and what they printed. */
function daemonLogs(dir: string, output: string): string {
  return ["munged.log", "slurmctld.log", "slurmd.log"]
    .map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, f), "utf8").slice(-4000)}`;
      } catch {
        return `--- ${f}: none`;
      }
    })
    .concat(`--- daemons' output\n${output}`)
    .join("\n");
}

/** Kill the daemons, then every process that inherited the cluster's conf path (jobs, slurmstepd). */
async function killCluster(daemons: GroupChild[], marker: string): Promise<void> {
  await Promise.all([...daemons].reverse().map((d) => d.kill(2000)));
  // Jobs run under slurmstepd in sessions of their own: find them by the conf path they inherited.
  for (const pid of clusterProcesses(marker)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await waitFor(async () => clusterProcesses(marker).length === 0, 10_000, "the cluster's processes to die");
}

/** Start munged, slurmctld and slurmd; resolves once the node is idle (stops everything on failure). */
export async function startSlurmCluster(): Promise<SlurmCluster> {
  const { dir, key, conf } = await clusterFiles();
  const env = { ...process.env, SLURM_CONF: conf };
  const daemons: GroupChild[] = [];
  let output = "";
  const start = (argv: string[]) => {
    const child = spawnGroup(argv, { env });
    const keep = (b: Buffer) => {
      output = `${output}${b.toString()}`.slice(-8000);
    };
    child.proc.stdout?.on("data", keep);
    child.proc.stderr?.on("data", keep);
    daemons.push(child);
  };
  const tool = async (name: string, args: string[]) =>
    (await exec(name, args, { env, timeout: 30_000, killSignal: "SIGKILL" })).stdout;
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= killCluster(daemons, `SLURM_CONF=${conf}`).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    return stopping;
  };
  const cluster: SlurmCluster = { dir, env, tool, logs: () => daemonLogs(dir, output), stop };
  try {
    start([
      "munged",
      "--foreground",
      `--key-file=${key}`,
      `--socket=${dir}/munge.sock`,
      `--pid-file=${dir}/munged.pid`,
      `--seed-file=${dir}/munge.seed`,
      `--log-file=${dir}/munged.log`,
    ]);
    await waitFor(async () => readdirSync(dir).includes("munge.sock"), 10_000, "munged's socket");
    start(["slurmctld", "-D", "-f", conf]);
    await waitFor(async () => (await tool("scontrol", ["ping"])).includes("UP"), 30_000, "slurmctld");
    start(["slurmd", "-D", "-f", conf, "-N", SLURM_NODE]);
    await waitFor(
      async () => (await tool("sinfo", ["--noheader", "--format=%T"])).trim() === "idle",
      30_000,
      "the node to be idle",
    );
    return cluster;
  } catch (e) {
    const message = `${(e as Error).message}\n${cluster.logs()}`;
    await stop();
    throw new Error(message);
  }
}
