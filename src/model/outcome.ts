import {
  excuseHostProbes,
  MIN_CONTROL_RUNS,
  type Party,
  type PartyEffect,
  partyName,
  peerEffects,
} from "./composition-verdict.js";
import type {
  DisposableHostEvidence,
  EnclaveExit,
  HeartbeatTiming,
  ProbeFinding,
  RunEvidence,
  Verdict,
} from "./outcome-types.js";
import type { SoftErrorEvidence } from "./soft-error.js";

/**
 * Decide a run's outcome from its evidence alone (DESIGN.md §2). Rules are checked in order; the first
 * that applies wins, and its reasons are kept for the report. When the evidence cannot tell, the
 * answer is `unknown`, never a guess.
 */
export function decideOutcome(ev: RunEvidence): Verdict {
  if (ev.infraError) return { outcome: "infra-error", reasons: [ev.infraError] };
  // A guest that cannot boot under a backend is not the host's fault (syzkaller's BootError vs InfraError).
  if (ev.bootError) return { outcome: "boot-error", reasons: [ev.bootError] };
  if (!ev.ready) return { outcome: "infra-error", reasons: ["the guest agent never reported READY"] };

  const dh = ev.disposableHost;
  const unavailable = [
    ...findings(ev.probes, "unavailable", "host probe"),
    ...findings(dh?.probes ?? [], "unavailable", DH_PROBE),
  ];
  if (unavailable.length > 0) return { outcome: "unknown", reasons: unavailable };
  const failed = findings(ev.probes, "failed", "host probe");
  // A composed cell's control runs excuse a host degradation they saw too: it is not blamed on the fault.
  const { blamed, excused } = excuseHostProbes(ev.probes, ev.fault === "none" ? undefined : ev.controlMaxima);
  const degraded = [
    ...blamed.map((p) => `host probe ${p.probe} degraded: ${p.detail}`),
    ...findings(dh?.probes ?? [], "degraded", DH_PROBE),
  ];
  const verdict = decideJudged(ev, failed, degraded);
  return excused.length > 0 ? { ...verdict, reasons: [...verdict.reasons, ...excused] } : verdict;
}

/** The rules after the infrastructure and probe checks: the host's failures and blamed degradations known. */
function decideJudged(ev: RunEvidence, failed: string[], degraded: string[]): Verdict {
  const dhFailed = ev.disposableHost ? disposableHostFailures(ev.disposableHost) : [];
  const proof = hasProof(ev);
  const guestDied = ev.guestCrash !== null || ev.panicEvent;
  const crashText = ev.guestCrash
    ? `guest kernel crashed: ${ev.guestCrash.title}`
    : "guest reported a panic (pvpanic)";

  if (ev.fault === "none") return decideControl(ev, guestDied, [...failed, ...dhFailed], degraded);

  if (failed.length > 0) {
    if (!proof)
      return {
        outcome: "unknown",
        reasons: ["the host failed but there is no proof the fault fired", ...failed],
      };
    return { outcome: "escaped-global", reasons: failed };
  }
  if (dhFailed.length > 0) return decideDisposableHostFailed(ev, proof, dhFailed);

  if (ev.softError) return decideSoftError(ev, ev.softError, guestDied, degraded);

  if (!proof) return decideUnproven(ev, guestDied, crashText);

  const neighbours = decideBystanders(ev, degraded) ?? decideComposed(ev, degraded);
  if (neighbours) return neighbours;
  if (ev.hostInjection) return decideHostFault(ev, ev.hostInjection, guestDied, degraded);

  if (ev.zone === 1) return decideHostKernelFault(ev, guestDied, crashText, degraded);
  if (ev.zone === 4) return decideUserFault(ev, guestDied, crashText, degraded);
  return panicWitnessesDisagree(ev) ?? consoleOnly(ev, decideKernelFault(ev, guestDied, crashText, degraded));
}

/**
 * No proof the fault fired: ezone's own host-side record says why, a guest or enclave that ended anyway
 * is `unknown`, an injection the kernel refused (or that failed) is `not-fired` with the reason.
 */
function decideUnproven(ev: RunEvidence, guestDied: boolean, crashText: string): Verdict {
  if (ev.hostInjection) return { outcome: "not-fired", reasons: [ev.hostInjection.detail] };
  if (guestDied) {
    const witness = ev.panicEvent && ev.panicChannel ? [`${ev.panicChannel} reported a guest panic`] : [];
    return {
      outcome: "unknown",
      reasons: [`${crashText}, but there is no proof the fault fired`, ...witness],
    };
  }
  if (ev.exit.kind === "signaled") {
    return {
      outcome: "unknown",
      reasons: [`enclave killed by ${ev.exit.signal} and no proof the fault fired`],
    };
  }
  if (ev.heartbeatLost && !ev.injectFailed) {
    return {
      outcome: "unknown",
      reasons: ["the guest stopped heartbeating, but there is no proof the fault fired"],
    };
  }
  // An enclave that ended in failure by itself (e.g. exit 137: an OOM killer beneath it) was hit by
  // something, maybe the fault: not a fault that never fired.
  if (ev.exit.kind === "exited" && ev.exit.code !== 0 && !ev.injectFailed) {
    return {
      outcome: "unknown",
      reasons: [`the enclave exited with status ${ev.exit.code} and there is no proof the fault fired`],
    };
  }
  const refused = PRIVILEGE_REFUSED.exec(ev.injectFailed ?? "")?.[1];
  if (refused) {
    return {
      outcome: "not-fired",
      reasons: [
        `the kernel refused the enclave the privilege the fault needs (${PRIVILEGE_ERRNO[refused]}): injection failed: ${ev.injectFailed}`,
      ],
    };
  }
  const why = ev.injectFailed
    ? `injection failed: ${ev.injectFailed}`
    : ev.agentFired
      ? "the agent said FIRED but the fault's own proof never appeared"
      : "the fault was never triggered";
  return { outcome: "not-fired", reasons: [why] };
}

/** Probe findings of one severity as verdict reasons, e.g. "host probe host.taint failed: ...". */
function findings(probes: ProbeFinding[], severity: ProbeFinding["severity"], whose: string): string[] {
  return probes
    .filter((p) => p.severity === severity)
    .map((p) => `${whose} ${p.probe} ${severity}: ${p.detail}`);
}

const DH_PROBE = "disposable host probe";

/**
 * An injection the kernel refused for want of privilege: EPERM (no CAP_SYS_MODULE), EACCES (not the
 * owner of /proc/sysrq-trigger), EROFS (a sandbox's read-only /proc). The agent reports `errno <n>`.
 */
const PRIVILEGE_REFUSED = /\berrno (1|13|30)\b/;
const PRIVILEGE_ERRNO: Readonly<Record<string, string>> = { 1: "EPERM", 13: "EACCES", 30: "EROFS" };

/**
 * The fault's proof: its own line on the enclave's console or, in a disposable host, the module's line
 * on that host's console. A zone-1 module prints there, and so does a zone-3 module loaded from inside
 * a shared-kernel enclave (native, container), whose kernel is the disposable host's.
 */
export function hasProof(ev: RunEvidence): boolean {
  return ev.proof || ev.disposableHost?.proof === true;
}

/** How the disposable host failed, each as a reason: its kernel, its VM process, its heartbeat, its probes. */
function disposableHostFailures(dh: DisposableHostEvidence): string[] {
  const what: string[] = [];
  if (dh.panicked || dh.crash?.panic) {
    what.push(`the disposable host's kernel panicked: ${dh.crash?.title ?? "its panic channel reported it"}`);
  } else if (dh.crash) {
    what.push(`the disposable host's kernel reported ${dh.crash.title}`);
  }
  if (!dh.alive) {
    what.push(
      dh.exit.kind === "running"
        ? "the disposable host's agent did not answer after the run"
        : `the disposable host died: its VM ${describeExitOf(dh.exit)}`,
    );
  }
  if (dh.heartbeatLost) what.push("the disposable host's agent stopped heartbeating");
  return [...what, ...findings(dh.probes, "failed", DH_PROBE)];
}

/**
 * The disposable host (the node, with every enclave on it) failed: with proof the fault fired, that is
 * the fault reaching the host (`escaped-global`), whatever its zone; a shared-kernel enclave's zone-3
 * fault says why (its kernel is the host's). Without proof nothing ties the failure to the fault.
 */
function decideDisposableHostFailed(ev: RunEvidence, proof: boolean, dhFailed: string[]): Verdict {
  if (!proof) {
    return {
      outcome: "unknown",
      reasons: ["the disposable host failed but there is no proof the fault fired", ...dhFailed],
    };
  }
  const sharedKernel =
    ev.zone === 3 && !ev.proof
      ? [
          "the enclave's kernel is the disposable host's: a guest-kernel fault is a host-kernel fault (zone 3 ≡ zone 1)",
        ]
      : [];
  return { outcome: "escaped-global", reasons: [...dhFailed, ...sharedKernel] };
}

/**
 * Zone 1 with proof (the module's line on the disposable host's console), the disposable host alive and
 * healthy: the verdict names what beside the fault was affected. The enclave dying is the fault reaching
 * another party (`escaped-global`); its heartbeat stalling or degrading, or a probe degrading, is
 * `contained-varied`; nothing measurable is `no-effect`.
 */
function decideHostKernelFault(
  ev: RunEvidence,
  guestDied: boolean,
  crashText: string,
  degraded: string[],
): Verdict {
  // What the module and the OOM killer said follows, so a verdict shows what the fault did (780 MiB leaked).
  const said = (ev.disposableHost?.faultReport ?? []).map((l) => `the disposable host's kernel: ${l}`);
  const fired = ["the disposable host's kernel ran the fault and survived", ...said];
  if (guestDied || ev.exit.kind !== "running") {
    const how = guestDied ? crashText : `its process ${describeExit(ev)}`;
    return { outcome: "escaped-global", reasons: [`the enclave beside it died: ${how}`, ...fired] };
  }
  const timing = ev.heartbeatTiming ?? null;
  if (ev.heartbeatLost) {
    return varied(ENCLAVE, "its heartbeat stopped for the heartbeat-loss interval, and it survived", [
      ...fired,
      ...degraded,
    ]);
  }
  if (timing?.degraded === true)
    return varied(ENCLAVE, `its heartbeat degraded: ${heartbeatGaps(timing)}`, [...fired, ...degraded]);
  const [first, ...more] = degraded;
  if (first !== undefined) return varied(HOST, first, [...fired, ...more]);
  return {
    outcome: "no-effect",
    reasons: [...fired, "the enclave beside it kept heartbeating and every probe passed"],
  };
}

/**
 * A bit flip, with its class against the golden run. The proof is the flip read back through the
 * gdbstub. Benign is `no-effect`; a wrong digest, a signal or a hang of the workload alone stays in its
 * process; a flip in the workload (zone 4) that takes the guest kernel down or stops its heartbeat goes
 * beyond, while for a flip in the guest kernel (zone 3) that is its own scope, the guest.
 */
function decideSoftError(
  ev: RunEvidence,
  soft: SoftErrorEvidence,
  guestDied: boolean,
  degraded: string[],
): Verdict {
  const flip = soft.flip;
  if (!ev.proof || !flip) {
    const why = flip
      ? `the flip at ${flip.where} read back ${flip.readBack}, not the ${flip.written} written`
      : "no flip was placed";
    return { outcome: "not-fired", reasons: [why] };
  }
  const placed = `flipped ${flip.where} (${flip.old} → ${flip.readBack})`;
  if (soft.class === null) return { outcome: "unknown", reasons: [placed, soft.reason] };
  const what = `${soft.class}: ${soft.reason}`;
  if (guestDied || (soft.class === "hang" && ev.heartbeatLost)) {
    if (ev.zone === 3) return contained([placed, what, "the guest kernel, the flip's own scope"], degraded);
    return varied(VICTIM_GUEST, `${what}: beyond the workload's process`, [placed, ...degraded]);
  }
  if (soft.class === "benign") return { outcome: "no-effect", reasons: [placed, what, ...degraded] };
  return contained([placed, what], degraded);
}

/** The longest a second channel's panic event may trail the console's panic line and still agree with it. */
export const PANIC_AGREEMENT_MS = 1000;

/**
 * A fault that panics, on a backend with a panic channel beside the console (QEMU's pvpanic): the console's
 * proof is trusted only when that channel saw the panic too, within PANIC_AGREEMENT_MS of the console's
 * panic line. A guest's user space can print the proof and the panic text; it cannot make QEMU see a panic
 * without one (unless it is root and writes pvpanic's port itself). Null: they agree, or nothing to check.
 */
function panicWitnessesDisagree(ev: RunEvidence): Verdict | null {
  if (ev.zone !== 3 || !ev.faultPanics || ev.panicChannel === null) return null;
  const late = ev.panicEventDelayMs !== null && ev.panicEventDelayMs > PANIC_AGREEMENT_MS;
  if (ev.panicEvent && !late) return null;
  const console = ev.guestCrash?.panic
    ? `the console shows the fault's proof and a kernel panic (${ev.guestCrash.title})`
    : "the console shows the fault's proof but no kernel panic";
  const channel = ev.panicEvent
    ? `${ev.panicChannel} reported the panic ${ev.panicEventDelayMs} ms after the console's panic line (more than ${PANIC_AGREEMENT_MS} ms)`
    : `${ev.panicChannel} reported no panic; the enclave ${describeExit(ev)}`;
  return { outcome: "unknown", reasons: [console, channel, "the two witnesses disagree"] };
}

/** Where the console is the only witness of a panicking fault, the verdict says so. */
function consoleOnly(ev: RunEvidence, verdict: Verdict): Verdict {
  if (!ev.faultPanics || ev.panicChannel !== null || verdict.outcome === "unknown") return verdict;
  return {
    ...verdict,
    reasons: [
      ...verdict.reasons,
      "the proof and the panic came from the console only: this backend has no second panic channel",
    ],
  };
}

/** With proof: the run is contained (limited), or varied when the host degraded. */
function contained(what: string[], degraded: string[]): Verdict {
  const [first, ...more] = degraded;
  if (first !== undefined) return varied(HOST, first, [...what, ...more]);
  return { outcome: "contained-limited", reasons: [...what, "every host probe passed"] };
}

const HOST: Party = { kind: "host" };
const VICTIM_GUEST: Party = { kind: "victim-guest" };
const ENCLAVE: Party = { kind: "enclave" };

/**
 * The only way to a `contained-varied` verdict: its first reason names the party that was affected and
 * the figure ("peer b: 14 failed requests (controls max 0)"), so "varied" never stands without a who.
 */
function varied(party: Party, figure: string, more: string[]): Verdict {
  return { outcome: "contained-varied", reasons: [`${partyName(party)}: ${figure}`, ...more] };
}

/** Several effects: the first decides the verdict's party, the others follow it as reasons. */
function variedBy(effects: [PartyEffect, ...PartyEffect[]], more: string[]): Verdict {
  const [first, ...rest] = effects;
  return varied(first.party, first.figure, [
    ...rest.map((e) => `${partyName(e.party)}: ${e.figure}`),
    ...more,
  ]);
}

/**
 * A composed cell's fault run (it carries its cell's control maxima): judged only against at least
 * MIN_CONTROL_RUNS finished control runs of the same cell and toggle. A peer that died is an escape, as a
 * bystander's death is (DESIGN §2: another enclave failed); a surviving peer whose heartbeat gap or
 * request failures stand out from the controls is a varied effect naming it. Null: nothing to say of the
 * peers, the victim's own verdict follows.
 */
function decideComposed(ev: RunEvidence, degraded: string[]): Verdict | null {
  if (ev.controlMaxima === undefined && ev.peers === undefined) return null;
  const runs = ev.controlMaxima?.runs ?? 0;
  if (ev.controlMaxima === undefined || runs < MIN_CONTROL_RUNS) {
    return {
      outcome: "unknown",
      reasons: [
        `only ${runs} finished control runs of this cell and toggle: ${MIN_CONTROL_RUNS} are needed to judge its peers`,
      ],
    };
  }
  if (ev.peers === undefined)
    return { outcome: "unknown", reasons: ["the composed run recorded nothing of its peers"] };
  const dead = ev.peers.filter((p) => p.died);
  if (dead.length > 0) {
    return {
      outcome: "escaped-global",
      reasons: dead.map((p) => `peer ${p.name} (${p.backend}) died while the fault ran`),
    };
  }
  const [first, ...rest] = peerEffects(ev.peers, ev.controlMaxima);
  return first ? variedBy([first, ...rest], degraded) : null;
}

/**
 * Zone 3, with proof (the fault's printk): its scope is the guest. The guest crashing, panicking or
 * hanging is the fault staying in its zone; an oops the guest survives is too. Still heartbeating with
 * no report is `no-effect`.
 */
function decideKernelFault(
  ev: RunEvidence,
  guestDied: boolean,
  crashText: string,
  degraded: string[],
): Verdict {
  if (ev.exit.kind === "signaled" && !guestDied) {
    return { outcome: "unknown", reasons: [`enclave killed by ${ev.exit.signal} with no guest panic`] };
  }
  const hbAfter = ev.heartbeatsAfterFault ?? 0;
  const ended = ev.exit.kind === "running" ? [] : [`the enclave ${describeExit(ev)}`];
  if (ev.guestCrash && !ev.guestCrash.panic && !ev.panicEvent && hbAfter > 0 && ev.exit.kind === "running") {
    return contained([`guest kernel reported ${ev.guestCrash.title} and kept running`], degraded);
  }
  if (guestDied) return contained([crashText, ...ended], degraded);
  if (ev.heartbeatLost)
    return contained(["guest heartbeat lost (hang), no crash report", ...ended], degraded);
  if (hbAfter > 0 && ev.exit.kind === "running") {
    return {
      outcome: "no-effect",
      reasons: ["the fault fired and the guest kept heartbeating", ...degraded],
    };
  }
  return {
    outcome: "unknown",
    reasons: [
      `fault fired; no crash, no heartbeat after it, enclave ${describeExit(ev)}; stopped by ${ev.stopReason}`,
    ],
  };
}

/**
 * Zone 4, with proof (the agent saw the fault's child end as expected): its scope is that process. The
 * agent heartbeating after it is contained; a heartbeat that stalled meanwhile is a varied effect on a
 * neighbour process; the guest kernel going down or the guest never heartbeating again went beyond it.
 */
function decideUserFault(
  ev: RunEvidence,
  guestDied: boolean,
  crashText: string,
  degraded: string[],
): Verdict {
  if (guestDied)
    return varied(
      VICTIM_GUEST,
      `a guest user-space fault took the guest kernel down: ${crashText}`,
      degraded,
    );
  if (ev.exit.kind !== "running") {
    return {
      outcome: "unknown",
      reasons: [`the enclave ${describeExit(ev)} after a guest user-space fault, with no guest crash report`],
    };
  }
  const hbAfter = ev.heartbeatsAfterFault ?? 0;
  if (hbAfter === 0) {
    const figure = "never heartbeated again after a user-space fault (the agent or guest hung)";
    return varied(VICTIM_GUEST, figure, degraded);
  }
  if (ev.heartbeatLost) {
    const figure =
      "the agent's heartbeat stopped for the heartbeat-loss interval during the fault, then resumed";
    return varied(VICTIM_GUEST, figure, degraded);
  }
  return contained(["the fault's process ended as expected and the guest kept heartbeating"], degraded);
}

/**
 * Bystanders (healthy enclaves beside the faulty one): one that died is an escape whatever the faulty
 * enclave did; one whose heartbeat stalled but that survived is a varied effect. Null: nothing to say.
 */
function decideBystanders(ev: RunEvidence, degraded: string[]): Verdict | null {
  const dead = (ev.bystanders ?? []).filter((b) => b.died);
  if (dead.length > 0) {
    return {
      outcome: "escaped-global",
      reasons: dead.map(
        (b) => `bystander enclave ${b.index} died (${describeExitOf(b.exit)}) while the fault ran`,
      ),
    };
  }
  const [first, ...rest] = (ev.bystanders ?? [])
    .filter((b) => b.stalled)
    .map(
      (b): PartyEffect => ({
        party: { kind: "bystander", index: b.index },
        figure: `stopped heartbeating for a while (longest gap ${b.timing.faultMaxGapMs} ms) but survived`,
      }),
    );
  return first ? variedBy([first, ...rest], degraded) : null;
}

/**
 * Zone 2 (ezone acted on the host). A signal to the enclave's own host process is contained when that
 * enclave alone ends or hangs; a hog beside the enclave is contained when the enclave survives, varied
 * when its heartbeat degrades or stalls, and an escape when the enclave dies.
 */
function decideHostFault(
  ev: RunEvidence,
  host: NonNullable<RunEvidence["hostInjection"]>,
  guestDied: boolean,
  degraded: string[],
): Verdict {
  const ended = ev.exit.kind !== "running" || guestDied;
  const timing = ev.heartbeatTiming ?? null;
  const gaps = timing ? heartbeatGaps(timing) : "no heartbeat timing";
  if (host.scope === "enclave") {
    if (ended || ev.heartbeatLost) {
      const what = ended
        ? `the enclave ended with its host process: ${guestDied ? "guest panic reported, " : ""}${describeExit(ev)}`
        : "the enclave stopped heartbeating (its host process hangs)";
      return contained([host.detail, what], degraded);
    }
    if (ev.heartbeatsAfterFault !== null && ev.heartbeatsAfterFault > 0) {
      return {
        outcome: "no-effect",
        reasons: [host.detail, "the enclave kept heartbeating after the signal", ...degraded],
      };
    }
    return {
      outcome: "unknown",
      reasons: [host.detail, `no heartbeat after it, enclave ${describeExit(ev)}`],
    };
  }
  if (ended) {
    return {
      outcome: "escaped-global",
      reasons: [host.detail, `the enclave beside the hog died: ${describeExit(ev)}`],
    };
  }
  if (ev.heartbeatLost) {
    const figure = `the enclave's heartbeat stalled while the hog ran, and it survived; ${gaps}`;
    return varied(VICTIM_GUEST, figure, [host.detail, ...degraded]);
  }
  if (timing?.degraded === true)
    return varied(VICTIM_GUEST, `heartbeat degraded: ${gaps}`, [host.detail, ...degraded]);
  if (timing?.degraded !== false) {
    return {
      outcome: "unknown",
      reasons: [host.detail, `heartbeat regularity could not be measured: ${gaps}`],
    };
  }
  const [first, ...more] = degraded;
  if (first !== undefined) return varied(HOST, first, [host.detail, ...more]);
  return { outcome: "no-effect", reasons: [host.detail, `the enclave's heartbeat did not degrade: ${gaps}`] };
}

/** The longest heartbeat silence while a fault ran against the one before it, with the threshold. */
function heartbeatGaps(timing: HeartbeatTiming): string {
  return `longest heartbeat gap ${timing.faultMaxGapMs ?? "-"} ms while it ran vs ${timing.baselineMaxGapMs ?? "-"} ms before (threshold ${timing.thresholdMs ?? "-"} ms)`;
}

function decideControl(ev: RunEvidence, guestDied: boolean, failed: string[], degraded: string[]): Verdict {
  if (failed.length > 0 || degraded.length > 0) {
    return {
      outcome: "unknown",
      reasons: ["the host changed during a control run (no fault)", ...failed, ...degraded],
    };
  }
  const troubled = (ev.bystanders ?? []).filter((b) => b.died || b.stalled);
  if (troubled.length > 0) {
    return {
      outcome: "unknown",
      reasons: troubled.map(
        (b) => `bystander enclave ${b.index} ${b.died ? "died" : "stalled"} during a control run (no fault)`,
      ),
    };
  }
  const deadPeers = (ev.peers ?? []).filter((p) => p.died);
  if (deadPeers.length > 0) {
    return {
      outcome: "unknown",
      reasons: deadPeers.map((p) => `peer ${p.name} (${p.backend}) died during a control run (no fault)`),
    };
  }
  if (guestDied || ev.heartbeatLost || ev.exit.kind !== "running") {
    return {
      outcome: "unknown",
      reasons: [
        `the enclave failed during a control run (no fault): ${describeExit(ev)}, stopped by ${ev.stopReason}`,
      ],
    };
  }
  return { outcome: "no-effect", reasons: ["control run: guest heartbeating and every host probe passed"] };
}

function describeExit(ev: RunEvidence): string {
  return describeExitOf(ev.exit);
}

/** How an enclave's process ended, in words (verdict reasons, `ezone show`). */
export function describeExitOf(exit: EnclaveExit): string {
  switch (exit.kind) {
    case "running":
      return "still running";
    case "exited":
      return `exited with status ${exit.code}`;
    case "signaled":
      return `killed by ${exit.signal}`;
    case "failed-to-start":
      return `failed to start: ${exit.message}`;
  }
}
