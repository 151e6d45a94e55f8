import { type ScriptEvent, TestBackend, type TestScript } from "../../src/backends/test.js";
import type { RunPlan } from "../../src/campaign/run-plan.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";

/** An image nothing reads: the replaying backend boots no kernel. */
export const NO_IMAGE: BuiltImage = {
  dir: "/nonexistent/ezone-image",
  vmlinuz: "/nonexistent/ezone-image/vmlinuz",
  vmlinux: null,
  initramfs: "/nonexistent/ezone-image/initramfs.cpio",
  manifest: {
    id: "replay",
    kernel: { source: "debian", package: null, version: "replay", release: "replay" },
    busybox: "none",
    gcc: "none",
    faultModules: [],
    bootModules: [],
    inputs: {},
    files: { vmlinuz: "vmlinuz", initramfs: "initramfs.cpio" },
    builtAt: "2026-01-01T00:00:00.000Z",
    buildMs: 0,
  },
  cached: true,
};

/**
 * A healthy, unchanging host for replayed runs: the lifecycle's probe steps run, but neither a busy
 * shared machine nor its kernel log can turn a replay's verdict. No I/O.
 */
export const steadyHostProbe: NonNullable<RunPlan["hostProbe"]> = async (opts) => ({
  takenAt: new Date().toISOString(),
  runTag: opts.runTag,
  cores: 2,
  forkExecMs: { kind: "ok", value: 1 },
  loadavg1: { kind: "ok", value: 0.1 },
  procsRunning: { kind: "ok", value: 1 },
  memAvailableKb: { kind: "ok", value: 1_000_000 },
  taint: { kind: "ok", value: 0 },
  kmsg: {
    kind: "ok",
    value: {
      cursor: { seq: 1 },
      since: opts.kmsgCursor ?? null,
      lines: [],
      droppedLines: 0,
      droppedImportant: 0,
      lostRecords: 0,
    },
  },
  leakedPids: { kind: "ok", value: { processes: [], unreadable: 0 } },
});

/** Heartbeat period of replayed agents, in ms. */
export const REPLAY_HB_MS = 10;

let seq = 0;

/** A plan running `script` on the replaying backend with deadlines of a few hundred ms. */
export function replayPlan(script: TestScript, fault: FaultName, over: Partial<RunPlan> = {}): RunPlan {
  seq++;
  return {
    backend: new TestBackend(script),
    image: NO_IMAGE,
    fault,
    trigger: { mode: "command", delaySeconds: 0 },
    nonce: `r${seq}n`,
    runTag: `replay-${process.pid}-${seq}`,
    memoryMb: 256,
    heartbeatMs: REPLAY_HB_MS,
    kernelArgs: ["oops=panic"],
    timeouts: {
      runMs: 3_000,
      bootMs: 200,
      observeMs: 300,
      controlObserveMs: 60,
      heartbeatLossMs: 80,
      graceMs: 20,
      probeMs: 2_000,
    },
    thresholds: DEFAULT_PROBE_THRESHOLDS,
    hostProbe: steadyHostProbe,
    ...over,
  };
}

/** The agent comes up: READY, then heartbeats. */
export const BOOTS: ScriptEvent[] = [
  { atMs: 2, console: `READY ezone-agent/1 hb=${REPLAY_HB_MS}\n` },
  { atMs: 2, heartbeat: "start" },
];

/** A kernel fault that fires, proves itself and panics the guest, which then exits (as QEMU -no-reboot). */
export function panics(fault: string, atMs = 5): ScriptEvent[] {
  return [
    { atMs, console: `FIRED ${fault} nonce={nonce}\n` },
    { atMs, console: `[    2.961452] ezone-fault: ${fault} nonce={nonce} firing context=process\n` },
    { atMs, heartbeat: "stop" },
    { atMs: atMs + 1, console: "[    2.962749] divide error: 0000 [#1] PREEMPT SMP NOPTI\n" },
    { atMs: atMs + 1, console: `[    2.963820] RIP: 0010:${fault}_fire+0x22/0x39 [${fault}]\n` },
    { atMs: atMs + 2, console: "[    2.970000] Kernel panic - not syncing: Fatal exception\n" },
    { atMs: atMs + 3, control: "GUEST_PANICKED" },
    { atMs: atMs + 4, exit: { kind: "exited", code: 1 } },
  ];
}
