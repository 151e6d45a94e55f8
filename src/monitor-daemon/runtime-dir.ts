/**
 * Where the standalone monitor's long-running parts keep their sockets and records: one runtime
 * directory (`/run/ezone`, or $EZONE_RUN_DIR, or `--dir`) shared by `ezone monitor setup` and
 * `ezone enclave start|list|stop|inject`, so the commands find each other without a config file.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../util/errors.js";
import type { RsyslogPaths } from "./rsyslogd.js";

/** The defaults of `--dir` and `ezone monitor setup --output`. */
export const DEFAULT_RUN_DIR = "/run/ezone";
export const DEFAULT_SYSLOG_OUTPUT = "/var/log/ezone/enclaves.log";

/** The runtime directory: the flag, else $EZONE_RUN_DIR, else /run/ezone. */
export function runDir(flag?: string): string {
  return flag ?? process.env.EZONE_RUN_DIR ?? DEFAULT_RUN_DIR;
}

/** The private rsyslogd's files in the runtime directory, and its output file. */
export interface SyslogServicePaths extends RsyslogPaths {
  dir: string;
  conf: string;
  /** ezone's record of the daemon (PID and start time). */
  record: string;
  /** rsyslogd's own pid file (it refuses a second instance on it). */
  pidFile: string;
  /** rsyslogd's stdout and stderr. */
  log: string;
}

/** The private rsyslogd's files under the runtime directory `dir`, writing to `output`. */
export function syslogServicePaths(dir: string, output: string): SyslogServicePaths {
  const own = join(dir, "rsyslog");
  return {
    dir: own,
    socket: join(dir, "log.sock"),
    output,
    workDir: join(own, "work"),
    conf: join(own, "rsyslog.conf"),
    record: join(own, "service.json"),
    pidFile: join(own, "rsyslogd.pid"),
    log: join(own, "rsyslogd.log"),
  };
}

/** The files of the enclave `name` in the runtime directory. */
export interface EnclavePaths {
  dir: string;
  /** The enclave's record and state (EnclaveRecord). */
  record: string;
  console: string;
  /** The supervisor's own stdout and stderr. */
  log: string;
  /** The host end of the agent's syslog channel (QEMU connects the guest's ttyS1 here). */
  channel: string;
  /** Where `ezone enclave inject|stop` reach the supervisor. */
  control: string;
  work: string;
}

/** Where the enclaves' directories are. */
export function enclavesDir(dir: string): string {
  return join(dir, "enclaves");
}

/** The files of enclave `name`. */
export function enclavePaths(dir: string, name: string): EnclavePaths {
  const own = join(enclavesDir(dir), name);
  return {
    dir: own,
    record: join(own, "enclave.json"),
    console: join(own, "console.log"),
    log: join(own, "supervisor.log"),
    channel: join(own, "channel.sock"),
    control: join(own, "control.sock"),
    work: join(own, "work"),
  };
}

/**
 * Create `path` (and its parents) with `mode`; a directory the user may not create (not root under
 * /run, a read-only file system, a file in the way) is a usage error naming the way out.
 */
export function makeDir(path: string, mode = 0o700): void {
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM" && code !== "EROFS" && code !== "ENOTDIR" && code !== "EEXIST")
      throw e;
    throw new UsageError(
      `cannot create ${path} (${code}): run as root, or choose another --dir (or EZONE_RUN_DIR)`,
    );
  }
}
