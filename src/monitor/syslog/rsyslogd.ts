/**
 * A private rsyslogd (Debian `rsyslog`) in a directory of its own: its own imuxsock socket, work
 * directory, pid file and one omfile output in RFC 5424 form for the monitor to read. Never the
 * system's syslog. Used by tests, the soak and `examples/monitor/monitor.yaml`'s walkthrough.
 */
import { existsSync, rmSync, watch } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type GroupChild, spawnGroup } from "../../util/child.js";
import { InfraError } from "../../util/errors.js";

export interface RsyslogPaths {
  /** imuxsock socket: where ezone sends (the `unix:` syslog target). */
  socket: string;
  /** omfile output: what the monitor reads. */
  output: string;
  workDir: string;
}

/**
 * The configuration: the input keeps the sender's HOSTNAME and TIMESTAMP (imuxsock's defaults replace
 * both) and is not rate-limited; the output is RFC 5424, one message per line, flushed per batch.
 */
export function rsyslogConfig(p: RsyslogPaths): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    `global(workDirectory=${q(p.workDir)} maxMessageSize="8k")`,
    `module(load="imuxsock" SysSock.Use="off")`,
    `input(type="imuxsock" Socket=${q(p.socket)} CreatePath="on" UseSpecialParser="off" ParseHostname="on"`,
    `      IgnoreTimestamp="off" UseSysTimeStamp="off" RateLimit.Interval="0")`,
    `action(type="omfile" file=${q(p.output)} template="RSYSLOG_SyslogProtocol23Format"`,
    `       flushOnTXEnd="on" asyncWriting="off")`,
    "",
  ].join("\n");
}

/** The first lines of an `ezone monitor` config that sends to and reads from this daemon. */
export function monitorConfigHead(name: string, p: RsyslogPaths): string[] {
  return [
    `name: ${name}`,
    "results: results",
    "syslog:",
    `  target: { unix: ${p.socket} }`,
    `  input: { file: ${p.output} }`,
  ];
}

export interface PrivateRsyslogd extends AsyncDisposable {
  readonly paths: RsyslogPaths;
  readonly pid: number;
  /** Stop (SIGTERM: rsyslog flushes its queue) and start again on the same files. */
  restart(): Promise<void>;
  /** Stop; idempotent. */
  stop(): Promise<void>;
}

/** Start rsyslogd on files under `dir`; resolves once its socket exists. */
export async function startPrivateRsyslogd(
  dir: string,
  opts: { binary?: string; startMs?: number } = {},
): Promise<PrivateRsyslogd> {
  const paths: RsyslogPaths = {
    socket: join(dir, "log.sock"),
    output: join(dir, "messages.log"),
    workDir: join(dir, "work"),
  };
  await mkdir(paths.workDir, { recursive: true });
  const conf = join(dir, "rsyslog.conf");
  await writeFile(conf, rsyslogConfig(paths));
  const argv = [opts.binary ?? "rsyslogd", "-n", "-f", conf, "-i", join(dir, "rsyslogd.pid")];
  const startMs = opts.startMs ?? 10_000;
  let child = await launch(argv, paths.socket, dir, startMs);
  return {
    paths,
    get pid() {
      return child.pid;
    },
    async restart() {
      await child.kill(2000);
      child = await launch(argv, paths.socket, dir, startMs);
    },
    async stop() {
      await child.kill(2000);
    },
    async [Symbol.asyncDispose]() {
      await child.kill(2000);
    },
  };
}

async function launch(argv: string[], socket: string, dir: string, startMs: number): Promise<GroupChild> {
  // A socket left by a killed daemon would look like readiness.
  rmSync(socket, { force: true });
  const child = spawnGroup(argv);
  let stderr = "";
  child.proc.stderr?.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString("utf8");
  });
  const watcher = watch(dir);
  try {
    const outcome = await new Promise<"ready" | "exited" | "timeout">((resolve) => {
      const check = () => existsSync(socket) && resolve("ready");
      watcher.on("change", check);
      watcher.on("error", () => {});
      void child.exited.then(() => resolve("exited"));
      setTimeout(() => resolve("timeout"), startMs).unref();
      check();
    });
    if (outcome === "ready") return child;
    await child.kill(500);
    throw new InfraError(
      "rsyslogd.start",
      outcome === "exited"
        ? `${argv[0]} exited before creating ${socket}: ${stderr.trim().slice(0, 500) || "no output"}`
        : `${argv[0]} did not create ${socket} within ${startMs} ms`,
    );
  } finally {
    watcher.close();
  }
}
