/**
 * Is the host fit to run on before a run starts? Pure: no I/O.
 *
 * A run on a host that is already unhealthy says nothing about the fault: the lifecycle records it as
 * `infra-error` (a run to retry), never as a result.
 */
import { DEFAULT_PROBE_THRESHOLDS, describeLeaks, type ProbeThresholds, runnableLimit } from "./compare.js";
import { HOST_PROBES, type HostProbes } from "./probes.js";

/** Why the host is unhealthy before a run, or null when it is fit. */
export function judgeBaseline(
  probes: HostProbes,
  thresholds: ProbeThresholds = DEFAULT_PROBE_THRESHOLDS,
): string | null {
  const reasons: string[] = [];
  for (const name of HOST_PROBES) {
    const probed = probes[name];
    if (probed.kind === "timed-out") {
      reasons.push(`probe ${name} did not answer within ${probed.deadlineMs} ms`);
    } else if (probed.kind === "unavailable" && thresholds.requiredProbes.includes(name)) {
      reasons.push(`probe ${name} is required but unavailable: ${probed.reason}`);
    }
  }
  const { procsRunning, forkExecMs, leakedPids } = probes;
  const limit = runnableLimit(thresholds, probes.cores);
  if (procsRunning.kind === "ok" && procsRunning.value > limit) {
    reasons.push(
      `${procsRunning.value} runnable tasks on ${probes.cores} cores, over ` +
        `${thresholds.maxRunnablePerCore} x ${probes.cores} = ${limit}`,
    );
  }
  if (forkExecMs.kind === "ok" && forkExecMs.value > thresholds.baselineForkExecMaxMs) {
    reasons.push(
      `fork+exec already takes ${Math.round(forkExecMs.value)} ms, over ${thresholds.baselineForkExecMaxMs} ms`,
    );
  }
  if (leakedPids.kind === "ok" && leakedPids.value.processes.length > 0) {
    reasons.push(
      `processes already carry EZONE_RUN=${probes.runTag} (left by an earlier attempt?): ` +
        describeLeaks(leakedPids.value),
    );
  }
  return reasons.length === 0 ? null : `host unhealthy before the run: ${reasons.join("; ")}`;
}
