/**
 * The campaign-wide services runs may use, opened before the first run (so a host that cannot provide
 * them refuses the campaign with the reason, before anything runs) and closed after the last.
 */
import { createBackend } from "../backends/index.js";
import { CgroupLimits, sweepCgroups } from "../host/cgroup.js";
import { InfraError, UsageError } from "../util/errors.js";
import { backendRefs } from "./plan-slots.js";
import { CampaignSyslog } from "./run-syslog.js";
import type { CampaignConfig } from "./schema.js";

/** The campaign-wide services a run's enclaves may use; each absent when the run does not ask for it. */
export interface RunServices {
  /** Put each enclave in a cgroup of its own with `cpu.max` and `memory.max`. */
  cgroups?: CgroupLimits | null;
  /** Send each enclave's agent messages through the host's syslog, watched by a monitor of the run. */
  syslog?: CampaignSyslog | null;
}

/** What the campaign asks for. */
export interface ServiceNeeds {
  /** Some cell turns cgroup limits on. */
  limits: boolean;
  /** `guest.syslog`. */
  syslog: boolean;
}

/**
 * `guest.syslog: true` with a backend that cannot carry the agent's channel is refused (exit 2, with
 * the backend's reason) before anything is written.
 */
export function checkSyslogBackends(config: CampaignConfig): void {
  if (!config.guest.syslog) return;
  const mute = backendRefs(config)
    .map((ref) => createBackend(ref))
    .find((b) => b.noSyslogChannel);
  if (mute)
    throw new UsageError(`guest.syslog: true: backend ${mute.name} cannot carry it: ${mute.noSyslogChannel}`);
}

/** Open services, closed together. */
export type OpenServices = RunServices & AsyncDisposable;

/**
 * Sweep the cgroups of dead ezones, then open what the campaign needs. A service this host cannot give
 * is a UsageError (exit 2) naming what was asked and why it cannot be had.
 */
export async function openRunServices(
  needs: ServiceNeeds,
  log: (line: string) => void,
): Promise<OpenServices> {
  for (const dir of await sweepCgroups()) log(`swept a dead ezone's cgroup: ${dir}`);
  let cgroups: CgroupLimits | null = null;
  try {
    if (needs.limits) cgroups = CgroupLimits.open();
  } catch (e) {
    throw new UsageError(`a cell asks for cgroup limits (limits: true): ${refusal(e)}`);
  }
  let syslog: CampaignSyslog | null = null;
  try {
    if (needs.syslog) syslog = await CampaignSyslog.start();
  } catch (e) {
    await cgroups?.close();
    throw new UsageError(`guest.syslog: true: ${refusal(e)} (install rsyslog: make setup)`);
  }
  return {
    cgroups,
    syslog,
    async [Symbol.asyncDispose]() {
      await syslog?.[Symbol.asyncDispose]();
      await cgroups?.close();
    },
  };
}

function refusal(e: unknown): string {
  return e instanceof InfraError ? e.message : String((e as Error).message ?? e);
}
