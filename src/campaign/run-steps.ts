import { type BootArm, type EnclaveSpec, isHostKernelInjector } from "../backends/backend.js";
import { isDisposableHostEnclave } from "../backends/disposable-host/dh-enclave.js";
import { compareDhProbes } from "../backends/disposable-host/dh-probes.js";
import { injectArgs } from "../backends/links/cell-network.js";
import { raceDeadline } from "../backends/qemu/qmp.js";
import { faultModule, faultSpec } from "../faults/catalogue.js";
import { judgeBaseline } from "../host/baseline-health.js";
import { compareProbes } from "../host/compare.js";
import { kmsgCursorOf, probeHost } from "../host/probes.js";
import { hangWindowMs } from "../model/soft-error.js";
import { isOopsLine } from "../monitor/oops-patterns.js";
import { type MonitorState, type RunMonitor, type Wait, WaitTimeout } from "../monitor/run-monitor.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import { killPoint } from "../util/kill-point.js";
import { flip, flipSettled, golden } from "./bit-flip.js";
import { BootError, consoleTail, notReadyFailure } from "./boot-failure.js";
import { Bystanders } from "./bystanders.js";
import { ComposedCell } from "./composed.js";
import { openDressing } from "./enclave-dressing.js";
import { injectHostFault } from "./host-inject.js";
import { DhWatch, dhEvidence, hostFaultSettled } from "./host-watch.js";
import {
  exitAtStop,
  heartbeatWindows,
  observationDecided,
  observeWindowMs,
  stopReasonOf,
  wantsGrace,
} from "./observation.js";
import { enclaveSpec } from "./run-plan.js";
import type { RunState, RunStep } from "./run-state.js";

/** How long a disposable host that stopped answering gets to end (QEMU exits ms after a panic). */
const HOST_END_MS = 5_000;

/** The enclave's heartbeats after a zone-1 module said it is done: it came through, or it did not. */
const BEATS_AFTER_HOST_FAULT = 2;

/** Heartbeats seen before a host-side fault: 2 prove the guest runs; a hog's baseline needs more. */
const HOST_FAULT_BASELINE_BEATS = { signal: 2, hog: 8 } as const;

export type { RunStep } from "./run-state.js";

const probeSignal = (st: RunState) => deadline(st.signal, st.plan.timeouts.probeMs);
const hostProbeOf = (st: RunState) => st.plan.hostProbe ?? probeHost;

/** Host probes before the run (the worker's previous after-probe while fresh and healthy). */
export const baseline: RunStep = {
  name: "baseline",
  async run(st) {
    const { plan } = st;
    const chained = plan.probeChain?.take();
    st.before =
      chained && !judgeBaseline(chained, plan.thresholds)
        ? chained
        : await hostProbeOf(st)({
            runTag: plan.runTag,
            signal: probeSignal(st),
            startedSince: st.startedSince,
          });
    const unhealthy = judgeBaseline(st.before, plan.thresholds);
    st.marks.baselineDone = performance.now();
    if (unhealthy) throw new InfraError("probe.baseline", unhealthy);
  },
};

/** Start the bystanders, a composed cell's peers and network, and the enclave (booted, or restored). */
export const start: RunStep = {
  name: "start",
  async run(st) {
    const { plan } = st;
    const snapshot = plan.snapshot ? await plan.snapshot.get(st.signal) : null;
    const spec: EnclaveSpec = {
      ...enclaveSpec(plan, st.workDir),
      arm: bootArm(st),
      restoreFrom: snapshot?.dir,
      keepSpare: plan.snapshot?.keepSpare,
    };
    // Registered before the enclaves, so released after them: cgroups outlive their processes.
    const dressing = st.resources.use(await openDressing(st.plan, st.workDir));
    st.dressing = dressing;
    if ((plan.bystanders ?? 0) > 0) {
      st.bystanders = st.resources.use(
        await Bystanders.start(
          plan.bystanders ?? 0,
          plan.backend,
          { ...spec, restoreFrom: undefined },
          plan.timeouts.heartbeatLossMs,
          st.signal,
          (role, s, sink) => dressing.dress(role, s, sink),
        ),
      );
    }
    if (plan.composition) {
      const peerSpec = { ...spec, restoreFrom: undefined, keepSpare: false };
      st.cell = st.resources.use(
        await ComposedCell.start(
          plan.composition,
          peerSpec,
          plan.timeouts.heartbeatLossMs,
          st.signal,
          (role, s, sink) => dressing.dress(role, s, sink),
        ),
      );
    }
    const sink = st.cell?.victimSink(st.beats.sink) ?? st.beats.sink;
    try {
      st.monitor.markStart();
      st.marks.spawned = st.monitor.state.startedAt;
      const victim = await dressing.dress("victim", st.cell?.victimSpec(spec) ?? spec, sink);
      st.enclave = st.resources.use(await plan.backend.start(victim.spec, victim.sink, st.signal));
    } catch (e) {
      throw e instanceof InfraError ? e : new InfraError("spawn.vmm", (e as Error).message, { cause: e });
    }
    if (isDisposableHostEnclave(st.enclave)) {
      const watch = new DhWatch();
      watch.expectProof(plan.nonce);
      st.enclave.watchHost((ev) => watch.onEvent(ev));
      st.hostWatch = watch;
    }
    killPoint("run.booted");
  },
};

/**
 * The fault armed on the kernel command line, if any. From a snapshot the command line is the saved
 * one: a timed fault is sent after the restore instead, so its delay counts from the restore.
 */
function bootArm(st: RunState): BootArm | null {
  const { plan } = st;
  // A composed run's peers are connected after READY: its fault is sent then, its delay counting from there.
  if (
    plan.fault === "none" ||
    plan.trigger.mode !== "boot-delay" ||
    st.hostAction ||
    plan.snapshot ||
    plan.composition
  )
    return null;
  return { fault: plan.fault, nonce: plan.nonce, delayMs: Math.round(plan.trigger.delaySeconds * 1000) };
}

/** Wait for the agent's READY (after the restore's resume), then the bystanders', then connect the peers. */
export const ready: RunStep = {
  name: "ready",
  async run(st) {
    const { plan, monitor } = st;
    if (plan.snapshot) await resumeRestored(st);
    await waitFor(monitor, st.signal, {
      reason: `wait.ready: no READY from the agent within ${plan.timeouts.bootMs} ms`,
      until: (s) => s.readyAt !== null || s.exit !== null,
      timeoutMs: plan.timeouts.bootMs,
    });
    if (monitor.state.readyAt === null) {
      const why = notReadyFailure({
        exit: monitor.state.exit,
        consoleBytes: monitor.consoleBytes,
        tail: consoleTail(monitor.console().data),
        stderr: monitor.state.stderr,
        bootMs: plan.timeouts.bootMs,
      });
      if (plan.snapshot) {
        // A saved guest that does not come back is not trusted again: the next attempt saves a new one.
        // ezone's own cache failed, not the guest's boot: an infra-error.
        await plan.snapshot.invalidate();
        throw new InfraError("wait.ready", `the restored guest never reported READY: ${why.message}`);
      }
      if (why.kind === "boot") throw new BootError("wait.ready", why.message);
      throw new InfraError("wait.ready", why.message);
    }
    await st.bystanders?.waitReady(plan.timeouts.bootMs, st.signal);
    if (st.cell && st.enclave) await st.cell.connect(st.enclave, monitor, plan.timeouts.bootMs, st.signal);
  },
};

/**
 * A restored guest is a clone: once QEMU has loaded the state and resumed the CPUs (QMP RESUME), tell the
 * agent which run this is (its seed is mixed into the guest RNG, the heartbeat restarts at 0); it then
 * answers READY like a fresh boot.
 */
async function resumeRestored(st: RunState): Promise<void> {
  const resumed = await waitFor(st.monitor, st.signal, {
    reason: "restore: QEMU did not resume the saved guest",
    until: (s) => s.controlEvents.some((e) => e.name === "RESUME") || s.exit !== null,
    timeoutMs: st.plan.timeouts.bootMs,
  });
  if (resumed && st.monitor.state.exit === null) st.enclave?.send(`RESUME seed=${st.plan.nonce}`);
}

/** Zone 2: act on the host once the guest heartbeats; otherwise send INJECT unless armed at boot. */
export const inject: RunStep = {
  name: "inject",
  async run(st) {
    const { plan, hostAction, enclave } = st;
    if (!enclave) throw new InfraError("inject", "no enclave to inject into");
    if (hostAction) {
      const baselineBeats = HOST_FAULT_BASELINE_BEATS[hostAction.kind === "signal" ? "signal" : "hog"];
      await waitFor(st.monitor, st.signal, {
        reason: `baseline: ${baselineBeats} heartbeats before the host-side fault`,
        until: (s) => s.heartbeats >= baselineBeats || s.exit !== null,
        timeoutMs: plan.timeouts.bootMs,
      });
      st.hostFault = await injectHostFault(hostAction, enclave, {
        runTag: plan.runTag,
        signal: deadline(st.signal, plan.timeouts.observeMs),
      });
      const hostFault = st.hostFault;
      st.resources.defer(() => hostFault.stop());
      st.injectedAt = hostFault.at;
      killPoint("run.injected");
    } else if (st.zone === 1 && plan.fault !== "none") {
      await injectHostKernel(st);
    } else if (
      plan.fault !== "none" &&
      (plan.trigger.mode === "command" || plan.snapshot || plan.composition)
    ) {
      enclave.send(
        `INJECT ${plan.fault} nonce=${plan.nonce} delay_ms=${Math.round(plan.trigger.delaySeconds * 1000)}${injectArgs(plan.fault, plan.composition?.params)}`,
      );
      st.injectedAt = performance.now();
      killPoint("run.injected");
    }
  },
};

/**
 * Zone 1: once the enclave heartbeats, load the fault module into the kernel of the host it runs on (a
 * disposable host). A refusal is recorded; a module that kills the host at once never answers, which is
 * the fault firing (its proof is its line on the host's console).
 */
async function injectHostKernel(st: RunState): Promise<void> {
  const { plan, enclave } = st;
  if (!enclave || !isHostKernelInjector(enclave))
    throw new InfraError("inject", `zone-1 fault ${plan.fault} needs an enclave in a disposable host`);
  await waitFor(st.monitor, st.signal, {
    reason: `baseline: ${HOST_FAULT_BASELINE_BEATS.signal} heartbeats before the host kernel fault`,
    until: (s) => s.heartbeats >= HOST_FAULT_BASELINE_BEATS.signal || s.exit !== null,
    timeoutMs: plan.timeouts.bootMs,
  });
  st.injectedAt = performance.now();
  killPoint("run.injected");
  const params = `nonce=${plan.nonce} delay_ms=${Math.round(plan.trigger.delaySeconds * 1000)}`;
  st.hostKernelRefused = await enclave.injectHostKernel(
    faultModule(plan.fault),
    params,
    faultSpec(plan.fault).sysctls ?? [],
    deadline(st.signal, plan.timeouts.observeMs),
  );
}

/** Watch until the guest is down, the fault ended, or the window closes; then the grace period. */
export const observe: RunStep = {
  name: "observe",
  async run(st) {
    const { plan, monitor, zone, hostFault } = st;
    const control = plan.fault === "none";
    // A bit flip is watched until its workload ends, or for the hang window the golden run sets.
    const soft = st.golden
      ? hangWindowMs(st.golden.golden, plan.backend.timeoutScale, plan.timeouts.graceMs)
      : null;
    const observeMs =
      soft ??
      observeWindowMs({
        control,
        controlObserveMs: plan.timeouts.controlObserveMs,
        observeMs: plan.timeouts.observeMs,
        observeMinMs: (faultSpec(plan.fault).observeMinMs ?? 0) * plan.backend.timeoutScale,
        delaySeconds: plan.trigger.delaySeconds,
        host: hostFault && { delivered: hostFault.evidence.delivered, holdMs: hostFault.holdMs },
      });
    const flipped = () => plan.fault === "bitflip" && flipSettled(st);
    const hostDone = st.hostWatch ? hostFaultSettled(st.hostWatch, BEATS_AFTER_HOST_FAULT) : () => false;
    const ended = (s: MonitorState) => flipped() || (zone === 1 && hostDone(s));
    const settled = await waitFor(monitor, st.signal, {
      reason: `observe: nothing decisive within ${observeMs} ms`,
      // A zone-1 module the host's kernel refused did nothing to watch for.
      until: (s) => observationDecided(s, zone) || ended(s) || st.hostKernelRefused !== null,
      timeoutMs: observeMs,
    });
    st.marks.settled = performance.now();
    await hostFault?.stop();
    const s = monitor.state;
    st.windows = heartbeatWindows(
      s.readyAt,
      hostFault?.startedAt ?? s.proofAt ?? st.injectedAt,
      performance.now(),
    );
    st.bystanderEvidence = st.bystanders?.evidence(plan.heartbeatMs, st.windows.baseline, st.windows.fault);
    st.stopReason = settled && s.exit === null && ended(s) ? "fault-ended" : stopReasonOf(s, settled, zone);
    // A fault that ended (a flipped workload, a zone-1 module done) has said all it will: no trailing oops lines.
    if (st.stopReason !== "fault-ended" && wantsGrace(s, settled, control, zone)) {
      await waitFor(monitor, st.signal, {
        reason: "grace",
        until: (x) => x.exit !== null,
        timeoutMs: plan.timeouts.graceMs,
      });
    }
    st.exitAtStop = exitAtStop(monitor.state);
  },
};

/**
 * After the victim's observation: watch a composed cell's peers for the plan's window (its crash ended
 * its own observation, its dependents go on failing), then record what each went through from the moment
 * the fault was sent (or the dependents were connected, if later) to now.
 */
export const watchPeers: RunStep = {
  name: "peers",
  async run(st) {
    const { cell, windows } = st;
    if (!cell || !windows) return;
    await cell.watch(st.signal);
    // From the INJECT, not the proof: a zone-4 fault's proof is its child's end (a flood's, a hog's).
    const faultFrom = st.injectedAt ?? windows.fault[0];
    const from = Math.max(faultFrom, cell.connectedAt ?? faultFrom);
    st.peerEvidence = cell.evidence(from, performance.now());
  },
};

/**
 * `guest.syslog`: what came through the host's syslog while the run was observed, taken before ezone
 * stops the enclaves (their stopping is not a violation).
 */
export const collectSyslog: RunStep = {
  name: "syslog.collect",
  async run(st) {
    st.syslog = (await st.dressing?.collect()) ?? null;
  },
};

/**
 * `host: disposable`: probe the disposable host again (before it is thrown away) and compare with its
 * probe before the run; with what its watch saw, that is its evidence.
 */
export const hostAfter: RunStep = {
  name: "dh.after",
  async run(st) {
    const { enclave, hostWatch } = st;
    if (!enclave || !hostWatch || !isDisposableHostEnclave(enclave)) return;
    const after = await enclave.probeHost(probeSignal(st));
    // A host that did not answer may be dying: its console's last lines (the panic) come with its end.
    if (!after.answered) await raceDeadline(deadline(st.signal, HOST_END_MS), [hostWatch.ended]);
    hostWatch.endBeats(performance.now());
    st.disposableHost = dhEvidence(
      hostWatch.seen,
      after.answered,
      st.plan.timeouts.heartbeatLossMs,
      compareDhProbes(enclave.hostBefore, after, st.plan.thresholds),
    );
  },
};

/** Release what the steps started, last first: host fault, enclave, bystanders, monitor, scratch dir. */
export async function stop(st: RunState): Promise<void> {
  await st.resources.disposeAsync();
}

/** Host probes after the run, compared with the baseline; kept as the worker's next baseline. */
export const after: RunStep = {
  name: "after",
  async run(st) {
    const { plan, enclave, before } = st;
    if (!before) return;
    await plan.hooks?.beforeAfterProbe?.();
    const probes = await hostProbeOf(st)({
      runTag: plan.runTag,
      alsoTags: enclave?.tag && enclave.tag !== plan.runTag ? [enclave.tag] : [],
      alsoPids: enclave ? [enclave.pid] : [],
      startedSince: st.startedSince,
      signal: probeSignal(st),
      kmsgCursor: kmsgCursorOf(before),
    });
    st.probes = compareProbes(before, probes, plan.thresholds, isOopsLine);
    plan.probeChain?.keep(probes);
    st.marks.afterProbeDone = performance.now();
  },
};

/** Wait for a condition; false (not an exception) when its deadline passed, rethrow the parent's abort. */
async function waitFor(monitor: RunMonitor, signal: AbortSignal, w: Wait): Promise<boolean> {
  try {
    await monitor.wait(w, signal);
    return true;
  } catch (e) {
    if (e instanceof WaitTimeout) return false;
    throw e;
  }
}

/** Steps from the baseline to the end of the observation; `stop`, `after` and `decide` follow always. */
export const RUN_STEPS: readonly RunStep[] = [
  golden,
  baseline,
  start,
  ready,
  inject,
  flip,
  observe,
  watchPeers,
  collectSyslog,
  hostAfter,
];
