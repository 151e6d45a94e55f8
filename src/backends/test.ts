import type { BuiltImage } from "../guest/image-builder.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { InfraError } from "../util/errors.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Support,
} from "./backend.js";
import { supportFor } from "./support.js";

/** One scripted event, `atMs` after its phase began (the start, or the line that triggered a reaction). */
export type ScriptEvent =
  /** Console bytes; `{nonce}` becomes the run's nonce (from the boot arm or the INJECT line). */
  | { atMs: number; console: string }
  /** A control-channel event, as QMP's GUEST_PANICKED or RESUME. */
  | { atMs: number; control: string }
  /** Start or stop the agent's heartbeat (`HB <seq> <uptime>` every `heartbeatMs`). */
  | { atMs: number; heartbeat: "start" | "stop" }
  /** The enclave's process ends: nothing is played after it. */
  | { atMs: number; exit: EnclaveExit; stderr?: string };

/** What a replayed enclave does: its events from the start, and its answers to lines sent to it. */
export interface TestScript {
  start: ScriptEvent[];
  /**
   * Played when a line sent to the agent matches `input`, each reaction at most once. A fault armed at
   * boot is seen as the line `ARM <fault> nonce=<nonce> delay_ms=<ms>`, sent at the start.
   */
  reactions?: { input: RegExp; events: ScriptEvent[] }[];
  /** Heartbeat period (default: the spec's). */
  heartbeatMs?: number;
  /** `start()` throws an InfraError with this message instead of starting. */
  startError?: string;
  /** The backend's panic channel beside the console, as QEMU's pvpanic (default: none). */
  panicChannel?: string;
}

/** A pid no process can have (above Linux's largest pid_max): nothing of ezone may signal a replay. */
const NO_PID = 0x7fffffff;

/**
 * A replayed enclave: no process, only timers that play the script into the sink. Stopping it (or the
 * start signal aborting) cancels every timer and ends it as SIGKILL would.
 */
class ScriptedEnclave implements Enclave {
  readonly pid = NO_PID;
  readonly exited: Promise<EnclaveExit>;
  private settle: (exit: EnclaveExit) => void = () => {};
  private readonly timers = new Set<NodeJS.Timeout>();
  private heartbeat: NodeJS.Timeout | null = null;
  private hbSeq = 0;
  private nonce = "";
  private ended: EnclaveExit | null = null;
  private readonly pending: { input: RegExp; events: ScriptEvent[] }[];

  constructor(
    private readonly script: TestScript,
    private readonly spec: EnclaveSpec,
    private readonly sink: (ev: EnclaveEvent) => void,
  ) {
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.pending = [...(script.reactions ?? [])];
  }

  get tag(): string {
    return this.spec.runTag;
  }

  /** Begin playing the script (and the boot arm, if any). */
  play(): void {
    this.schedule(this.script.start);
    const arm = this.spec.arm;
    if (arm) this.send(`ARM ${arm.fault} nonce=${arm.nonce} delay_ms=${arm.delayMs}`);
  }

  send(line: string): void {
    if (this.ended) return;
    this.nonce = /nonce=(\S+)/.exec(line)?.[1] ?? this.nonce;
    const i = this.pending.findIndex((r) => r.input.test(line));
    if (i < 0) return;
    const [reaction] = this.pending.splice(i, 1);
    if (reaction) this.schedule(reaction.events);
  }

  hostProcess(): Promise<null> {
    return Promise.resolve(null);
  }

  async stop(): Promise<EnclaveExit> {
    this.end({ kind: "signaled", signal: "SIGKILL" }, "");
    return this.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private schedule(events: ScriptEvent[]): void {
    for (const ev of events) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.fire(ev);
      }, ev.atMs);
      this.timers.add(t);
    }
  }

  private fire(ev: ScriptEvent): void {
    if (this.ended) return;
    const at = performance.now();
    if ("console" in ev) {
      this.sink({ type: "console", data: Buffer.from(ev.console.replaceAll("{nonce}", this.nonce)), at });
    } else if ("control" in ev) {
      this.sink({ type: "control", name: ev.control, data: null, at });
    } else if ("heartbeat" in ev) {
      this.setHeartbeat(ev.heartbeat === "start");
    } else {
      this.end(ev.exit, ev.stderr ?? "");
    }
  }

  private setHeartbeat(on: boolean): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (!on) return;
    const every = this.script.heartbeatMs ?? this.spec.heartbeatMs;
    this.heartbeat = setInterval(() => {
      const seq = this.hbSeq++;
      this.sink({ type: "console", data: Buffer.from(`HB ${seq} ${seq * every}\n`), at: performance.now() });
    }, every);
  }

  private end(exit: EnclaveExit, stderr: string): void {
    if (this.ended) return;
    this.ended = exit;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.setHeartbeat(false);
    this.sink({ type: "exit", exit, stderr, at: performance.now() });
    this.settle(exit);
  }
}

/**
 * The `test` backend: replays a script instead of running a guest, so the run lifecycle and the monitor
 * get table-driven tests that take milliseconds (syzkaller's `test` VM type). Not offered to users: it
 * is not in BACKEND_NAMES, so no campaign, `ezone matrix` or doctor can name it.
 */
export class TestBackend implements Backend {
  readonly name = "test";
  readonly continuumRank = 0;
  readonly timeoutScale = 1;
  readonly panicChannel: string | null;
  constructor(private readonly script: TestScript) {
    this.panicChannel = script.panicChannel ?? null;
  }

  async probe(_image: BuiltImage | null, _signal: AbortSignal): Promise<Availability> {
    return { available: true, reason: "replays a script", version: "test" };
  }

  supports(fault: FaultNeeds): Support {
    if (fault.host) return { supported: false, reason: "a replayed enclave has no host process to act on" };
    return supportFor("own-linux", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    if (this.script.startError) throw new InfraError("spawn.vmm", this.script.startError);
    if (signal.aborted) throw new InfraError("spawn.vmm", `aborted before start: ${String(signal.reason)}`);
    const enclave = new ScriptedEnclave(this.script, spec, sink);
    const onAbort = () => void enclave.stop();
    signal.addEventListener("abort", onAbort, { once: true });
    void enclave.exited.then(() => signal.removeEventListener("abort", onAbort));
    enclave.play();
    return enclave;
  }
}
