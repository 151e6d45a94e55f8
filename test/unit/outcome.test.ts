import { describe, expect, it } from "vitest";
import { decideOutcome } from "../../src/model/outcome.js";
import type { Outcome, ProbeFinding, RunEvidence } from "../../src/model/outcome-types.js";

const ok: ProbeFinding = {
  probe: "host.taint",
  severity: "ok",
  before: 0,
  after: 0,
  threshold: "no new bits",
  detail: "",
};
const probe = (severity: ProbeFinding["severity"], name = "host.procsRunning"): ProbeFinding => ({
  ...ok,
  probe: name,
  severity,
  detail: `${name} ${severity}`,
});

/** A kerncrash run that went as the paper expects; each case changes what it needs. */
const crashed: RunEvidence = {
  fault: "kerncrash",
  zone: 3,
  infraError: null,
  ready: true,
  agentFired: true,
  injectFailed: null,
  proof: true,
  guestCrash: {
    title: "divide error in kerncrash_fire [kerncrash]",
    crashClass: "divide-error",
    panic: true,
  },
  panicEvent: true,
  heartbeatsAfterFault: 0,
  heartbeatLost: false,
  exit: { kind: "exited", code: 1 },
  stopReason: "guest-panic",
  probes: [ok],
};

const control: RunEvidence = {
  ...crashed,
  fault: "none",
  agentFired: false,
  proof: false,
  guestCrash: null,
  panicEvent: false,
  heartbeatsAfterFault: null,
  exit: { kind: "running" },
  stopReason: "observe-deadline",
};

const cases: [string, RunEvidence, Outcome, RegExp?][] = [
  ["kerncrash as in the paper", crashed, "contained-limited", /kerncrash_fire/],
  ["panic seen only through pvpanic", { ...crashed, guestCrash: null }, "contained-limited", /pvpanic/],
  [
    "guest hung after the fault (heartbeat lost, no oops)",
    { ...crashed, guestCrash: null, panicEvent: false, heartbeatLost: true, exit: { kind: "running" } },
    "contained-limited",
    /hang/,
  ],
  [
    "host degraded after the crash",
    { ...crashed, probes: [ok, probe("degraded")] },
    "contained-varied",
    /degraded/,
  ],
  [
    "host failed after the crash",
    { ...crashed, probes: [probe("failed", "host.kmsg")] },
    "escaped-global",
    /host\.kmsg/,
  ],
  [
    "a needed probe unavailable",
    { ...crashed, probes: [probe("unavailable", "host.kmsg")] },
    "unknown",
    /unavailable/,
  ],
  ["a panic without proof of firing", { ...crashed, proof: false }, "unknown", /no proof/],
  [
    "QEMU killed by a signal with no panic",
    { ...crashed, guestCrash: null, panicEvent: false, exit: { kind: "signaled", signal: "SIGKILL" } },
    "unknown",
    /SIGKILL/,
  ],
  [
    "killed by a signal and no proof",
    {
      ...crashed,
      proof: false,
      guestCrash: null,
      panicEvent: false,
      exit: { kind: "signaled", signal: "SIGKILL" },
    },
    "unknown",
    /SIGKILL/,
  ],
  [
    "module refused",
    {
      ...crashed,
      proof: false,
      guestCrash: null,
      panicEvent: false,
      injectFailed: "kerncrash: errno 129",
      heartbeatsAfterFault: 4,
      exit: { kind: "running" },
    },
    "not-fired",
    /errno 129/,
  ],
  [
    "agent said FIRED, no proof, nothing happened",
    { ...crashed, proof: false, guestCrash: null, panicEvent: false, exit: { kind: "running" } },
    "not-fired",
    /proof never appeared/,
  ],
  [
    "fired, guest kept heartbeating",
    { ...crashed, guestCrash: null, panicEvent: false, heartbeatsAfterFault: 5, exit: { kind: "running" } },
    "no-effect",
  ],
  [
    "fired, enclave exited 0 with no crash and no heartbeat",
    { ...crashed, guestCrash: null, panicEvent: false, exit: { kind: "exited", code: 0 } },
    "unknown",
    /exited with status 0/,
  ],
  [
    "host failed but no proof",
    { ...crashed, proof: false, probes: [probe("failed")] },
    "unknown",
    /no proof/,
  ],
  ["infrastructure failed", { ...crashed, infraError: "spawn.vmm: ENOENT" }, "infra-error", /ENOENT/],
  ["agent never READY", { ...crashed, ready: false }, "infra-error", /READY/],
  ["control run healthy", control, "no-effect", /control/],
  [
    "control run whose guest crashed",
    { ...control, guestCrash: crashed.guestCrash, exit: { kind: "exited", code: 1 } },
    "unknown",
    /control run/,
  ],
  ["control run, host degraded", { ...control, probes: [probe("degraded")] }, "unknown", /host changed/],
  [
    "zone 4 fault contained in the guest",
    {
      ...crashed,
      zone: 4,
      guestCrash: null,
      panicEvent: false,
      heartbeatsAfterFault: 3,
      exit: { kind: "running" },
    },
    "contained-limited",
  ],
  [
    "zone 4 fault took the guest kernel down",
    { ...crashed, zone: 4 },
    "contained-varied",
    /guest kernel down/,
  ],
];

describe("decideOutcome", () => {
  it.each(cases)("%s → %s", (_name, evidence, outcome, reason) => {
    const v = decideOutcome(evidence);
    expect(v.outcome).toBe(outcome);
    if (reason) expect(v.reasons.join("; ")).toMatch(reason);
    expect(v.reasons.length).toBeGreaterThan(0);
  });
});
