import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseMonitorConfig } from "../../src/monitor-daemon/monitor-config.js";
import { NotificationDispatcher, type Notifier } from "../../src/monitor-daemon/notifiers.js";
import type { SyslogMessage } from "../../src/monitor-daemon/rfc5424.js";
import { type Violation, ViolationDetector } from "../../src/monitor-daemon/violation-detector.js";
import { Store, type StoredViolation } from "../../src/store/store.js";
import { ConfigError } from "../../src/util/errors.js";

/** A detector on a clock the test moves, recording what it raised and closed. */
function rig(opts: { hb?: number; miss?: number; grace?: number } = {}) {
  let t = 1_000_000;
  const raised: Violation[] = [];
  const updates: string[] = [];
  const closed: string[] = [];
  const d = new ViolationDetector(
    [
      {
        name: "e1",
        heartbeatMs: opts.hb ?? 250,
        missIntervals: opts.miss ?? 4,
        bootGraceMs: opts.grace ?? 5000,
      },
    ],
    {
      raised: (v) => raised.push(v),
      updated: (_v, line) => updates.push(line),
      closed: (_v, why) => closed.push(why),
    },
    () => t,
  );
  const msg = (app: string, msgId: string, text = "", host = "e1", at = t): SyslogMessage => ({
    facility: 3,
    severity: 6,
    timestampMs: at,
    hostname: host,
    appName: app,
    procId: "1",
    msgId,
    sd: [],
    msg: text,
  });
  /** Advance the clock in ticks of 10 ms; a working pipeline delivers a canary 5 ms after it was sent. */
  let waiting = false;
  const advance = (ms: number, pipeline = true) => {
    for (let i = 0; i < ms; i += 10) {
      t += 10;
      if (pipeline) d.proveDelivery(t - 5);
      waiting = d.tick();
    }
  };
  const hb = (at = t) => d.observe(msg("ezone-agent", "HB", "HB 1 2", "e1", at));
  return { d, raised, updates, closed, msg, advance, hb, now: () => t, waiting: () => waiting };
}

describe("violation detector", () => {
  it("a kernel crash is one violation: the panic, the exit and the silence after it add evidence only", () => {
    const r = rig();
    r.d.observe(r.msg("ezone-agent", "READY", "READY ezone-agent/1 hb=250"));
    for (let i = 0; i < 5; i++) {
      r.hb();
      r.advance(250);
    }
    const lastHb = r.now() - 250;
    r.d.observe(r.msg("ezone-agent", "FIRED", "FIRED kerncrash nonce=x"));
    r.d.observe(r.msg("ezone", "OOPS", "guest kernel: divide error"));
    r.d.observe(r.msg("ezone", "PANIC", "guest kernel panic"));
    r.d.observe(r.msg("ezone", "EXIT", "enclave ended: exit code 1"));
    r.advance(10_000);
    expect(r.raised).toHaveLength(1);
    const v = r.raised[0] as Violation;
    expect(v.kind).toBe("guest-oops");
    expect(v.lastHeartbeatAt).toBe(lastHb);
    expect(v.firstMissedHeartbeatAt).toBe(lastHb + 250);
    expect(v.evidence[0]).toMatch(/^FIRED/);
    expect(r.updates).toEqual(["PANIC: guest kernel panic", "EXIT: enclave ended: exit code 1"]);
  });

  it("silence for more than N intervals is heartbeat-missing, detected within one tick of the deadline", () => {
    const r = rig({ hb: 100, miss: 4 });
    r.hb();
    const last = r.now();
    r.advance(400);
    expect(r.raised).toHaveLength(0);
    r.advance(20);
    expect(r.raised).toHaveLength(1);
    const v = r.raised[0] as Violation;
    expect(v.kind).toBe("heartbeat-missing");
    expect(v.detectedAt - last).toBeGreaterThan(400);
    expect(v.detectedAt - last).toBeLessThanOrEqual(420);
    expect(v.detail).toMatch(/no heartbeat for 41\d ms \(> 4 x 100 ms\)/);
  });

  it("heartbeats resuming close a heartbeat incident; a new silence is a new violation", () => {
    const r = rig({ hb: 100, miss: 2 });
    r.hb();
    r.advance(300);
    r.hb();
    expect(r.closed).toEqual(["heartbeats resumed"]);
    r.advance(300);
    expect(r.raised.map((v) => v.kind)).toEqual(["heartbeat-missing", "heartbeat-missing"]);
  });

  it("only READY closes a crash incident", () => {
    const r = rig();
    r.hb();
    r.d.observe(r.msg("ezone", "OOPS", "x"));
    r.hb();
    expect(r.closed).toEqual([]);
    r.d.observe(r.msg("ezone-agent", "READY", "READY ezone-agent/1 hb=500"));
    expect(r.closed).toEqual(["the agent started again (READY)"]);
    r.d.observe(r.msg("ezone", "OOPS", "again"));
    expect(r.raised).toHaveLength(2);
  });

  it("READY's hb= sets the interval the silence is judged by", () => {
    const r = rig({ hb: 100, miss: 4 });
    r.d.observe(r.msg("ezone-agent", "READY", "READY ezone-agent/1 hb=1000"));
    r.advance(3900);
    expect(r.raised).toHaveLength(0);
    r.advance(200);
    expect(r.raised).toHaveLength(1);
  });

  it("an enclave never heard from is reported after its boot grace", () => {
    const r = rig({ grace: 3000 });
    r.advance(2990);
    expect(r.raised).toHaveLength(0);
    r.advance(20);
    expect(r.raised[0]?.detail).toMatch(/no heartbeat since the monitor started/);
    expect(r.raised[0]?.lastHeartbeatAt).toBeNull();
  });

  it("an enclave watched later gets its boot grace from then, and is watched twice never", () => {
    const r = rig({ grace: 3000 });
    r.advance(2000);
    r.d.watch({ name: "peer", heartbeatMs: 250, missIntervals: 4, bootGraceMs: 3000 });
    expect(() => r.d.watch({ name: "peer", heartbeatMs: 250, missIntervals: 4, bootGraceMs: 1 })).toThrow(
      /twice/,
    );
    r.advance(1010);
    expect(r.raised.map((v) => v.enclave)).toEqual(["e1"]);
    r.advance(2000);
    expect(r.raised.map((v) => v.enclave)).toEqual(["e1", "peer"]);
    expect(r.raised[1]?.detail).toMatch(/no heartbeat since the monitor started watching it 30\d\d ms ago/);
  });

  it("silence is not judged without proof that the path works; a dead enclave is reported as soon as it comes", () => {
    const r = rig({ hb: 100, miss: 4 });
    r.hb();
    r.advance(5000, false);
    expect(r.raised).toHaveLength(0);
    expect(r.waiting()).toBe(true);
    r.d.proveDelivery(r.now() - 1);
    r.d.tick();
    expect(r.raised).toHaveLength(1);
    expect(r.raised[0]?.detail).toMatch(/no heartbeat for 5000 ms/);
  });

  it("heartbeats that reached the host in time but come late through a congested syslog are no violation", () => {
    const r = rig({ hb: 100, miss: 4 });
    const t0 = r.now();
    r.hb();
    r.advance(1000, false);
    // The backlog arrives: heartbeats stamped by the tap every 100 ms, then the canary's proof.
    for (let k = 1; k <= 10; k++) r.hb(t0 + k * 100);
    r.d.proveDelivery(r.now() - 1);
    r.advance(300);
    expect(r.raised).toHaveLength(0);
    r.advance(200);
    expect(r.raised).toHaveLength(1);
  });

  it("ignores other hosts' and programs' messages, and cannot be fooled by a guest's app name", () => {
    const r = rig();
    expect(r.d.observe(r.msg("ezone", "OOPS", "x", "other"))).toBe("unknown-enclave");
    expect(r.d.observe(r.msg("sshd", "OOPS", "x"))).toBe("foreign");
    expect(r.d.observe(r.msg("ezone-agent", "OOPS", "x"))).toBe("event");
    expect(r.raised).toHaveLength(0);
  });

  it("external violations (host, pipeline) are one incident per subject and kind", () => {
    const r = rig();
    r.d.raiseExternal("host", "host-probe", "taint 0 -> 512");
    r.d.raiseExternal("host", "host-probe", "taint still 512");
    r.d.clearExternal("host", "host-probe", "clean");
    r.d.raiseExternal("host", "host-probe", "again");
    expect(r.raised.map((v) => v.detail)).toEqual(["taint 0 -> 512", "again"]);
    expect(r.closed).toEqual(["clean"]);
  });
});

function violation(enclave: string, kind: Violation["kind"] = "guest-oops"): Violation {
  return {
    enclave,
    kind,
    detail: "d",
    lastHeartbeatAt: null,
    firstMissedHeartbeatAt: null,
    sourceAt: null,
    detectedAt: 0,
    evidence: [],
  };
}

describe("notification dispatcher", () => {
  const calls: string[] = [];
  const ok: Notifier = { name: "ok", notify: async (v) => void calls.push(v.enclave) };
  const failing: Notifier = {
    name: "bad",
    notify: async () => {
      throw new Error("connection refused");
    },
  };
  const slow: Notifier = {
    name: "slow",
    notify: (_v, signal) =>
      new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
      ),
  };

  it("de-duplicates the same enclave and kind within the window, not other kinds or enclaves", async () => {
    let t = 0;
    const d = new NotificationDispatcher([ok], {
      dedupWindowMs: 60_000,
      ratePerMinute: 1000,
      burst: 100,
      timeoutMs: 1000,
      now: () => t,
    });
    expect((await d.dispatch(violation("a"))).status).toBe("sent");
    t = 30_000;
    expect((await d.dispatch(violation("a"))).status).toBe("dedup");
    expect((await d.dispatch(violation("a", "heartbeat-missing"))).status).toBe("sent");
    expect((await d.dispatch(violation("b"))).status).toBe("sent");
    t = 60_001;
    expect((await d.dispatch(violation("a"))).status).toBe("sent");
  });

  it("rate-limits a storm and says so", async () => {
    const d = new NotificationDispatcher([ok], {
      dedupWindowMs: 0,
      ratePerMinute: 1,
      burst: 3,
      timeoutMs: 1000,
      now: () => 0,
    });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => d.dispatch(violation(`e${i}`))));
    expect(results.filter((r) => r.status === "sent")).toHaveLength(3);
    expect(results.filter((r) => r.status === "rate-limit")).toHaveLength(7);
    expect(d.stats().rateLimited).toBe(7);
  });

  it("reports partial and failed deliveries, and a notifier that hangs is cut at its deadline", async () => {
    const d = new NotificationDispatcher([ok, failing, slow], {
      dedupWindowMs: 0,
      ratePerMinute: 1000,
      burst: 100,
      timeoutMs: 50,
    });
    const r = await d.dispatch(violation("x"));
    expect(r.status).toBe("partial");
    expect(r.detail).toMatch(/bad: connection refused/);
    expect(r.detail).toMatch(/slow: no answer within 50 ms/);
    const alone = new NotificationDispatcher([failing], {
      dedupWindowMs: 0,
      ratePerMinute: 1000,
      burst: 10,
      timeoutMs: 50,
    });
    expect((await alone.dispatch(violation("y"))).status).toBe("failed");
  });
});

describe("monitor config", () => {
  const good = `
name: prod
syslog:
  target: { unix: /dev/log }
  input: { file: /var/log/ezone.log }
enclaves:
  - name: e1
  - { name: e2, heartbeatMs: 500, channel: { socket: /run/ezone/e2.sock } }
notify:
  webhook: { url: "http://127.0.0.1:9000/hook" }
`;
  it("accepts examples/monitor/monitor.yaml", () => {
    const c = parseMonitorConfig(
      readFileSync("examples/monitor/monitor.yaml", "utf8"),
      "examples/monitor/monitor.yaml",
    );
    expect(c.enclaves.map((e) => e.name)).toEqual(["vm1", "p1"]);
    expect(c.notify.command?.argv[0]).toBe("/usr/bin/logger");
  });

  it("fills defaults", () => {
    const c = parseMonitorConfig(good, "m.yaml");
    expect(c.enclaves[0]).toMatchObject({ name: "e1", heartbeatMs: 250, missIntervals: 4 });
    expect(c.notify).toMatchObject({ dedupWindowSeconds: 300, stderr: true, rateLimit: { perMinute: 30 } });
    expect(c.canary.intervalMs).toBe(250);
  });

  const bad: [string, string, RegExp][] = [
    [
      "an unknown key",
      good.replace("name: prod", "name: prod\nnotfy: {}"),
      /line 3, column 1: notfy: unknown key 'notfy'; did you mean 'notify'\?/,
    ],
    [
      "a relative input path",
      good.replace("/var/log/ezone.log", "ezone.log"),
      /syslog\.input\.file: .*absolute path/,
    ],
    [
      "a remote UDP target",
      good.replace("{ unix: /dev/log }", "{ udp: { host: 10.0.0.1 } }"),
      /syslog\.target/,
    ],
    [
      "a bad enclave name",
      good.replace("- name: e1", "- name: 'e 1'"),
      /enclaves\[0\]\.name: letters, digits/,
    ],
    [
      "duplicate enclaves",
      good.replace("name: e2", "name: e1"),
      /enclaves\[1\]\.name: enclave names must be unique/,
    ],
    [
      "a webhook that is not http",
      good.replace("http://127.0.0.1:9000/hook", "ftp://x/y"),
      /notify\.webhook\.url: an http/,
    ],
    [
      "a negative interval",
      good.replace("heartbeatMs: 500", "heartbeatMs: -5"),
      /enclaves\[1\]\.heartbeatMs/,
    ],
    ["YAML syntax", "name: [", /YAML syntax/],
  ];
  it.each(bad)("rejects %s with the key path", (_what, text, message) => {
    let err: unknown;
    try {
      parseMonitorConfig(text, "m.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe("m.yaml");
    expect((err as ConfigError).message).toMatch(message);
  });
});

describe("violations table", () => {
  it("keeps the three times, what became of the notification, later evidence and the end of the incident", () => {
    const dir = mkdtempSync(join(tmpdir(), "ezone-violations-"));
    try {
      using store = Store.open(dir);
      const v = { ...violation("vm1", "heartbeat-missing"), lastHeartbeatAt: 1_700_000_000_000.4 };
      const id = store.recordViolation({
        ...v,
        monitor: "m",
        firstMissedHeartbeatAt: 1_700_000_000_250,
        detectedAt: 1_700_000_001_100,
        evidence: ["a"],
      });
      expect(store.violations("m")[0]).toMatchObject({
        notification: "pending",
        notifiedAt: null,
        closedAt: null,
      });
      store.updateViolation(id, {
        notifiedAt: 1_700_000_001_150,
        notification: "sent",
        notificationDetail: "webhook",
      });
      store.updateViolation(id, { evidence: ["a", "b"] });
      store.updateViolation(id, { closedAt: 1_700_000_009_000, closedWhy: "heartbeats resumed" });
      const got = store.violations("m")[0] as StoredViolation;
      expect(got).toMatchObject({
        id,
        enclave: "vm1",
        kind: "heartbeat-missing",
        lastHeartbeatAt: 1_700_000_000_000,
        firstMissedHeartbeatAt: 1_700_000_000_250,
        detectedAt: 1_700_000_001_100,
        notifiedAt: 1_700_000_001_150,
        notification: "sent",
        notificationDetail: "webhook",
        evidence: ["a", "b"],
        closedAt: 1_700_000_009_000,
        closedWhy: "heartbeats resumed",
      });
      expect(store.violations("other")).toEqual([]);
      expect(() =>
        store.updateViolation(id, { notification: "maybe" as StoredViolation["notification"] }),
      ).toThrow(/CHECK constraint/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
