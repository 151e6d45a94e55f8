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
import { monitorConfigHead, startPrivateRsyslogd } from "../src/monitor-daemon/rsyslogd.js";
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

export async function soak(opts: {
  minutes: number;
  enclaves: number;
  hbMs: number;
  burstPerSecond: number;
}) {
  const dir = await mkdtemp(join(tmpdir(), "ezone-soak-"));
  const children: GroupChild[] = [];
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
  await using rsyslog = await startPrivateRsyslogd(dir);
  try {
    const agentBin = await buildNativeAgent(join(dir, "ezone-agent"));
    const names = Array.from({ length: opts.enclaves }, (_, i) => `p${i + 1}`);
    const config = join(dir, "m.yaml");
    await writeFile(
      config,
      [
        ...monitorConfigHead("soak", rsyslog.paths),
        "enclaves:",
        ...names.map(
          (n) =>
            `  - { name: ${n}, heartbeatMs: ${opts.hbMs}, missIntervals: 4, channel: { socket: ${join(dir, `${n}.sock`)} } }`,
        ),
        "notify:",
        "  stderr: false",
        `  webhook: { url: "http://127.0.0.1:${(server.address() as AddressInfo).port}/hook" }`,
        "statsIntervalSeconds: 0",
        "",
      ].join("\n"),
    );
    const durationS = Math.round(opts.minutes * 60);
    const t0 = Date.now();
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
    children.push(mon);
    let stdout = "";
    let stderr = "";
    mon.proc.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
    mon.proc.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    await until(() => stderr.includes("watching"), 30_000, "the monitor to start");
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
    const phases: Record<string, number> = {};
    const at = (fraction: number) => pause(Math.max(0, t0 + fraction * durationS * 1000 - Date.now()));

    // Phase: a burst from a host the monitor does not watch, straight into rsyslog's socket.
    await at(0.3);
    phases.burstStartS = (Date.now() - t0) / 1000;
    const burst = await flood(rsyslog.paths.socket, { perSecond: opts.burstPerSecond, durationMs: 10_000 });

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

    const exit = await mon.exited;
    clearInterval(sampler);
    using store = Store.open(join(dir, "results"));
    const violations = store.violations("soak");
    const stats = JSON.parse(stdout || "{}") as Record<string, unknown>;
    const first = samples[0];
    const last = samples.at(-1);
    const cpuPercent =
      first && last && last.atS > first.atS
        ? ((last.cpuMs - first.cpuMs) / ((last.atS - first.atS) * 1000)) * 100
        : null;
    return {
      config: { ...opts, durationS },
      monitorExit: exit,
      cpuPercentAvg: cpuPercent === null ? null : Math.round(cpuPercent * 100) / 100,
      cpuMsTotal: last?.cpuMs ?? null,
      rssKb: {
        first: first?.rssKb ?? null,
        max: Math.max(...samples.map((s) => s.rssKb)),
        last: last?.rssKb ?? null,
      },
      samples,
      burst: { sent: burst.sent, refusedByRsyslog: burst.refused, ...phases },
      violations: violations.map((v) => ({
        enclave: v.enclave,
        kind: v.kind,
        detectionAfterLastHeartbeatMs:
          v.lastHeartbeatAt === null ? null : Math.round(v.detectedAt - v.lastHeartbeatAt),
        notification: v.notification,
        notifiedAfterDetectionMs: v.notifiedAt === null ? null : Math.round(v.notifiedAt - v.detectedAt),
        closedWhy: v.closedWhy,
      })),
      webhookCalls: hooks.length,
      monitorStats: stats,
    };
  } finally {
    for (const c of children) await c.kill(500);
    await new Promise<void>((r) => server.close(() => r()));
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
