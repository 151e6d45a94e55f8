import { type RunMonitor, WaitTimeout } from "../monitor/run-monitor.js";
import { InfraError } from "../util/errors.js";

/** An enclave started beside the run's own (a bystander, a peer), as its READY wait names it. */
export interface ReadyMember {
  /** How errors name it, e.g. "bystander 0" or "peer b". */
  label: string;
  monitor: RunMonitor;
}

/** Every member READY; an InfraError (`step`) names the first that is not, after `timeoutMs` each. */
export async function waitAllReady(
  members: readonly ReadyMember[],
  step: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<void> {
  for (const m of members) {
    try {
      await m.monitor.wait(
        {
          reason: `${m.label}: no READY within ${timeoutMs} ms`,
          until: (s) => s.readyAt !== null || s.exit !== null,
          timeoutMs,
        },
        signal,
      );
    } catch (e) {
      if (e instanceof WaitTimeout) throw new InfraError(step, e.message);
      throw e;
    }
    if (m.monitor.state.readyAt === null) {
      throw new InfraError(
        step,
        `${m.label} ended before READY: ${m.monitor.state.stderr.trim().slice(0, 300) || "no stderr"}`,
      );
    }
  }
}
