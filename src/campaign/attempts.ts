import { type Backend, isSnapshotter } from "../backends/backend.js";
import { ensureSnapshot, invalidateSnapshot } from "../backends/snapshot-cache.js";
import { runZone } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { Outcome } from "../model/outcome-types.js";
import type { Store } from "../store/store.js";
import { InfraError } from "../util/errors.js";
import { duration } from "../util/format.js";
import { judgeAgainstControls } from "./control-runs.js";
import { hostedBackend } from "./disposable-hosts.js";
import type { GoldenRuns } from "./golden.js";
import { planRun } from "./plan-run.js";
import type { Slot } from "./plan-slots.js";
import type { ProbeChain } from "./probe-chain.js";
import { provenance } from "./provenance.js";
import { attemptKey, seedOf } from "./run-key.js";
import { runOne } from "./run-one.js";
import { enclaveSpec, type RunPlan, type RunResult, type SnapshotSource } from "./run-plan.js";
import type { RunServices } from "./run-services.js";
import type { CampaignConfig } from "./schema.js";

/** A guest that cannot boot under a backend is tried again at most this many times. */
export const BOOT_ERROR_RETRIES = 1;

/**
 * Whether an attempt is tried again: an infra-error up to the campaign's `infra.retries`, a boot-error
 * at most once (more boots of a guest that cannot boot teach nothing), a result never.
 */
export function retryAfter(outcome: Outcome, attempt: number, retries: number): boolean {
  if (outcome === "infra-error") return attempt < retries;
  if (outcome === "boot-error") return attempt < Math.min(retries, BOOT_ERROR_RETRIES);
  return false;
}

/** What one repetition's attempts need besides the slot. */
export interface AttemptContext {
  config: CampaignConfig;
  store: Store;
  image: BuiltImage;
  probeChain: ProbeChain;
  hooks?: RunPlan["hooks"];
  hostProbe?: RunPlan["hostProbe"];
  /** One line per attempt. */
  log: (line: string) => void;
  /** Bit flips: the golden runs they are judged against. */
  goldens: GoldenRuns;
  /** Campaign-wide services (cgroup limits, the host's syslog), opened before the first run. */
  services?: RunServices;
}

/** One repetition: attempts until a result or the retries are spent; each attempt is stored. */
export async function runRepetition(
  ctx: AttemptContext,
  slot: Slot,
  rep: number,
  signal: AbortSignal,
): Promise<Outcome> {
  const key = `${slot.cell.keyPrefix}/${rep}`;
  const seed = seedOf(key);
  const hosted = { ...slot, backend: hostedBackend(slot.backend, slot.params.host, ctx.image) };
  for (let attempt = 0; ; attempt++) {
    const plan: RunPlan = {
      ...planRun(ctx.config, hosted, seed, attempt, ctx.image, ctx.hooks),
      probeChain: ctx.probeChain,
      hostProbe: ctx.hostProbe,
      services: servicesFor(ctx.services, slot),
    };
    // A composed cell boots fresh: a saved guest's device set has no NIC (and its tap is per run).
    if (slot.params.boot === "snapshot" && !plan.composition)
      plan.snapshot = snapshotSource(hosted.backend, plan);
    if (plan.softError) plan.golden = ctx.goldens.source(plan, slot.backendName);
    const ran = await runOne(plan, signal);
    const result = slot.controls
      ? judgeAgainstControls(ctx.store, slot.controls, plan.heartbeatMs, ran)
      : ran;
    await storeAttempt(ctx, slot, { key, rep, seed, attempt, plan, result });
    ctx.log(describeAttempt(key, attempt, result));
    if (!retryAfter(result.verdict.outcome, attempt, ctx.config.infra.retries)) return result.verdict.outcome;
    if (signal.aborted) throw new InfraError("campaign", "interrupted between attempts");
  }
}

/** The services a slot's runs use: cgroup limits only where its cell asks for them. */
function servicesFor(services: RunServices | undefined, slot: Slot): RunServices {
  return {
    syslog: services?.syslog ?? null,
    cgroups: slot.params.composition?.limits ? (services?.cgroups ?? null) : null,
  };
}

/** The saved guest of a slot's backend: made on first use, forgotten when a restore fails. */
function snapshotSource(backend: Backend, plan: RunPlan): SnapshotSource | null {
  if (!isSnapshotter(backend)) return null;
  let key: string | null = null;
  return {
    get: async (s) => {
      const ref = await ensureSnapshot(backend, enclaveSpec(plan, "-"), s);
      key = ref.key;
      return ref;
    },
    invalidate: async () => {
      if (key) await invalidateSnapshot(key);
    },
    keepSpare: true,
  };
}

/** The store step: one transaction per attempt, a failed attempt under its own key. */
async function storeAttempt(
  ctx: AttemptContext,
  slot: Slot,
  a: { key: string; rep: number; seed: string; attempt: number; plan: RunPlan; result: RunResult },
): Promise<void> {
  const { result } = a;
  await ctx.store.recordRun({
    campaign: ctx.config.name,
    runKey: attemptKey(a.key, result.verdict.outcome, a.attempt),
    backend: slot.backendName,
    fault: slot.fault,
    zone: runZone(slot.fault, slot.params.softError),
    params: slot.params,
    repetition: a.rep,
    seed: a.seed,
    nonce: a.plan.nonce,
    verdict: result.verdict,
    evidence: result.evidence,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    bootMs: result.bootMs,
    detectionMs: result.detectionMs,
    runMs: result.runMs,
    artifacts: [
      { kind: "console", data: result.console.data, truncated: result.console.truncated },
      { kind: "control-events", data: Buffer.from(JSON.stringify(result.controlEvents)), truncated: false },
      ...(result.hostConsole ? [{ kind: "host-console", ...result.hostConsole }] : []),
    ],
    provenance: provenance(slot.backendVersion, ctx.image, a.plan.kernelArgs),
    ...(result.syslog ? { violations: result.syslog.violations } : {}),
  });
}

function describeAttempt(key: string, attempt: number, r: RunResult): string {
  const ms = duration;
  const retry = attempt > 0 ? ` (attempt ${attempt + 1})` : "";
  const soft = r.evidence.softError?.class;
  return `  ${key}${retry}: ${r.verdict.outcome}${soft ? ` [${soft}]` : ""} — ${r.verdict.reasons[0] ?? ""} [boot ${ms(r.bootMs)}, detect ${ms(r.detectionMs)}, run ${ms(r.runMs)}]${syslogSummary(r)}`;
}

/** `guest.syslog`: heartbeats through syslog per enclave, and the violations stored with the run. */
function syslogSummary(r: RunResult): string {
  if (!r.syslog) return "";
  const beats = Object.entries(r.syslog.heartbeats).map(([role, n]) => `${role} ${n}`);
  const kinds = r.syslog.violations.map((v) => `${v.enclave} ${v.kind}`);
  return ` [syslog heartbeats: ${beats.join(", ")}; violations: ${kinds.join(", ") || "none"}]`;
}
