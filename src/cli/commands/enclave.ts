import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sendControl } from "../../monitor-daemon/enclave-control.js";
import { launchEnclave, listEnclaves, stopEnclave } from "../../monitor-daemon/enclave-registry.js";
import {
  type EnclaveRecord,
  guestFaults,
  IMAGE_BUILD_MS,
  readEnclaveRecord,
  SERVICE_BACKENDS,
  type ServiceBackend,
  serveEnclave,
} from "../../monitor-daemon/enclave-service.js";
import { ENCLAVE_NAME } from "../../monitor-daemon/protocol.js";
import { enclavePaths, runDir, syslogServicePaths } from "../../monitor-daemon/runtime-dir.js";
import { ConfigError, UsageError } from "../../util/errors.js";

/** `ezone enclave start <backend>` flags. */
export interface EnclaveStartOptions {
  name: string;
  /** Wire the agent's channel and the host's reports to the syslog of `ezone monitor setup`. */
  syslog?: boolean;
  /** Another syslog socket than the runtime directory's `log.sock`. */
  syslogSocket?: string;
  memoryMb?: string;
  heartbeatMs?: string;
  /** Seconds until the enclave is stopped anyway (default: never). */
  lifetime?: string;
  bootTimeout?: string;
  dir?: string;
  /** Supervise in this process instead of starting a background one. */
  foreground?: boolean;
}

/** The longest UNIX socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * `ezone enclave start qemu-tcg --name vm1 --syslog`: boot a long-running enclave in the background
 * (a supervisor with a record in the runtime directory) and return once its agent is READY.
 */
export async function start(backend: string, opts: EnclaveStartOptions): Promise<void> {
  const config = startConfig(backend, opts);
  if (opts.foreground) {
    const final = await serveEnclave(config, (r) => process.stdout.write(`${describe(r)}\n`));
    process.stdout.write(`${final.name}: ended: ${final.ended?.why ?? "?"}\n`);
    return;
  }
  const main = fileURLToPath(new URL("../main.js", import.meta.url));
  const argv = [
    process.execPath,
    main,
    "enclave",
    "start",
    config.backend,
    ...forwardedFlags(config),
    "--foreground",
  ];
  const r = await launchEnclave(config.runDir, config.name, argv, IMAGE_BUILD_MS + config.bootTimeoutMs);
  process.stdout.write(`${describe(r)}\n`);
}

function startConfig(backend: string, opts: EnclaveStartOptions) {
  if (!(SERVICE_BACKENDS as readonly string[]).includes(backend))
    throw new ConfigError("<backend>", [
      {
        path: backend,
        message: `expected ${SERVICE_BACKENDS.join(" or ")} (the backends with a syslog channel)`,
      },
    ]);
  if (!ENCLAVE_NAME.test(opts.name) || opts.name === "host")
    throw new ConfigError("--name", [
      {
        path: opts.name,
        message: "letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit",
      },
    ]);
  const dir = runDir(opts.dir);
  const paths = enclavePaths(dir, opts.name);
  const longest = [paths.channel, paths.control].find((p) => Buffer.byteLength(p) > MAX_SOCKET_PATH);
  if (longest)
    throw new ConfigError("--dir", [
      { path: longest, message: `a socket path of at most ${MAX_SOCKET_PATH} bytes` },
    ]);
  const syslogSocket = opts.syslogSocket ?? (opts.syslog ? syslogServicePaths(dir, "").socket : null);
  if (syslogSocket !== null && !existsSync(syslogSocket))
    throw new UsageError(
      `no syslog socket at ${syslogSocket}: run \`ezone monitor setup\` first (same --dir), or pass --syslog-socket`,
    );
  const lifetime =
    opts.lifetime === undefined ? null : numberFlag("--lifetime", opts.lifetime, 1, 31_536_000);
  return {
    runDir: dir,
    name: opts.name,
    backend: backend as ServiceBackend,
    memoryMb: numberFlag("--memory-mb", opts.memoryMb ?? "256", 64, 65_536),
    heartbeatMs: numberFlag("--heartbeat-ms", opts.heartbeatMs ?? "250", 10, 60_000),
    syslogSocket,
    lifetimeMs: lifetime === null ? null : lifetime * 1000,
    bootTimeoutMs: numberFlag("--boot-timeout", opts.bootTimeout ?? "120", 1, 3600) * 1000,
    log: (line: string) => process.stderr.write(`${line}\n`),
  };
}

/** The supervisor's flags: every setting explicit, so it does not depend on its environment. */
function forwardedFlags(c: ReturnType<typeof startConfig>): string[] {
  return [
    ...["--name", c.name, "--dir", c.runDir, "--memory-mb", String(c.memoryMb)],
    ...["--heartbeat-ms", String(c.heartbeatMs), "--boot-timeout", String(c.bootTimeoutMs / 1000)],
    ...(c.syslogSocket ? ["--syslog-socket", c.syslogSocket] : []),
    ...(c.lifetimeMs === null ? [] : ["--lifetime", String(c.lifetimeMs / 1000)]),
  ];
}

function numberFlag(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(flag, [{ path: value, message: `expected a whole number from ${min} to ${max}` }]);
  return n;
}

function describe(r: EnclaveRecord): string {
  const wired = r.syslog ? `syslog ${r.syslog}` : "no syslog";
  return `${r.name}: ${r.phase} (${r.backend}, supervisor pid ${r.pid}, ${wired}, console ${r.console})`;
}

/** `ezone enclave list`: the runtime directory's enclaves and their status. */
export async function list(opts: { dir?: string; json?: boolean }): Promise<void> {
  const all = listEnclaves(runDir(opts.dir));
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(
        all.map((e) => ({ ...e.record, status: e.status })),
        null,
        2,
      )}\n`,
    );
    return;
  }
  if (all.length === 0) process.stdout.write(`no enclaves in ${runDir(opts.dir)}\n`);
  for (const { record: r, status } of all) {
    const since = new Date(r.startedAt).toISOString();
    const why = r.ended ? `: ${r.ended.why}` : "";
    process.stdout.write(`${r.name}\t${status}\t${r.backend}\tpid ${r.pid}\tsince ${since}${why}\n`);
  }
}

/** `ezone enclave stop <name>|--all`: stop and forget enclaves. */
export async function stop(name: string | undefined, opts: { dir?: string; all?: boolean }): Promise<void> {
  const dir = runDir(opts.dir);
  if ((name === undefined) === !opts.all) throw new UsageError("enclave stop: name one enclave, or --all");
  const names = name === undefined ? listEnclaves(dir).map((e) => e.record.name) : [name];
  for (const n of names) {
    const was = await stopEnclave(dir, n);
    process.stdout.write(
      `${n}: ${was === "running" || was === "booting" ? "stopped" : `removed (${was})`}\n`,
    );
  }
}

/** `ezone enclave inject <name> <fault>`: have the enclave's agent fire a guest fault now. */
export async function inject(name: string, fault: string, opts: { dir?: string }): Promise<void> {
  if (!(guestFaults() as string[]).includes(fault))
    throw new ConfigError("<fault>", [
      { path: fault, message: `expected one of ${guestFaults().join(", ")}` },
    ]);
  const paths = enclavePaths(runDir(opts.dir), name);
  const record = readEnclaveRecord(paths);
  if (record?.phase !== "running")
    throw new UsageError(`enclave ${name} is not running (see ezone enclave list)`);
  const reply = await sendControl(paths.control, { op: "inject", fault });
  if (!reply.ok) throw new UsageError(`enclave ${name}: ${reply.error}`);
  process.stdout.write(`${name}: ${fault} injected (nonce ${reply.nonce})\n`);
}
