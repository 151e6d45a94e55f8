import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { ControlMaxima, PeerEvidence } from "../../src/model/composition.js";
import {
  controlMaximaOf,
  describeComposition,
  peerEffects,
  standsOut,
} from "../../src/model/composition-verdict.js";
import { decideOutcome } from "../../src/model/outcome.js";
import type {
  BystanderEvidence,
  HeartbeatTiming,
  Outcome,
  ProbeFinding,
  RunEvidence,
} from "../../src/model/outcome-types.js";
import type { SoftErrorEvidence } from "../../src/model/soft-error.js";
import { evidenceFor } from "../helpers/report-fixtures.js";

const peer = (over: Partial<PeerEvidence> = {}): PeerEvidence => ({
  name: "b",
  backend: "qemu-tcg",
  died: false,
  maxHeartbeatGapMs: 300,
  requests: { ok: 40, failed: 0, late: 0 },
  ...over,
});

/** Five quiet control runs of a cell whose peer b depends on the victim (heartbeat 250 ms). */
const quiet: ControlMaxima = controlMaximaOf(
  [1, 2, 3, 4, 5].map((i) => ({
    probes: [],
    peers: [peer({ maxHeartbeatGapMs: 280 + i * 4, requests: { ok: 40, failed: 0, late: 1 } })],
  })),
  250,
);

/** The host's fork+exec latency over its threshold after a run. */
const slowHost: ProbeFinding = {
  probe: "host.forkExecMs",
  severity: "degraded",
  before: 1,
  after: 9,
  threshold: "x3",
  detail: "fork+exec 9 ms",
};

/** A kerncrash in the victim of a composed cell, proven and witnessed; its peer b unaffected. */
const composed: RunEvidence = evidenceFor("kerncrash", 3, { peers: [peer()], controlMaxima: quiet });

describe("control maxima", () => {
  it("takes each peer's largest gap and request counts over the control runs", () => {
    expect(quiet).toEqual({
      runs: 5,
      heartbeatMs: 250,
      parties: { b: { maxHeartbeatGapMs: 300, failed: 0, late: 1 } },
      hostDegraded: {},
    });
  });

  it("keeps a gap no control run could measure as null, and counts a dependent-less peer as 0 requests", () => {
    const m = controlMaximaOf(
      [{ probes: [], peers: [peer({ maxHeartbeatGapMs: null, requests: null })] }],
      100,
    );
    expect(m.parties.b).toEqual({ maxHeartbeatGapMs: null, failed: 0, late: 0 });
  });
});

describe("peer effects against the controls", () => {
  it("an effect needs both 20 % above the control maximum and the floor", () => {
    expect(standsOut(3, 0, 3)).toBe(true);
    expect(standsOut(2, 0, 3)).toBe(false);
    expect(standsOut(12, 10, 3)).toBe(true);
    expect(standsOut(11, 10, 3)).toBe(false);
  });

  it("names the peer and the figure for failed requests, late requests and a heartbeat gap", () => {
    const effects = peerEffects(
      [peer({ maxHeartbeatGapMs: 900, requests: { ok: 3, failed: 14, late: 5 } })],
      quiet,
    );
    expect(effects.map((e) => e.figure)).toEqual([
      "heartbeat gap 900 ms (controls max 300 ms)",
      "14 failed requests (controls max 0)",
      "5 late requests (controls max 1)",
    ]);
    expect(effects.every((e) => e.party.kind === "peer" && e.party.name === "b")).toBe(true);
  });

  it("a gap within 20 % of the controls' or under two heartbeat intervals is no effect", () => {
    expect(peerEffects([peer({ maxHeartbeatGapMs: 359 })], quiet)).toEqual([]);
    const lowControls = controlMaximaOf([{ probes: [], peers: [peer({ maxHeartbeatGapMs: 100 })] }], 250);
    expect(peerEffects([peer({ maxHeartbeatGapMs: 499 })], lowControls)).toEqual([]);
    expect(peerEffects([peer({ maxHeartbeatGapMs: 500 })], lowControls)).toHaveLength(1);
  });

  it("describes a composition for logs and reports", () => {
    expect(
      describeComposition({
        peers: [{ name: "b", backend: "qemu-tcg" }],
        links: [{ kind: "depends-on", from: "b", to: "victim", enabled: false }],
        limits: true,
      }),
    ).toBe("depends-on b→victim off, limits on");
  });
});

describe("decideOutcome: composed cells", () => {
  const rows: [string, Partial<RunEvidence>, Outcome, string][] = [
    ["a quiet peer leaves the victim's own verdict", {}, "contained-limited", "guest kernel crashed"],
    [
      "fewer than 5 finished control runs",
      { controlMaxima: { ...quiet, runs: 4 } },
      "unknown",
      "only 4 finished control runs of this cell and toggle: 5 are needed to judge its peers",
    ],
    [
      "no control maxima at all",
      { controlMaxima: undefined },
      "unknown",
      "only 0 finished control runs of this cell and toggle: 5 are needed to judge its peers",
    ],
    [
      "controls but nothing recorded of the peers",
      { peers: undefined },
      "unknown",
      "the composed run recorded nothing of its peers",
    ],
    [
      "a peer that died is an escape",
      { peers: [peer({ died: true })] },
      "escaped-global",
      "peer b (qemu-tcg) died while the fault ran",
    ],
    [
      "a dependent's failed requests name the peer and the figure",
      { peers: [peer({ requests: { ok: 2, failed: 14, late: 0 } })] },
      "contained-varied",
      "peer b: 14 failed requests (controls max 0)",
    ],
    [
      "a peer's heartbeat gap well above the controls'",
      { peers: [peer({ maxHeartbeatGapMs: 2000 })] },
      "contained-varied",
      "peer b: heartbeat gap 2000 ms (controls max 300 ms)",
    ],
    [
      "failures the controls saw as often are not blamed on the fault",
      {
        peers: [peer({ requests: { ok: 30, failed: 4, late: 0 } })],
        controlMaxima: { ...quiet, parties: { b: { maxHeartbeatGapMs: 300, failed: 4, late: 0 } } },
      },
      "contained-limited",
      "guest kernel crashed",
    ],
    [
      "a host degradation the cell's controls never showed is blamed on the fault, naming the host",
      { probes: [slowHost] },
      "contained-varied",
      "host: host probe host.forkExecMs degraded: fork+exec 9 ms",
    ],
  ];
  it.each(rows)("%s → %s", (_name, change, outcome, first) => {
    const v = decideOutcome({ ...composed, ...change });
    expect(v.outcome).toBe(outcome);
    expect(v.reasons[0]).toContain(first);
  });

  it("a host degradation the controls showed too is not blamed on the fault, and the verdict says so", () => {
    const v = decideOutcome({
      ...composed,
      probes: [slowHost],
      controlMaxima: { ...quiet, hostDegraded: { "host.forkExecMs": 2 } },
    });
    expect(v).toEqual({
      outcome: "contained-limited",
      reasons: [
        "guest kernel crashed: divide error in kerncrash_fire",
        "the enclave exited with status 1",
        "every host probe passed",
        "host probe host.forkExecMs degraded (fork+exec 9 ms), as in 2 of the cell's 5 control runs: not blamed on the fault",
      ],
    });
  });

  it("counts the control runs that saw each host probe degraded", () => {
    const m = controlMaximaOf(
      [
        { probes: [slowHost] },
        { probes: [slowHost, { ...slowHost, probe: "host.taint", severity: "ok" }] },
        { probes: [] },
      ],
      250,
    );
    expect(m.hostDegraded).toEqual({ "host.forkExecMs": 2 });
  });

  it("a control run in which a peer died is unknown", () => {
    const v = decideOutcome({
      ...composed,
      fault: "none",
      proof: false,
      agentFired: false,
      guestCrash: null,
      panicEvent: false,
      heartbeatsAfterFault: null,
      exit: { kind: "running" },
      stopReason: "observe-deadline",
      controlMaxima: undefined,
      peers: [peer({ died: true })],
    });
    expect(v).toEqual({
      outcome: "unknown",
      reasons: ["peer b (qemu-tcg) died during a control run (no fault)"],
    });
  });
});

/** Every value a field of the walk takes; the walk is their cartesian product. */
function* product<T extends Record<string, readonly unknown[]>>(
  axes: T,
): Generator<{ [K in keyof T]: T[K][number] }> {
  const keys = Object.keys(axes) as (keyof T)[];
  const idx = keys.map(() => 0);
  for (;;) {
    yield Object.fromEntries(keys.map((k, i) => [k, axes[k]?.[idx[i] ?? 0]])) as {
      [K in keyof T]: T[K][number];
    };
    let i = 0;
    for (; i < keys.length; i++) {
      const axis = axes[keys[i] as keyof T] ?? [];
      idx[i] = ((idx[i] ?? 0) + 1) % axis.length;
      if (idx[i] !== 0) break;
    }
    if (i === keys.length) return;
  }
}

describe("contained-varied always names a party", () => {
  const finding = (severity: ProbeFinding["severity"]): ProbeFinding => ({
    probe: "host.forkExecMs",
    severity,
    before: 1,
    after: 9,
    threshold: "x3",
    detail: `fork+exec ${severity}`,
  });
  const timing = (degraded: boolean | null): HeartbeatTiming => ({
    intervalMs: 250,
    baselineMaxGapMs: 260,
    faultMaxGapMs: degraded ? 1400 : 270,
    faultWindowMs: 4000,
    beatsDuringFault: 16,
    thresholdMs: 750,
    degraded,
  });
  const bystander = (died: boolean, stalled: boolean): BystanderEvidence => ({
    index: 1,
    died,
    stalled,
    exit: died ? { kind: "signaled", signal: "SIGKILL" } : { kind: "running" },
    heartbeatsDuringFault: 8,
    timing: timing(stalled),
  });
  const soft = (cls: SoftErrorEvidence["class"]): SoftErrorEvidence => ({
    flip: {
      target: "data",
      where: "physical 0x1000 bit 3",
      old: "5a",
      written: "52",
      readBack: "52",
      fired: true,
    },
    golden: { digest: "d", durationUs: 1000, instructions: null } as unknown as SoftErrorEvidence["golden"],
    workload: { digest: null, durationUs: null, end: null },
    class: cls,
    reason: "why",
  });
  const faults: Partial<RunEvidence>[] = [
    { fault: "none", zone: 3 },
    { fault: "kerncrash", zone: 3, faultPanics: true },
    { fault: "segfault", zone: 4 },
    { fault: "bitflip", zone: 4, softError: soft("hang") },
    { fault: "bitflip", zone: 4, softError: soft("benign") },
    {
      fault: "vmm-sigkill",
      zone: 2,
      hostInjection: { kind: "signal", scope: "enclave", delivered: true, detail: "SIGKILL delivered" },
    },
    {
      fault: "host-cpu-hog",
      zone: 2,
      hostInjection: { kind: "cpu-hog", scope: "beside", delivered: true, detail: "hog ran" },
    },
  ];
  const axes = {
    fault: faults,
    proof: [true, false],
    crash: [
      null,
      { title: "oops", crashClass: "bug", panic: false },
      { title: "panic", crashClass: "panic", panic: true },
    ],
    panic: [
      { panicEvent: false, panicChannel: null },
      { panicEvent: true, panicChannel: "pvpanic" },
    ],
    heartbeatLost: [false, true],
    heartbeatsAfterFault: [null, 0, 3],
    exit: [{ kind: "running" }, { kind: "exited", code: 1 }, { kind: "signaled", signal: "SIGKILL" }],
    probes: [[finding("ok")], [finding("degraded")], [finding("failed")]],
    timing: [undefined, timing(true), timing(null)],
    bystanders: [undefined, [bystander(false, false)], [bystander(false, true)], [bystander(true, false)]],
    composed: [
      {},
      { peers: [peer()], controlMaxima: quiet },
      { peers: [peer({ requests: { ok: 1, failed: 9, late: 0 } })], controlMaxima: quiet },
      { peers: [peer({ maxHeartbeatGapMs: 5000 })], controlMaxima: quiet },
      { peers: [peer({ died: true })], controlMaxima: quiet },
      { peers: [peer()], controlMaxima: { ...quiet, runs: 2 } },
      { peers: [peer()], controlMaxima: { ...quiet, hostDegraded: { "host.forkExecMs": 1 } } },
    ],
  } as const;
  const PARTY = /^(host|victim guest|bystander \d+|peer [a-z0-9][a-z0-9-]*): \S/;

  it("in every verdict a walk over the evidence's combinations can reach", () => {
    const parties = new Set<string>();
    const unnamed: string[] = [];
    let varied = 0;
    let walked = 0;
    for (const c of product(axes)) {
      const ev: RunEvidence = {
        ...composed,
        peers: undefined,
        controlMaxima: undefined,
        ...c.fault,
        proof: c.proof,
        agentFired: c.proof,
        guestCrash: c.crash,
        ...c.panic,
        heartbeatLost: c.heartbeatLost,
        heartbeatsAfterFault: c.heartbeatsAfterFault,
        exit: c.exit,
        probes: c.probes,
        heartbeatTiming: c.timing,
        bystanders: c.bystanders,
        ...c.composed,
      } as unknown as RunEvidence;
      walked++;
      const v = decideOutcome(ev);
      if (v.outcome !== "contained-varied") continue;
      varied++;
      if (!PARTY.test(v.reasons[0] ?? "")) unnamed.push(`${v.reasons[0]} ← ${JSON.stringify(ev)}`);
      parties.add(/^([a-z]+)/.exec(v.reasons[0] ?? "")?.[1] ?? "");
    }
    expect(unnamed.slice(0, 3)).toEqual([]);
    expect(walked).toBeGreaterThan(100_000);
    expect(varied).toBeGreaterThan(1000);
    // The walk reaches a varied verdict blaming each kind of party, so the proof covers them all.
    expect([...parties].sort()).toEqual(["bystander", "host", "peer", "victim"]);
  });

  it("the outcome function has one place that makes contained-varied", () => {
    const source = readFileSync(resolve(import.meta.dirname, "../../src/model/outcome.ts"), "utf8");
    expect(source.match(/"contained-varied"/g)).toHaveLength(1);
  });
});
