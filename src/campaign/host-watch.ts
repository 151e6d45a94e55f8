import type { HostEvent } from "../backends/disposable-host/dh-enclave.js";
import type { DisposableHostEvidence, EnclaveExit, ProbeFinding } from "../model/outcome-types.js";
import { ConsoleParser, type CrashReport } from "../monitor/console-parser.js";
import type { MonitorState } from "../monitor/run-monitor.js";
import { HeadTailBuffer } from "../util/console-cap.js";

/** The disposable host's console kept per run (its boot is in the snapshot, so this is the run's part). */
const DH_CONSOLE_CAP = 256 * 1024;

/**
 * A survivable zone-1 module's last line: it undid what it did (cpuhog's thread stopped spinning,
 * memleak freed its pages). After it, only the enclave's next heartbeats are left to watch.
 */
const FAULT_DONE_LINE = /^ezone-fault: (\S+) nonce=(\S+) (?:stopped|freed) /;
/** Any line of a fault module after its proof (`firing`): what it did, in its own words. */
const FAULT_REPORT_LINE = /^ezone-fault: (\S+) nonce=(\S+) (?!firing )(.*)$/;
/** The fault report kept: a module prints a few lines; a flood of OOM kills is cut. */
const FAULT_REPORT_LINES = 8;
const FAULT_REPORT_CHARS = 200;

/** What was seen of the disposable host during one run, turned into its evidence at the end. */
export interface DhSeen {
  /** How its VM process ended; `running` while alive. */
  exit: EnclaveExit;
  /** QMP GUEST_PANICKED (pvpanic) arrived. */
  panicEvent: boolean;
  crash: CrashReport | null;
  /** The fault module's proof line with the run's nonce on its console. */
  proof: boolean;
  /** The longest silence of hostd's heartbeat, up to the end of the run, in ms; null before the first. */
  maxBeatGapMs: number | null;
  /** The module's report lines and the OOM killer's kills after the proof, bounded. */
  faultReport: string[];
}

/** The disposable host's evidence from what was seen, its after-probe answering, and its probe findings (pure). */
export function dhEvidence(
  seen: DhSeen,
  answeredAfter: boolean,
  heartbeatLossMs: number,
  probes: ProbeFinding[],
): DisposableHostEvidence {
  return {
    alive: seen.exit.kind === "running" && answeredAfter,
    panicked: seen.panicEvent || seen.crash?.panic === true,
    crash: seen.crash && {
      title: seen.crash.title,
      crashClass: seen.crash.crashClass,
      panic: seen.crash.panic,
    },
    // A VM that ended has stopped beating for good, however soon the run ended after.
    heartbeatLost:
      seen.exit.kind !== "running" || seen.maxBeatGapMs === null || seen.maxBeatGapMs > heartbeatLossMs,
    exit: seen.exit,
    probes,
    proof: seen.proof,
    faultReport: seen.faultReport,
  };
}

/**
 * Watches the disposable host's own channels: its kernel's console (crash reports, the zone-1 module's
 * proof line), its QMP events and its VM's exit, and hostd's heartbeats. None of it is the enclave's.
 */
export class DhWatch {
  private readonly parser = new ConsoleParser();
  private nonce: string | null = null;
  /** The proof line as the module printed it (without its kernel timestamp), once seen. */
  proofLine: string | null = null;
  /** The module's line saying it is done (without its kernel timestamp), once seen. */
  doneLine: string | null = null;
  private lastBeatAt: number | null = null;
  private maxGap = 0;
  /** Its console, capped (an artifact of the run, never the enclave's console). */
  readonly console = new HeadTailBuffer(DH_CONSOLE_CAP);
  readonly seen: DhSeen = {
    exit: { kind: "running" },
    panicEvent: false,
    crash: null,
    proof: false,
    maxBeatGapMs: null,
    faultReport: [],
  };

  private vmEnded: () => void = () => {};
  /** Settles once the VM's exit was seen (after its console's last bytes). */
  readonly ended = new Promise<void>((resolve) => {
    this.vmEnded = resolve;
  });

  /** The run whose proof line counts (a restored host was saved before the run's nonce existed). */
  expectProof(nonce: string): void {
    this.nonce = nonce;
  }

  /** One event of the disposable host: its VM's console, QMP and exit, and hostd's heartbeat. */
  onEvent(ev: HostEvent): void {
    if (ev.type === "heartbeat") {
      this.onBeat(ev.at);
    } else if (ev.type === "console") {
      this.console.push(ev.data);
      const { lines, events, crash } = this.parser.push(ev.data, ev.at);
      this.seen.crash = crash;
      for (const l of lines) {
        if (l.kernelTime === null) continue;
        const said = FAULT_REPORT_LINE.exec(l.text);
        if (said && said[2] === this.nonce) this.report(`${said[1]}: ${said[3]}`);
        if (FAULT_DONE_LINE.exec(l.text)?.[2] === this.nonce) this.doneLine ??= l.text;
      }
      for (const e of events) {
        if (e.kind === "oom-kill" && this.seen.proof)
          this.report(`its OOM killer killed ${e.comm} (pid ${e.pid})`);
        if (e.kind !== "proof" || e.nonce !== this.nonce || this.seen.proof) continue;
        this.seen.proof = true;
        this.proofLine = `ezone-fault: ${e.fault} nonce=${e.nonce} firing context=${e.context}`;
      }
    } else if (ev.type === "control") {
      if (ev.name === "GUEST_PANICKED") this.seen.panicEvent = true;
    } else {
      this.seen.exit = ev.exit;
      this.vmEnded();
    }
  }

  private report(text: string): void {
    if (this.seen.faultReport.length < FAULT_REPORT_LINES)
      this.seen.faultReport.push(text.slice(0, FAULT_REPORT_CHARS));
  }

  private onBeat(at: number): void {
    if (this.lastBeatAt !== null) this.maxGap = Math.max(this.maxGap, at - this.lastBeatAt);
    this.lastBeatAt = at;
    this.seen.maxBeatGapMs = this.maxGap;
  }

  /** Close the heartbeat record at `at`: the silence since the last beat counts too. */
  endBeats(at: number): void {
    if (this.lastBeatAt !== null) this.onBeat(at);
  }
}

/**
 * For the observe step: true once the zone-1 module said it is done and the enclave has heartbeated
 * `beats` times since (counted from the first check that sees the line: the monitor re-checks on every
 * enclave event). A fault the host survives ends its observation there, not at the deadline.
 */
export function hostFaultSettled(watch: DhWatch, beats: number): (s: MonitorState) => boolean {
  let beatsAtDone: number | null = null;
  return (s) => {
    if (watch.doneLine === null) return false;
    beatsAtDone ??= s.heartbeats;
    return s.heartbeats - beatsAtDone >= beats;
  };
}
