import { describe, expect, it } from "vitest";
import {
  encodeFrame,
  encodeInsmod,
  encodeKill,
  encodeSpawn,
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  HostdProtocolError,
  MAX_PAYLOAD,
  parseExit,
  parseHeartbeat,
  parseHello,
  parseResult,
} from "../../src/backends/disposable-host/hostd-protocol.js";

describe("hostd frames", () => {
  it("encodes the header as [type][0][u16 LE channel][u32 LE length]", () => {
    const f = encodeFrame(FrameType.STDIN, 0x0102, Buffer.from("abc"));
    expect([...f]).toEqual([2, 0, 0x02, 0x01, 3, 0, 0, 0, 0x61, 0x62, 0x63]);
  });

  it("refuses a channel out of range and an oversize payload", () => {
    expect(() => encodeFrame(FrameType.PROBE, 0x10000)).toThrow(/channel 65536/);
    expect(() => encodeFrame(FrameType.STDIN, 1, Buffer.alloc(MAX_PAYLOAD + 1))).toThrow(/at most 65536/);
  });

  it("decodes frames split at every byte boundary", () => {
    const stream = Buffer.concat([
      encodeFrame(FrameType.STDOUT, 7, Buffer.from("hello")),
      encodeFrame(FrameType.HEARTBEAT, 0, Buffer.alloc(8)),
      encodeFrame(FrameType.EXIT, 7, Buffer.from("exited 0")),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(frames.map((f) => [f.type, f.channel, f.payload.toString()])).toEqual([
        [FrameType.STDOUT, 7, "hello"],
        [FrameType.HEARTBEAT, 0, "\0".repeat(8)],
        [FrameType.EXIT, 7, "exited 0"],
      ]);
      expect(d.pending).toBe(0);
    }
  });

  it("decodes a maximum-size frame fed one small chunk at a time", () => {
    const payload = Buffer.alloc(MAX_PAYLOAD, 0x5a);
    const stream = encodeFrame(FrameType.STDERR, 3, payload);
    const d = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < stream.length; i += 4096) frames.push(...d.push(stream.subarray(i, i + 4096)));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.payload.equals(payload)).toBe(true);
  });

  it("rejects garbage (unknown type, non-zero reserved byte) and stays broken", () => {
    const d = new FrameDecoder();
    expect(() => d.push(Buffer.from("garbage!"))).toThrow(HostdProtocolError);
    expect(() => d.push(encodeFrame(FrameType.STDOUT, 1))).toThrow(/unknown frame type 103/);
    const reserved = encodeFrame(FrameType.STDOUT, 1);
    reserved[1] = 9;
    expect(() => new FrameDecoder().push(reserved)).toThrow(/reserved header byte is 9/);
  });

  it("rejects an oversize frame from its header alone, without buffering it", () => {
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(FrameType.STDOUT, 0);
    header.writeUInt32LE(MAX_PAYLOAD + 1, 4);
    expect(() => new FrameDecoder().push(header)).toThrow(/65537 bytes exceeds 65536/);
  });
});

describe("hostd payloads", () => {
  it("encodes SPAWN as cwd, env entries, an empty entry, then argv", () => {
    const p = encodeSpawn({ cwd: "/tmp", env: { A: "1", PATH: "/bin" }, argv: ["/bin/echo", "hi"] });
    expect(p.toString().split("\0")).toEqual(["/tmp", "A=1", "PATH=/bin", "", "/bin/echo", "hi", ""]);
  });

  it("refuses a SPAWN with a NUL in an argument, a bad env key or no argv", () => {
    expect(() => encodeSpawn({ cwd: "/", env: {}, argv: ["a\0b"] })).toThrow(/argv\[0\]: contains a NUL/);
    expect(() => encodeSpawn({ cwd: "/", env: { "A=B": "1" }, argv: ["x"] })).toThrow(/env key/);
    expect(() => encodeSpawn({ cwd: "/", env: {}, argv: [] })).toThrow(/at least one/);
    expect(() => encodeSpawn({ cwd: "/", env: {}, argv: ["x".repeat(MAX_PAYLOAD)] })).toThrow(/at most/);
  });

  it("encodes KILL's signal and INSMOD's path and parameters", () => {
    expect([...encodeKill(15)]).toEqual([15, 0, 0, 0]);
    expect(encodeInsmod("/lib/x.ko", "nonce=abc delay_ms=0").toString()).toBe(
      "/lib/x.ko\0nonce=abc delay_ms=0",
    );
  });

  it("parses EXIT as an exit code or a signal name, nothing else", () => {
    expect(parseExit(Buffer.from("exited 127"))).toEqual({ kind: "exited", code: 127 });
    expect(parseExit(Buffer.from("signaled SIGKILL"))).toEqual({ kind: "signaled", signal: "SIGKILL" });
    expect(() => parseExit(Buffer.from("exited -1"))).toThrow(/EXIT payload unexpected/);
  });

  it("parses RESULT as ok with values or as an errno and a message", () => {
    expect(parseResult(Buffer.from("ok"))).toEqual({ ok: true, values: {} });
    expect(parseResult(Buffer.from("ok\ntaint=0\nrunnable=3\n"))).toEqual({
      ok: true,
      values: { taint: "0", runnable: "3" },
    });
    expect(parseResult(Buffer.from("err 2 No such file or directory"))).toEqual({
      ok: false,
      errno: 2,
      message: "No such file or directory",
    });
    expect(() => parseResult(Buffer.from("ok\nBAD LINE"))).toThrow(/RESULT line unexpected/);
    expect(() => parseResult(Buffer.from("maybe"))).toThrow(/RESULT payload unexpected/);
  });

  it("parses HELLO's reply with and without children", () => {
    expect(parseHello(Buffer.from("hostd 1\nchildren="))).toEqual({ version: 1, children: [] });
    expect(parseHello(Buffer.from("hostd 1\nchildren=3,17"))).toEqual({ version: 1, children: [3, 17] });
    expect(() => parseHello(Buffer.from("hostd one"))).toThrow(/HELLO reply unexpected/);
  });

  it("parses HEARTBEAT's u64 LE milliseconds and refuses another size", () => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(123456789n, 0);
    expect(parseHeartbeat(b)).toBe(123456789);
    expect(() => parseHeartbeat(Buffer.alloc(4))).toThrow(/wrong size/);
  });
});
