import { createHash } from "node:crypto";
import { hostname, release } from "node:os";
import type { Backend } from "../backends/backend.js";
import { type BackendRef, createBackend } from "../backends/index.js";
import { FAULTS, type FaultName } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../host/compare.js";
import type { Outcome } from "../model/outcome-types.js";
import { type Provenance, Store } from "../store/store.js";
import { ezoneCommit, ezoneVersion } from "../util/version.js";
import type { LoadedCampaign } from "./load.js";
import { type RunPlan, type RunResult, runOne } from "./run-one.js";
import type { CampaignConfig, TriggerConfig } from "./schema.js";

export interface CampaignOptions {
  image: BuiltImage;
  signal: AbortSignal;
  log: (line: string) => void;
  /** How often an infra-error run is tried again before it is left as infra-error. */
  infraRetries?: number;
  /** Tests: override the emulator binary of every built-in backend. */
  binary?: string;
  hooks?: RunPlan["hooks"];
}

export interface CampaignSummary {
  resultsDir: string;
  executed: number;
  skippedExisting: number;
  outcomes: Partial<Record<Outcome, number>>;
}

/** The campaign's backends as references, in the order the YAML lists them. */
export function backendRefs(config: CampaignConfig): BackendRef[] {
  return config.backends.map((b) =>
    typeof b === "string" ? { name: b, type: b } : { name: b.name, type: b.type, exec: b.exec },
  );
}

/** The campaign's faults with their trigger (the paper's default: armed at boot, 5 s after READY). */
export function faultPlans(config: CampaignConfig): { fault: FaultName; trigger: TriggerConfig }[] {
  return config.faults.map((f) =>
    typeof f === "string"
      ? { fault: f, trigger: { mode: "boot-delay", delaySeconds: 5 } }
      : { fault: f.name, trigger: f.trigger ?? { mode: "boot-delay", delaySeconds: 5 } },
  );
}

/** Kernel command line parameters the campaign sets, stored with each run. */
export function campaignKernelArgs(config: CampaignConfig): string[] {
  return [...(config.guest.oopsPanic ? ["oops=panic"] : []), ...config.guest.kernelArgs];
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Run key = (campaign, backend, fault, params, repetition): stable across resumes and hosts. */
export function runKey(
  campaign: string,
  backend: string,
  fault: string,
  params: object,
  rep: number,
): string {
  return `${campaign}/${backend}/${fault}/${sha(JSON.stringify(params)).slice(0, 12)}/${rep}`;
}

/**
 * Run a campaign: probe each backend (a statement of availability, stored), then every backend × fault ×
 * repetition not already stored. Results are written one transaction per run; re-running continues
 * where the last invocation stopped and never counts a run twice.
 */
export async function runCampaign(loaded: LoadedCampaign, opts: CampaignOptions): Promise<CampaignSummary> {
  const { config } = loaded;
  using store = Store.open(loaded.resultsDir);
  store.ensureCampaign(config.name, JSON.stringify(config), sha(loaded.text));
  const summary: CampaignSummary = {
    resultsDir: loaded.resultsDir,
    executed: 0,
    skippedExisting: 0,
    outcomes: {},
  };
  const kernelArgs = campaignKernelArgs(config);

  for (const ref of backendRefs(config)) {
    const backend = createBackend({ ...ref, binary: opts.binary });
    const availability = await backend.probe(opts.image, opts.signal);
    store.recordStatement(config.name, {
      backend: ref.name,
      fault: "*",
      kind: availability.available ? "available" : "unavailable",
      reason: availability.reason,
    });
    if (!availability.available) {
      opts.log(`${ref.name}: not runnable here — ${availability.reason}`);
      continue;
    }
    opts.log(`${ref.name}: ${availability.reason}`);
    for (const { fault, trigger } of faultPlans(config)) {
      const spec = FAULTS[fault];
      const support = backend.supports(spec);
      if (!support.supported) {
        store.recordStatement(config.name, {
          backend: ref.name,
          fault,
          kind: "refused",
          reason: support.reason,
        });
        opts.log(`${ref.name} × ${fault}: refused — ${support.reason}`);
        continue;
      }
      const params = {
        trigger,
        memoryMb: config.guest.memoryMb,
        heartbeatMs: config.guest.heartbeatMs,
        kernelArgs,
      };
      for (let rep = 1; rep <= config.repetitions; rep++) {
        if (opts.signal.aborted) return summary;
        const key = runKey(config.name, ref.name, fault, params, rep);
        if (store.hasRun(key)) {
          summary.skippedExisting++;
          continue;
        }
        const outcome = await runWithRetries(store, loaded, backend, availability.version ?? null, opts, {
          key,
          backend: ref.name,
          fault,
          trigger,
          params,
          rep,
          kernelArgs,
        });
        summary.executed++;
        summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
      }
    }
  }
  return summary;
}

interface RunSlot {
  key: string;
  /** The backend's name in the campaign (e.g. `palacios` for an exec backend). */
  backend: string;
  fault: FaultName;
  trigger: TriggerConfig;
  params: Record<string, unknown>;
  rep: number;
  kernelArgs: string[];
}

/** One run; an infra-error is stored under its attempt's own key and the run is tried again (bounded). */
async function runWithRetries(
  store: Store,
  loaded: LoadedCampaign,
  backend: Backend,
  backendVersion: string | null,
  opts: CampaignOptions,
  slot: RunSlot,
): Promise<Outcome> {
  const { config } = loaded;
  const retries = opts.infraRetries ?? 1;
  const seed = sha(slot.key).slice(0, 16);
  const t = config.timeouts;
  const scale = backend.timeoutScale;
  for (let attempt = 0; ; attempt++) {
    const nonce = `${seed.slice(0, 10)}${attempt}`;
    const plan: RunPlan = {
      backend,
      image: opts.image,
      fault: slot.fault,
      trigger: slot.trigger,
      nonce,
      runTag: `${seed}-${process.pid}-${attempt}`,
      memoryMb: config.guest.memoryMb,
      heartbeatMs: config.guest.heartbeatMs,
      kernelArgs: slot.kernelArgs,
      timeouts: {
        runMs: t.runSeconds * 1000 * scale,
        bootMs: t.bootSeconds * 1000 * scale,
        observeMs: t.observeSeconds * 1000 * scale,
        controlObserveMs: t.controlObserveSeconds * 1000,
        heartbeatLossMs: t.heartbeatMissIntervals * config.guest.heartbeatMs * scale,
        graceMs: t.graceSeconds * 1000 * scale,
        probeMs: t.probeSeconds * 1000,
      },
      thresholds: DEFAULT_PROBE_THRESHOLDS,
      hooks: opts.hooks,
    };
    const result = await runOne(plan, opts.signal);
    const infra = result.verdict.outcome === "infra-error";
    await store.recordRun({
      campaign: config.name,
      // An infra-error is not the run's result: it is kept under its attempt's key, so resume retries it.
      runKey: infra ? `${slot.key}!infra-${attempt}` : slot.key,
      backend: slot.backend,
      fault: slot.fault,
      zone: FAULTS[slot.fault].zone,
      params: slot.params,
      repetition: slot.rep,
      seed,
      nonce,
      verdict: result.verdict,
      evidence: result.evidence,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      bootMs: result.bootMs,
      detectionMs: result.detectionMs,
      runMs: result.runMs,
      artifacts: artifactsOf(result),
      provenance: provenance(backendVersion, opts.image, plan),
    });
    opts.log(describeRun(slot, attempt, result));
    if (!infra || attempt >= retries) return result.verdict.outcome;
  }
}

function artifactsOf(r: RunResult) {
  return [
    { kind: "console", data: r.console.data, truncated: r.console.truncated },
    { kind: "control-events", data: Buffer.from(JSON.stringify(r.controlEvents)), truncated: false },
  ];
}

function provenance(backendVersion: string | null, image: BuiltImage, plan: RunPlan): Provenance {
  return {
    ezoneVersion: ezoneVersion(),
    ezoneCommit: ezoneCommit(),
    backendVersion,
    kernelVersion: `${image.manifest.kernel.release} (${image.manifest.kernel.version})`,
    imageHash: image.manifest.id,
    kernelCmdline: plan.kernelArgs.join(" "),
    hostKernel: release(),
    hostname: hostname(),
  };
}

function describeRun(slot: RunSlot, attempt: number, r: RunResult): string {
  const ms = (x: number | null) => (x === null ? "-" : `${(x / 1000).toFixed(2)}s`);
  const retry = attempt > 0 ? ` (attempt ${attempt + 1})` : "";
  return `  ${slot.key}${retry}: ${r.verdict.outcome} — ${r.verdict.reasons[0] ?? ""} [boot ${ms(r.bootMs)}, detect ${ms(r.detectionMs)}, run ${ms(r.runMs)}]`;
}
