import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { TestScript } from "../../src/backends/test.js";
import { runOne } from "../../src/campaign/run-one.js";
import type { RunPlan, RunResult } from "../../src/campaign/run-plan.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import type { Outcome, StopReason } from "../../src/model/outcome-types.js";
import { BOOTS, panics, replayPlan } from "../helpers/replay.js";

interface Case {
  name: string;
  fault: FaultName;
  script: TestScript;
  over?: Partial<RunPlan>;
  outcome: Outcome;
  reason?: RegExp;
  stopReason?: StopReason;
  check?: (r: RunResult) => void;
}

const cases: Case[] = [
  {
    name: "kerncrash sent over the console: the guest panics and exits",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [{ input: /^INJECT kerncrash nonce=\S+ delay_ms=0$/, events: panics("kerncrash") }],
    },
    outcome: "contained-limited",
    reason: /kerncrash_fire/,
    stopReason: "guest-panic",
    check: (r) => {
      expect(r.bootMs).not.toBeNull();
      expect(r.detectionMs).not.toBeNull();
      expect(r.evidence.exit).toEqual({ kind: "exited", code: 1 });
      expect(r.evidence.phases).toHaveProperty("readyToProof");
    },
  },
  {
    name: "kerncrash where pvpanic is a second witness: GUEST_PANICKED agrees with the console",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [{ input: /^INJECT kerncrash /, events: panics("kerncrash") }],
      panicChannel: "pvpanic (QMP GUEST_PANICKED)",
    },
    outcome: "contained-limited",
    reason: /kerncrash_fire/,
    check: (r) => expect(r.evidence.panicEventDelayMs).toBeLessThanOrEqual(1000),
  },
  {
    name: "a lying guest: proof and panic lines on the console, pvpanic silent → unknown",
    fault: "forged-panic",
    script: {
      start: BOOTS,
      reactions: [
        {
          input: /^INJECT forged-panic /,
          events: [
            { atMs: 3, console: "FIRED forged-panic nonce={nonce}\n" },
            {
              atMs: 3,
              console: "[    3.410193] ezone-fault: forged-panic nonce={nonce} firing context=agent\n",
            },
            { atMs: 4, console: "[    3.411601] Kernel panic - not syncing: Fatal exception\n" },
          ],
        },
      ],
      panicChannel: "pvpanic (QMP GUEST_PANICKED)",
    },
    outcome: "unknown",
    reason: /kernel panic.*pvpanic \(QMP GUEST_PANICKED\) reported no panic/,
  },
  {
    name: "kerncrash armed at boot: nothing is sent, the arm fires it",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [{ input: /^ARM kerncrash nonce=\S+ delay_ms=20$/, events: panics("kerncrash", 20) }],
    },
    over: { trigger: { mode: "boot-delay", delaySeconds: 0.02 } },
    outcome: "contained-limited",
    stopReason: "guest-panic",
  },
  {
    name: "a control run heartbeats through its window",
    fault: "none",
    script: { start: BOOTS },
    outcome: "no-effect",
    stopReason: "observe-deadline",
    check: (r) => expect(r.evidence.heartbeatsAfterFault).toBeNull(),
  },
  {
    name: "a hang: the proof, then silence until heartbeat loss",
    fault: "hang",
    script: {
      start: BOOTS,
      reactions: [
        {
          input: /^INJECT hang /,
          events: [
            { atMs: 3, console: "[    3.877874] ezone-fault: hang nonce={nonce} firing context=process\n" },
            { atMs: 3, heartbeat: "stop" },
          ],
        },
      ],
    },
    outcome: "contained-limited",
    reason: /heartbeat lost/,
    stopReason: "heartbeat-loss",
  },
  {
    name: "the module is refused: injection failed, the guest heartbeats on",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [
        {
          input: /^INJECT /,
          events: [{ atMs: 3, console: "INJECT-FAILED kerncrash errno=129 Key was rejected\n" }],
        },
      ],
    },
    outcome: "not-fired",
    reason: /errno 129/,
  },
  {
    name: "the agent says FIRED but no proof follows",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [{ input: /^INJECT /, events: [{ atMs: 3, console: "FIRED kerncrash nonce={nonce}\n" }] }],
    },
    outcome: "not-fired",
    reason: /never appeared/,
  },
  {
    name: "a proof carrying another run's nonce proves nothing",
    fault: "kerncrash",
    script: {
      start: BOOTS,
      reactions: [
        {
          input: /^INJECT /,
          events: panics("kerncrash").map((e) =>
            "console" in e ? { ...e, console: e.console.replaceAll("{nonce}", "forged") } : e,
          ),
        },
      ],
    },
    outcome: "unknown",
    reason: /no proof/,
  },
  {
    name: "a zone-4 segfault: its child ends by SIGSEGV, the agent heartbeats on",
    fault: "segfault",
    script: {
      start: BOOTS,
      reactions: [
        {
          input: /^INJECT segfault /,
          events: [{ atMs: 3, console: "CHILD segfault nonce={nonce} pid=42 signal=SIGSEGV\n" }],
        },
      ],
    },
    outcome: "contained-limited",
    stopReason: "fault-ended",
  },
  {
    name: "a silent enclave is a boot-error that says it timed out, and when",
    fault: "kerncrash",
    script: { start: [] },
    outcome: "boot-error",
    reason: /^wait\.ready: boot timeout: no READY from the agent within 200 ms; the console stayed silent$/,
    check: (r) => expect(r.bootMs).toBeNull(),
  },
  {
    name: "an enclave that ends before READY is a boot-error with its exit and last console lines, escaped",
    fault: "kerncrash",
    script: {
      start: [
        {
          atMs: 2,
          console: `${"x".repeat(500)}\nKernel panic - not syncing: No working init found.\n\x1b[31mred\x1b[0m\n`,
        },
        { atMs: 4, exit: { kind: "exited", code: 3 } },
      ],
    },
    outcome: "boot-error",
    reason: /exited with status 3.*x{160}….*No working init found.*\\x1b\[31mred/,
    check: (r) => expect(r.verdict.reasons[0]).not.toContain("\x1b"),
  },
  {
    name: "a VMM that exits having printed nothing did not start: an infra-error",
    fault: "kerncrash",
    script: { start: [{ atMs: 2, exit: { kind: "exited", code: 127 }, stderr: "setpriv: cannot exec" }] },
    outcome: "infra-error",
    reason: /ended before READY \(exited with status 127\) and printed nothing: setpriv/,
  },
  {
    name: "a backend that cannot start the enclave: an infra-error of spawn.vmm",
    fault: "kerncrash",
    script: { start: [], startError: "no such VMM" },
    outcome: "infra-error",
    reason: /^spawn\.vmm: no such VMM$/,
  },
];

describe("runOne on the replaying backend", () => {
  it.each(cases)("$name → $outcome", async (c) => {
    const plan = replayPlan(c.script, c.fault, c.over);
    const r = await runOne(plan, AbortSignal.timeout(5_000));
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe(c.outcome);
    if (c.reason) expect(r.verdict.reasons.join("; ")).toMatch(c.reason);
    if (c.stopReason) expect(r.evidence.stopReason).toBe(c.stopReason);
    c.check?.(r);
  });

  it("a restored guest is told its seed after QEMU's RESUME, then sent the fault", async () => {
    const sent: string[] = [];
    const script: TestScript = {
      start: [{ atMs: 2, control: "RESUME" }],
      reactions: [
        { input: /^RESUME seed=/, events: BOOTS },
        { input: /^INJECT /, events: panics("kerncrash") },
      ],
    };
    const plan = replayPlan(script, "kerncrash", {
      trigger: { mode: "boot-delay", delaySeconds: 0 },
      snapshot: {
        get: async () => ({ key: "k", dir: "/nonexistent", bytes: 0, savedMs: 0 }),
        invalidate: async () => {},
      },
    });
    const start = plan.backend.start.bind(plan.backend);
    plan.backend.start = async (spec, sink, signal) => {
      const e = await start(spec, sink, signal);
      const send = e.send.bind(e);
      e.send = (line) => {
        sent.push(line);
        send(line);
      };
      return e;
    };
    const r = await runOne(plan, AbortSignal.timeout(5_000));
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe("contained-limited");
    expect(sent.map((l) => l.split(" ")[0])).toEqual(["RESUME", "INJECT"]);
  });

  it("a restored guest that never comes back is an infra-error, and the snapshot is forgotten", async () => {
    let invalidated = false;
    const plan = replayPlan({ start: [] }, "kerncrash", {
      snapshot: {
        get: async () => ({ key: "k", dir: "/nonexistent", bytes: 0, savedMs: 0 }),
        invalidate: async () => {
          invalidated = true;
        },
      },
    });
    const r = await runOne(plan, AbortSignal.timeout(5_000));
    expect(r.verdict.outcome).toBe("infra-error");
    expect(r.verdict.reasons[0]).toMatch(/restored guest never reported READY/);
    expect(invalidated).toBe(true);
  });

  it("the caller's abort is rethrown, not turned into evidence, and the enclave is stopped", async () => {
    const parent = new AbortController();
    let exited: Promise<unknown> | null = null;
    const plan = replayPlan({ start: BOOTS }, "none", {
      timeouts: { ...replayPlan({ start: [] }, "none").timeouts, controlObserveMs: 2_000 },
    });
    const start = plan.backend.start.bind(plan.backend);
    plan.backend.start = async (spec, sink, signal) => {
      const e = await start(spec, sink, signal);
      exited = e.exited;
      setTimeout(() => parent.abort(new Error("interrupted")), 20);
      return e;
    };
    await expect(runOne(plan, parent.signal)).rejects.toThrow("interrupted");
    await expect(exited).resolves.toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it("releases what it started: the scratch directory is gone and the enclave stopped", async () => {
    let workDir = "";
    let exited: Promise<unknown> | null = null;
    const plan = replayPlan({ start: BOOTS }, "none");
    const start = plan.backend.start.bind(plan.backend);
    plan.backend.start = async (spec, sink, signal) => {
      workDir = spec.workDir;
      const e = await start(spec, sink, signal);
      exited = e.exited;
      return e;
    };
    const r = await runOne(plan, AbortSignal.timeout(5_000));
    expect(r.verdict.outcome).toBe("no-effect");
    expect(workDir).not.toBe("");
    expect(existsSync(workDir)).toBe(false);
    await expect(exited).resolves.toEqual({ kind: "signaled", signal: "SIGKILL" });
  });
});
