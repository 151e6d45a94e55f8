import type { BuiltImage } from "../guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../host/compare.js";
import { composedPlan } from "./composed.js";
import type { Slot } from "./plan-slots.js";
import type { RunPlan } from "./run-plan.js";
import type { CampaignConfig } from "./schema.js";

/** The run plan of one repetition's attempt: every duration scaled for the backend. */
export function planRun(
  config: CampaignConfig,
  slot: Pick<Slot, "backend" | "fault" | "params">,
  seed: string,
  attempt: number,
  image: BuiltImage,
  hooks?: RunPlan["hooks"],
): RunPlan {
  const t = config.timeouts;
  const scale = slot.backend.timeoutScale;
  return {
    backend: slot.backend,
    image,
    fault: slot.fault,
    trigger: slot.params.trigger,
    nonce: `${seed.slice(0, 10)}${attempt}`,
    runTag: `${seed}-${process.pid}-${attempt}`,
    memoryMb: config.guest.memoryMb,
    heartbeatMs: config.guest.heartbeatMs,
    kernelArgs: slot.params.kernelArgs,
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
    hooks,
    bystanders: slot.params.bystanders ?? 0,
    softError: slot.params.softError ? { ...slot.params.softError, seed } : null,
    ...(slot.params.privileges ? { privileges: slot.params.privileges } : {}),
    composition: slot.params.composition ? composedPlan(slot.params.composition, slot.backend) : null,
  };
}
