import type { Backend } from "../backends/backend.js";
import { isSnapshotter } from "../backends/backend.js";
import { type BackendRef, createBackend } from "../backends/index.js";
import { FAULTS, type FaultName, faultKernelArgs, faultSpec } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { isResult } from "../model/outcome-types.js";
import { type RunParams, runParams, type Trigger } from "../model/run-params.js";
import type { SoftErrorParams } from "../model/soft-error.js";
import type { Store } from "../store/store.js";
import { Cell } from "./cell.js";
import type { LoadedCampaign } from "./load.js";
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
}

/** The campaign's backends as references, in the order the YAML lists them. */
export function backendRefs(config: CampaignConfig): BackendRef[] {
  return config.backends.map((b) =>
    typeof b === "string" ? { name: b, type: b } : { name: b.name, type: b.type, exec: b.exec },
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
}

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
  const inShard = shardFilter(config, opts.shard);
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
    if (!availability.available) continue;
    for (const [faultIndex, fp] of faultPlans(config).entries()) {
      if (!inShard(ref.name, faultIndex)) continue;
      const { fault } = fp;
      const needs = fp.softError ? { ...FAULTS[fault], flipTarget: fp.softError.target } : FAULTS[fault];
      const support = backend.supports(needs);
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
      const snapshots = !opts.noSnapshot && isSnapshotter(backend);
      const params = slotParams(config, fault, fp.trigger, snapshots, fp.softError);
      const cell = new Cell(
        cellKey(config.name, ref.name, fault, params),
        fp.repetitions ?? config.repetitions,
        config.until ?? null,
      );
      for (const r of stored) {
        const rep = repetitionOf(cell.keyPrefix, r.runKey);
        if (rep !== null && isResult(r.outcome)) {
          cell.restore(rep, r.outcome);
          restored++;
        }
      }
      slots.push({
        cell,
        backendName: ref.name,
        backend,
        backendVersion: availability.version ?? null,
        fault,
        params,
        // Hogs load the whole host and bystanders measure it: either has the machine to itself.
        exclusive: faultSpec(fault).runsAlone === true || config.bystanders > 0,
      });
    }
  }
  return { slots, restored };
}
