import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../src/backends/disposable-host/dh-enclave.js";
import type { TestScript } from "../../src/backends/test.js";
import { runOne } from "../../src/campaign/run-one.js";
import { fakeHosted } from "../helpers/fake-hosted.js";
import { BOOTS, replayPlan } from "../helpers/replay.js";

const segfault: TestScript = {
  start: BOOTS,
  reactions: [
    {
      input: /^INJECT segfault /,
      events: [{ atMs: 3, console: "CHILD segfault nonce={nonce} pid=42 signal=SIGSEGV\n" }],
    },
  ],
};

describe("a run in a disposable host", () => {
  it("carries the host's evidence: alive, its probes compared, its console kept apart", async () => {
    // hostd's beats, closer together than the replayed plan's 80 ms heartbeat-loss interval, past its end.
    const t0 = performance.now();
    const beats: HostEvent[] = Array.from({ length: 250 }, (_, i) => ({
      type: "heartbeat",
      at: t0 + i * 20,
    }));
    const plan = replayPlan(segfault, "segfault");
    const r = await runOne(
      { ...plan, backend: fakeHosted(segfault, { events: beats, answersAfter: true }) },
      AbortSignal.timeout(5_000),
    );
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe("contained-limited");
    expect(r.evidence.disposableHost).toMatchObject({ alive: true, panicked: false, proof: false });
    expect(r.evidence.disposableHost?.probes.map((p) => p.probe)).toContain("dh.taint");
    expect(r.hostConsole?.data.length).toBe(0);
  });

  it("a host that died under the run: not alive, panicked, its proof line and console kept", async () => {
    const plan = replayPlan(segfault, "segfault");
    const line = `[    9.1] ezone-fault: kpanic nonce=${plan.nonce} firing context=process\n[    9.2] Kernel panic - not syncing: ezone\n`;
    const events: HostEvent[] = [
      { type: "console", data: Buffer.from(line), at: performance.now() },
      { type: "control", name: "GUEST_PANICKED", data: null, at: performance.now() },
      { type: "exit", exit: { kind: "exited", code: 1 }, stderr: "", at: performance.now() },
    ];
    const r = await runOne(
      { ...plan, backend: fakeHosted(segfault, { events, answersAfter: false }) },
      AbortSignal.timeout(5_000),
    );
    expect(r.evidence.disposableHost).toMatchObject({
      alive: false,
      panicked: true,
      proof: true,
      heartbeatLost: true,
    });
    expect(r.evidence.disposableHost?.probes.every((p) => p.severity === "failed")).toBe(true);
    expect(r.hostConsole?.data.toString()).toContain("Kernel panic");
  });
});
