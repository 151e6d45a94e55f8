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
import type { CampaignConfig } from "./schema.js";
import { shardOfPosition } from "./shard.js";

/** The control runs' trigger: unused by fault `none`, but part of the key as for every cell. */
const CONTROL: FaultPlan = { fault: "none", trigger: { mode: "boot-delay", delaySeconds: 5 } };

/** What planning one composed cell needs: the campaign, the victim's backend, and how to make a cell. */
interface CellPlanning {
  config: CampaignConfig;
  cell: CellConfig;
  victim: ProbedBackend;
  snapshots: boolean;
  /** A cell of the matrix, its stored results restored; `until`: the campaign's stopping rule applies. */
  cellOf: (fault: FaultName, params: Slot["params"], repetitions: number, until: boolean) => Cell;
}

/**
 * The slots of a campaign's composed cells: per cell and variant its control slot, then its fault slots
 * (gated on the controls). A cell whose victim or a peer cannot run here is refused with the reason. With
 * a shard, the cells × faults are dealt in declaration order; a variant's controls go wherever its faults do.
 */
export async function planCellSlots({ config }: LoadedCampaign, store: Store, opts: PlanOptions) {
  const probed = await probeBackends(config, store, opts);
  const earlier = store.runs({ campaign: config.name });
  const refused = (backend: string, fault: string, reason: string) =>
    refuse(store, config.name, opts.log, { backend, fault, reason });
  const slots: Slot[] = [];
  let restored = 0;
  // The listed `none` is the cells' control runs, planned for every variant anyway.
  const plans = faultPlans(config).filter((fp) => fp.fault !== "none");
  for (const [cellIndex, cell] of (config.cells ?? []).entries()) {
    const victim = runnableCell(cell, probed);
    if (typeof victim === "string") {
      for (const fp of plans) refused(cell.victim, fp.fault, victim);
      continue;
    }
    const supported = plans.filter((fp, i) => {
      if (!inShard(cellIndex * plans.length + i, opts)) return false;
      const support = victim.backend.supports(FAULTS[fp.fault]);
      if (!support.supported) refused(cell.victim, fp.fault, support.reason);
      return support.supported;
    });
    if (supported.length === 0) continue;
    const planning: CellPlanning = {
      config,
      cell,
      victim,
      snapshots: !opts.noSnapshot && isSnapshotter(victim.backend),
      cellOf: (fault, params, repetitions, until) => {
        const key = cellKey(config.name, cell.victim, fault, params);
        const c = new Cell(key, repetitions, until ? (config.until ?? null) : null);
        restored += restoreCell(c, earlier);
        return c;
      },
    };
    for (const composition of cellVariants(cell)) {
      const variant = variantSlots(planning, composition, supported);
      slots.push(...variant);
      const controls = variant[0]?.cell.remaining() ?? 0;
      opts.log(`cell ${cell.name} (${describeComposition(composition)}): ${controls} control runs first`);
    }
  }
  return { slots, restored };
}

/** One variant's slots: its control runs (at least MIN_CONTROL_RUNS, no stopping rule), then its faults. */
function variantSlots(p: CellPlanning, composition: CompositionParams, faults: FaultPlan[]): Slot[] {
  const params = (fp: FaultPlan) =>
    runParams({ ...slotParams(p.config, fp.fault, fp.trigger, p.snapshots, fp.softError), composition });
  const slot = (fp: FaultPlan, cell: Cell, controls?: Cell): Slot => ({
    cell,
    backendName: p.cell.victim,
    backend: p.victim.backend,
    backendVersion: p.victim.version,
    fault: fp.fault,
    params: params(fp),
    // The enclaves of a cell are measured against its control runs: no other run may load the machine.
    exclusive: true,
    ...(controls ? { controls, after: { cell: controls, results: MIN_CONTROL_RUNS } } : {}),
  });
  const controlRuns = Math.max(MIN_CONTROL_RUNS, p.config.repetitions);
  const controls = p.cellOf("none", params(CONTROL), controlRuns, false);
  return [
    slot(CONTROL, controls),
    ...faults.map((fp) =>
      slot(fp, p.cellOf(fp.fault, params(fp), fp.repetitions ?? p.config.repetitions, true), controls),
    ),
  ];
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
