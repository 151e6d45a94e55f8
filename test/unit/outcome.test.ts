import { describe, expect, it } from "vitest";
import { decideOutcome } from "../../src/model/outcome.js";
import type {
  DisposableHostEvidence,
  Outcome,
  ProbeFinding,
  RunEvidence,
} from "../../src/model/outcome-types.js";

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
  panicChannel: null,
  panicEventDelayMs: null,
  faultPanics: true,
  heartbeatsAfterFault: 0,
  heartbeatLost: false,
  exit: { kind: "exited", code: 1 },
  stopReason: "guest-panic",
  probes: [ok],
};

/** The same run on QEMU, whose pvpanic saw the panic 5 ms after the console's panic line. */
const pvpanic: RunEvidence = {
  ...crashed,
  panicChannel: "pvpanic (QMP GUEST_PANICKED)",
  panicEventDelayMs: 5,
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
    "the enclave failed by itself (exit 137) and no proof",
    { ...crashed, proof: false, guestCrash: null, panicEvent: false, exit: { kind: "exited", code: 137 } },
    "unknown",
    /exited with status 137 and there is no proof/,
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
  [
    "guest never came up (boot timeout)",
    { ...crashed, ready: false, bootError: "wait.ready: boot timeout: no READY within 500 ms" },
    "boot-error",
    /boot timeout.*500 ms/,
  ],
  ["control run healthy", control, "no-effect", /control/],
  ["kerncrash on QEMU, pvpanic agrees with the console", pvpanic, "contained-limited", /kerncrash_fire/],
  [
    "proof and panic line on the console, pvpanic silent (a lying guest)",
    { ...pvpanic, panicEvent: false, panicEventDelayMs: null, exit: { kind: "running" } },
    "unknown",
    /kernel panic \(divide error.*pvpanic \(QMP GUEST_PANICKED\) reported no panic; the enclave still running/,
  ],
  [
    "proof and panic line, pvpanic's event more than 1 s later",
    { ...pvpanic, panicEventDelayMs: 1500 },
    "unknown",
    /1500 ms after the console's panic line/,
  ],
  [
    "proof but no panic on either channel for a fault that panics",
    { ...pvpanic, guestCrash: null, panicEvent: false, heartbeatLost: true, exit: { kind: "running" } },
    "unknown",
    /proof but no kernel panic.*reported no panic/,
  ],
  [
    "pvpanic alone (the console lost the panic line) still agrees",
    { ...pvpanic, guestCrash: null, panicEventDelayMs: null },
    "contained-limited",
    /pvpanic/,
  ],
  [
    "GUEST_PANICKED with no proof line names both sides",
    { ...pvpanic, proof: false },
    "unknown",
    /no proof the fault fired.*pvpanic \(QMP GUEST_PANICKED\) reported a guest panic/,
  ],
  [
    "a fault that does not panic (hang) needs no second witness",
    {
      ...pvpanic,
      fault: "hang",
      faultPanics: false,
      guestCrash: null,
      panicEvent: false,
      heartbeatLost: true,
      exit: { kind: "running" },
    },
    "contained-limited",
    /heartbeat lost/,
  ],
  [
    "no second channel: the verdict says the proof came from the console only",
    crashed,
    "contained-limited",
    /console only/,
  ],
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

/** Zone 2: ezone signalled the enclave's host process, or ran a hog beside it. */
const signalled: RunEvidence = {
  ...crashed,
  fault: "vmm-sigkill",
  zone: 2,
  agentFired: false,
  guestCrash: null,
  panicEvent: false,
  heartbeatsAfterFault: 0,
  exit: { kind: "signaled", signal: "SIGKILL" },
  stopReason: "enclave-exit",
  hostInjection: {
    kind: "signal",
    scope: "enclave",
    delivered: true,
    detail: "SIGKILL delivered to the VMM process (pid 42)",
  },
};
const steady = {
  intervalMs: 250,
  baselineMaxGapMs: 260,
  faultMaxGapMs: 270,
  faultWindowMs: 4000,
  beatsDuringFault: 16,
  thresholdMs: 750,
  degraded: false,
};
const hogged: RunEvidence = {
  ...signalled,
  fault: "host-cpu-hog",
  heartbeatsAfterFault: 16,
  exit: { kind: "running" },
  stopReason: "observe-deadline",
  hostInjection: {
    kind: "cpu-hog",
    scope: "beside",
    delivered: true,
    detail: "started: 2 busy loops used 40 ms CPU",
  },
  heartbeatTiming: steady,
};
const bystander = {
  index: 0,
  died: false,
  stalled: false,
  exit: { kind: "running" } as const,
  heartbeatsDuringFault: 10,
  timing: steady,
};

const zone2Cases: [string, RunEvidence, Outcome, RegExp?][] = [
  ["SIGKILL to QEMU: the enclave died with it", signalled, "contained-limited", /SIGKILL delivered/],
  [
    "SIGSTOP to the VMM: heartbeat lost, process alive",
    { ...signalled, exit: { kind: "running" }, heartbeatLost: true, stopReason: "heartbeat-loss" },
    "contained-limited",
    /stopped heartbeating/,
  ],
  [
    "Sentry panic signal: exit plus a reported guest panic",
    { ...signalled, fault: "sentry-panic", panicEvent: true, exit: { kind: "exited", code: 2 } },
    "contained-limited",
    /guest panic reported/,
  ],
  [
    "signal ignored: the enclave kept heartbeating",
    { ...signalled, exit: { kind: "running" }, heartbeatsAfterFault: 6 },
    "no-effect",
    /kept heartbeating/,
  ],
  [
    "signal delivered, nothing after it and still running",
    { ...signalled, exit: { kind: "running" }, heartbeatsAfterFault: 0 },
    "unknown",
  ],
  [
    "signal not delivered (no such process)",
    {
      ...signalled,
      proof: false,
      exit: { kind: "running" },
      hostInjection: {
        kind: "signal",
        scope: "enclave",
        delivered: false,
        detail: "kill(42, SIGKILL) failed: ESRCH",
      },
    },
    "not-fired",
    /ESRCH/,
  ],
  [
    "SIGKILL to the VMM, and the host degraded",
    { ...signalled, probes: [ok, probe("degraded")] },
    "contained-varied",
    /degraded/,
  ],
  ["hog beside a steady enclave", hogged, "no-effect", /did not degrade/],
  [
    "hog beside the enclave: heartbeat gaps grew",
    { ...hogged, heartbeatTiming: { ...steady, faultMaxGapMs: 1400, degraded: true } },
    "contained-varied",
    /1400 ms/,
  ],
  [
    "hog beside the enclave: heartbeat stalled, enclave survived",
    { ...hogged, heartbeatLost: true },
    "contained-varied",
    /stalled/,
  ],
  [
    "hog beside the enclave: the enclave died",
    { ...hogged, exit: { kind: "signaled", signal: "SIGKILL" } },
    "escaped-global",
    /died/,
  ],
  [
    "hog with no heartbeat timing to judge",
    { ...hogged, heartbeatTiming: { ...steady, baselineMaxGapMs: null, thresholdMs: null, degraded: null } },
    "unknown",
    /could not be measured/,
  ],
  [
    "kerncrash with a bystander that died",
    { ...crashed, bystanders: [{ ...bystander, died: true, exit: { kind: "signaled", signal: "SIGKILL" } }] },
    "escaped-global",
    /bystander enclave 0 died \(killed by SIGKILL\)/,
  ],
  [
    "kerncrash with a bystander that stalled",
    { ...crashed, bystanders: [{ ...bystander, stalled: true, timing: { ...steady, faultMaxGapMs: 2100 } }] },
    "contained-varied",
    /^bystander 0: stopped heartbeating .*2100 ms/,
  ],
  ["kerncrash with a healthy bystander", { ...crashed, bystanders: [bystander] }, "contained-limited"],
  [
    "control run with a bystander that died",
    { ...control, bystanders: [{ ...bystander, died: true }] },
    "unknown",
    /bystander enclave 0 died during a control run/,
  ],
];

describe("decideOutcome: zone 2 and bystanders", () => {
  it.each(zone2Cases)("%s → %s", (_name, evidence, outcome, reason) => {
    const v = decideOutcome(evidence);
    expect(v.outcome).toBe(outcome);
    if (reason) expect(v.reasons.join("; ")).toMatch(reason);
  });
});

/** Zone 3 with the fault's printk as proof: every crash class ezone's faults produce, and the hang. */
const kernelCrash = (title: string, crashClass: string, panic = true): RunEvidence => ({
  ...crashed,
  guestCrash: { title, crashClass, panic },
});
const umlPanic: RunEvidence = {
  ...kernelCrash("kernel panic: sysrq triggered crash", "panic"),
  fault: "sysrq-c",
  panicEvent: false,
  exit: { kind: "signaled", signal: "SIGABRT" },
};
const zone3Cases: [string, RunEvidence, Outcome, RegExp?][] = [
  [
    "nullderef",
    kernelCrash("BUG: kernel NULL pointer dereference in nullderef_fire [nullderef]", "null-deref"),
    "contained-limited",
    /NULL pointer dereference in nullderef_fire/,
  ],
  ["kbug", kernelCrash("kernel BUG in kbug_fire [kbug]", "bug"), "contained-limited", /kernel BUG/],
  ["kpanic", kernelCrash("kernel panic: ezone kpanic requested", "panic"), "contained-limited", /kpanic/],
  [
    "softlockup (softlockup_panic=1)",
    kernelCrash("BUG: soft lockup in softlockup_fire [softlockup]", "lockup"),
    "contained-limited",
    /soft lockup/,
  ],
  [
    "stackoverflow: oops on the console, the panic only through pvpanic",
    kernelCrash("BUG: stack guard page was hit in ezone_recurse [stackoverflow]", "bug", false),
    "contained-limited",
    /stack guard page/,
  ],
  [
    "uafwrite",
    kernelCrash("BUG: unable to handle page fault in uafwrite_fire [uafwrite]", "bug"),
    "contained-limited",
    /page fault/,
  ],
  ["sysrq-c under UML: panic text, then the UML process aborts", umlPanic, "contained-limited", /SIGABRT/],
  [
    "UML process aborted with no panic text",
    { ...umlPanic, guestCrash: null },
    "unknown",
    /SIGABRT with no guest panic/,
  ],
  [
    "hang: heartbeat lost, no report, VMM still running",
    {
      ...crashed,
      fault: "hang",
      guestCrash: null,
      panicEvent: false,
      heartbeatLost: true,
      exit: { kind: "running" },
      stopReason: "heartbeat-loss",
    },
    "contained-limited",
    /heartbeat lost \(hang\)/,
  ],
  [
    "an oops the guest survived (no oops=panic), heartbeats went on",
    {
      ...kernelCrash(
        "BUG: kernel NULL pointer dereference in nullderef_fire [nullderef]",
        "null-deref",
        false,
      ),
      panicEvent: false,
      heartbeatsAfterFault: 4,
      exit: { kind: "running" },
    },
    "contained-limited",
    /kept running/,
  ],
  [
    "a crash with a degraded host",
    { ...kernelCrash("kernel BUG in kbug_fire [kbug]", "bug"), probes: [ok, probe("degraded")] },
    "contained-varied",
    /degraded/,
  ],
  [
    "heartbeat lost and no proof",
    {
      ...crashed,
      proof: false,
      guestCrash: null,
      panicEvent: false,
      heartbeatLost: true,
      exit: { kind: "running" },
    },
    "unknown",
    /stopped heartbeating, but there is no proof/,
  ],
];

/** Zone 4: the proof is the agent's CHILD line with the end the catalogue expects. */
const childEnded: RunEvidence = {
  ...crashed,
  fault: "segfault",
  zone: 4,
  guestCrash: null,
  panicEvent: false,
  heartbeatsAfterFault: 2,
  exit: { kind: "running" },
  stopReason: "fault-ended",
};
const zone4Cases: [string, RunEvidence, Outcome, RegExp?][] = [
  ["segfault: child ended, agent heartbeating", childEnded, "contained-limited", /ended as expected/],
  [
    "oomhog: heartbeat stalled while memory ran out, then resumed",
    { ...childEnded, fault: "oomhog", heartbeatLost: true },
    "contained-varied",
    /stopped for the heartbeat-loss interval .* then resumed/,
  ],
  [
    "child ended as expected, then no heartbeat until the deadline",
    { ...childEnded, heartbeatsAfterFault: 0, stopReason: "observe-deadline" },
    "contained-varied",
    /never heartbeated again/,
  ],
  [
    "child ended otherwise (the OOM killer never acted)",
    {
      ...childEnded,
      fault: "oomhog",
      proof: false,
      injectFailed: "oomhog: its child ended with exit=1, not signal=SIGKILL",
      stopReason: "observe-deadline",
    },
    "not-fired",
    /exit=1, not signal=SIGKILL/,
  ],
  [
    "no CHILD line and the agent went silent",
    {
      ...childEnded,
      proof: false,
      heartbeatsAfterFault: 0,
      heartbeatLost: true,
      stopReason: "observe-deadline",
    },
    "unknown",
    /no proof/,
  ],
  [
    "the enclave exited after the fault with no crash report",
    { ...childEnded, exit: { kind: "exited", code: 0 } },
    "unknown",
    /exited with status 0 after a guest user-space fault/,
  ],
  [
    "the guest kernel panicked after a user-space fault",
    { ...childEnded, guestCrash: { title: "kernel panic: Out of memory", crashClass: "panic", panic: true } },
    "contained-varied",
    /guest kernel down/,
  ],
  [
    "contained, but the host degraded",
    { ...childEnded, probes: [ok, probe("degraded")] },
    "contained-varied",
    /degraded/,
  ],
];

describe("decideOutcome: zone 3 and zone 4 faults of the catalogue", () => {
  it.each([...zone3Cases, ...zone4Cases])("%s → %s", (_name, evidence, outcome, reason) => {
    const v = decideOutcome(evidence);
    expect(v.outcome).toBe(outcome);
    if (reason) expect(v.reasons.join("; ")).toMatch(reason);
  });
});

describe("decideOutcome: the disposable host (zone 1, and zone 3 from inside a shared-kernel enclave)", () => {
  const dhOk: DisposableHostEvidence = {
    alive: true,
    panicked: false,
    crash: null,
    heartbeatLost: false,
    exit: { kind: "running" },
    probes: [{ ...ok, probe: "dh.taint" }],
    proof: true,
  };
  const dhPanic: DisposableHostEvidence = {
    ...dhOk,
    alive: false,
    panicked: true,
    crash: { title: "divide error in kerncrash_fire [kerncrash]", crashClass: "divide-error", panic: true },
    exit: { kind: "exited", code: 1 },
  };
  /** host-kerncrash beside a container enclave: the proof is on the disposable host's console only. */
  const zone1: RunEvidence = {
    ...control,
    fault: "host-kerncrash",
    zone: 1,
    agentFired: false,
    proof: false,
    faultPanics: true,
    heartbeatsAfterFault: 0,
    exit: { kind: "signaled", signal: "SIGKILL" },
    stopReason: "enclave-exit",
    disposableHost: dhPanic,
  };
  /** host-cpuhog: the disposable host survives, the enclave beside it keeps heartbeating. */
  const survived: RunEvidence = {
    ...zone1,
    fault: "host-cpuhog",
    faultPanics: false,
    heartbeatsAfterFault: 12,
    exit: { kind: "running" },
    stopReason: "observe-deadline",
    disposableHost: dhOk,
  };
  /** kerncrash loaded from inside a privileged container: the kernel beneath is the disposable host's. */
  const fromInside: RunEvidence = { ...zone1, fault: "kerncrash", zone: 3, agentFired: true };

  const rows: [string, RunEvidence, Outcome, RegExp][] = [
    [
      "zone 1: the disposable host's kernel panicked, with the module's proof",
      zone1,
      "escaped-global",
      /disposable host's kernel panicked: divide error in kerncrash_fire/,
    ],
    [
      "zone 1: the disposable host's VM died without a crash report",
      { ...zone1, disposableHost: { ...dhPanic, panicked: false, crash: null } },
      "escaped-global",
      /disposable host died: its VM exited with status 1/,
    ],
    [
      "zone 1: the disposable host lost its heartbeat",
      { ...zone1, disposableHost: { ...dhOk, heartbeatLost: true } },
      "escaped-global",
      /stopped heartbeating/,
    ],
    [
      "zone 1: a probe of the disposable host failed",
      { ...zone1, disposableHost: { ...dhOk, probes: [probe("failed", "dh.forkExecMs")] } },
      "escaped-global",
      /disposable host probe dh\.forkExecMs failed/,
    ],
    [
      "the disposable host failed with no proof the fault fired",
      { ...zone1, disposableHost: { ...dhPanic, proof: false } },
      "unknown",
      /no proof the fault fired/,
    ],
    [
      "a probe of the disposable host unavailable",
      { ...survived, disposableHost: { ...dhOk, probes: [probe("unavailable", "dh.kmsg")] } },
      "unknown",
      /disposable host probe dh\.kmsg unavailable/,
    ],
    [
      "zone 3 from inside a shared-kernel enclave took the disposable host's kernel down",
      fromInside,
      "escaped-global",
      /zone 3 ≡ zone 1/,
    ],
    [
      "zone 1 survived, but the enclave beside it died",
      { ...survived, exit: { kind: "signaled", signal: "SIGKILL" } },
      "escaped-global",
      /enclave beside it died: its process killed by SIGKILL/,
    ],
    [
      "zone 1 survived, the enclave's heartbeat stalled and resumed",
      { ...survived, heartbeatLost: true },
      "contained-varied",
      /heartbeat stopped for the heartbeat-loss interval, and it survived/,
    ],
    [
      "zone 1 survived, the enclave's heartbeat degraded",
      {
        ...survived,
        heartbeatTiming: {
          intervalMs: 250,
          baselineMaxGapMs: 300,
          faultMaxGapMs: 3100,
          faultWindowMs: 5000,
          beatsDuringFault: 9,
          thresholdMs: 1000,
          degraded: true,
        },
      },
      "contained-varied",
      /heartbeat degraded: longest heartbeat gap 3100 ms/,
    ],
    [
      "zone 1 survived, a probe of the disposable host degraded",
      { ...survived, disposableHost: { ...dhOk, probes: [probe("degraded", "dh.memAvailableKb")] } },
      "contained-varied",
      /disposable host probe dh\.memAvailableKb degraded/,
    ],
    [
      "zone 1 survived and nothing beside it was affected",
      survived,
      "no-effect",
      /kept heartbeating and every probe passed/,
    ],
    [
      "zone 3 from inside an unprivileged enclave: the kernel refused it (EPERM)",
      {
        ...fromInside,
        disposableHost: { ...dhOk, proof: false },
        injectFailed: "kerncrash: errno 1 finit_module: Operation not permitted",
        heartbeatsAfterFault: 3,
        exit: { kind: "running" },
      },
      "not-fired",
      /kernel refused the enclave the privilege the fault needs \(EPERM\).*errno 1 finit_module: Operation not permitted/,
    ],
    [
      "a control run whose disposable host died",
      { ...control, disposableHost: { ...dhPanic, proof: false } },
      "unknown",
      /control run.*disposable host's kernel panicked/,
    ],
  ];

  it.each(rows)("%s → %s", (_name, ev, outcome, reason) => {
    const v = decideOutcome(ev);
    expect(v.outcome, v.reasons.join("; ")).toBe(outcome);
    expect(v.reasons.join("; ")).toMatch(reason);
  });
});
