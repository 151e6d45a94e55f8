import { describe, expect, it } from "vitest";
import {
  detectionMsOf,
  heartbeatWindows,
  type ObserveInput,
  observeWindowMs,
  stopReasonOf,
  wantsGrace,
} from "../../src/campaign/observation.js";
import type { StopReason, Zone } from "../../src/model/outcome-types.js";
import type { CrashReport } from "../../src/monitor/console-parser.js";
import { initialMonitorState, type MonitorState } from "../../src/monitor/run-monitor.js";

const idle: MonitorState = { ...initialMonitorState(0), readyAt: 100, heartbeats: 5, lastHbAt: 150 };
const crash: CrashReport = {
  title: "divide error in kerncrash_fire [kerncrash]",
  crashClass: "divide-error",
  header: "divide error: 0000 [#1] PREEMPT SMP NOPTI",
  lineIndex: 0,
  panic: true,
  panicReason: "Fatal exception",
  corrupted: false,
  excerpt: [],
  frame: "kerncrash_fire",
  module: "kerncrash",
};

describe("observeWindowMs", () => {
  const guest: ObserveInput = {
    control: false,
    controlObserveMs: 3000,
    observeMs: 30_000,
    observeMinMs: 0,
    delaySeconds: 0,
    host: null,
  };
  it.each([
    ["a control run watches for its own window", { ...guest, control: true }, 3000],
    ["a guest fault: the observe window", guest, 30_000],
    ["plus the trigger's delay", { ...guest, delaySeconds: 5 }, 35_000],
    ["the fault's own minimum wins when longer", { ...guest, observeMinMs: 60_000, delaySeconds: 1 }, 61_000],
    [
      "a host fault not delivered: nothing to watch",
      { ...guest, host: { delivered: false, holdMs: 9000 } },
      0,
    ],
    ["a hog: as long as it is held", { ...guest, host: { delivered: true, holdMs: 9000 } }, 9000],
    ["a signal: the observe window", { ...guest, host: { delivered: true, holdMs: 0 } }, 30_000],
  ] as [string, ObserveInput, number][])("%s", (_n, input, ms) => {
    expect(observeWindowMs(input)).toBe(ms);
  });
});

describe("stopReasonOf", () => {
  it.each([
    ["deadline passed", idle, false, 3, "observe-deadline"],
    ["pvpanic event", { ...idle, panicEventAt: 200 }, true, 3, "guest-panic"],
    ["panic on the console", { ...idle, crash }, true, 3, "guest-panic"],
    [
      "the enclave exited",
      { ...idle, exit: { kind: "exited", code: 0 }, exitAt: 200 },
      true,
      3,
      "enclave-exit",
    ],
    [
      "a zone-4 child ended and the agent beat twice",
      { ...idle, proofAt: 150, hbAfterFault: 2 },
      true,
      4,
      "fault-ended",
    ],
    [
      "one beat after a zone-4 proof is not enough",
      { ...idle, proofAt: 150, hbAfterFault: 1, heartbeatLostAt: 300 },
      true,
      4,
      "heartbeat-loss",
    ],
    ["heartbeat lost", { ...idle, heartbeatLostAt: 300 }, true, 3, "heartbeat-loss"],
    ["settled on a failed injection", { ...idle, injectFailed: "x" }, true, 3, "observe-deadline"],
  ] as [string, MonitorState, boolean, Zone, StopReason][])("%s → %s", (_n, s, settled, zone, reason) => {
    expect(stopReasonOf(s, settled, zone)).toBe(reason);
  });
});

describe("wantsGrace", () => {
  it("reads on after a decided stop of a running enclave, not after an exit, a control run or a deadline", () => {
    expect(wantsGrace(idle, true, false, 3)).toBe(true);
    expect(wantsGrace({ ...idle, exit: { kind: "exited", code: 1 } }, true, false, 3)).toBe(false);
    expect(wantsGrace(idle, true, true, 3)).toBe(false);
    expect(wantsGrace(idle, false, false, 3)).toBe(false);
    expect(wantsGrace({ ...idle, proofAt: 1, hbAfterFault: 2 }, true, false, 4)).toBe(false);
  });
});

describe("heartbeatWindows", () => {
  it("splits at the fault; without one (control) the fault window starts at READY", () => {
    expect(heartbeatWindows(100, 250, 400)).toEqual({ baseline: [100, 250], fault: [250, 400] });
    expect(heartbeatWindows(100, null, 400)).toEqual({ baseline: [100, 100], fault: [100, 400] });
    expect(heartbeatWindows(null, null, 400)).toEqual({ baseline: [400, 400], fault: [400, 400] });
  });
});

describe("detectionMsOf", () => {
  const down = { ...idle, panicLineAt: 310, panicEventAt: 305, exitAt: 320 };
  it("measures from the proof to the first sign the guest is down", () => {
    expect(detectionMsOf(down, 300, 3, "guest-panic")).toBe(5);
  });
  it("is null without a proof, in zone 4, when the observation ran to its deadline or the fault ended", () => {
    expect(detectionMsOf(down, null, 3, "guest-panic")).toBeNull();
    expect(detectionMsOf(down, 300, 4, "guest-panic")).toBeNull();
    expect(detectionMsOf(down, 300, 3, "observe-deadline")).toBeNull();
    expect(detectionMsOf(down, 300, 3, "fault-ended")).toBeNull();
    expect(detectionMsOf(idle, 300, 3, "heartbeat-loss")).toBeNull();
  });
});
