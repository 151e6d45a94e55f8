/**
 * The wire format between ezone and hostd, the C agent inside the disposable host (pure; unit-tested).
 *
 * Every frame is an 8-byte header `[u8 type][u8 0][u16 LE channel][u32 LE length]` and a payload of at
 * most `MAX_PAYLOAD` bytes. The channel is a child id (SPAWN, STDIN, KILL, output, EXIT) or a request id
 * (INSMOD, PROBE and their RESULT).
 */

/** Frame types, both directions (host → DH below 16, DH → host from 16). */
export const FrameType = {
  SPAWN: 1,
  STDIN: 2,
  KILL: 3,
  INSMOD: 4,
  PROBE: 5,
  CLOSE_STDIN: 7,
  FD3_IN: 8,
  HELLO: 9,
  STDOUT: 16,
  STDERR: 17,
  FD3_OUT: 18,
  EXIT: 19,
  HEARTBEAT: 20,
  RESULT: 21,
  HELLO_REPLY: 22,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export const HEADER_BYTES = 8;
export const MAX_PAYLOAD = 65536;
export const MAX_CHANNEL = 0xffff;

/** The environment variable that asks hostd for a pipe on the child's fd 3 (FD3_IN / FD3_OUT). */
export const FD3_ENV = "EZONE_HOSTD_FD3";

/** One decoded frame. */
export interface Frame {
  type: FrameType;
  channel: number;
  payload: Buffer;
}

/** The stream broke the protocol (unknown type, bad header, oversize frame): the channel is unusable. */
export class HostdProtocolError extends Error {
  override name = "HostdProtocolError";
}

/** Encode one frame; throws a RangeError on a bad channel or an oversize payload. */
export function encodeFrame(type: FrameType, channel: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL)
    throw new RangeError(`hostd frame channel ${channel}: expected an integer 0..${MAX_CHANNEL}`);
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`hostd frame payload of ${payload.length} bytes: at most ${MAX_PAYLOAD}`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt16LE(channel, 2);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/**
 * Incremental decoder over arbitrary chunks. It holds at most one frame's bytes; the first protocol
 * violation throws a `HostdProtocolError` and every later `push` throws it again (a byte stream that lost
 * its framing cannot be resynchronised safely).
 */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  private failure: HostdProtocolError | null = null;

  /** Feed a chunk; returns the frames it completed, in order. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: Frame[] = [];
    let at = 0;
    while (this.buffered.length - at >= HEADER_BYTES) {
      const type = this.buffered.readUInt8(at);
      const reserved = this.buffered.readUInt8(at + 1);
      const channel = this.buffered.readUInt16LE(at + 2);
      const length = this.buffered.readUInt32LE(at + 4);
      const problem = !KNOWN_TYPES.has(type)
        ? `unknown frame type ${type}`
        : reserved !== 0
          ? `reserved header byte is ${reserved}, expected 0`
          : length > MAX_PAYLOAD
            ? `frame of ${length} bytes exceeds ${MAX_PAYLOAD}`
            : null;
      if (problem) {
        this.failure = new HostdProtocolError(`hostd stream at byte ${at} of a chunk: ${problem}`);
        this.buffered = Buffer.alloc(0);
        throw this.failure;
      }
      if (this.buffered.length - at < HEADER_BYTES + length) break;
      const start = at + HEADER_BYTES;
      // Copied: the payload must not pin the (possibly large) concatenated buffer.
      frames.push({
        type: type as FrameType,
        channel,
        payload: Buffer.from(this.buffered.subarray(start, start + length)),
      });
      at = start + length;
    }
    this.buffered = this.buffered.subarray(at);
    return frames;
  }

  /** Bytes of an incomplete frame held back (at most one header plus `MAX_PAYLOAD`). */
  get pending(): number {
    return this.buffered.length;
  }
}

/** What SPAWN starts: argv run in `cwd` with exactly `env` (`KEY=VAL` entries). */
export interface SpawnRequest {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

function cString(field: string, value: string): Buffer {
  if (value.includes("\0")) throw new RangeError(`hostd SPAWN ${field}: contains a NUL byte`);
  return Buffer.from(`${value}\0`, "utf8");
}

/** SPAWN's payload: `cwd\0` + `KEY=VAL\0`... + `\0` + `argv0\0argv1\0...`. */
export function encodeSpawn(req: SpawnRequest): Buffer {
  if (req.argv.length === 0) throw new RangeError("hostd SPAWN argv: expected at least one element");
  const parts = [cString("cwd", req.cwd)];
  for (const [key, value] of Object.entries(req.env)) {
    if (!key || key.includes("=")) throw new RangeError(`hostd SPAWN env key ${JSON.stringify(key)}`);
    parts.push(cString(`env ${key}`, `${key}=${value}`));
  }
  parts.push(Buffer.from([0]));
  req.argv.forEach((arg, i) => {
    parts.push(cString(`argv[${i}]`, arg));
  });
  const payload = Buffer.concat(parts);
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`hostd SPAWN payload of ${payload.length} bytes: at most ${MAX_PAYLOAD}`);
  return payload;
}

/** KILL's payload: the signal number, u32 LE. */
export function encodeKill(signal: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(signal, 0);
  return b;
}

/** INSMOD's payload: `path\0params`. */
export function encodeInsmod(path: string, params: string): Buffer {
  return Buffer.concat([cString("INSMOD path", path), Buffer.from(params, "utf8")]);
}

/** How a child of hostd ended (EXIT's payload). */
export type HostdExit = { kind: "exited"; code: number } | { kind: "signaled"; signal: string };

function bad(what: string, payload: Buffer): HostdProtocolError {
  return new HostdProtocolError(`hostd ${what}: ${JSON.stringify(payload.toString("latin1").slice(0, 80))}`);
}

/** Parse EXIT's payload: `exited <code>` or `signaled <SIGNAME>`. */
export function parseExit(payload: Buffer): HostdExit {
  const m = /^(?:exited (\d{1,3})|signaled (SIG[A-Z0-9+]{1,12}))$/.exec(payload.toString("latin1"));
  if (!m) throw bad("EXIT payload unexpected", payload);
  return m[1] !== undefined
    ? { kind: "exited", code: Number(m[1]) }
    : { kind: "signaled", signal: m[2] as string };
}

/** A RESULT: `ok` with PROBE's `key=value` lines, or `err <errno> <message>`. */
export type HostdResult =
  | { ok: true; values: Record<string, string> }
  | { ok: false; errno: number; message: string };

/** Parse RESULT's payload. */
export function parseResult(payload: Buffer): HostdResult {
  const text = payload.toString("utf8");
  const err = /^err (\d{1,5}) ?(.*)$/s.exec(text);
  if (err) return { ok: false, errno: Number(err[1]), message: (err[2] as string).slice(0, 512) };
  if (text !== "ok" && !text.startsWith("ok\n")) throw bad("RESULT payload unexpected", payload);
  const values: Record<string, string> = {};
  for (const line of text.split("\n").slice(1)) {
    if (!line) continue;
    const m = /^([a-z][a-z0-9_]{0,31})=(.{0,256})$/.exec(line);
    if (!m) throw bad("RESULT line unexpected", Buffer.from(line));
    values[m[1] as string] = m[2] as string;
  }
  return { ok: true, values };
}

/** Parse HELLO's reply: `hostd 1\nchildren=<id,id,...>`. */
export function parseHello(payload: Buffer): { version: number; children: number[] } {
  const m = /^hostd (\d{1,4})\nchildren=((?:\d{1,5}(?:,\d{1,5})*)?)\n?$/.exec(payload.toString("latin1"));
  if (!m) throw bad("HELLO reply unexpected", payload);
  const children = m[2] ? (m[2] as string).split(",").map(Number) : [];
  return { version: Number(m[1]), children };
}

/** Parse HEARTBEAT's payload: the DH's CLOCK_MONOTONIC in ms, u64 LE. */
export function parseHeartbeat(payload: Buffer): number {
  if (payload.length !== 8) throw bad("HEARTBEAT payload of wrong size", payload);
  return Number(payload.readBigUInt64LE(0));
}
