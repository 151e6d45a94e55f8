import type { HostSnapshot } from "../host/snapshot.js";

/**
 * One worker's probes between its runs: the host snapshot taken after run N is, while still fresh, the
 * baseline of run N+1 on the same worker. Back-to-back runs would otherwise probe the same host state
 * twice within milliseconds. The kmsg cursor chains exactly: nothing logged between the two is lost.
 */
export class ProbeChain {
  private last: { snapshot: HostSnapshot; at: number } | null = null;

  constructor(private readonly maxAgeMs = 1000) {}

  keep(snapshot: HostSnapshot): void {
    this.last = { snapshot, at: performance.now() };
  }

  /** The kept snapshot if it is at most `maxAgeMs` old; handed out once. */
  take(): HostSnapshot | null {
    const last = this.last;
    this.last = null;
    return last && performance.now() - last.at <= this.maxAgeMs ? last.snapshot : null;
  }
}
