import type { EnclaveEvent } from "../backends/backend.js";
import { LineSplitter } from "../util/line-splitter.js";
import { type DepStat, parseLinkLine } from "./link-lines.js";

/** Longest console line looked at (the agent's lines are far shorter). */
const LINE_MAX = 512;
/** Dependent reports kept (one per heartbeat): the oldest go first beyond this. */
const DEPSTATS_MAX = 50_000;

/**
 * An enclave's link lines as they arrive, recorded by sitting in front of its sink (like HeartbeatLog):
 * its dependent's reports, its NET answer, its service, and the first link command that failed. The
 * event goes on to `next` after it is parsed, so a wait woken by it sees what it said.
 */
export class LinkLog {
  readonly depstats: DepStat[] = [];
  netOk: { ip: string; mac: string } | null = null;
  serving = false;
  failure: string | null = null;
  private readonly lines = new LineSplitter(LINE_MAX);

  constructor(private readonly next: (ev: EnclaveEvent) => void) {}

  readonly sink = (ev: EnclaveEvent): void => {
    if (ev.type === "console")
      this.lines.push(ev.data, (line) => this.onLine(line.toString("latin1"), ev.at));
    this.next(ev);
  };

  private onLine(line: string, at: number): void {
    const l = parseLinkLine(line);
    if (!l) return;
    if (l.kind === "depstat") {
      this.depstats.push({ at, counts: l.counts });
      if (this.depstats.length > DEPSTATS_MAX) this.depstats.shift();
    } else if (l.kind === "net-ok") this.netOk = { ip: l.ip, mac: l.mac };
    else if (l.kind === "serving") this.serving = true;
    else this.failure ??= l.text;
  }

  /** The dependent has had at least one request answered in time. */
  get answered(): boolean {
    return (this.depstats.at(-1)?.counts.ok ?? 0) > 0;
  }
}
