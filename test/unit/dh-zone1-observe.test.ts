import { describe, expect, it } from "vitest";
import type { HostEvent } from "../../src/backends/disposable-host/dh-enclave.js";
import type { TestScript } from "../../src/backends/test.js";
import { runOne } from "../../src/campaign/run-one.js";
import { fakeHosted } from "../helpers/fake-hosted.js";
import { BOOTS, replayPlan } from "../helpers/replay.js";

/** An enclave that heartbeats and is killed (as by the host's OOM killer) when it is sent `KILLED`. */
const enclave: TestScript = {
  start: BOOTS,
  reactions: [{ input: /^KILLED/, events: [{ atMs: 0, exit: { kind: "signaled", signal: "SIGKILL" } }] }],
};

/** hostd's beats, closer together than the plan's heartbeat-loss interval, for the run's whole length. */
function hostBeats(): HostEvent[] {
  const t0 = performance.now();
  return Array.from({ length: 500 }, (_, i) => ({ type: "heartbeat", at: t0 + i * 20 }));
}

const line = (text: string): HostEvent => ({
  type: "console",
  data: Buffer.from(text),
  at: performance.now(),
});

/** The module's proof line, and its line saying it is done unless `done` is false. */
function cpuhogLines(nonce: string, done: boolean): HostEvent[] {
  const proof = line(`[   5.1] ezone-fault: cpuhog nonce=${nonce} firing context=kthread\n`);
  if (!done) return [proof];
  return [proof, line(`[   8.1] ezone-fault: cpuhog nonce=${nonce} stopped after 3000 ms on cpu 1\n`)];
}

/** A plan whose observation deadline is far beyond the replay's few ms, so only the fault's end stops it early. */
function zone1Plan(fault: "host-cpuhog" | "host-memleak", observeMs: number) {
  const plan = replayPlan(enclave, fault);
  return { ...plan, timeouts: { ...plan.timeouts, observeMs, runMs: observeMs + 5_000 } };
}

describe("a zone-1 fault the disposable host survives", () => {
  it("ends its observation at the module's done line and the enclave's next beats: no-effect", async () => {
    const plan = zone1Plan("host-cpuhog", 20_000);
    const backend = fakeHosted(enclave, {
      events: hostBeats(),
      answersAfter: true,
      onInject: (nonce) => cpuhogLines(nonce, true),
    });
    const r = await runOne({ ...plan, backend }, AbortSignal.timeout(15_000));
    expect(r.evidence.stopReason).toBe("fault-ended");
    expect(r.evidence.disposableHost).toMatchObject({ alive: true, proof: true });
    expect(r.verdict).toEqual({
      outcome: "no-effect",
      reasons: [
        "the disposable host's kernel ran the fault and survived",
        "the disposable host's kernel: cpuhog: stopped after 3000 ms on cpu 1",
        "the enclave beside it kept heartbeating and every probe passed",
      ],
    });
  });

  it("a line of another run (its nonce) does not end the observation", async () => {
    const plan = zone1Plan("host-cpuhog", 300);
    const backend = fakeHosted(enclave, {
      events: hostBeats(),
      answersAfter: true,
      onInject: (nonce) => [...cpuhogLines(nonce, false), ...cpuhogLines("other", true)],
    });
    const r = await runOne({ ...plan, backend }, AbortSignal.timeout(5_000));
    expect(r.evidence.stopReason).toBe("observe-deadline");
    expect(r.verdict.outcome).toBe("no-effect");
  });

  it("the enclave killed meanwhile (the host's OOM killer) is named: escaped-global", async () => {
    const plan = zone1Plan("host-memleak", 20_000);
    const backend = fakeHosted(enclave, {
      events: hostBeats(),
      answersAfter: true,
      onInject: (nonce, victim) => {
        victim.send("KILLED");
        return [
          line(`[   5.1] ezone-fault: memleak nonce=${nonce} firing context=kthread\n`),
          line("[   6.0] Out of memory: Killed process 321 (ezone-agent) total-vm:2000kB\n"),
        ];
      },
    });
    const r = await runOne({ ...plan, backend }, AbortSignal.timeout(15_000));
    expect(r.evidence.stopReason).toBe("enclave-exit");
    expect(r.verdict.outcome).toBe("escaped-global");
    expect(r.verdict.reasons[0]).toBe("the enclave beside it died: its process killed by SIGKILL");
    expect(r.verdict.reasons).toContain(
      "the disposable host's kernel: its OOM killer killed ezone-agent (pid 321)",
    );
  });
});
