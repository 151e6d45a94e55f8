import { EventEmitter } from "node:events";
import { constants } from "node:os";
import type { Duplex } from "node:stream";
import { deadline } from "../../util/deadline.js";
import { InfraError } from "../../util/errors.js";
import {
  encodeFrame,
  encodeInsmod,
  encodeKill,
  encodeSpawn,
  FD3_ENV,
  type Frame,
  FrameDecoder,
  FrameType,
  type HostdExit,
  MAX_CHANNEL,
  MAX_PAYLOAD,
  parseExit,
  parseHeartbeat,
  parseHello,
  parseResult,
} from "./hostd-protocol.js";

/** Default deadlines of hostd's requests (a TCG guest is slow; a helper process runs each request). */
const DEFAULT_TIMEOUT_MS = { hello: 5_000, probe: 15_000, insmod: 30_000 } as const;

/** A request hostd answered with `err <errno> <message>` (an INSMOD refused with EPERM is evidence). */
export class HostdRequestError extends Error {
  override name = "HostdRequestError";
  constructor(
    readonly request: "insmod" | "probe",
    readonly errno: number,
    readonly reason: string,
  ) {
    super(`hostd ${request} failed: errno ${errno}: ${reason}`);
  }
}

/** Per-request options: an optional parent signal and a deadline (ms) within it. */
export interface HostdRequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What SPAWN starts inside the disposable host. */
export interface HostdSpawnOptions {
  cwd: string;
  /** The child's whole environment (nothing is inherited from hostd). */
  env: Record<string, string>;
  /** Give the child a bidirectional fd 3 (FD3_IN / FD3_OUT). */
  fd3?: boolean;
}

/** PROBE's figures, as the disposable host's kernel reports them. */
export interface HostdProbe {
  taint: number;
  runnable: number;
  /** fork + exec + reap of /bin/true in ms; null when the fork failed (then `forkErrno`). */
  forkexecMs: number | null;
  forkErrno: number | null;
  memAvailableKb: number;
  /** Kernel log records matching Oops / BUG: / Kernel panic / soft lockup since boot; null if unreadable. */
  oops: number | null;
  /** Every key=value hostd sent, as sent. */
  raw: Record<string, string>;
}

type ChildEvents = { stdout: [Buffer]; stderr: [Buffer]; fd3: [Buffer] };

/** One process hostd runs: its output as events, its input and its end. */
export class HostdChild extends EventEmitter<ChildEvents> {
  /** Settles with the child's EXIT; rejects (InfraError) if the channel closes first. */
  readonly exited: Promise<HostdExit>;
  private settle!: { resolve: (e: HostdExit) => void; reject: (e: Error) => void };

  constructor(
    readonly id: number,
    private readonly client: HostdClient,
  ) {
    super();
    this.exited = new Promise<HostdExit>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A caller that never awaits `exited` must not turn a closed channel into an unhandled rejection.
    this.exited.catch(() => {});
  }

  /** Write to the child's stdin (split into frames of at most 64 KiB). */
  stdin(data: Buffer | string): void {
    this.client.sendData(FrameType.STDIN, this.id, Buffer.from(data));
  }

  /** Write to the child's fd 3 (spawned with `fd3: true`). */
  fd3(data: Buffer | string): void {
    this.client.sendData(FrameType.FD3_IN, this.id, Buffer.from(data));
  }

  /** Close the child's stdin once what was written has reached it. */
  closeStdin(): void {
    this.client.send(FrameType.CLOSE_STDIN, this.id);
  }

  /** Signal the child's whole process group. */
  kill(signal: NodeJS.Signals | number = "SIGKILL"): void {
    const n = typeof signal === "number" ? signal : constants.signals[signal];
    this.client.send(FrameType.KILL, this.id, encodeKill(n));
  }

  /** @internal The client routes this child's frames here. */
  deliver(frame: Frame): void {
    if (frame.type === FrameType.STDOUT) this.emit("stdout", frame.payload);
    else if (frame.type === FrameType.STDERR) this.emit("stderr", frame.payload);
    else if (frame.type === FrameType.FD3_OUT) this.emit("fd3", frame.payload);
    else if (frame.type === FrameType.EXIT) this.settle.resolve(parseExit(frame.payload));
  }

  /** @internal */
  fail(error: Error): void {
    this.settle.reject(error);
  }
}

type ClientEvents = { heartbeat: [monotonicMs: number, at: number] };

/** A pending request: its resolver by request id (RESULT) or in FIFO order (HELLO's reply). */
interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (e: Error) => void;
}

/**
 * ezone's side of hostd's channel, over any Duplex (the virtio-serial port's chardev socket, or a UNIX
 * socket in tests). Frames are decoded incrementally and bounded; a protocol violation or the stream's
 * end closes the client, failing every pending request and every child's `exited` with an InfraError.
 * One client lives for one connection: after a snapshot restore, make a new one and call `hello()`.
 */
export class HostdClient extends EventEmitter<ClientEvents> {
  /** Resolves with why the client closed (null: the stream ended normally). */
  readonly closed: Promise<Error | null>;
  /** performance.now() of the last heartbeat, null before the first. */
  lastHeartbeatAt: number | null = null;
  private readonly decoder = new FrameDecoder();
  private readonly children = new Map<number, HostdChild>();
  private readonly results = new Map<number, Pending>();
  private readonly hellos: Pending[] = [];
  private nextRequest = 1;
  private failure: Error | null = null;
  private onClosed!: (e: Error | null) => void;

  constructor(private readonly stream: Duplex) {
    super();
    this.closed = new Promise((resolve) => {
      this.onClosed = resolve;
    });
    stream.on("data", (chunk: Buffer) => this.receive(chunk));
    stream.on("error", (e) => this.close(new InfraError("hostd.channel", e.message, { cause: e })));
    stream.on("close", () => this.close(null));
  }

  /** Announce ourselves; hostd answers with its protocol version and the ids of its live children. */
  async hello(opts: HostdRequestOptions = {}): Promise<{ version: number; children: number[] }> {
    const reply = await this.request("hello", opts, DEFAULT_TIMEOUT_MS.hello, (p) => {
      this.hellos.push(p);
      this.send(FrameType.HELLO, 0);
      return () => {
        const at = this.hellos.indexOf(p);
        if (at >= 0) this.hellos.splice(at, 1);
      };
    });
    return parseHello(reply);
  }

  /** Start `argv` in the disposable host as child `id` (chosen by the caller, unique among live ones). */
  spawn(id: number, argv: string[], opts: HostdSpawnOptions): HostdChild {
    if (this.children.has(id)) throw new RangeError(`hostd child id ${id} is already in use`);
    const env = opts.fd3 ? { ...opts.env, [FD3_ENV]: "1" } : opts.env;
    const payload = encodeSpawn({ argv, cwd: opts.cwd, env });
    const child = this.adopt(id);
    this.send(FrameType.SPAWN, id, payload);
    return child;
  }

  /**
   * A handle on a child hostd already runs (after a reconnect). Output for an id no handle exists for is
   * dropped: adopt the children you know of before `hello()` to miss none of it.
   */
  adopt(id: number): HostdChild {
    const child = new HostdChild(id, this);
    if (this.failure) child.fail(this.failure);
    else this.children.set(id, child);
    return child;
  }

  /** Load a kernel module in the disposable host (finit_module); a refusal throws HostdRequestError. */
  async insmod(path: string, params: string, opts: HostdRequestOptions = {}): Promise<void> {
    const payload = encodeInsmod(path, params);
    const result = parseResult(
      await this.resultOf("insmod", FrameType.INSMOD, payload, opts, DEFAULT_TIMEOUT_MS.insmod),
    );
    if (!result.ok) throw new HostdRequestError("insmod", result.errno, result.message);
  }

  /** The disposable host's health figures (taint, runnable tasks, fork+exec, memory, kernel-log crashes). */
  async probe(opts: HostdRequestOptions = {}): Promise<HostdProbe> {
    const reply = await this.resultOf("probe", FrameType.PROBE, undefined, opts, DEFAULT_TIMEOUT_MS.probe);
    const result = parseResult(reply);
    if (!result.ok) throw new HostdRequestError("probe", result.errno, result.message);
    return toProbe(result.values);
  }

  /** End the client (not hostd, nor its children): pending requests fail. */
  close(reason: Error | null = null): void {
    if (this.failure) return;
    this.failure = reason ?? new InfraError("hostd.channel", "the channel to hostd closed");
    for (const child of this.children.values())
      child.fail(
        new InfraError("hostd.channel", `closed before child ${child.id} exited: ${this.failure.message}`),
      );
    this.children.clear();
    for (const p of [...this.results.values(), ...this.hellos]) p.reject(this.failure);
    this.results.clear();
    this.hellos.length = 0;
    this.stream.destroy();
    this.onClosed(reason);
  }

  /** @internal Send one frame (dropped once the client is closed). */
  send(type: FrameType, channel: number, payload?: Buffer): void {
    if (!this.failure) this.stream.write(encodeFrame(type, channel, payload));
  }

  /** @internal Send data split into frames of at most MAX_PAYLOAD bytes. */
  sendData(type: FrameType, channel: number, data: Buffer): void {
    for (let at = 0; at < data.length; at += MAX_PAYLOAD)
      this.send(type, channel, data.subarray(at, at + MAX_PAYLOAD));
  }

  private resultOf(
    what: "insmod" | "probe",
    type: FrameType,
    payload: Buffer | undefined,
    opts: HostdRequestOptions,
    defaultMs: number,
  ): Promise<Buffer> {
    return this.request(what, opts, defaultMs, (p) => {
      const id = this.requestId();
      this.results.set(id, p);
      this.send(type, id, payload);
      return () => this.results.delete(id);
    });
  }

  /** Run one request with a deadline: `start` registers the waiter and returns how to forget it. */
  private request(
    what: string,
    opts: HostdRequestOptions,
    defaultMs: number,
    start: (p: Pending) => () => void,
  ): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const ms = opts.timeoutMs ?? defaultMs;
    const signal = deadline(opts.signal, ms);
    if (signal.aborted)
      return Promise.reject(new InfraError(`hostd.${what}`, `aborted: ${String(signal.reason)}`));
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => {
        forget();
        const why = opts.signal?.aborted
          ? `aborted: ${String(opts.signal.reason)}`
          : `no answer within ${ms} ms`;
        reject(new InfraError(`hostd.${what}`, why));
      };
      const done = () => signal.removeEventListener("abort", onAbort);
      const forget = start({
        resolve: (b) => {
          done();
          resolve(b);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private requestId(): number {
    for (let tries = 0; tries < MAX_CHANNEL; tries++) {
      const id = this.nextRequest;
      this.nextRequest = id >= MAX_CHANNEL ? 1 : id + 1;
      if (!this.results.has(id)) return id;
    }
    throw new InfraError("hostd.request", `${MAX_CHANNEL} requests in flight`);
  }

  private receive(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) this.route(frame);
    } catch (e) {
      this.close(new InfraError("hostd.protocol", (e as Error).message, { cause: e }));
    }
  }

  private route(frame: Frame): void {
    if (frame.type === FrameType.HEARTBEAT) {
      this.lastHeartbeatAt = performance.now();
      this.emit("heartbeat", parseHeartbeat(frame.payload), this.lastHeartbeatAt);
    } else if (frame.type === FrameType.RESULT) {
      const p = this.results.get(frame.channel);
      this.results.delete(frame.channel);
      p?.resolve(frame.payload);
    } else if (frame.type === FrameType.HELLO_REPLY) {
      this.hellos.shift()?.resolve(frame.payload);
    } else {
      const child = this.children.get(frame.channel);
      if (frame.type === FrameType.EXIT) this.children.delete(frame.channel);
      child?.deliver(frame);
    }
  }
}

function numberOr(raw: Record<string, string>, key: string, fallback: number | null): number | null {
  const v = raw[key];
  return v !== undefined && Number.isFinite(Number(v)) ? Number(v) : fallback;
}

/** PROBE's key=value lines as figures; a missing or malformed one reads as -1 (null where optional). */
function toProbe(raw: Record<string, string>): HostdProbe {
  const oops = numberOr(raw, "oops", null);
  return {
    taint: numberOr(raw, "taint", -1) as number,
    runnable: numberOr(raw, "runnable", -1) as number,
    forkexecMs: numberOr(raw, "forkexec_ms", null),
    forkErrno: numberOr(raw, "forkexec_errno", null),
    memAvailableKb: numberOr(raw, "mem_available_kb", -1) as number,
    oops: oops !== null && oops >= 0 ? oops : null,
    raw,
  };
}
