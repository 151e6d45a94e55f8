import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  checksum,
  frame,
  fromTargetHex,
  GdbRemote,
  takePackets,
  toTargetHex,
} from "../../src/backends/qemu/gdb-remote.js";
import { InfraError } from "../../src/util/errors.js";

describe("gdb remote-protocol framing", () => {
  it("frames a packet with its checksum (sum of bytes mod 256)", () => {
    expect(checksum("OK")).toBe("9a");
    expect(frame("?")).toBe("$?#3f");
    expect(frame("Qqemu.PhyMemMode:1")).toBe(`$Qqemu.PhyMemMode:1#${checksum("Qqemu.PhyMemMode:1")}`);
    expect(() => frame("m$1")).toThrow(RangeError);
  });

  it("takes complete packets, skips acks and keeps a split packet for later", () => {
    expect(takePackets("+$OK#9a+$T05thread:01;#07$E0")).toEqual({
      packets: ["OK", "T05thread:01;"],
      rest: "$E0",
    });
    expect(takePackets("$OK#9")).toEqual({ packets: [], rest: "$OK#9" });
  });

  it("refuses a bad checksum and an endless packet", () => {
    expect(() => takePackets("$OK#00")).toThrow(/bad checksum/);
    expect(() => takePackets(`$${"x".repeat(70_000)}`)).toThrow(/longer than 64 KiB/);
  });

  it("reads and writes register values in the target's (little-endian) byte order", () => {
    expect(fromTargetHex("f0ff000000000000")).toBe(0xfff0n);
    expect(toTargetHex(0x8000_0000_0000_fff0n, 8)).toBe("f0ff000000000080");
    expect(toTargetHex(fromTargetHex("02000000") ^ 1n, 4)).toBe("03000000");
  });
});

/** A stub on a UNIX socket answering requests from a table; unknown requests get no answer. */
function fakeStub(path: string, answers: Record<string, string>): Promise<Server> {
  const server = createServer((sock: Socket) => {
    let buf = "";
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      buf += d;
      const { packets, rest } = takePackets(buf);
      buf = rest;
      for (const p of packets) {
        sock.write("+");
        const a = answers[p];
        if (a !== undefined) sock.write(frame(a));
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe("GdbRemote", () => {
  let dir = "";
  let server: Server | null = null;
  afterEach(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("asks, acknowledges and reads memory and registers", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-gdb-"));
    const path = join(dir, "gdb.sock");
    server = await fakeStub(path, {
      "?": "T05thread:01;",
      "m1000,1": "5a",
      "M1000,1:52": "OK",
      p10: "f0ff000000000000",
      "Z0,49fc30,1": "E22",
    });
    const signal = AbortSignal.timeout(5000);
    await using gdb = await GdbRemote.connect(path, signal);
    expect(await gdb.request("?", signal)).toBe("T05thread:01;");
    // A stop packet QEMU sends unasked is not the answer to a memory read.
    gdb.send("?");
    expect(await gdb.readMemory(0x1000n, 1, signal)).toBe("5a");
    expect(await gdb.readMemory(0x1000n, 1, signal)).toBe("5a");
    await gdb.writeMemory(0x1000n, "52", signal);
    expect(await gdb.readRegister(16, signal)).toBe("f0ff000000000000");
    await expect(gdb.expectOk("Z0,49fc30,1", signal)).rejects.toThrow(/answered E22/);
  });

  it("gives up on a stub that does not answer, naming the request", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-gdb-"));
    const path = join(dir, "gdb.sock");
    server = await fakeStub(path, {});
    await using gdb = await GdbRemote.connect(path, AbortSignal.timeout(5000));
    const err = await gdb.request("?", AbortSignal.timeout(100)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect(String((err as Error).message)).toMatch(/\?: no answer from the gdbstub/);
  });

  it("fails to connect where no stub listens", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-gdb-"));
    await expect(GdbRemote.connect(join(dir, "none.sock"), AbortSignal.timeout(2000))).rejects.toThrow(
      /cannot connect to the gdbstub/,
    );
  });
});
