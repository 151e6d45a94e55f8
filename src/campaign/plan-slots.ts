import type { Backend } from "../backends/backend.js";
import { isSnapshotter } from "../backends/backend.js";
import { type BackendRef, createBackend } from "../backends/index.js";
import { type FaultName, faultKernelArgs, faultSpec } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { isResult } from "../model/outcome-types.js";
import { type RunParams, runParams, type Trigger } from "../model/run-params.js";
import type { SoftErrorParams } from "../model/soft-error.js";
import type { StoredRun } from "../store/run-store.js";
import type { Store } from "../store/store.js";
import { Cell } from "./cell.js";
import { hostedBackend } from "./disposable-hosts.js";
import type { LoadedCampaign } from "./load.js";
import { type PlacementChoice, type PlacementVariant, placementVariants } from "./placement-variants.js";
import { cellKey, repetitionOf } from "./run-key.js";
import type { Schedulable } from "./scheduler.js";
import type { CampaignConfig } from "./schema.js";
import { type Shard, shardFilter } from "./shard.js";

/** One schedulable (backend, fault) pair of the matrix. */
export interface Slot extends Schedulable {
  backendName: string;
  backend: Backend;
  backendVersion: string | null;
  fault: FaultName;
  params: RunParams;
  /** A composed cell's fault slot: its control runs (same cell and toggle), judged against before deciding. */
  controls?: Cell;
}

/** A backend the campaign names, probed and runnable here. */
export interface ProbedBackend {
  backend: Backend;
  version: string | null;
}

/** The campaign's backends as references, in the order the YAML lists them. */
export function backendRefs(config: CampaignConfig): BackendRef[] {
  return config.backends.map((b) =>
    typeof b === "string" ? { name: b, type: b } : { name: b.name, type: b.type, exec: b.exec },
  );
}

/** Each backend entry's placement choices (`host`, `privileges`), in the order the YAML lists them. */
function placementChoices(config: CampaignConfig): PlacementChoice[] {
  return config.backends.map((b) =>
    typeof b === "string" ? { type: b } : { type: b.type, host: b.host, privileges: b.privileges },
  );
}

/** One fault entry of a campaign: its trigger, and for a bit flip its target and number of flips. */
export interface FaultPlan {
  fault: FaultName;
  trigger: Trigger;
  softError?: SoftErrorParams;
  /** Runs of the cell instead of the campaign's repetitions (a bit flip's `flips`). */
  repetitions?: number;
}

/** The campaign's faults with their trigger (the paper's default: armed at boot, 5 s after READY). */
export function faultPlans(config: CampaignConfig): FaultPlan[] {
  return config.faults.map((f): FaultPlan => {
    if (typeof f === "string") return { fault: f, trigger: { mode: "boot-delay", delaySeconds: 5 } };
    if ("target" in f) {
      // The workload parks once the agent has it; ezone flips, then sends it on.
      const { target, register, bit } = f;
      return {
        fault: f.name,
        trigger: { mode: "command", delaySeconds: 0 },
        softError: { target, register, bit },
        repetitions: f.flips,
      };
    }
    return { fault: f.name, trigger: f.trigger ?? { mode: "boot-delay", delaySeconds: 5 } };
  });
}

/** Kernel command line parameters the campaign sets, stored with each run. */
function campaignKernelArgs(config: CampaignConfig): string[] {
  return [...(config.guest.oopsPanic ? ["oops=panic"] : []), ...config.guest.kernelArgs];
}

/** The parameters of a cell: its trigger, guest, kernel arguments (the fault's own too) and start mode. */
export function slotParams(
  config: CampaignConfig,
  fault: FaultName,
  trigger: Trigger,
  snapshots: boolean,
  softError?: SoftErrorParams,
  variant: PlacementVariant = {},
): RunParams {
  return runParams({
    softError,
    trigger,
    memoryMb: config.guest.memoryMb,
    heartbeatMs: config.guest.heartbeatMs,
    kernelArgs: faultKernelArgs(campaignKernelArgs(config), fault),
    // Which start each run had: from the saved guest, or a fresh boot (reports show it).
    boot: config.guest.boot === "snapshot" && snapshots ? "snapshot" : "fresh",
    bystanders: config.bystanders,
    host: variant.host,
    privileges: variant.privileges,
  });
}

/** Options of `planSlots`. */
export interface PlanOptions {
  image: BuiltImage;
  signal: AbortSignal;
  log: (line: string) => void;
  noSnapshot?: boolean;
  binary?: string;
  /** Plan only this shard's cells (`--shard I/N`); absent = every cell. */
  shard?: Shard;
  /**
   * Whether a disposable host can run the cells placed in it (`host: disposable`): absent, probed once per
   * backend (QEMU-TCG here, the backend inside it); `false`, refused. A refused cell never falls back to
   * the real host, whose kernel it would hit. (`true` skips the probe: planning tests.)
   */
  disposableHost?: boolean;
}

/** Why a cell placed in the disposable host is not run when there is no runtime for it. */
export const NO_DISPOSABLE_HOST =
  "no disposable host here: a cell placed there is never run on the real host";

/**
 * Probe backends (stored as statements), refuse unsupported faults, restore stored repetitions.
 * Returns the slots and how many stored results were restored.
 */
export async function planSlots(
  loaded: LoadedCampaign,
  store: Store,
  opts: PlanOptions,
): Promise<{ slots: Slot[]; restored: number }> {
  const { config } = loaded;
  const stored = store.runs({ campaign: config.name });
  const slots: Slot[] = [];
  let restored = 0;
  const probed = await probeBackends(config, store, opts);
  const inShard = shardFilter(config, opts.shard);
  const choices = placementChoices(config);
  const hostRefusals = new Map<Backend, Promise<string | null>>();
  for (const [backendIndex, ref] of backendRefs(config).entries()) {
    const probe = probed.get(ref.name);
    if (!probe) continue;
    const { backend } = probe;
    for (const [faultIndex, fp] of faultPlans(config).entries()) {
      if (!inShard(ref.name, faultIndex)) continue;
      const choice = choices[backendIndex] ?? { type: ref.type };
      const planned = await plannedVariants(backend, choice, fp, opts, hostRefusals);
      if ("refused" in planned) {
        refuse(store, config.name, opts.log, { backend: ref.name, fault: fp.fault, reason: planned.refused });
        continue;
      }
      for (const variant of planned.variants) {
        const snapshots = !opts.noSnapshot && isSnapshotter(backend);
        const params = slotParams(config, fp.fault, fp.trigger, snapshots, fp.softError, variant);
        const cell = new Cell(
          cellKey(config.name, ref.name, fp.fault, params),
          fp.repetitions ?? config.repetitions,
          config.until ?? null,
        );
        restored += restoreCell(cell, stored);
        slots.push({
          cell,
          backendName: ref.name,
          backend,
          backendVersion: probe.version,
          fault: fp.fault,
          params,
          // Hogs load the whole host and bystanders measure it, and a disposable host's two TCG vCPUs keep
          // both of a small machine's cores busy: each has the machine to itself.
          exclusive:
            faultSpec(fp.fault).runsAlone === true || config.bystanders > 0 || variant.host === "disposable",
        });
      }
    }
  }
  return { slots, restored };
}

/** Probe every backend the campaign names (each a stored statement); the runnable ones by name. */
export async function probeBackends(
  config: CampaignConfig,
  store: Store,
  opts: PlanOptions,
): Promise<Map<string, ProbedBackend>> {
  const probed = new Map<string, ProbedBackend>();
  for (const ref of backendRefs(config)) {
    const backend = createBackend({ ...ref, binary: opts.binary });
    const availability = await backend.probe(opts.image, opts.signal);
    store.recordStatement(config.name, {
      backend: ref.name,
      fault: "*",
      kind: availability.available ? "available" : "unavailable",
      reason: availability.reason,
    });
    opts.log(`${ref.name}: ${availability.available ? "" : "not runnable here — "}${availability.reason}`);
    if (availability.available) probed.set(ref.name, { backend, version: availability.version ?? null });
  }
  return probed;
}

/** Restore a cell's stored results (resume); how many there were. */
export function restoreCell(cell: Cell, stored: readonly StoredRun[]): number {
  let n = 0;
  for (const r of stored) {
    const rep = repetitionOf(cell.keyPrefix, r.runKey);
    if (rep !== null && isResult(r.outcome)) {
      cell.restore(rep, r.outcome);
      n++;
    }
  }
  return n;
}

/** A backend × fault that will not run here: a stored statement and a log line. */
export function refuse(
  store: Store,
  campaign: string,
  log: (line: string) => void,
  r: { backend: string; fault: string; reason: string },
): void {
  store.recordStatement(campaign, { ...r, kind: "refused" });
  log(`${r.backend} × ${r.fault}: refused — ${r.reason}`);
}

/** The cells of one (backend, fault) pair, or why none runs: a cell placed in a disposable host that cannot run here never runs. */
async function plannedVariants(
  backend: Backend,
  choice: PlacementChoice,
  fp: FaultPlan,
  opts: PlanOptions,
  hostRefusals: Map<Backend, Promise<string | null>>,
): Promise<{ variants: PlacementVariant[] } | { refused: string }> {
  const planned = placementVariants(backend, choice, fp.fault, fp.softError?.target);
  if ("refused" in planned || !planned.variants.some((v) => v.host === "disposable")) return planned;
  let refusal = hostRefusals.get(backend);
  if (!refusal) {
    refusal = disposableHostRefusal(backend, opts);
    hostRefusals.set(backend, refusal);
  }
  const why = await refusal;
  return why === null ? planned : { refused: why };
}

/** Why `backend`'s enclaves cannot run in a disposable host here, or null when they can. */
async function disposableHostRefusal(backend: Backend, opts: PlanOptions): Promise<string | null> {
  if (opts.disposableHost !== undefined) return opts.disposableHost ? null : NO_DISPOSABLE_HOST;
  const a = await hostedBackend(backend, "disposable", opts.image).probe(opts.image, opts.signal);
  return a.available ? null : `${NO_DISPOSABLE_HOST}: ${a.reason}`;
}
