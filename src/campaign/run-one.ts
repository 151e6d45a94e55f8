import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, BootArm, Enclave } from "../backends/backend.js";
import { FAULTS, type FaultName } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { judgeBaseline } from "../host/baseline-health.js";
import type { ProbeThresholds } from "../host/compare.js";
import { compareSnapshots } from "../host/compare.js";
import { type HostSnapshot, kmsgCursorOf, takeHostSnapshot } from "../host/snapshot.js";
import { decideOutcome } from "../model/outcome.js";
import type { EnclaveExit, ProbeFinding, RunEvidence, StopReason, Verdict } from "../model/outcome-types.js";
import { isOopsLine } from "../monitor/oops-patterns.js";
import { RunMonitor, type Wait, WaitTimeout } from "../monitor/run-monitor.js";
import { InfraError } from "../util/errors.js";
import { killPoint } from "../util/kill-point.js";
import type { TriggerConfig } from "./schema.js";

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
  const signal = AbortSignal.any([parent, AbortSignal.timeout(plan.timeouts.runMs)]);
  const fault = FAULTS[plan.fault];
  const monitor = new RunMonitor(plan.nonce, plan.timeouts.heartbeatLossMs);
  const workDir = await mkdtemp(join(tmpdir(), "ezone-run-"));
  let infraError: string | null = null;
  let stopReason: StopReason = "observe-deadline";
  let exitAtStop: EnclaveExit = { kind: "running" };
  let probes: ProbeFinding[] = [];
  let injectedAt: number | null = null;
  let enclave: Enclave | null = null;
  let before: HostSnapshot | null = null;
  const probeSignal = () => AbortSignal.any([signal, AbortSignal.timeout(plan.timeouts.probeMs)]);
  try {
    before = await takeHostSnapshot({ runTag: plan.runTag, signal: probeSignal() });
    const unhealthy = judgeBaseline(before, plan.thresholds);
    if (unhealthy) throw new InfraError("probe.baseline", `host unhealthy before the run: ${unhealthy}`);

    const arm: BootArm | null =
      plan.fault !== "none" && plan.trigger.mode === "boot-delay"
        ? { fault: plan.fault, nonce: plan.nonce, delayMs: Math.round(plan.trigger.delaySeconds * 1000) }
        : null;
    try {
      enclave = await plan.backend.start(
        {
          image: plan.image,
          memoryMb: plan.memoryMb,
          heartbeatMs: plan.heartbeatMs,
          kernelArgs: plan.kernelArgs,
          arm,
          runTag: plan.runTag,
          workDir,
        },
        monitor.sink,
        signal,
      );
    } catch (e) {
      throw e instanceof InfraError ? e : new InfraError("spawn.vmm", (e as Error).message, { cause: e });
    }

    killPoint("run.booted");
    await step(monitor, signal, {
      reason: `wait.ready: no READY from the agent within ${plan.timeouts.bootMs} ms`,
      until: (s) => s.readyAt !== null || s.exit !== null,
      timeoutMs: plan.timeouts.bootMs,
    });
    if (monitor.state.readyAt === null) {
      const s = monitor.state;
      throw new InfraError(
        "wait.ready",
        `enclave ended before READY (${JSON.stringify(s.exit)}): ${s.stderr.trim().slice(0, 500) || "no stderr"}`,
      );
    }

    if (plan.fault !== "none" && plan.trigger.mode === "command") {
      enclave.send(
        `INJECT ${plan.fault} nonce=${plan.nonce} delay_ms=${Math.round(plan.trigger.delaySeconds * 1000)}`,
      );
      injectedAt = performance.now();
      killPoint("run.injected");
    }

    const guestDown = (s: typeof monitor.state) =>
      s.panicEventAt !== null || s.exit !== null || s.heartbeatLostAt !== null || (s.crash?.panic ?? false);
    const observeMs =
      plan.fault === "none"
        ? plan.timeouts.controlObserveMs
        : plan.timeouts.observeMs + (plan.trigger.delaySeconds ?? 0) * 1000;
    const settled = await step(monitor, signal, {
      reason: `observe: nothing decisive within ${observeMs} ms`,
      until: (s) => guestDown(s) || (s.injectFailed !== null && s.hbAfterFault >= 2),
      timeoutMs: observeMs,
    });
    const s = monitor.state;
    stopReason = !settled
      ? "observe-deadline"
      : s.panicEventAt !== null || s.crash?.panic
        ? "guest-panic"
        : s.exit !== null
          ? "enclave-exit"
          : s.heartbeatLostAt !== null
            ? "heartbeat-loss"
            : "observe-deadline";
    // Keep reading briefly so the oops's trailing lines and the VMM's exit are captured.
    if (settled && s.exit === null && plan.fault !== "none") {
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
    if (enclave) await enclave.stop();
    monitor[Symbol.dispose]();
    await rm(workDir, { recursive: true, force: true });
  }

  if (infraError === null && before) {
    try {
      await plan.hooks?.beforeAfterProbe?.();
      const after = await takeHostSnapshot({
        runTag: plan.runTag,
        signal: probeSignal(),
        kmsgCursor: kmsgCursorOf(before),
      });
      probes = compareSnapshots(before, after, plan.thresholds, isOopsLine);
    } catch (e) {
      if (parent.aborted) throw e;
      infraError = `probe.after: ${(e as Error).message}`;
    }
  }
  return finish(plan, monitor, {
    infraError,
    stopReason,
    exitAtStop,
    probes,
    injectedAt,
    t0,
    startedAt,
    faultZone: fault.zone,
  });
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
    infraError: string | null;
    stopReason: StopReason;
    exitAtStop: EnclaveExit;
    probes: ProbeFinding[];
    injectedAt: number | null;
    t0: number;
    startedAt: Date;
    faultZone: 1 | 2 | 3 | 4;
  },
): RunResult {
  const s = monitor.state;
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
    proof: s.proofAt !== null,
    guestCrash: crash,
    panicEvent: s.panicEventAt !== null,
    heartbeatsAfterFault: plan.fault === "none" ? null : s.hbAfterFault,
    heartbeatLost: s.heartbeatLostAt !== null,
    exit: r.exitAtStop,
    stopReason: r.stopReason,
    probes: r.probes,
  };
  // Detection = ezone knows the guest is down: panic line, pvpanic event, VMM exit or heartbeat loss.
  const detectedAt = [s.panicLineAt, s.panicEventAt, s.exitAt, s.heartbeatLostAt]
    .filter((x): x is number => x !== null)
    .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  const detectionMs =
    s.proofAt !== null && Number.isFinite(detectedAt) ? Math.max(0, detectedAt - s.proofAt) : null;
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
