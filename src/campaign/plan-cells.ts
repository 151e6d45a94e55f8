/**
 * Planning of composed cells (`cells:` in a campaign): every cell × toggle variant gets its control runs
 * (fault `none`, at least MIN_CONTROL_RUNS) first, and its fault slots wait for them, so each fault run is
 * judged against the controls of its own cell and toggle. Stored results are restored (resume).
 */
import { isSnapshotter } from "../backends/backend.js";
import { FAULTS, type FaultName } from "../faults/catalogue.js";
import type { CompositionParams } from "../model/composition.js";
import { describeComposition, MIN_CONTROL_RUNS } from "../model/composition-verdict.js";
import { runParams } from "../model/run-params.js";
import type { Store } from "../store/store.js";
import { Cell } from "./cell.js";
import type { CellConfig } from "./cell-schema.js";
import { cellVariants } from "./cell-variants.js";
import type { LoadedCampaign } from "./load.js";
import {
  type FaultPlan,
  faultPlans,
  type PlanOptions,
  type ProbedBackend,
  probeBackends,
  refuse,
  restoreCell,
  type Slot,
  slotParams,
} from "./plan-slots.js";
import { cellKey } from "./run-key.js";
import { shardOfPosition } from "./shard.js";

/** The control runs' trigger: unused by fault `none`, but part of the key as for every cell. */
const CONTROL: FaultPlan = { fault: "none", trigger: { mode: "boot-delay", delaySeconds: 5 } };

/**
 * The slots of a campaign's composed cells: per cell and variant its control slot, then its fault slots
 * (gated on the controls). A cell whose victim or a peer cannot run here is refused with the reason. With
 * a shard, the cells × faults are dealt in declaration order; a variant's controls go wherever its faults do.
 */
export async function planCellSlots(
  loaded: LoadedCampaign,
  store: Store,
  opts: PlanOptions,
): Promise<{ slots: Slot[]; restored: number }> {
  const { config } = loaded;
  const stored = store.runs({ campaign: config.name });
  const probed = await probeBackends(config, store, opts);
  const slots: Slot[] = [];
  let restored = 0;
  const cellOf = (
    backend: string,
    fault: FaultName,
    params: Slot["params"],
    reps: number,
    until: boolean,
  ) => {
    const cell = new Cell(
      cellKey(config.name, backend, fault, params),
      reps,
      until ? (config.until ?? null) : null,
    );
    restored += restoreCell(cell, stored);
    return cell;
  };
  const plans = faultPlans(config).filter((fp) => fp.fault !== "none");
  for (const [cellIndex, cell] of (config.cells ?? []).entries()) {
    const victim = runnableCell(cell, probed);
    if (typeof victim === "string") {
      for (const fp of plans)
        refuse(store, config.name, opts.log, { backend: cell.victim, fault: fp.fault, reason: victim });
      continue;
    }
    const mine = plans.filter((_, i) => inShard(cellIndex * plans.length + i, opts));
    const supported = mine.filter((fp) => {
      const support = victim.backend.supports(FAULTS[fp.fault]);
      if (!support.supported)
        refuse(store, config.name, opts.log, {
          backend: cell.victim,
          fault: fp.fault,
          reason: support.reason,
        });
      return support.supported;
    });
    if (supported.length === 0) continue;
    const snapshots = !opts.noSnapshot && isSnapshotter(victim.backend);
    for (const composition of cellVariants(cell)) {
      const params = (fp: FaultPlan) =>
        withComposition(slotParams(config, fp.fault, fp.trigger, snapshots, fp.softError), composition);
      const slot = (fp: FaultPlan, c: Cell, controls?: Cell): Slot => ({
        cell: c,
        backendName: cell.victim,
        backend: victim.backend,
        backendVersion: victim.version,
        fault: fp.fault,
        params: params(fp),
        // The enclaves of a cell are measured against its control runs: no other run may load the machine.
        exclusive: true,
        ...(controls ? { controls, after: controls } : {}),
      });
      const controls = cellOf(
        cell.victim,
        "none",
        params(CONTROL),
        Math.max(MIN_CONTROL_RUNS, config.repetitions),
        false,
      );
      slots.push(slot(CONTROL, controls));
      for (const fp of supported) {
        const c = cellOf(cell.victim, fp.fault, params(fp), fp.repetitions ?? config.repetitions, true);
        slots.push(slot(fp, c, controls));
      }
      opts.log(
        `cell ${cell.name} (${describeComposition(composition)}): ${controls.remaining()} control runs first`,
      );
    }
  }
  return { slots, restored };
}

function inShard(position: number, opts: PlanOptions): boolean {
  return !opts.shard || shardOfPosition(position, opts.shard.count) === opts.shard.index;
}

/** The victim's probed backend, or why the cell cannot run here (its victim or a peer is not runnable). */
function runnableCell(cell: CellConfig, probed: Map<string, ProbedBackend>): ProbedBackend | string {
  const victim = probed.get(cell.victim);
  if (!victim) return `cell ${cell.name}: its victim's backend ${cell.victim} is not runnable here`;
  const missing = cell.peers.find((p) => !probed.has(p.backend));
  if (missing)
    return `cell ${cell.name}: peer ${missing.name}'s backend ${missing.backend} is not runnable here`;
  return victim;
}

/** A cell's run parameters with its composition (the last field of the key). */
function withComposition(params: Slot["params"], composition: CompositionParams): Slot["params"] {
  return runParams({ ...params, composition });
}
