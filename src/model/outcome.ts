import type { RunEvidence, Verdict } from "./outcome-types.js";

/**
 * Decide a run's outcome from its evidence alone (DESIGN.md §2). Rules are checked in order; the first
 * that applies wins, and its reasons are kept for the report. When the evidence cannot tell, the
 * answer is `unknown`, never a guess.
 */
export function decideOutcome(ev: RunEvidence): Verdict {
  if (ev.infraError) return { outcome: "infra-error", reasons: [ev.infraError] };
  if (!ev.ready) return { outcome: "infra-error", reasons: ["the guest agent never reported READY"] };

  const unavailable = ev.probes.filter((p) => p.severity === "unavailable");
  if (unavailable.length > 0) {
    return {
      outcome: "unknown",
      reasons: unavailable.map((p) => `host probe ${p.probe} unavailable: ${p.detail}`),
    };
  }
  const failed = ev.probes
    .filter((p) => p.severity === "failed")
    .map((p) => `host probe ${p.probe} failed: ${p.detail}`);
  const degraded = ev.probes
    .filter((p) => p.severity === "degraded")
    .map((p) => `host probe ${p.probe} degraded: ${p.detail}`);
  const guestDied = ev.guestCrash !== null || ev.panicEvent;
  const crashText = ev.guestCrash
    ? `guest kernel crashed: ${ev.guestCrash.title}`
    : "guest reported a panic (pvpanic)";

  if (ev.fault === "none") return decideControl(ev, guestDied, failed, degraded);

  if (failed.length > 0) {
    if (!ev.proof)
      return {
        outcome: "unknown",
        reasons: ["the host failed but there is no proof the fault fired", ...failed],
      };
    return { outcome: "escaped-global", reasons: failed };
  }

  if (!ev.proof) {
    if (guestDied) {
      return { outcome: "unknown", reasons: [`${crashText}, but there is no proof the fault fired`] };
    }
    if (ev.exit.kind === "signaled") {
      return {
        outcome: "unknown",
        reasons: [`enclave killed by ${ev.exit.signal} and no proof the fault fired`],
      };
    }
    const why = ev.injectFailed
      ? `injection failed: ${ev.injectFailed}`
      : ev.agentFired
        ? "the agent said FIRED but the fault's own proof never appeared"
        : "the fault was never triggered";
    return { outcome: "not-fired", reasons: [why] };
  }

  if (ev.exit.kind === "signaled" && !guestDied) {
    return { outcome: "unknown", reasons: [`enclave killed by ${ev.exit.signal} with no guest panic`] };
  }

  const scopeDied =
    ev.zone === 4
      ? ev.heartbeatsAfterFault !== null && ev.heartbeatsAfterFault > 0
      : guestDied || ev.heartbeatLost;
  if (ev.zone === 4 && guestDied) {
    return {
      outcome: "contained-varied",
      reasons: [`a guest user-space fault took the guest kernel down: ${crashText}`],
    };
  }
  if (scopeDied) {
    const what =
      ev.zone === 4 ? "the guest kept heartbeating" : guestDied ? crashText : "guest heartbeat lost (hang)";
    if (degraded.length > 0) return { outcome: "contained-varied", reasons: [what, ...degraded] };
    return { outcome: "contained-limited", reasons: [what, "every host probe passed"] };
  }
  if (ev.heartbeatsAfterFault !== null && ev.heartbeatsAfterFault > 0 && ev.exit.kind === "running") {
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

function decideControl(ev: RunEvidence, guestDied: boolean, failed: string[], degraded: string[]): Verdict {
  if (failed.length > 0 || degraded.length > 0) {
    return {
      outcome: "unknown",
      reasons: ["the host changed during a control run (no fault)", ...failed, ...degraded],
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
  switch (ev.exit.kind) {
    case "running":
      return "still running";
    case "exited":
      return `exited with status ${ev.exit.code}`;
    case "signaled":
      return `killed by ${ev.exit.signal}`;
    case "failed-to-start":
      return `failed to start: ${ev.exit.message}`;
  }
}
