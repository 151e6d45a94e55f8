import type { EnclaveEvent } from "../backends/backend.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { HeadTailBuffer } from "../util/console-cap.js";
import { deadline as withDeadline } from "../util/deadline.js";
import { type AgentEvent, ConsoleParser, type CrashReport } from "./console-parser.js";

/** What the monitor has seen so far; times are host performance.now() milliseconds. */
export interface MonitorState {
  /** When the enclave was started (set by `markStart`, just before spawning): boot time counts from here. */
  startedAt: number;
  readyAt: number | null;
  heartbeats: number;
  lastHbAt: number | null;
  /** Heartbeats received after the fault's proof (or after FIRED when no proof is expected). */
  hbAfterFault: number;
  firedAt: number | null;
  firedNonce: string | null;
  injectFailed: string | null;
  proofAt: number | null;
  crash: CrashReport | null;
  crashAt: number | null;
  /** When the console showed the kernel giving up ("Kernel panic - not syncing"). */
  panicLineAt: number | null;
  panicEventAt: number | null;
  heartbeatLostAt: number | null;
  exit: EnclaveExit | null;
  exitAt: number | null;
  stderr: string;
  /** QMP events in order, with host arrival time. */
  controlEvents: { name: string; at: number }[];
}

/** A condition to wait for, with the reason recorded when its deadline passes instead. */
export interface Wait {
  reason: string;
  until: (s: MonitorState) => boolean;
  timeoutMs: number;
}

/** What a monitor knows before the first event: nothing but when the enclave was started. */
export function initialMonitorState(startedAt: number): MonitorState {
  return {
    startedAt,
    readyAt: null,
    heartbeats: 0,
    lastHbAt: null,
    hbAfterFault: 0,
    firedAt: null,
    firedNonce: null,
    injectFailed: null,
    proofAt: null,
    crash: null,
    crashAt: null,
    panicLineAt: null,
    panicEventAt: null,
    heartbeatLostAt: null,
    exit: null,
    exitAt: null,
    stderr: "",
    controlEvents: [],
  };
}

/** A wait's deadline passed before its condition held; the message is the wait's reason. */
export class WaitTimeout extends Error {
  override name = "WaitTimeout";
}

const CONSOLE_CAP = 5 * 1024 * 1024;

/**
 * One loop over one stream: every enclave event (console bytes, QMP events, exit) updates one state,
 * and waits are predicates over that state with a deadline. Heartbeat loss is a timer re-armed by
 * each heartbeat. The raw console is kept, capped at 5 MB (head and tail).
 */
export class RunMonitor {
  readonly state: MonitorState;
  private readonly parser = new ConsoleParser();
  private readonly waiters = new Set<() => void>();
  private hbTimer: NodeJS.Timeout | null = null;
  private readonly kept = new HeadTailBuffer(CONSOLE_CAP);

  /**
   * `childEnd`: for a zone-4 fault, how its child must end (`signal=SIGSEGV`); the agent's matching
   * `CHILD` line is then the fault's proof, and any other end is a failed injection.
   */
  constructor(
    private readonly nonce: string,
    private readonly heartbeatLossMs: number,
    private readonly childEnd: string | null = null,
  ) {
    this.state = initialMonitorState(performance.now());
  }

  /** The enclave is about to be spawned (after the baseline probes): boot time counts from now. */
  markStart(): void {
    this.state.startedAt = performance.now();
  }

  /** Feed one enclave event; this is the backend's sink. */
  readonly sink = (ev: EnclaveEvent): void => {
    const s = this.state;
    if (ev.type === "console") {
      this.kept.push(ev.data);
      const r = this.parser.push(ev.data, ev.at);
      for (const e of r.events) this.onAgent(e, ev.at);
      if (r.crash && !s.crash) s.crashAt = ev.at;
      if (r.crash) s.crash = r.crash;
      if (s.crash?.panic) s.panicLineAt ??= ev.at;
    } else if (ev.type === "control") {
      s.controlEvents.push({ name: ev.name, at: ev.at });
      if (ev.name === "GUEST_PANICKED") s.panicEventAt ??= ev.at;
    } else {
      const tail = this.parser.end(ev.at);
      for (const e of tail.events) this.onAgent(e, ev.at);
      s.crash = this.parser.crash() ?? s.crash;
      s.exit = ev.exit;
      s.exitAt = ev.at;
      s.stderr = ev.stderr;
      this.clearHbTimer();
    }
    this.notify();
  };

  private onAgent(e: AgentEvent, at: number): void {
    const s = this.state;
    switch (e.kind) {
      case "ready":
        s.readyAt ??= at;
        this.armHbTimer(at);
        break;
      case "hb":
        s.heartbeats++;
        s.lastHbAt = at;
        // An injection can fail before the agent says FIRED (sysrq-c refused at open()): count from its failure too.
        if (s.proofAt !== null || s.injectFailed !== null) s.hbAfterFault++;
        this.armHbTimer(at);
        break;
      case "fired":
        if (e.nonce === this.nonce) {
          s.firedAt ??= at;
          s.firedNonce = e.nonce;
        }
        break;
      case "inject-failed":
        s.injectFailed ??= `${e.fault}: errno ${e.errno} ${e.message}`;
        break;
      case "child":
        if (e.nonce !== this.nonce || this.childEnd === null) break;
        if (e.end === this.childEnd) s.proofAt ??= at;
        else s.injectFailed ??= `${e.fault}: its child ended with ${e.end}, not ${this.childEnd}`;
        break;
      case "proof":
        if (e.nonce === this.nonce) s.proofAt ??= at;
        break;
      default:
        break;
    }
  }

  private armHbTimer(at: number): void {
    this.clearHbTimer();
    if (this.state.exit) return;
    this.hbTimer = setTimeout(() => {
      this.state.heartbeatLostAt ??= at + this.heartbeatLossMs;
      this.notify();
    }, this.heartbeatLossMs);
  }

  private clearHbTimer(): void {
    if (this.hbTimer) clearTimeout(this.hbTimer);
    this.hbTimer = null;
  }

  /** Console bytes received so far (before the cap). */
  get consoleBytes(): number {
    return this.kept.received;
  }

  /** The raw console, capped: head, an elision marker, tail. */
  console(): { data: Buffer; truncated: boolean } {
    return this.kept.contents();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolve when `w.until` holds; reject with WaitTimeout(w.reason) at the deadline, or when `signal`
   * aborts. The deadline is derived from the parent's signal, so it never outlives it.
   */
  wait(w: Wait, signal: AbortSignal): Promise<void> {
    if (w.until(this.state)) return Promise.resolve();
    const deadline = withDeadline(signal, w.timeoutMs);
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!w.until(this.state)) return;
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal.aborted ? signal.reason : new WaitTimeout(w.reason));
      };
      const done = () => {
        this.waiters.delete(check);
        deadline.removeEventListener("abort", onAbort);
      };
      this.waiters.add(check);
      deadline.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Stop the heartbeat timer; nothing of the monitor outlives its run. */
  [Symbol.dispose](): void {
    this.clearHbTimer();
    this.waiters.clear();
  }
}
