import { describe, expect, it } from "vitest";
import type { EnclaveEvent } from "../../src/backends/backend.js";
import { TestBackend } from "../../src/backends/test.js";
import { type MonitorState, RunMonitor, WaitTimeout } from "../../src/monitor/run-monitor.js";
import { BOOTS, NO_IMAGE, REPLAY_HB_MS } from "../helpers/replay.js";

const text = (data: string, at: number): EnclaveEvent => ({ type: "console", data: Buffer.from(data), at });

interface Case {
  name: string;
  childEnd?: string;
  events: EnclaveEvent[];
  expected: Partial<MonitorState>;
}

const cases: Case[] = [
  {
    name: "READY split over two chunks is still READY",
    events: [text("REA", 1), text("DY ezone-agent/1 hb=250\n", 2)],
    expected: { readyAt: 2 },
  },
  {
    name: "heartbeats count; only those after the proof count as after the fault",
    events: [
      text("READY ezone-agent/1 hb=250\nHB 0 1\n", 1),
      text("[    1.0] ezone-fault: kerncrash nonce=N firing context=process\n", 2),
      text("HB 1 2\nHB 2 3\n", 3),
    ],
    expected: { heartbeats: 3, hbAfterFault: 2, proofAt: 2 },
  },
  {
    name: "a proof or FIRED with another run's nonce is ignored",
    events: [
      text("READY ezone-agent/1 hb=250\nFIRED kerncrash nonce=OTHER\n", 1),
      text("[    1.0] ezone-fault: kerncrash nonce=OTHER firing context=process\n", 2),
    ],
    expected: { firedAt: null, proofAt: null },
  },
  {
    name: "a zone-4 child ending as expected is the proof",
    childEnd: "signal=SIGSEGV",
    events: [text("CHILD segfault nonce=N pid=7 signal=SIGSEGV\n", 4)],
    expected: { proofAt: 4, injectFailed: null },
  },
  {
    name: "a zone-4 child ending otherwise is a failed injection",
    childEnd: "signal=SIGSEGV",
    events: [text("CHILD segfault nonce=N pid=7 exit=0\n", 4)],
    expected: { proofAt: null, injectFailed: "segfault: its child ended with exit=0, not signal=SIGSEGV" },
  },
  {
    name: "the module refused by the kernel",
    events: [text("INJECT-FAILED kerncrash errno=129 Key was rejected\n", 3)],
    expected: { injectFailed: "kerncrash: errno 129 Key was rejected" },
  },
  {
    name: "heartbeats after an injection that failed before FIRED count as after the fault",
    events: [
      text("READY ezone-agent/1 hb=250\nHB 0 1\n", 1),
      text("INJECT-FAILED sysrq-c errno=30 open /proc/sysrq-trigger: Read-only file system\n", 2),
      text("HB 1 2\nHB 2 3\n", 3),
    ],
    expected: { firedAt: null, hbAfterFault: 2 },
  },
  {
    name: "pvpanic's event and the panic line are both kept",
    events: [
      { type: "control", name: "GUEST_PANICKED", data: null, at: 5 },
      text(
        "[    2.0] divide error: 0000 [#1] PREEMPT SMP NOPTI\n[    2.1] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]\n",
        6,
      ),
      text("[    2.2] Kernel panic - not syncing: Fatal exception\n", 7),
    ],
    expected: { panicEventAt: 5, panicLineAt: 7, crashAt: 6 },
  },
  {
    name: "the exit flushes a last line without newline and keeps stderr",
    events: [
      text("READY ezone-agent/1 hb=250", 1),
      { type: "exit", exit: { kind: "exited", code: 1 }, stderr: "bye", at: 9 },
    ],
    expected: { readyAt: 9, exit: { kind: "exited", code: 1 }, exitAt: 9, stderr: "bye" },
  },
];

describe("RunMonitor", () => {
  it.each(cases)("$name", (c) => {
    using monitor = new RunMonitor("N", 60_000, c.childEnd ?? null);
    for (const ev of c.events) monitor.sink(ev);
    expect(monitor.state).toMatchObject(c.expected);
  });

  it("keeps the console's head and tail past its cap, says how much it elided, and counts every byte", () => {
    using monitor = new RunMonitor("N", 60_000);
    const mb = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 7; i++) monitor.sink({ type: "console", data: mb, at: i });
    const kept = monitor.console();
    expect(kept.truncated).toBe(true);
    expect(kept.data.length).toBeLessThan(6 * 1024 * 1024);
    expect(kept.data.toString("latin1")).toMatch(/\[ezone: \d+ bytes elided\]/);
    expect(monitor.consoleBytes).toBe(7 * mb.length);
  });

  it("a wait resolves when its condition holds, times out with its reason, or takes the parent's abort", async () => {
    using monitor = new RunMonitor("N", 60_000);
    const ready = monitor.wait(
      { reason: "r", until: (s) => s.readyAt !== null, timeoutMs: 5_000 },
      AbortSignal.timeout(5_000),
    );
    monitor.sink(text("READY ezone-agent/1 hb=250\n", 1));
    await expect(ready).resolves.toBeUndefined();
    await expect(
      monitor.wait(
        { reason: "no exit within 5 ms", until: (s) => s.exit !== null, timeoutMs: 5 },
        AbortSignal.timeout(5_000),
      ),
    ).rejects.toEqual(new WaitTimeout("no exit within 5 ms"));
    const parent = new AbortController();
    const waiting = monitor.wait({ reason: "x", until: () => false, timeoutMs: 5_000 }, parent.signal);
    parent.abort(new Error("interrupted"));
    await expect(waiting).rejects.toThrow("interrupted");
  });

  it("heartbeat loss: a replayed agent that stops beating is lost one loss interval after its last beat", async () => {
    const lossMs = 5 * REPLAY_HB_MS;
    using monitor = new RunMonitor("N", lossMs);
    const backend = new TestBackend({ start: [...BOOTS, { atMs: 40, heartbeat: "stop" }] });
    const spec = {
      image: NO_IMAGE,
      memoryMb: 256,
      heartbeatMs: REPLAY_HB_MS,
      kernelArgs: [],
      arm: null,
      runTag: "t",
      workDir: "/nonexistent",
    };
    await using enclave = await backend.start(spec, monitor.sink, AbortSignal.timeout(5_000));
    await monitor.wait(
      { reason: "loss", until: (s) => s.heartbeatLostAt !== null, timeoutMs: 2_000 },
      AbortSignal.timeout(5_000),
    );
    const s = monitor.state;
    expect(s.heartbeats).toBeGreaterThan(0);
    expect(s.heartbeatLostAt).toBe((s.lastHbAt ?? Number.NaN) + lossMs);
    expect(enclave.pid).toBeGreaterThan(4_194_304);
  });

  it("no heartbeat loss is declared once the enclave has exited", async () => {
    using monitor = new RunMonitor("N", 20);
    monitor.sink(text("READY ezone-agent/1 hb=10\n", performance.now()));
    monitor.sink({
      type: "exit",
      exit: { kind: "signaled", signal: "SIGKILL" },
      stderr: "",
      at: performance.now(),
    });
    await expect(
      monitor.wait(
        { reason: "quiet", until: (s) => s.heartbeatLostAt !== null, timeoutMs: 60 },
        AbortSignal.timeout(5_000),
      ),
    ).rejects.toBeInstanceOf(WaitTimeout);
  });
});
