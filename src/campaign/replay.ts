import { createBackend } from "../backends/index.js";
import { FAULT_NAMES, type FaultName } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { StoredRun } from "../store/store.js";
import { InfraError } from "../util/errors.js";
import type { GoldenRuns } from "./golden.js";
import type { LoadedCampaign } from "./load.js";
import { planRun } from "./plan-run.js";
import { backendRefs } from "./plan-slots.js";
import { runOne } from "./run-one.js";
import type { RunResult } from "./run-plan.js";

/**
 * Replay a stored run with its seed, nonce and parameters (for `ezone rerun`); the run itself is not
 * stored. A bit flip is judged against the golden run of the results directory (`goldens`), as the stored
 * run was: the same seed flips the same bit of the same target.
 */
export async function replayRun(
  loaded: LoadedCampaign,
  stored: StoredRun,
  image: BuiltImage,
  goldens: GoldenRuns,
  signal: AbortSignal,
): Promise<RunResult> {
  const ref = backendRefs(loaded.config).find((b) => b.name === stored.backend);
  if (!ref) throw new InfraError("rerun", `backend ${stored.backend} is not in the stored campaign config`);
  const fault = stored.fault;
  if (!isFaultName(fault)) {
    throw new InfraError("rerun", `fault ${fault} of ${stored.runKey} is not one this ezone knows`);
  }
  const slot = { backend: createBackend(ref), fault, params: stored.params };
  const plan = { ...planRun(loaded.config, slot, stored.seed, 0, image), nonce: stored.nonce };
  if (plan.softError) plan.golden = goldens.source(plan, stored.backend);
  return runOne(plan, signal);
}

function isFaultName(name: string): name is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(name);
}
