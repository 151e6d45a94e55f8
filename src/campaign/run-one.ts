import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SnapshotRef } from "../backends/snapshot-cache.js";

/** Where a run's saved guest comes from: made on first use, forgotten when it fails to restore. */
export interface SnapshotSource {
  get(signal: AbortSignal): Promise<SnapshotRef>;
  invalidate(): Promise<void>;
  /** More runs restore it: the backend may start their VMMs ahead (the caller closes the backend). */
  keepSpare?: boolean;
}

import type { Backend, BootArm, Enclave, EnclaveSpec } from "../backends/backend.js";
import { FAULTS, type FaultName, faultKernelArgs, faultSpec } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { judgeBaseline } from "../host/baseline-health.js";
import type { ProbeThresholds } from "../host/compare.js";
import { compareProbes } from "../host/compare.js";
import { type HostProbes, kmsgCursorOf, probeHost } from "../host/probes.js";
import { decideOutcome } from "../model/outcome.js";
import type {
  BystanderEvidence,
  EnclaveExit,
  ProbeFinding,
  RunEvidence,
  StopReason,
  Verdict,
} from "../model/outcome-types.js";
import { HeartbeatLog, heartbeatTiming } from "../monitor/heartbeat-log.js";
import { isOopsLine } from "../monitor/oops-patterns.js";
import { RunMonitor, type Wait, WaitTimeout } from "../monitor/run-monitor.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import { killPoint } from "../util/kill-point.js";
import { clockTicksNow } from "../util/proc.js";
import { Bystanders } from "./bystanders.js";
import { type ActiveHostFault, injectHostFault } from "./host-inject.js";
import type { ProbeChain } from "./probe-chain.js";
import type { TriggerConfig } from "./schema.js";

/** Heartbeats seen before a host-side fault: 2 prove the guest runs; a hog's baseline needs more. */
const HOST_FAULT_BASELINE_BEATS = { signal: 2, hog: 8 } as const;

/** Every duration of one run, already multiplied by the backend's timeout scale. */
export interface RunTimeouts {
  runMs: number;
  bootMs: number;
  observeMs: number;
  controlObserveMs: number;
  heartbeatLossMs: number;
  graceMs: number;
  probeMs: number;
}

export interface RunPlan {
  /** Start from a saved guest instead of booting (a Snapshotter backend); null or absent: boot. */
  snapshot?: SnapshotSource | null;
  backend: Backend;
  image: BuiltImage;
  fault: FaultName;
  trigger: TriggerConfig;
  nonce: string;
  runTag: string;
  memoryMb: number;
  heartbeatMs: number;
  kernelArgs: string[];
  timeouts: RunTimeouts;
  thresholds: ProbeThresholds;
  /** Test hooks at lifecycle points (e.g. load the host just before the after-probe). */
  hooks?: { beforeAfterProbe?: () => Promise<void> };
  /** Healthy enclaves of the same backend run beside this one, their heartbeats watched (default 0). */
  bystanders?: number;
  /** The worker's previous after-probe, reused as this run's baseline while fresh and healthy. */
  probeChain?: ProbeChain;
}

/** What one run produced: the verdict, its evidence, timings and the raw console. */
export interface RunResult {
  verdict: Verdict;
  evidence: RunEvidence;
  bootMs: number | null;
  detectionMs: number | null;
  runMs: number;
  console: { data: Buffer; truncated: boolean };
  controlEvents: { name: string; atMs: number }[];
  startedAt: Date;
  finishedAt: Date;
}

/**
 * One run: baseline probes → boot → wait READY → inject → observe → stop → after probes → verdict
 * (DESIGN.md §3). Every wait has a deadline under the run's own; infrastructure failures become
 * `infra-error` evidence, never an exception out of here (except the caller's own abort).
 */
export async function runOne(plan: RunPlan, parent: AbortSignal): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const signal = deadline(parent, plan.timeouts.runMs);
  const fault = FAULTS[plan.fault];
  // A fault its guest's watchdog reports only after heartbeats stop gets that long before "heartbeat lost".
  const heartbeatLossMs = Math.max(
    plan.timeouts.heartbeatLossMs,
    (faultSpec(plan.fault).heartbeatLossMinMs ?? 0) * plan.backend.timeoutScale,
  );
  const monitor = new RunMonitor(plan.nonce, heartbeatLossMs, faultSpec(plan.fault).childEnd ?? null);
  const beats = new HeartbeatLog(monitor);
  const hostAction = faultSpec(plan.fault).host ?? null;
  let hostFault: ActiveHostFault | null = null;
  let bystanders: Bystanders | null = null;
  let windows: { baseline: [number, number]; fault: [number, number] } | null = null;
  let bystanderEvidence: BystanderEvidence[] | undefined;
  const workDir = await mkdtemp(join(tmpdir(), "ezone-run-"));
  let infraError: string | null = null;
  let stopReason: StopReason = "observe-deadline";
  let exitAtStop: EnclaveExit = { kind: "running" };
  let probes: ProbeFinding[] = [];
  let injectedAt: number | null = null;
  let enclave: Enclave | null = null;
  let before: HostProbes | null = null;
  const marks: Marks = {};
  const probeSignal = () => deadline(signal, plan.timeouts.probeMs);
  // Nothing carrying this run's tag can be older than this (one tick of rounding to spare).
  const startedSince = clockTicksNow() - 1;
  try {
    const chained = plan.probeChain?.take();
    before =
      chained && !judgeBaseline(chained, plan.thresholds)
        ? chained
        : await probeHost({ runTag: plan.runTag, signal: probeSignal(), startedSince });
    const unhealthy = judgeBaseline(before, plan.thresholds);
    marks.baselineDone = performance.now();
    if (unhealthy) throw new InfraError("probe.baseline", `host unhealthy before the run: ${unhealthy}`);

    // From a snapshot the kernel command line is the saved one: a timed fault is sent after the restore
    // instead, so its delay counts from the restore, not from the original boot.
    const arm: BootArm | null =
      plan.fault !== "none" && plan.trigger.mode === "boot-delay" && !hostAction && !plan.snapshot
        ? { fault: plan.fault, nonce: plan.nonce, delayMs: Math.round(plan.trigger.delaySeconds * 1000) }
        : null;
    const snapshot = plan.snapshot ? await plan.snapshot.get(signal) : null;
    const spec: EnclaveSpec = {
      ...enclaveSpec(plan, workDir),
      arm,
      restoreFrom: snapshot?.dir,
      keepSpare: plan.snapshot?.keepSpare,
    };
    if ((plan.bystanders ?? 0) > 0) {
      bystanders = await Bystanders.start(
        plan.bystanders ?? 0,
        plan.backend,
        { ...spec, restoreFrom: undefined },
        plan.timeouts.heartbeatLossMs,
        signal,
      );
    }
    try {
      monitor.markStart();
      marks.spawned = monitor.state.startedAt;
      enclave = await plan.backend.start(spec, beats.sink, signal);
    } catch (e) {
      throw e instanceof InfraError ? e : new InfraError("spawn.vmm", (e as Error).message, { cause: e });
    }

    killPoint("run.booted");
    if (plan.snapshot) await resumeRestored(monitor, enclave, plan, signal);
    await step(monitor, signal, {
      reason: `wait.ready: no READY from the agent within ${plan.timeouts.bootMs} ms`,
      until: (s) => s.readyAt !== null || s.exit !== null,
      timeoutMs: plan.timeouts.bootMs,
    });
    if (monitor.state.readyAt === null) {
      const s = monitor.state;
      // A saved guest that does not come back is not trusted again: the next attempt saves a new one.
      if (plan.snapshot) await plan.snapshot.invalidate();
      throw new InfraError(
        "wait.ready",
        `enclave ended before READY (${JSON.stringify(s.exit)}): ${s.stderr.trim().slice(0, 500) || "no stderr"}`,
      );
    }

    await bystanders?.waitReady(plan.timeouts.bootMs, signal);

    if (hostAction) {
      // Zone 2: ezone acts on the host once the guest is seen heartbeating (a hog's baseline needs more).
      const baselineBeats = HOST_FAULT_BASELINE_BEATS[hostAction.kind === "signal" ? "signal" : "hog"];
      await step(monitor, signal, {
        reason: `baseline: ${baselineBeats} heartbeats before the host-side fault`,
        until: (st) => st.heartbeats >= baselineBeats || st.exit !== null,
        timeoutMs: plan.timeouts.bootMs,
      });
      hostFault = await injectHostFault(hostAction, enclave, {
        runTag: plan.runTag,
        signal: deadline(signal, plan.timeouts.observeMs),
      });
      injectedAt = hostFault.at;
      killPoint("run.injected");
    } else if (plan.fault !== "none" && (plan.trigger.mode === "command" || plan.snapshot)) {
      enclave.send(
        `INJECT ${plan.fault} nonce=${plan.nonce} delay_ms=${Math.round(plan.trigger.delaySeconds * 1000)}`,
      );
      injectedAt = performance.now();
      killPoint("run.injected");
    }

    // Zone 4: a heartbeat stall is an effect to record, not the end: the agent may resume once its child ends.
    const userFault = fault.zone === 4;
    const userFaultEnded = (s: typeof monitor.state) =>
      userFault && s.proofAt !== null && s.hbAfterFault >= 2;
    const guestDown = (s: typeof monitor.state) =>
      s.panicEventAt !== null ||
      s.exit !== null ||
      (s.heartbeatLostAt !== null && !userFault) ||
      (s.crash?.panic ?? false);
    const observeMs =
      plan.fault === "none"
        ? plan.timeouts.controlObserveMs
        : hostFault && !hostFault.evidence.delivered
          ? 0 // nothing was done to the host: nothing to watch
          : hostFault?.holdMs
            ? hostFault.holdMs
            : Math.max(
                plan.timeouts.observeMs,
                (faultSpec(plan.fault).observeMinMs ?? 0) * plan.backend.timeoutScale,
              ) +
              (plan.trigger.delaySeconds ?? 0) * 1000;
    const settled = await step(monitor, signal, {
      reason: `observe: nothing decisive within ${observeMs} ms`,
      until: (s) => guestDown(s) || userFaultEnded(s) || (s.injectFailed !== null && s.hbAfterFault >= 2),
      timeoutMs: observeMs,
    });
    marks.settled = performance.now();
    await hostFault?.stop();
    const s = monitor.state;
    // Heartbeat windows: before the fault, and from the fault (or READY for a control) to now.
    const readyAt = s.readyAt ?? performance.now();
    const faultFrom = hostFault?.startedAt ?? s.proofAt ?? injectedAt ?? readyAt;
    windows = { baseline: [readyAt, faultFrom], fault: [faultFrom, performance.now()] };
    bystanderEvidence = bystanders?.evidence(plan.heartbeatMs, windows.baseline, windows.fault);
    stopReason = !settled
      ? "observe-deadline"
      : s.panicEventAt !== null || s.crash?.panic
        ? "guest-panic"
        : s.exit !== null
          ? "enclave-exit"
          : userFaultEnded(s)
            ? "fault-ended"
            : s.heartbeatLostAt !== null
              ? "heartbeat-loss"
              : "observe-deadline";
    // Keep reading briefly so the oops's trailing lines and the VMM's exit are captured.
    if (settled && s.exit === null && plan.fault !== "none" && !userFaultEnded(s)) {
      await step(monitor, signal, {
        reason: "grace",
        until: (st) => st.exit !== null,
        timeoutMs: plan.timeouts.graceMs,
      });
    }
    exitAtStop = monitor.state.exit ?? { kind: "running" };
  } catch (e) {
    if (parent.aborted) throw e;
    infraError = e instanceof InfraError ? e.message : `run: ${(e as Error).message}`;
    if (signal.aborted && !parent.aborted)
      infraError = `run deadline of ${plan.timeouts.runMs} ms passed: ${infraError}`;
  } finally {
    await hostFault?.stop();
    await bystanders?.stop();
    if (enclave) await enclave.stop();
    marks.stopped = performance.now();
    monitor[Symbol.dispose]();
    await rm(workDir, { recursive: true, force: true });
  }

  if (infraError === null && before) {
    try {
      await plan.hooks?.beforeAfterProbe?.();
      const after = await probeHost({
        runTag: plan.runTag,
        alsoTags: enclave?.tag && enclave.tag !== plan.runTag ? [enclave.tag] : [],
        alsoPids: enclave ? [enclave.pid] : [],
        startedSince,
        signal: probeSignal(),
        kmsgCursor: kmsgCursorOf(before),
      });
      probes = compareProbes(before, after, plan.thresholds, isOopsLine);
      plan.probeChain?.keep(after);
      marks.afterProbeDone = performance.now();
    } catch (e) {
      if (parent.aborted) throw e;
      infraError = `probe.after: ${(e as Error).message}`;
    }
  }
  return finish(plan, monitor, {
    marks,
    infraError,
    stopReason,
    exitAtStop,
    probes,
    injectedAt,
    t0,
    startedAt,
    faultZone: fault.zone,
    host: hostFault && {
      evidence: hostFault.evidence,
      at: hostFault.at,
      timing: windows && heartbeatTiming(beats.arrivals, plan.heartbeatMs, windows.baseline, windows.fault),
      beatsAfter: hostFault.at === null ? 0 : beats.countBetween(hostFault.at, Number.POSITIVE_INFINITY),
    },
    bystanders: bystanderEvidence,
  });
}

/** Host times (performance.now) of the lifecycle's steps, for `phases`. */
interface Marks {
  baselineDone?: number;
  spawned?: number;
  /** The observation ended: ezone knew the guest was down, the fault ended, or the deadline passed. */
  settled?: number;
  stopped?: number;
  afterProbeDone?: number;
}

/** Where a run's time went, from its marks and the monitor's times; steps that did not happen are left out. */
function phasesOf(m: Marks, t0: number, s: RunMonitor["state"]): Record<string, number> {
  const resumedAt = s.controlEvents.find((e) => e.name === "RESUME")?.at ?? null;
  const span = (from: number | null | undefined, to: number | null | undefined) =>
    from != null && to != null ? Math.round(to - from) : null;
  const phases: Record<string, number | null> = {
    baselineProbe: span(t0, m.baselineDone),
    prepare: span(m.baselineDone, m.spawned),
    spawnToResume: span(m.spawned, resumedAt),
    spawnToReady: span(m.spawned, s.readyAt),
    readyToProof: span(s.readyAt, s.proofAt),
    // The first sign of a panic reaching the host (its console line or pvpanic's QMP event) → verdict.
    panicSeenToVerdict: span(firstOf(s.panicLineAt, s.panicEventAt), m.settled),
    readyToStopped: span(s.readyAt, m.stopped),
    afterProbe: span(m.stopped, m.afterProbeDone),
  };
  return Object.fromEntries(Object.entries(phases).filter((e): e is [string, number] => e[1] !== null));
}

function firstOf(...times: (number | null)[]): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.min(...known) : null;
}

/** The enclave a plan boots (no arming, no restore): also what a snapshot for the plan is made of. */
export function enclaveSpec(plan: RunPlan, workDir: string): EnclaveSpec {
  return {
    image: plan.image,
    memoryMb: plan.memoryMb,
    heartbeatMs: plan.heartbeatMs,
    kernelArgs: faultKernelArgs(plan.kernelArgs, plan.fault),
    arm: null,
    runTag: plan.runTag,
    workDir,
  };
}

/**
 * A restored guest is a clone: once QEMU has loaded the state and resumed the CPUs (QMP RESUME), tell the
 * agent which run this is (its seed is mixed into the guest RNG, the heartbeat restarts at 0); it then
 * answers READY like a fresh boot.
 */
async function resumeRestored(
  monitor: RunMonitor,
  enclave: Enclave,
  plan: RunPlan,
  signal: AbortSignal,
): Promise<void> {
  const resumed = await step(monitor, signal, {
    reason: "restore: QEMU did not resume the saved guest",
    until: (s) => s.controlEvents.some((e) => e.name === "RESUME") || s.exit !== null,
    timeoutMs: plan.timeouts.bootMs,
  });
  if (resumed && monitor.state.exit === null) enclave.send(`RESUME seed=${plan.nonce}`);
}

/** Wait for a condition; false (not an exception) when its deadline passed, rethrow the parent's abort. */
async function step(monitor: RunMonitor, signal: AbortSignal, w: Wait): Promise<boolean> {
  try {
    await monitor.wait(w, signal);
    return true;
  } catch (e) {
    if (e instanceof WaitTimeout) return false;
    throw e;
  }
}

function finish(
  plan: RunPlan,
  monitor: RunMonitor,
  r: {
    marks: Marks;
    infraError: string | null;
    stopReason: StopReason;
    exitAtStop: EnclaveExit;
    probes: ProbeFinding[];
    injectedAt: number | null;
    t0: number;
    startedAt: Date;
    faultZone: 1 | 2 | 3 | 4;
    host: {
      evidence: RunEvidence["hostInjection"];
      at: number | null;
      timing: RunEvidence["heartbeatTiming"];
      beatsAfter: number;
    } | null;
    bystanders: BystanderEvidence[] | undefined;
  },
): RunResult {
  const s = monitor.state;
  // A host-side fault's proof is ezone's own record of it; the guest-side one is the fault's printk.
  const proofAt = s.proofAt ?? r.host?.at ?? null;
  const crash = s.crash
    ? { title: s.crash.title, crashClass: s.crash.crashClass, panic: s.crash.panic }
    : null;
  const evidence: RunEvidence = {
    fault: plan.fault,
    zone: r.faultZone,
    infraError: r.infraError,
    ready: s.readyAt !== null,
    agentFired: s.firedAt !== null,
    injectFailed: s.injectFailed,
    proof: proofAt !== null,
    guestCrash: crash,
    panicEvent: s.panicEventAt !== null,
    panicChannel: plan.backend.panicChannel,
    panicEventDelayMs:
      s.panicLineAt !== null && s.panicEventAt !== null ? Math.round(s.panicEventAt - s.panicLineAt) : null,
    faultPanics: faultSpec(plan.fault).panics === true,
    heartbeatsAfterFault: plan.fault === "none" ? null : r.host ? r.host.beatsAfter : s.hbAfterFault,
    heartbeatLost: s.heartbeatLostAt !== null,
    exit: r.exitAtStop,
    stopReason: r.stopReason,
    probes: r.probes,
    ...(r.host ? { hostInjection: r.host.evidence, heartbeatTiming: r.host.timing } : {}),
    ...(r.bystanders ? { bystanders: r.bystanders } : {}),
    phases: phasesOf(r.marks, r.t0, s),
  };
  // Detection = ezone knows the guest is down: panic line, pvpanic event, VMM exit or heartbeat loss.
  const detectedAt = [s.panicLineAt, s.panicEventAt, s.exitAt, s.heartbeatLostAt]
    .filter((x): x is number => x !== null)
    .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  // Zone 4 has nothing to detect: the guest is meant to survive, and its VMM exits only when ezone stops it.
  // Nor has a run that ran to its observation deadline (a hog beside a healthy guest): its exit is ezone's.
  const detectionMs =
    proofAt !== null &&
    Number.isFinite(detectedAt) &&
    r.faultZone !== 4 &&
    r.stopReason !== "observe-deadline"
      ? Math.max(0, detectedAt - proofAt)
      : null;
  return {
    verdict: decideOutcome(evidence),
    evidence,
    bootMs: s.readyAt !== null ? s.readyAt - s.startedAt : null,
    detectionMs,
    runMs: performance.now() - r.t0,
    console: monitor.console(),
    controlEvents: s.controlEvents.map((c) => ({ name: c.name, atMs: c.at - s.startedAt })),
    startedAt: r.startedAt,
    finishedAt: new Date(),
  };
}
