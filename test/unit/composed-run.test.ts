import { describe, expect, it } from "vitest";
import { TestBackend } from "../../src/backends/test.js";
import { composedPlan } from "../../src/campaign/composed.js";
import { runOne } from "../../src/campaign/run-one.js";
import type { CompositionParams } from "../../src/model/composition.js";
import { BOOTS, panics, REPLAY_HB_MS, replayPlan } from "../helpers/replay.js";

/** A replayed agent that boots, heartbeats, panics when a fault is injected, and says so when armed at boot. */
const script = {
  start: BOOTS,
  reactions: [
    { input: /^INJECT kerncrash/, events: panics("kerncrash") },
    { input: /^ARM kerncrash/, events: [{ atMs: 1, console: "ARMED AT BOOT\n" }] },
  ],
};

/** A peer beside the victim and no network link: no namespace is built, only the peer runs. */
const alone: CompositionParams = { peers: [{ name: "b", backend: "test" }], links: [], limits: false };

function composedReplay(trigger: { mode: "command" | "boot-delay"; delaySeconds: number }) {
  const backend = new TestBackend(script);
  const composition = { ...composedPlan(alone, backend), watchMs: 5 * REPLAY_HB_MS };
  return replayPlan(script, "kerncrash", { backend, trigger, composition });
}

describe("a composed run (replayed enclaves)", () => {
  it("records each peer beside the victim: alive, its heartbeat gap, no requests without a dependency", async () => {
    const r = await runOne(composedReplay({ mode: "command", delaySeconds: 0 }), AbortSignal.timeout(5_000));
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    expect(r.evidence.peers).toHaveLength(1);
    const b = r.evidence.peers?.[0];
    expect(b).toMatchObject({ name: "b", backend: "test", died: false, requests: null });
    expect(b?.maxHeartbeatGapMs).not.toBeNull();
  });

  it("sends a fault armed at boot after the peers are connected (INJECT, not the boot arm)", async () => {
    const r = await runOne(
      composedReplay({ mode: "boot-delay", delaySeconds: 0 }),
      AbortSignal.timeout(5_000),
    );
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    expect(r.console.data.toString()).not.toContain("ARMED AT BOOT");
    expect(r.evidence.peers?.[0]?.died).toBe(false);
  });

  it("a run alone records no peers", async () => {
    const r = await runOne(replayPlan(script, "kerncrash"), AbortSignal.timeout(5_000));
    expect(r.evidence.peers).toBeUndefined();
  });
});
