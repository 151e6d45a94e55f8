/**
 * Soak of `ezone monitor`, run by hand, not by the test suite (needs `npm run -s build` for the CLI):
 *
 *   npm run bench -- monitor-soak [--minutes 3] [--enclaves 4] [--hb-ms 250] [--burst-per-s 10000]
 *
 * A private rsyslogd, the built CLI `ezone monitor` in its own process (so its CPU and memory are its
 * own), N process enclaves (the real agent, built natively, sending through the monitor's taps), a local
 * webhook. Phases: steady heartbeats; a 10 s burst of messages into rsyslog from a host the monitor does
 * not watch; one agent frozen (SIGSTOP) for 3 s (heartbeat-missing); one agent killed for good. The
 * monitor's CPU time and RSS are sampled every 5 s; the result is one JSON document on stdout.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  monitorConfigHead,
  type RsyslogPaths,
  startPrivateRsyslogd,
} from "../src/monitor-daemon/rsyslogd.js";
import { Store } from "../src/store/store.js";
import { type GroupChild, spawnGroup } from "../src/util/child.js";
import { projectRoot } from "../src/util/project-root.js";
import { flood } from "./flood.js";
import { buildNativeAgent, startNativeAgent } from "./native-agent.js";

const ROOT = projectRoot();

interface Sample {
  atS: number;
  cpuMs: number;
  rssKb: number;
}

async function procSample(pid: number, t0: number): Promise<Sample | null> {
  try {
    const stat = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after "comm) ".
    const ticks = Number(stat[11]) + Number(stat[12]);
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return { atS: Math.round((Date.now() - t0) / 1000), cpuMs: ticks * 10, rssKb };
  } catch {
    return null;
  }
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`soak: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SoakOptions {
  minutes: number;
  enclaves: number;
  hbMs: number;
  burstPerSecond: number;
}

/** A local webhook that keeps every violation POSTed to it. */
async function startWebhook(): Promise<{
  url: string;
  hooks: Record<string, unknown>[];
  close(): Promise<void>;
}> {
  const hooks: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (b: Buffer) => parts.push(b));
    req.on("end", () => {
      hooks.push(JSON.parse(Buffer.concat(parts).toString()) as Record<string, unknown>);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    hooks,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function soakConfig(
  paths: RsyslogPaths,
  dir: string,
  names: string[],
  hbMs: number,
  hookUrl: string,
): string {
  return [
    ...monitorConfigHead("soak", paths),
    "enclaves:",
    ...names.map(
      (n) =>
        `  - { name: ${n}, heartbeatMs: ${hbMs}, missIntervals: 4, channel: { socket: ${join(dir, `${n}.sock`)} } }`,
    ),
    "notify:",
    "  stderr: false",
    `  webhook: { url: "${hookUrl}" }`,
    "statsIntervalSeconds: 0",
    "",
  ].join("\n");
}

/** The built CLI's `ezone monitor` in its own process, and its output so far. */
async function startMonitor(config: string, durationS: number, dir: string) {
  const mon = spawnGroup(
    [
      process.execPath,
      join(ROOT, "dist/cli/main.js"),
      "monitor",
      "--config",
      config,
      "--duration",
      String(durationS),
    ],
    { cwd: dir },
  );
  const out = { stdout: "", stderr: "" };
  mon.proc.stdout?.on("data", (b: Buffer) => (out.stdout += b.toString()));
  mon.proc.stderr?.on("data", (b: Buffer) => (out.stderr += b.toString()));
  await until(() => out.stderr.includes("watching"), 30_000, "the monitor to start");
  return { mon, out };
}

/** The load and the faults, each at its fraction of the soak: a burst, a frozen agent, a killed one. */
async function runPhases(
  agents: Map<string, GroupChild>,
  socket: string,
  opts: SoakOptions,
  t0: number,
  durationS: number,
) {
  const phases: Record<string, number> = {};
  const at = (fraction: number) => pause(Math.max(0, t0 + fraction * durationS * 1000 - Date.now()));

  // Phase: a burst from a host the monitor does not watch, straight into rsyslog's socket.
  await at(0.3);
  phases.burstStartS = (Date.now() - t0) / 1000;
  const burst = await flood(socket, { perSecond: opts.burstPerSecond, durationMs: 10_000 });

  // Phase: freeze one agent for 3 s, then thaw it.
  await at(0.55);
  const frozen = agents.get("p1") as GroupChild;
  phases.freezeAtMs = Date.now();
  process.kill(frozen.pid, "SIGSTOP");
  await pause(3000);
  process.kill(frozen.pid, "SIGCONT");

  // Phase: kill another agent for good.
  await at(0.75);
  const killed = agents.get("p2") as GroupChild;
  phases.killAtMs = Date.now();
  await killed.kill(500);
  return { sent: burst.sent, refusedByRsyslog: burst.refused, ...phases };
}

/** CPU and memory of the monitor over the soak, from its samples. */
function usage(samples: Sample[]) {
  const first = samples[0];
  const last = samples.at(-1);
  const cpuPercent =
    first && last && last.atS > first.atS
      ? ((last.cpuMs - first.cpuMs) / ((last.atS - first.atS) * 1000)) * 100
      : null;
  return {
    cpuPercentAvg: cpuPercent === null ? null : Math.round(cpuPercent * 100) / 100,
    cpuMsTotal: last?.cpuMs ?? null,
    rssKb: {
      first: first?.rssKb ?? null,
      max: Math.max(...samples.map((s) => s.rssKb)),
      last: last?.rssKb ?? null,
    },
  };
}

function violationSummary(dir: string) {
  using store = Store.open(join(dir, "results"));
  return store.violations("soak").map((v) => ({
    enclave: v.enclave,
    kind: v.kind,
    detectionAfterLastHeartbeatMs:
      v.lastHeartbeatAt === null ? null : Math.round(v.detectedAt - v.lastHeartbeatAt),
    notification: v.notification,
    notifiedAfterDetectionMs: v.notifiedAt === null ? null : Math.round(v.notifiedAt - v.detectedAt),
    closedWhy: v.closedWhy,
  }));
}

export async function soak(opts: SoakOptions) {
  const dir = await mkdtemp(join(tmpdir(), "ezone-soak-"));
  const children: GroupChild[] = [];
  const webhook = await startWebhook();
  await using rsyslog = await startPrivateRsyslogd(dir);
  try {
    const agentBin = await buildNativeAgent(join(dir, "ezone-agent"));
    const names = Array.from({ length: opts.enclaves }, (_, i) => `p${i + 1}`);
    const config = join(dir, "m.yaml");
    await writeFile(config, soakConfig(rsyslog.paths, dir, names, opts.hbMs, webhook.url));
    const durationS = Math.round(opts.minutes * 60);
    const t0 = Date.now();
    const { mon, out } = await startMonitor(config, durationS, dir);
    children.push(mon);
    const agents = new Map<string, GroupChild>();
    for (const n of names) {
      const a = startNativeAgent(agentBin, n, opts.hbMs, join(dir, `${n}.sock`), dir);
      agents.set(n, a);
      children.push(a);
    }
    const samples: Sample[] = [];
    const sampler = setInterval(async () => {
      const s = await procSample(mon.pid, t0);
      if (s) samples.push(s);
    }, 5000);
    const burst = await runPhases(agents, rsyslog.paths.socket, opts, t0, durationS);
    const exit = await mon.exited;
    clearInterval(sampler);
    return {
      config: { ...opts, durationS },
      monitorExit: exit,
      ...usage(samples),
      samples,
      burst,
      violations: violationSummary(dir),
      webhookCalls: webhook.hooks.length,
      monitorStats: JSON.parse(out.stdout || "{}") as Record<string, unknown>,
    };
  } finally {
    for (const c of children) await c.kill(500);
    await webhook.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("monitor-soak.js")) {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "3" },
      enclaves: { type: "string", default: "4" },
      "hb-ms": { type: "string", default: "250" },
      "burst-per-s": { type: "string", default: "10000" },
    },
  });
  const result = await soak({
    minutes: Number(values.minutes),
    enclaves: Number(values.enclaves),
    hbMs: Number(values["hb-ms"]),
    burstPerSecond: Number(values["burst-per-s"]),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
