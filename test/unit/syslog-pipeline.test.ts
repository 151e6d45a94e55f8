import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EnclaveSpec } from "../../src/backends/backend.js";
import { qemuArgv } from "../../src/backends/qemu/qemu.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";
import { EnclaveTap } from "../../src/monitor-daemon/enclave-tap.js";
import { FileFollower } from "../../src/monitor-daemon/file-follower.js";
import { monitorConfigSchema } from "../../src/monitor-daemon/monitor-config.js";
import { encodeSyslog, parseSyslog, type SyslogMessage } from "../../src/monitor-daemon/rfc5424.js";
import { type MonitorEvent, SyslogMonitor } from "../../src/monitor-daemon/syslog-monitor.js";
import { SyslogSender } from "../../src/monitor-daemon/syslog-sender.js";

const unix = createRequire(import.meta.url)("unix-dgram") as {
  createSocket(
    type: "unix_dgram",
    onMessage?: (buf: Buffer) => void,
  ): {
    bind(path: string): void;
    close(): void;
  };
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ezone-syslog-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Resolve when `cond()` holds, polling each macrotask; reject at the deadline. */
async function until(cond: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A datagram receiver standing in for rsyslog's imuxsock. */
function receiver(path: string) {
  const got: Buffer[] = [];
  const s = unix.createSocket("unix_dgram", (b) => got.push(b));
  s.bind(path);
  return { got, close: () => s.close() };
}

const hb = (i: number): SyslogMessage => ({
  facility: 3,
  severity: 6,
  timestampMs: 0,
  hostname: "e1",
  appName: "ezone-agent",
  procId: "1",
  msgId: "HB",
  sd: [],
  msg: `HB ${i} 0`,
});

describe("syslog sender", () => {
  it("waits for a daemon that is not there yet, then delivers everything in order", async () => {
    const path = join(dir, "log.sock");
    const sender = new SyslogSender({ kind: "unix", path }, { retryMs: 5, maxRetryMs: 20 });
    for (let i = 0; i < 5; i++) sender.send(encodeSyslog(hb(i)), true);
    await until(() => (sender.stats().retries.ENOENT ?? 0) >= 2, 3000, "retries");
    const r = receiver(path);
    try {
      expect(await sender.drained(3000)).toBe(true);
      await until(() => r.got.length === 5);
      expect(r.got.map((b) => b.toString().split(" ").at(-2))).toEqual(["0", "1", "2", "3", "4"]);
      expect(sender.stats()).toMatchObject({ sent: 5, queued: 0, dropped: {} });
    } finally {
      r.close();
      sender.close();
    }
  });

  it("a burst into a dead daemon stays bounded: heartbeats are shed first, reports are kept", () => {
    const sender = new SyslogSender({ kind: "unix", path: join(dir, "absent.sock") }, { maxQueue: 100 });
    try {
      sender.send(Buffer.from("OOPS report"), false);
      for (let i = 0; i < 10_000; i++) sender.send(encodeSyslog(hb(i)), true);
      sender.send(Buffer.from("EXIT report"), false);
      const s = sender.stats();
      expect(s.queued).toBe(100);
      expect(s.dropped).toEqual({ "queue-full": 9902 });
      expect(s.queuedBytes).toBeLessThan(100 * 200);
    } finally {
      sender.close();
    }
    expect(sender.stats().dropped.closed).toBe(100);
  });
});

describe("enclave tap", () => {
  function tapRig() {
    const sent: SyslogMessage[] = [];
    const sender = {
      send: (b: Buffer) => {
        const r = parseSyslog(b);
        if (!r.ok) throw new Error(`tap sent an invalid message: ${r.reason}`);
        sent.push(r.message);
      },
    } as unknown as SyslogSender;
    let t = 0;
    const tap = new EnclaveTap({ name: "vm1", sender, now: () => t, maxLineBytes: 512 });
    const stream = new PassThrough();
    tap.attach(stream);
    return { tap, stream, sent, tick: (ms: number) => (t += ms) };
  }

  it("forwards agent messages rewritten: the enclave's name, the agent's app, the host's time", () => {
    const r = tapRig();
    r.tick(5000);
    r.stream.write(
      '<30>1 2020-01-01T00:00:00.000Z liar ezone-monitor 1 HB [ezone@32473 uptime_ms="7" evil="x"][other@1 a="b"] HB 1 7\n',
    );
    expect(r.sent).toHaveLength(1);
    const m = r.sent[0] as SyslogMessage;
    expect(m).toMatchObject({
      hostname: "vm1",
      appName: "ezone-agent",
      msgId: "HB",
      timestampMs: 5000,
      msg: "HB 1 7",
    });
    expect(m.sd).toEqual([
      {
        id: "ezone@32473",
        params: [
          ["uptime_ms", "7"],
          ["guest_ts", "2020-01-01T00:00:00.000Z"],
        ],
      },
    ]);
  });

  it("rejects malformed, oversized, binary and unknown input without forwarding it or failing", () => {
    const r = tapRig();
    const junk = [
      Buffer.from("not syslog at all\n"),
      Buffer.from(`<30>1 - h a 1 HB - ${"x".repeat(600)}\n`),
      Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe, 0x1b]), Buffer.from("\n")]),
      Buffer.from("<30>1 - h a 1 OOPS - forged host report\n"),
      Buffer.from("<30>1 - h a 1 HB - ok \x1b[2J\xff\n", "latin1"),
      Buffer.alloc(100_000, 0x41),
      Buffer.from("\n"),
    ];
    for (const j of junk) r.stream.write(j);
    expect(r.tap.stats().dropped).toEqual({ malformed: 2, oversized: 2, "unknown-msgid": 1 });
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]?.msg).toBe("ok \\x1b[2J\\xff");
  });

  it("rate-limits a flood, heartbeats and other messages in separate buckets", () => {
    const r = tapRig();
    const lines = [];
    for (let i = 0; i < 1000; i++) lines.push(`<27>1 - h a 1 ERROR - ERROR flood ${i}`);
    for (let i = 0; i < 100; i++) lines.push(`<30>1 - h a 1 HB - HB ${i} 0`);
    r.stream.write(`${lines.join("\n")}\n`);
    const kinds = r.sent.map((m) => m.msgId);
    expect(kinds.filter((k) => k === "ERROR")).toHaveLength(40);
    expect(kinds.filter((k) => k === "HB")).toHaveLength(100);
    expect(r.tap.stats().dropped).toEqual({ "rate-limit": 960 });
  });

  it("reports an oops, the panic and the exit from the console, once each; the exit after the channel's end", async () => {
    const r = tapRig();
    const consoleText = [
      "[    5.1] divide error: 0000 [#1] PREEMPT SMP NOPTI",
      "[    5.1] RIP: 0010:kerncrash_fire+0x10/0x20 [kerncrash]",
      "[    5.2] Kernel panic - not syncing: Fatal exception",
      "[    5.3] divide error: 0000 [#2] PREEMPT SMP NOPTI",
      "",
    ].join("\n");
    r.tap.consoleSink({ type: "console", data: Buffer.from(consoleText), at: 0 });
    r.tap.consoleSink({ type: "exit", exit: { kind: "exited", code: 1 }, stderr: "", at: 0 });
    r.tap.consoleSink({ type: "exit", exit: { kind: "exited", code: 1 }, stderr: "", at: 0 });
    // The agent's last heartbeat, read after the exit event: it is still sent before the exit.
    r.stream.write("<30>1 - h a 1 HB - HB 9 0\n");
    r.stream.destroy();
    await r.tap.exitReported();
    expect(r.sent.map((m) => [m.appName, m.msgId])).toEqual([
      ["ezone", "OOPS"],
      ["ezone", "PANIC"],
      ["ezone-agent", "HB"],
      ["ezone", "EXIT"],
    ]);
    expect(r.sent[1]?.msg).toBe("guest kernel panic: Fatal exception");
    expect(r.sent[3]?.msg).toBe("enclave ended: exit code 1");
  });
});

describe("file follower", () => {
  it("follows appends, rotation and truncation, and drops over-long lines", async () => {
    const file = join(dir, "out.log");
    const lines: string[] = [];
    writeFileSync(file, "old line before start\n");
    const f = new FileFollower(file, (l) => lines.push(l.toString()), { pollMs: 20, maxLineBytes: 64 });
    await f.start();
    try {
      appendFileSync(file, "one\ntw");
      await f.poke();
      appendFileSync(file, `o\n${"z".repeat(200)}\nthree\n`);
      await f.poke();
      expect(lines).toEqual(["one", "two", "three"]);
      renameSync(file, `${file}.1`);
      appendFileSync(`${file}.1`, "last of the old file\n");
      writeFileSync(file, "first of the new file\n");
      await until(() => lines.length === 5, 3000, "rotation");
      expect(lines.slice(3)).toEqual(["last of the old file", "first of the new file"]);
      truncateSync(file, 0);
      appendFileSync(file, "after truncation\n");
      await until(() => lines.length === 6, 3000, "truncation");
      expect(lines[5]).toBe("after truncation");
      expect(f.stats()).toMatchObject({ rotations: 1, truncations: 1, oversized: 1 });
    } finally {
      await f.close();
    }
  });
});

describe("qemu's syslog channel", () => {
  const spec: EnclaveSpec = {
    image: { vmlinuz: "/k", initramfs: "/i" } as BuiltImage,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: [],
    arm: null,
    runTag: "t",
    workDir: "/tmp",
  };

  it("is a second 16550 on the host's socket, named to the agent on the kernel command line", () => {
    const argv = qemuArgv("qemu", "tcg", { ...spec, syslog: { socket: "/run/a,b.sock", hostname: "vm1" } });
    const append = argv[argv.indexOf("-append") + 1] ?? "";
    expect(append).toMatch(/ ezone\.syslog=\/dev\/ttyS1 ezone\.name=vm1$/);
    expect(argv).toContain("socket,id=syslog,path=/run/a,,b.sock,reconnect=1");
    const serials = argv.flatMap((a, i) => (a === "-serial" ? [argv[i + 1]] : []));
    expect(serials).toEqual(["chardev:con", "chardev:syslog"]);
  });

  it("is absent unless asked for, and refuses a name the agent could not use", () => {
    expect(qemuArgv("qemu", "tcg", spec).join(" ")).not.toMatch(/syslog/);
    expect(() => qemuArgv("qemu", "tcg", { ...spec, syslog: { socket: "/s", hostname: "a b" } })).toThrow(
      /syslog hostname/,
    );
  });
});

describe("monitor without a syslog daemon", () => {
  it("judges no heartbeat without proof, says the pipeline stalled, and keeps one canary in flight", async () => {
    const cfg = monitorConfigSchema.parse({
      name: "dead",
      syslog: { target: { unix: join(dir, "no-daemon.sock") }, input: { file: join(dir, "never.log") } },
      enclaves: [{ name: "e1", heartbeatMs: 10, missIntervals: 2, bootGraceSeconds: 0 }],
      canary: { intervalMs: 100, missIntervals: 3 },
      notify: { stderr: false },
      statsIntervalSeconds: 0,
    });
    const m = await SyslogMonitor.start(cfg, { store: null, log: () => {} });
    const seen: MonitorEvent[] = [];
    m.on((e) => seen.push(e));
    try {
      const started = Date.now();
      await until(() => seen.some((e) => e.type === "raised"), 3000, "the stall");
      await until(() => Date.now() - started > 1000, 3000, "a second of a dead pipeline");
      expect(
        seen.filter((e) => e.type === "raised").map((e) => [e.violation.enclave, e.violation.kind]),
      ).toEqual([["ezone-monitor", "pipeline-stalled"]]);
      // ~1 s / 100 ms periodic canaries plus at most as many on demand, not one every tick.
      expect(m.stats().sender.queued).toBeLessThanOrEqual(25);
    } finally {
      await m.stop();
    }
  });
});
