import { connect, type Socket } from "node:net";
import { InfraError } from "../../util/errors.js";

/** The gdb remote protocol's checksum: the sum of the packet's bytes modulo 256, two hex digits. */
export function checksum(data: string): string {
  let sum = 0;
  for (const b of Buffer.from(data, "latin1")) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, "0");
}

/** One packet on the wire: `$data#cs`. `$`, `#` and `}` would need escaping: ezone never sends them. */
export function frame(data: string): string {
  if (/[$#}*]/.test(data)) throw new RangeError(`gdb packet ${JSON.stringify(data)}: $ # } * are not sent`);
  return `$${data}#${checksum(data)}`;
}

/** A stop reply: `T05thread:01;`, `S05`. No other reply ezone asks for starts with T or S and a hex byte. */
const STOP_REPLY = /^[TS][0-9a-fA-F]{2}/;

/** The longest reply ezone accepts (QEMU's PacketSize is 4 KiB); anything longer is not a gdbstub. */
const MAX_REPLY = 64 * 1024;

/**
 * Take the complete packets from the front of `buffer` (acks `+` skipped); the rest stays for more
 * bytes. A bad checksum or an over-long packet throws: the stub is not speaking the protocol.
 */
export function takePackets(buffer: string): { packets: string[]; rest: string } {
  const packets: string[] = [];
  let rest = buffer;
  for (;;) {
    rest = rest.replace(/^\++/, "");
    const start = rest.indexOf("$");
    if (start < 0) {
      if (rest.length > MAX_REPLY) throw new Error("gdbstub: no packet start in 64 KiB");
      return { packets, rest };
    }
    const end = rest.indexOf("#", start);
    if (end < 0 || rest.length < end + 3) {
      if (rest.length > MAX_REPLY) throw new Error("gdbstub: packet longer than 64 KiB");
      return { packets, rest: rest.slice(start) };
    }
    const data = rest.slice(start + 1, end);
    const sum = rest.slice(end + 1, end + 3);
    if (sum.toLowerCase() !== checksum(data))
      throw new Error(`gdbstub: bad checksum ${JSON.stringify(sum)} on a reply`);
    packets.push(data);
    rest = rest.slice(end + 3);
  }
}

/** A little-endian hex register value (the protocol's byte order) as a number, and back. */
export function fromTargetHex(hex: string): bigint {
  const bytes = hex.match(/../g) ?? [];
  return BigInt(`0x${bytes.reverse().join("") || "0"}`);
}
export function toTargetHex(value: bigint, bytes: number): string {
  const be = value
    .toString(16)
    .padStart(bytes * 2, "0")
    .slice(-bytes * 2);
  return (be.match(/../g) ?? []).reverse().join("");
}

/**
 * A client of a gdb remote-protocol stub (QEMU's gdbstub) on a UNIX socket: one request at a time, each
 * reply awaited under the caller's signal. Only what a bit flip needs: stop state, registers, memory
 * (physical addresses through QEMU's `Qqemu.PhyMemMode`), breakpoints and continue.
 */
export class GdbRemote implements AsyncDisposable {
  private buffer = "";
  private readonly replies: string[] = [];
  private wake: (() => void) | null = null;
  private closed: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (e) => this.fail(new Error(`gdbstub: ${e.message}`)));
    socket.on("close", () => this.fail(new Error("gdbstub: the connection closed")));
  }

  /** Connect to the stub's socket; the deadline is `signal`'s. */
  static async connect(path: string, signal: AbortSignal): Promise<GdbRemote> {
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      const abort = () => {
        socket.destroy();
        reject(new InfraError("flip.gdbstub", `no gdbstub at ${path}: ${String(signal.reason)}`));
      };
      if (signal.aborted) return abort();
      signal.addEventListener("abort", abort, { once: true });
      socket.once("connect", () => {
        signal.removeEventListener("abort", abort);
        resolve();
      });
      socket.once("error", (e) => {
        signal.removeEventListener("abort", abort);
        reject(new InfraError("flip.gdbstub", `cannot connect to the gdbstub at ${path}: ${e.message}`));
      });
    });
    return new GdbRemote(socket);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    try {
      const { packets, rest } = takePackets(this.buffer);
      this.buffer = rest;
      for (const p of packets) {
        this.socket.write("+");
        this.replies.push(p);
      }
    } catch (e) {
      this.fail(e as Error);
      this.socket.destroy();
    }
    this.wake?.();
  }

  private fail(e: Error): void {
    this.closed ??= e;
    this.wake?.();
  }

  /** The next reply, in arrival order; throws when `signal` aborts or the stub goes away first. */
  async reply(what: string, signal: AbortSignal): Promise<string> {
    for (;;) {
      const next = this.replies.shift();
      if (next !== undefined) return next;
      if (this.closed) throw new InfraError("flip.gdbstub", `${what}: ${this.closed.message}`);
      if (signal.aborted)
        throw new InfraError(
          "flip.gdbstub",
          `${what}: no answer from the gdbstub (${String(signal.reason)})`,
        );
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          this.wake = null;
          resolve();
        };
        this.wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /**
   * Send one packet and wait for its reply; an `E..` reply is an error naming the request. A stop packet
   * (`T..`/`S..`) answers only `?`: QEMU also sends one unasked when a client's connection stops the CPUs,
   * and it is skipped as the answer to anything else.
   */
  async request(data: string, signal: AbortSignal): Promise<string> {
    this.send(data);
    let r = await this.reply(data, signal);
    while (data !== "?" && STOP_REPLY.test(r)) r = await this.reply(data, signal);
    if (/^E[0-9a-fA-F]{2}$/.test(r)) throw new InfraError("flip.gdbstub", `${data}: the stub answered ${r}`);
    return r;
  }

  /** Send one packet whose answer comes later, if ever (`c`: a stop reply when the target stops again). */
  send(data: string): void {
    this.socket.write(frame(data));
  }

  /** Stop the running target (Ctrl-C); a stop reply follows. */
  interrupt(): void {
    this.socket.write("\x03");
  }

  /** Read `length` bytes at `address` (hex, target order). */
  readMemory(address: bigint, length: number, signal: AbortSignal): Promise<string> {
    return this.request(`m${address.toString(16)},${length.toString(16)}`, signal);
  }

  /** Write `hex` at `address`. */
  async writeMemory(address: bigint, hex: string, signal: AbortSignal): Promise<void> {
    await this.expectOk(`M${address.toString(16)},${(hex.length / 2).toString(16)}:${hex}`, signal);
  }

  /** Read one register by its protocol number (hex, target order). */
  readRegister(n: number, signal: AbortSignal): Promise<string> {
    return this.request(`p${n.toString(16)}`, signal);
  }

  /** Write one register by its protocol number. */
  async writeRegister(n: number, hex: string, signal: AbortSignal): Promise<void> {
    await this.expectOk(`P${n.toString(16)}=${hex}`, signal);
  }

  /** A request that must answer OK. */
  async expectOk(data: string, signal: AbortSignal): Promise<void> {
    const r = await this.request(data, signal);
    if (r !== "OK")
      throw new InfraError(
        "flip.gdbstub",
        `${data}: expected OK, the stub answered ${JSON.stringify(r.slice(0, 80))}`,
      );
  }

  /** Close after what was sent is written (a last `c` must reach the stub). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.end();
  }
}
