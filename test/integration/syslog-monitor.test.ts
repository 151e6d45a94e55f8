import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { flood } from "../../bench/flood.js";
import { buildNativeAgent, startNativeAgent } from "../../bench/native-agent.js";
import type { Enclave, EnclaveEvent } from "../../src/backends/backend.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { type MonitorConfig, monitorConfigSchema } from "../../src/monitor-daemon/monitor-config.js";
import {
  monitorConfigHead,
  type PrivateRsyslogd,
  startPrivateRsyslogd,
} from "../../src/monitor-daemon/rsyslogd.js";
import { type MonitorEvent, SyslogMonitor } from "../../src/monitor-daemon/syslog-monitor.js";
import { Store } from "../../src/store/store.js";
import type { GroupChild } from "../../src/util/child.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { ezoneAsync, ezoneSync, requireBuiltCli } from "../helpers/cli.js";

const haveRsyslog = hasBinary("rsyslogd");
const haveQemu = hasBinary("qemu-system-x86_64");

let dir: string;
let rsyslog: PrivateRsyslogd;
let monitor: SyslogMonitor | null;
let store: Store;
let events: MonitorEvent[];
let hooks: { body: Record<string, unknown>; at: number }[];
let hookServer: Server;
let hookUrl: string;
const agents: GroupChild[] = [];
const enclaves: Enclave[] = [];

/** Resolve with the first event that matches, or reject at the deadline with what was seen. */
function nextEvent(pred: (ev: MonitorEvent) => boolean, ms: number, what: string): Promise<MonitorEvent> {
  const seen = events.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(
          `no ${what} within ${ms} ms; events: ${JSON.stringify(events.map((e) => [e.type, e.violation.enclave, e.violation.kind]))}`,
        ),
      );
    }, ms);
    const off = (monitor as SyslogMonitor).on((ev) => {
      if (!pred(ev)) return;
      clearTimeout(timer);
      off();
      resolve(ev);
    });
  });
}

/** Wait (re-checking every 10 ms, with a deadline) until `cond()` holds. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An observation window, not a synchronisation: asserting that something does NOT happen (a second
 * violation) needs watching until it would have happened.
 */
async function observeUntil(epochMs: number): Promise<void> {
  const left = epochMs - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
}

function config(
  enclaves: MonitorConfig["enclaves"] extends (infer E)[] ? Partial<E>[] : never,
): MonitorConfig {
  return monitorConfigSchema.parse({
    name: "it",
    syslog: {
      target: { unix: rsyslog.paths.socket },
      input: { file: rsyslog.paths.output, from: "end", pollMs: 50 },
    },
    enclaves,
    canary: { intervalMs: 200, missIntervals: 10 },
    notify: { stderr: false, webhook: { url: hookUrl }, dedupWindowSeconds: 600 },
    statsIntervalSeconds: 0,
  });
}

async function startMonitor(cfg: MonitorConfig): Promise<void> {
  monitor = await SyslogMonitor.start(cfg, { store, log: () => {} });
  monitor.on((ev) => events.push(ev));
  // The monitor's own canary proves rsyslog → file → monitor works before any assertion.
  await until(() => (monitor as SyslogMonitor).stats().canary.received > 0, 10_000, "the canary");
}

describe.runIf(haveRsyslog)("syslog monitor through a private rsyslogd", () => {
  beforeAll(async () => {
    hookServer = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (b: Buffer) => parts.push(b));
      req.on("end", () => {
        hooks.push({ body: JSON.parse(Buffer.concat(parts).toString()), at: Date.now() });
        res.end("ok");
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
    hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => hookServer.close(() => r()));
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-syslog-it-"));
    rsyslog = await startPrivateRsyslogd(dir);
    store = Store.open(join(dir, "results"));
    events = [];
    hooks = [];
    monitor = null;
  });

  afterEach(async () => {
    for (const e of enclaves.splice(0)) await e.stop();
    for (const a of agents.splice(0)) await a.kill(500);
    await monitor?.stop();
    await rsyslog.stop();
    store.close();
    expect(processesMatching(dir)).toEqual([]);
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  describe("a process enclave (the agent run natively)", () => {
    let agentBin: string;
    let binDir: string;
    beforeAll(async () => {
      binDir = mkdtempSync(join(tmpdir(), "ezone-agent-bin-"));
      agentBin = await buildNativeAgent(join(binDir, "ezone-agent"));
    });
    afterAll(() => rmSync(binDir, { recursive: true, force: true }));

    function startAgent(name: string, hbMs: number): GroupChild {
      const child = startNativeAgent(agentBin, name, hbMs, join(dir, `${name}.sock`), dir);
      agents.push(child);
      return child;
    }

    it("heartbeats arrive; a stopped agent is heartbeat-missing after N intervals; a flood of 10,000 msg/s from elsewhere costs no false alarm", async () => {
      await startMonitor(
        config([
          { name: "n1", heartbeatMs: 100, missIntervals: 4, channel: { socket: join(dir, "n1.sock") } },
          { name: "n2", heartbeatMs: 100, missIntervals: 4, channel: { socket: join(dir, "n2.sock") } },
        ]),
      );
      const n1 = startAgent("n1", 100);
      startAgent("n2", 100);
      const health = () => (monitor as SyslogMonitor).stats().enclaves;
      await until(
        () => health().every((e) => e.heartbeats >= 5),
        10_000,
        "heartbeats of n1 and n2 through rsyslog",
      );

      // A flood into the same rsyslog from a program the monitor does not watch: ~10,000 messages in 1 s.
      const { sent, refused } = await flood(rsyslog.paths.socket, { perSecond: 10_000, durationMs: 1000 });
      // Every datagram rsyslog accepted reaches the monitor, which counts and ignores it.
      const accepted = sent - refused;
      await until(
        () => (monitor as SyslogMonitor).stats().unknownEnclave >= accepted,
        20_000,
        `${accepted} flood messages read`,
      );
      const hbBefore = health().find((e) => e.name === "n2")?.heartbeats ?? 0;
      await until(
        () => (health().find((e) => e.name === "n2")?.heartbeats ?? 0) >= hbBefore + 10,
        10_000,
        "n2 heartbeats after the flood",
      );
      expect(accepted).toBeGreaterThan(500);
      expect(events.filter((e) => e.type === "raised")).toEqual([]);
      process.stderr.write(
        `[measure] flood: ${sent} sent in 1 s, ${accepted} accepted by rsyslog, no false alarm\n`,
      );

      // Freeze n1: it stays alive but silent.
      process.kill(n1.pid, "SIGSTOP");
      const stoppedAt = Date.now();
      const raised = await nextEvent((e) => e.type === "raised", 5000, "a violation for the frozen agent");
      expect(raised.violation).toMatchObject({ enclave: "n1", kind: "heartbeat-missing" });
      const v = raised.violation;
      const latency = v.detectedAt - (v.lastHeartbeatAt ?? 0);
      expect(latency).toBeGreaterThan(400);
      expect(latency).toBeLessThan(1000);
      expect(Date.now() - stoppedAt).toBeLessThan(2000);
      process.kill(n1.pid, "SIGCONT");
      await nextEvent((e) => e.type === "closed", 5000, "the incident closing when heartbeats resume");
      const stored = store.violations("it");
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        enclave: "n1",
        kind: "heartbeat-missing",
        closedWhy: "heartbeats resumed",
      });
      process.stderr.write(
        `[measure] heartbeat-missing: detected ${Math.round(latency)} ms after the last heartbeat (threshold 4 x 100 ms)\n`,
      );
    });

    it("`ezone monitor --config`: a bad file exits 2 naming the key; a good one watches, stores and prints its statistics", async () => {
      requireBuiltCli();
      const bad = join(dir, "bad.yaml");
      writeFileSync(
        bad,
        "name: m\nsyslog: { input: { file: relative.log } }\nenclaves: [{ name: n1, heartbeatMs: 5 }]\n",
      );
      const r = ezoneSync(dir, ["monitor", "--config", bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(bad);
      expect(r.stderr).toMatch(/syslog\.input\.file: an absolute path/);
      expect(r.stderr).toMatch(/enclaves\[0\]\.heartbeatMs: .*>=10/);

      const good = join(dir, "m.yaml");
      const socket = join(dir, "c1.sock");
      writeFileSync(
        good,
        [
          ...monitorConfigHead("cli", rsyslog.paths),
          `enclaves: [{ name: c1, heartbeatMs: 100, channel: { socket: ${socket} } }]`,
          "notify: { stderr: true }",
          "",
        ].join("\n"),
      );
      const cli = ezoneAsync(dir, ["monitor", "--config", good, "--duration", "4"]);
      await until(() => cli.out.stderr.includes("watching 1 enclave"), 20_000, "the monitor to start");
      const agent = startAgent("c1", 100);
      const exit = await cli.exited;
      await agent.kill(500);
      expect(exit.code, cli.out.stderr).toBe(0);
      const stats = JSON.parse(cli.out.stdout) as {
        enclaves: { name: string; heartbeats: number }[];
        canary: { received: number };
      };
      expect(stats.enclaves[0]?.heartbeats).toBeGreaterThan(5);
      expect(stats.canary.received).toBeGreaterThan(5);
      // The agent outlived nothing: killing it after the monitor stopped leaves no violation behind either.
      using cliStore = Store.open(join(dir, "results"));
      expect(cliStore.violations("cli")).toEqual([]);
    });
  });

  describe.runIf(haveQemu)("a real booted guest (qemu-tcg)", () => {
    let image: BuiltImage;
    beforeAll(async () => {
      image = await buildImage();
    }, 600_000);

    /**
     * Watch `name` (heartbeat-missing after 4 intervals) and boot a guest whose ttyS1 goes to the
     * monitor's tap; resolves once its heartbeats reach the monitor through rsyslog.
     */
    async function watchAndBoot(name: string, hbMs: number): Promise<Enclave> {
      const channel = { socket: join(dir, `${name}.sock`) };
      await startMonitor(
        config([{ name, heartbeatMs: hbMs, missIntervals: 4, bootGraceSeconds: 120, channel }]),
      );
      const tap = (monitor as SyslogMonitor).tap(name);
      if (!tap) throw new Error(`no tap for ${name}`);
      const workDir = mkdtempSync(join(dir, `${name}-`));
      const enclave = await new QemuBackend({ accel: "tcg" }).start(
        {
          image,
          memoryMb: 256,
          heartbeatMs: hbMs,
          kernelArgs: ["oops=panic"],
          arm: null,
          runTag: `syslog-it-${process.pid}`,
          workDir,
          syslog: { socket: join(dir, `${name}.sock`), hostname: name },
        },
        (ev: EnclaveEvent) => tap.consoleSink(ev),
        AbortSignal.timeout(110_000),
      );
      enclaves.push(enclave);
      const hb = () =>
        (monitor as SyslogMonitor).stats().enclaves.find((e) => e.name === name)?.heartbeats ?? 0;
      await until(() => hb() >= 3, 90_000, `heartbeats of ${name} through rsyslog`);
      return enclave;
    }

    it("kerncrash → exactly one violation and one webhook call, within 2 heartbeat intervals of the last heartbeat", async () => {
      const hbMs = 500;
      const enclave = await watchAndBoot("vm1", hbMs);
      enclave.send("INJECT kerncrash nonce=sysit delay_ms=0");
      const notified = await nextEvent((e) => e.type === "notified", 20_000, "the notification");
      const v = notified.violation;
      expect(v).toMatchObject({ enclave: "vm1", kind: "guest-oops" });
      expect(v.detectedAt - (v.lastHeartbeatAt ?? 0)).toBeLessThanOrEqual(2 * hbMs);
      // The rest of the crash (panic, QEMU's exit) and the silence after it add evidence, nothing more.
      await nextEvent(
        (e) => e.type === "updated" && e.violation.evidence.some((l) => l.startsWith("EXIT")),
        20_000,
        "the exit as evidence",
      );
      // Observe past the heartbeat deadline: a second violation (heartbeat-missing) would come by then.
      await observeUntil((v.lastHeartbeatAt ?? 0) + 4 * hbMs + 500);
      await (monitor as SyslogMonitor).poke();
      expect(hooks).toHaveLength(1);
      expect(hooks[0]?.body).toMatchObject({ monitor: "it", enclave: "vm1", kind: "guest-oops" });
      const stored = store.violations("it");
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ kind: "guest-oops", notification: "sent" });
      expect(stored[0]?.firstMissedHeartbeatAt).not.toBeNull();
      expect(stored[0]?.notifiedAt).toBeGreaterThanOrEqual(stored[0]?.detectedAt ?? Number.POSITIVE_INFINITY);
      const oopsToViolation = v.detectedAt - (v.sourceAt ?? 0);
      process.stderr.write(
        `[measure] oops: violation ${Math.round(oopsToViolation)} ms after the tap saw the oops, ` +
          `${Math.round(v.detectedAt - (v.lastHeartbeatAt ?? 0))} ms after the last heartbeat; ` +
          `webhook ${Math.round((stored[0]?.notifiedAt ?? 0) - v.detectedAt)} ms later\n`,
      );
    });

    it("rsyslog restarted mid-test: a crash while it is down is still one violation and one webhook call", async () => {
      const hbMs = 500;
      const enclave = await watchAndBoot("vm2", hbMs);
      const tap = (monitor as SyslogMonitor).tap("vm2");
      await rsyslog.stop();
      const downAt = Date.now();
      enclave.send("INJECT kerncrash nonce=sysrestart delay_ms=0");
      await until(() => (tap?.stats().hostReports ?? 0) >= 1, 20_000, "the tap to report the oops");
      await until(
        () => Object.keys((monitor as SyslogMonitor).stats().sender.retries).length > 0,
        10_000,
        "the sender to hit the missing daemon",
      );
      expect(events.filter((e) => e.violation.enclave === "vm2")).toEqual([]);
      await rsyslog.restart();
      const notified = await nextEvent(
        (e) => e.type === "notified" && e.violation.enclave === "vm2",
        20_000,
        "the notification after the restart",
      );
      expect(notified.violation.kind).toBe("guest-oops");
      expect(notified.violation.sourceAt).toBeGreaterThanOrEqual(downAt);
      await nextEvent(
        (e) => e.type === "updated" && e.violation.evidence.some((l) => l.startsWith("EXIT")),
        20_000,
        "the exit as evidence",
      );
      await observeUntil(Date.now() + 4 * hbMs + 500);
      expect(store.violations("it").filter((s) => s.enclave === "vm2")).toHaveLength(1);
      expect(hooks.filter((h) => h.body.enclave === "vm2")).toHaveLength(1);
      // The canary said the pipeline was down; a stall, if reported, is its own violation and closed again.
      for (const s of store.violations("it").filter((x) => x.enclave !== "vm2")) {
        expect(s.kind).toBe("pipeline-stalled");
        expect(s.closedAt).not.toBeNull();
      }
    });
  });
});
