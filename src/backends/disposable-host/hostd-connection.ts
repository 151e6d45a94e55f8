import { connect, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { InfraError } from "../../util/errors.js";
import { raceDeadline } from "../qemu/qmp.js";
import type { Hostd, HostdChild } from "./hostd-placement.js";
import {
  encodeFrame,
  encodeInsmod,
  encodeKill,
  encodeSpawn,
  type Frame,
  FrameDecoder,
  FrameType,
  type HostdExit,
  type HostdResult,
  MAX_PAYLOAD,
  parseExit,
  parseHeartbeat,
  parseHello,
  parseResult,
  type SpawnRequest,
} from "./hostd-protocol.js";

/** A child's streams and its end, fed from frames. */
interface ChildSlot {
  stdout: PassThrough;
  stderr: PassThrough;
  exited: Promise<HostdExit | null>;
  end(e: HostdExit | null): void;
}

/** Output of a child kept while nobody reads it: a flood must not grow without bound. */
const CHILD_BUFFER_BYTES = 1024 * 1024;

/**
 * One connection to hostd over the disposable host's virtio-serial port (a UNIX socket QEMU listens on):
 * children's streams, requests with their RESULT, heartbeats. A broken frame stream ends the connection.
 */
export class HostdConnection implements Hostd {
  private readonly decoder = new FrameDecoder();
  private readonly children = new Map<number, ChildSlot>();
  private readonly pending = new Map<number, (r: HostdResult | null) => void>();
  private helloWaiter: ((children: number[] | null) => void) | null = null;
  private nextRequest = 1;
  private ended = false;
  /** Settles once the connection has ended (hostd or its host gone, or `close()`). */
  readonly closed: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    private readonly onBeat: (dhMs: number, at: number) => void,
  ) {
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.end();
        resolve();
      });
    });
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) this.dispatch(f);
    });
  }

  /** Connect to the socket at `path`; `onBeat` gets every HEARTBEAT. */
  static async open(
    path: string,
    onBeat: (dhMs: number, at: number) => void,
    signal: AbortSignal,
  ): Promise<HostdConnection> {
    const socket = connect(path);
    const opened = new Promise<true | Error>((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", (e) => resolve(e));
    });
    const r = await raceDeadline(signal, [opened]);
    if (r !== true) {
      socket.destroy();
      throw new InfraError(
        "dh.hello",
        `cannot connect to hostd's socket ${path}: ${r === "deadline" ? "deadline" : r.message}`,
      );
    }
    return new HostdConnection(socket, onBeat);
  }

  /** HELLO: hostd answers with the children it holds (after a restore, the saved enclave's). */
  async hello(signal: AbortSignal): Promise<number[]> {
    const answer = new Promise<number[] | null>((resolve) => {
      this.helloWaiter = resolve;
    });
    this.send(FrameType.HELLO, 0);
    const r = await raceDeadline(signal, [answer]);
    if (r === "deadline" || r === null)
      throw new InfraError(
        "dh.hello",
        `hostd did not answer HELLO (${r === null ? "connection closed" : "deadline"})`,
      );
    return r;
  }

  spawn(id: number, req: SpawnRequest): HostdChild {
    const child = this.slot(id);
    this.send(FrameType.SPAWN, id, encodeSpawn(req));
    return child;
  }

  attach(id: number): HostdChild {
    return this.slot(id);
  }

  stdin(id: number, data: Buffer): void {
    for (let at = 0; at < data.length; at += MAX_PAYLOAD)
      this.send(FrameType.STDIN, id, data.subarray(at, at + MAX_PAYLOAD));
  }

  kill(id: number, signal: number): void {
    this.send(FrameType.KILL, id, encodeKill(signal));
  }

  insmod(path: string, params: string, signal: AbortSignal): Promise<HostdResult> {
    return this.request(FrameType.INSMOD, encodeInsmod(path, params), "INSMOD", signal);
  }

  probe(signal: AbortSignal): Promise<HostdResult> {
    return this.request(FrameType.PROBE, Buffer.alloc(0), "PROBE", signal);
  }

  close(): void {
    this.socket.destroy();
  }

  private async request(
    type: FrameType,
    payload: Buffer,
    what: string,
    signal: AbortSignal,
  ): Promise<HostdResult> {
    const id = this.nextRequest++ & 0xffff;
    const answer = new Promise<HostdResult | null>((resolve) => this.pending.set(id, resolve));
    this.send(type, id, payload);
    const r = await raceDeadline(signal, [answer]);
    this.pending.delete(id);
    if (r === "deadline" || r === null)
      throw new InfraError(
        `dh.${what.toLowerCase()}`,
        `hostd did not answer ${what} (${r === null ? "connection closed" : "deadline"})`,
      );
    return r;
  }

  private slot(id: number): ChildSlot {
    const known = this.children.get(id);
    if (known) return known;
    let end: (e: HostdExit | null) => void = () => {};
    const exited = new Promise<HostdExit | null>((resolve) => {
      end = resolve;
    });
    const slot: ChildSlot = {
      stdout: new PassThrough({ highWaterMark: CHILD_BUFFER_BYTES }),
      stderr: new PassThrough({ highWaterMark: CHILD_BUFFER_BYTES }),
      exited,
      end: (e) => {
        slot.stdout.end();
        slot.stderr.end();
        end(e);
      },
    };
    this.children.set(id, slot);
    if (this.ended) slot.end(null);
    return slot;
  }

  private send(type: FrameType, channel: number, payload?: Buffer): void {
    if (!this.ended && this.socket.writable) this.socket.write(encodeFrame(type, channel, payload));
  }

  private dispatch(f: Frame): void {
    const at = performance.now();
    try {
      switch (f.type) {
        case FrameType.STDOUT:
        case FrameType.STDERR: {
          const out = this.children.get(f.channel);
          const stream = f.type === FrameType.STDOUT ? out?.stdout : out?.stderr;
          // A stream nobody drains drops output past its buffer instead of growing.
          if (stream && stream.writableLength < CHILD_BUFFER_BYTES) stream.write(f.payload);
          break;
        }
        case FrameType.EXIT:
          this.children.get(f.channel)?.end(parseExit(f.payload));
          break;
        case FrameType.HEARTBEAT:
          this.onBeat(parseHeartbeat(f.payload), at);
          break;
        case FrameType.RESULT:
          this.pending.get(f.channel)?.(parseResult(f.payload));
          break;
        case FrameType.HELLO_REPLY:
          this.helloWaiter?.(parseHello(f.payload).children);
          this.helloWaiter = null;
          break;
      }
    } catch {
      this.socket.destroy();
    }
  }

  /** The connection is gone: every child's end is unknown from here, every request unanswered. */
  private end(): void {
    this.ended = true;
    for (const c of this.children.values()) c.end(null);
    for (const p of this.pending.values()) p(null);
    this.helloWaiter?.(null);
  }
}
