/**
 * `ezone monitor --config m.yaml`: the file's schema, and its loading with errors that name the file,
 * the key path and what was expected (ConfigError, exit code 2).
 */
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { resultsDirProblem } from "../store/results-dir.js";
import { configErrorAt, parseYamlConfig, readConfigText } from "../util/yaml-config.js";
import { ENCLAVE_NAME, MONITOR_APP } from "./protocol.js";
import { SEVERITIES } from "./rfc5424.js";
import type { SyslogTarget } from "./syslog-sender.js";

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;
const absolutePath = z.string().regex(/^\//, "an absolute path");

/** `{ unix: /dev/log }` or `{ udp: { host: 127.0.0.1, port: 514 } }`. */
const target = z.union([
  z.strictObject({ unix: absolutePath }),
  z.strictObject({
    udp: z.strictObject({
      host: z.string().regex(LOOPBACK, "a loopback address (127.0.0.0/8 or ::1)").default("127.0.0.1"),
      port: z.number().int().min(1).max(65_535).default(514),
    }),
  }),
]);

const enclave = z.strictObject({
  name: z
    .string()
    .regex(ENCLAVE_NAME, "letters, digits, '.', '_' or '-' (at most 63), starting with a letter or digit")
    .refine((n) => n !== MONITOR_APP && n !== "host", "a name other than 'ezone-monitor' and 'host'"),
  heartbeatMs: z.number().int().min(10).max(60_000).default(250),
  /** Heartbeat loss = no heartbeat for more than this many intervals. */
  missIntervals: z.number().int().min(2).max(1000).default(4),
  /** Allowance before the first heartbeat. */
  bootGraceSeconds: z.number().min(0).max(3600).default(30),
  /** The host end of the enclave's syslog channel: the monitor listens here, QEMU connects ttyS1. */
  channel: z.strictObject({ socket: absolutePath }).optional(),
});

/** Longest UNIX socket path the kernel takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Names and channel sockets are each an enclave's own: a second one would shadow the first. */
function checkEnclaves(list: z.output<typeof enclave>[], ctx: z.RefinementCtx): void {
  const names = new Map<string, number>();
  const sockets = new Map<string, number>();
  list.forEach((e, i) => {
    const sameName = names.get(e.name);
    if (sameName === undefined) names.set(e.name, i);
    else
      ctx.addIssue({
        code: "custom",
        path: [i, "name"],
        message: `enclave names must be unique: also enclaves[${sameName}]`,
      });
    const socket = e.channel?.socket;
    if (socket === undefined) return;
    const sameSocket = sockets.get(socket);
    if (sameSocket === undefined) sockets.set(socket, i);
    else
      ctx.addIssue({
        code: "custom",
        path: [i, "channel", "socket"],
        message: `the channel of enclaves[${sameSocket}] too: each enclave needs its own socket`,
      });
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
      ctx.addIssue({
        code: "custom",
        path: [i, "channel", "socket"],
        message: `longer than the ${MAX_SOCKET_PATH} bytes a UNIX socket path may have`,
      });
  });
}

export const monitorConfigSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "a name of lower-case letters, digits, '.', '_' or '-'"),
  /** Results directory (SQLite `ezone.db`), relative to the config file; default results/<name>. */
  results: z.string().optional(),
  syslog: z.strictObject({
    /** Where taps, the canary and the syslog notifier send: the host's syslog. */
    target: target.default({ unix: "/dev/log" }),
    /** rsyslog's output the monitor reads (an omfile action with RSYSLOG_SyslogProtocol23Format). */
    input: z.strictObject({
      file: absolutePath,
      from: z.enum(["start", "end"]).default("end"),
      /** Fallback polling and rotation check; appends are read at once (inotify). */
      pollMs: z.number().int().min(10).max(10_000).default(500),
    }),
    /** Longest message accepted from rsyslog's output, in bytes. */
    maxMessageBytes: z.number().int().min(480).max(65_536).default(8192),
  }),
  enclaves: z.array(enclave).min(1).max(1000).superRefine(checkEnclaves),
  /** The monitor's own message through syslog: while it does not come back, silence proves nothing. */
  canary: z
    .strictObject({
      intervalMs: z.number().int().min(10).max(60_000).default(250),
      missIntervals: z.number().int().min(2).max(1000).default(8),
    })
    .prefault({}),
  notify: z
    .strictObject({
      dedupWindowSeconds: z.number().min(0).max(86_400).default(300),
      rateLimit: z
        .strictObject({
          perMinute: z.number().positive().max(100_000).default(30),
          burst: z.number().int().min(1).max(10_000).default(10),
        })
        .prefault({}),
      timeoutSeconds: z.number().positive().max(600).default(5),
      stderr: z.boolean().default(true),
      syslog: z.strictObject({ severity: z.enum(SEVERITIES).default("alert") }).optional(),
      webhook: z
        .strictObject({
          url: z.url({ protocol: /^https?$/, error: "an http:// or https:// URL" }),
        })
        .optional(),
      command: z.strictObject({ argv: z.array(z.string().min(1)).min(1) }).optional(),
    })
    .prefault({}),
  /** Host probes between checks; 0 turns them off. A failing probe is a `host-probe` violation. */
  host: z.strictObject({ probeIntervalSeconds: z.number().min(0).max(86_400).default(0) }).prefault({}),
  /** A one-line JSON summary on stderr this often; 0 turns it off. */
  statsIntervalSeconds: z.number().min(0).max(86_400).default(60),
});

export type MonitorConfig = z.output<typeof monitorConfigSchema>;

/** The config's syslog target in the sender's terms. */
export function syslogTarget(c: MonitorConfig): SyslogTarget {
  const t = c.syslog.target;
  return "unix" in t ? { kind: "unix", path: t.unix } : { kind: "udp", host: t.udp.host, port: t.udp.port };
}

/** Validate monitor YAML text; every error names the line, column, key path and what was expected. */
export function parseMonitorConfig(text: string, file: string): MonitorConfig {
  return parseYamlConfig(text, file, monitorConfigSchema, "monitor");
}

/** Read and validate a monitor config; returns it with its results directory resolved and checked. */
export function loadMonitorConfig(file: string): { config: MonitorConfig; resultsDir: string } {
  const text = readConfigText(file);
  const config = parseMonitorConfig(text, file);
  const base = config.results ? dirname(resolve(file)) : resolve("results");
  const resultsDir = resolve(base, config.results ?? config.name);
  const problem = resultsDirProblem(resultsDir);
  if (problem) {
    throw configErrorAt(
      text,
      file,
      [config.results ? "results" : "name"],
      `results directory ${resultsDir}: ${problem}`,
    );
  }
  return { config, resultsDir };
}
