/**
 * `ezone monitor setup`: the syslog half of the standalone monitor, as a private rsyslogd service.
 * A private daemon rather than a snippet in /etc/rsyslog.d: a fresh Debian 12 (a container, a CI runner)
 * has no systemd and often no running rsyslogd, and the system's daemon would also take /dev/log and
 * the kernel log. This one listens only on `<run dir>/log.sock` and writes only the monitor's input.
 *
 * Idempotent: the configuration is written to a new file, checked with `rsyslogd -N1`, and only then
 * put in place; a running daemon with the same configuration is left alone, one with another is
 * restarted, a dead one (its record stale) is started again.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { runTool } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import { rsyslogConfig, waitForSocket } from "./rsyslogd.js";
import { makeDir, type SyslogServicePaths } from "./runtime-dir.js";
import {
  isAlive,
  readRecord,
  recordOf,
  type ServiceRecord,
  serviceEnv,
  stopService,
  writeRecord,
} from "./service-record.js";

/** What `setupSyslog` did, and the daemon's PID. */
export interface SyslogSetupResult {
  paths: SyslogServicePaths;
  pid: number;
  action: "started" | "restarted" | "unchanged";
}

const START_MS = 10_000;
const STOP_GRACE_MS = 3000;

/** Write and check the configuration, then make sure a daemon runs with it. */
export async function setupSyslog(
  paths: SyslogServicePaths,
  binary = "rsyslogd",
): Promise<SyslogSetupResult> {
  makeDir(paths.workDir);
  makeDir(dirname(paths.output), 0o755);
  const text = rsyslogConfig(paths);
  const running = liveRecord(paths);
  const current = existsSync(paths.conf) ? readFileSync(paths.conf, "utf8") : null;
  if (running && current === text && existsSync(paths.socket))
    return { paths, pid: running.pid, action: "unchanged" };
  await checkConfig(paths, text, binary);
  if (running) await stopService(running, STOP_GRACE_MS);
  const pid = await startDaemon(paths, binary);
  return { paths, pid, action: running ? "restarted" : "started" };
}

/** Stop the daemon (false: none was running) and remove its socket and record. */
export async function teardownSyslog(paths: SyslogServicePaths): Promise<boolean> {
  const running = liveRecord(paths);
  if (running) await stopService(running, STOP_GRACE_MS);
  rmSync(paths.record, { force: true });
  rmSync(paths.socket, { force: true });
  return running !== null;
}

/** The daemon's record if it still runs. */
export function liveRecord(paths: SyslogServicePaths): ServiceRecord | null {
  const r = readRecord<ServiceRecord>(paths.record);
  return r && isAlive(r) ? r : null;
}

async function checkConfig(paths: SyslogServicePaths, text: string, binary: string): Promise<void> {
  const candidate = `${paths.conf}.new`;
  writeFileSync(candidate, text, { mode: 0o600 });
  const r = await runTool([binary, "-N1", "-f", candidate], { timeoutMs: 30_000 });
  if (r.code !== 0) {
    rmSync(candidate, { force: true });
    throw new InfraError(
      "rsyslogd.validate",
      `${binary} -N1 rejected ${candidate} (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`,
    );
  }
  renameSync(candidate, paths.conf);
}

/**
 * Start rsyslogd in the foreground of a detached child, not through spawnGroup: it is a service meant
 * to outlive this command (no parent-death signal), stopped by `ezone monitor setup --stop`.
 */
async function startDaemon(paths: SyslogServicePaths, binary: string): Promise<number> {
  rmSync(paths.socket, { force: true });
  rmSync(paths.pidFile, { force: true });
  const log = openSync(paths.log, "a", 0o600);
  const child = spawn(binary, ["-n", "-f", paths.conf, "-i", paths.pidFile], {
    detached: true,
    stdio: ["ignore", log, log],
    env: serviceEnv(),
  });
  closeSync(log);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const pid = child.pid;
  const record = pid === undefined ? null : recordOf(pid);
  if (pid === undefined || !record) {
    await exited;
    throw new InfraError("rsyslogd.start", `${binary} did not start: ${tail(paths.log)}`);
  }
  writeRecord(paths.record, record);
  try {
    await waitForSocket(binary, paths.socket, dirname(paths.socket), exited, START_MS, () => tail(paths.log));
  } catch (e) {
    await stopService(record, 500);
    rmSync(paths.record, { force: true });
    throw e;
  }
  child.unref();
  return pid;
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").slice(-500);
  } catch {
    return "no output";
  }
}
