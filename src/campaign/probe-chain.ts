import type { HostProbes } from "../host/probes.js";

/**
 * One worker's probes between its runs: the host probes taken after run N are, while still fresh, the
 * baseline of run N+1 on the same worker. Back-to-back runs would otherwise probe the same host state
 * twice within milliseconds. The kmsg cursor chains exactly: nothing logged between the two is lost.
 */
export class ProbeChain {
  private last: { probes: HostProbes; at: number } | null = null;

  constructor(private readonly maxAgeMs = 1000) {}

  keep(probes: HostProbes): void {
    this.last = { probes, at: performance.now() };
  }

  /** The kept probes if they are at most `maxAgeMs` old; handed out once. */
  take(): HostProbes | null {
    const last = this.last;
    this.last = null;
    return last && performance.now() - last.at <= this.maxAgeMs ? last.probes : null;
  }
}
