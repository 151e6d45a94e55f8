/** Stored runs for report tests, built in memory (no database). */

import type { Outcome, RunEvidence, Zone } from "../../src/model/outcome-types.js";
import type { RunParams } from "../../src/model/run-params.js";
import { type CampaignSummary, summarize } from "../../src/report/collect.js";
import type { Overhead } from "../../src/report/overhead.js";
import type { Statement, StoredRun } from "../../src/store/store.js";

let nextId = 1;

export function evidenceFor(fault: string, zone: Zone, overrides: Partial<RunEvidence> = {}): RunEvidence {
  return {
    fault,
    zone,
    infraError: null,
    ready: true,
    agentFired: true,
    injectFailed: null,
    proof: true,
    guestCrash: { title: "divide error in kerncrash_fire", crashClass: "divide-error", panic: true },
    panicEvent: true,
    panicChannel: "pvpanic (QMP GUEST_PANICKED)",
    panicEventDelayMs: 4,
    faultPanics: zone === 3,
    heartbeatsAfterFault: 0,
    heartbeatLost: true,
    exit: { kind: "exited", code: 1 },
    stopReason: "guest-panic",
    probes: [],
    ...overrides,
  };
}

/** Run parameters of a paper run (kerncrash armed at boot, 5 s after READY). */
export const FIXTURE_PARAMS: RunParams = {
  trigger: { mode: "boot-delay", delaySeconds: 5 },
  memoryMb: 256,
  heartbeatMs: 250,
  kernelArgs: ["oops=panic"],
  boot: "fresh",
};

/** A stored run of `backend` with `outcome`; fault kerncrash (zone 3) unless overridden. */
export function storedRun(backend: string, outcome: Outcome, overrides: Partial<StoredRun> = {}): StoredRun {
  const id = nextId++;
  const fault = overrides.fault ?? "kerncrash";
  const zone = overrides.zone ?? 3;
  return {
    id,
    campaign: "paper",
    runKey: `paper/${backend}/${fault}/{}/${id}`,
    backend,
    fault,
    zone,
    params: FIXTURE_PARAMS,
    repetition: id,
    seed: "42",
    nonce: `n-${id}`,
    evidence: evidenceFor(fault, zone),
    startedAt: new Date("2024-05-01T10:00:00.000Z"),
    finishedAt: new Date("2024-05-01T10:00:07.000Z"),
    bootMs: 2000,
    detectionMs: 12,
    runMs: 7000,
    provenance: {
      ezoneVersion: "0.1.0",
      ezoneCommit: null,
      backendVersion: null,
      kernelVersion: null,
      imageHash: null,
      kernelCmdline: null,
      hostKernel: "6.1.0",
      hostname: "node1",
    },
    outcome,
    reasons: [`decided ${outcome}`],
    stopReason: "guest-panic",
    crashTitle: "divide error in kerncrash_fire",
    crashClass: "divide-error",
    proof: true,
    guestCrashed: true,
    hostSurvived: outcome === "infra-error" ? null : outcome !== "escaped-global",
    infraError: outcome === "infra-error" ? "QEMU did not start" : null,
    ...overrides,
  };
}

/** A campaign summary built in memory, as `collectCampaigns` builds it from a store. */
export function summaryOf(
  campaign: string,
  runs: StoredRun[],
  statements: Statement[] = [],
  order: string[] = [...new Set(runs.map((r) => r.backend))],
  overhead: Record<string, Overhead | null> = {},
): CampaignSummary {
  return summarize(campaign, runs, statements, order, (backends) =>
    Object.fromEntries(backends.map((b) => [b, overhead[b] ?? null])),
  );
}
