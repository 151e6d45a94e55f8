import { faultSpec } from "../faults/catalogue.js";
import { decideOutcome } from "../model/outcome.js";
import type { RunEvidence } from "../model/outcome-types.js";
import { heartbeatTiming } from "../monitor/heartbeat-log.js";
import { softErrorEvidence } from "./bit-flip.js";
import { detectionMsOf, phasesOf } from "./observation.js";
import type { RunResult } from "./run-plan.js";
import type { RunState } from "./run-state.js";

/** The decide step: the run's evidence from its state, the verdict from the pure outcome function. */
export function decide(st: RunState): RunResult {
  const s = st.monitor.state;
  // A host-side fault's proof is ezone's own record of it; the guest-side one is the fault's printk.
  // A bit flip's proof is the flip read back through the gdbstub.
  const flipped = st.flip?.fired ? st.flipAt : null;
  const proofAt = s.proofAt ?? st.hostFault?.at ?? flipped;
  const evidence = evidenceOf(st, proofAt);
  return {
    verdict: decideOutcome(evidence),
    evidence,
    bootMs: s.readyAt !== null ? s.readyAt - s.startedAt : null,
    detectionMs: detectionMsOf(s, proofAt, st.zone, st.stopReason),
    runMs: performance.now() - st.t0,
    console: st.monitor.console(),
    ...(st.hostWatch ? { hostConsole: st.hostWatch.console.contents() } : {}),
    controlEvents: s.controlEvents.map((c) => ({ name: c.name, atMs: c.at - s.startedAt })),
    startedAt: st.startedAt,
    finishedAt: new Date(),
    ...(st.syslog ? { syslog: st.syslog } : {}),
  };
}

function evidenceOf(st: RunState, proofAt: number | null): RunEvidence {
  const { plan, hostFault } = st;
  const s = st.monitor.state;
  const host = hostFault && {
    hostInjection: hostFault.evidence,
    heartbeatTiming:
      st.windows &&
      heartbeatTiming(st.beats.arrivals, plan.heartbeatMs, st.windows.baseline, st.windows.fault),
  };
  const soft = softErrorEvidence(st);
  const hostBeatsAfter =
    hostFault?.at == null ? 0 : st.beats.countBetween(hostFault.at, Number.POSITIVE_INFINITY);
  return {
    fault: plan.fault,
    zone: st.zone,
    infraError: st.failure?.kind === "infra" ? st.failure.message : null,
    ...(st.failure?.kind === "boot" ? { bootError: st.failure.message } : {}),
    ready: s.readyAt !== null,
    agentFired: s.firedAt !== null,
    injectFailed: s.injectFailed ?? st.hostKernelRefused,
    proof: proofAt !== null,
    guestCrash: s.crash
      ? { title: s.crash.title, crashClass: s.crash.crashClass, panic: s.crash.panic }
      : null,
    panicEvent: s.panicEventAt !== null,
    panicChannel: plan.backend.panicChannel,
    panicEventDelayMs:
      s.panicLineAt !== null && s.panicEventAt !== null ? Math.round(s.panicEventAt - s.panicLineAt) : null,
    faultPanics: faultSpec(plan.fault).panics === true,
    heartbeatsAfterFault: plan.fault === "none" ? null : hostFault ? hostBeatsAfter : s.hbAfterFault,
    heartbeatLost: s.heartbeatLostAt !== null,
    exit: st.exitAtStop,
    stopReason: st.stopReason,
    probes: st.probes,
    ...(host ?? {}),
    ...(st.bystanderEvidence ? { bystanders: st.bystanderEvidence } : {}),
    ...(st.peerEvidence ? { peers: st.peerEvidence } : {}),
    ...(soft ? { softError: soft } : {}),
    ...(st.disposableHost ? { disposableHost: st.disposableHost } : {}),
    phases: phasesOf(st.marks, st.t0, s),
  };
}
