import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { HostdClient } from "../../src/backends/disposable-host/hostd-client.js";
import { attachedPlacement, hostdPlacement } from "../../src/backends/disposable-host/hostd-placement.js";
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
} from "../../src/backends/disposable-host/hostd-protocol.js";

/** A HostdClient whose other end is the test: frames it sent are decoded, frames for it are pushed. */
function fakeHostd() {
  const sent: Frame[] = [];
  const decoder = new FrameDecoder();
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      sent.push(...decoder.push(chunk));
      done();
    },
  });
  const client = new HostdClient(stream);
  const reply = (type: FrameType, channel: number, payload: string) =>
    stream.push(encodeFrame(type, channel, Buffer.from(payload)));
  return { client, sent, reply, stream };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("hostd placement", () => {
  it("spawns in the run's work dir (made first) with a base environment and the run's variables", () => {
    const h = fakeHostd();
    const placed = hostdPlacement(h.client, 1, 77).spawn(["/bin/agent", "--x"], {
      env: { EZONE_RUN: "tag" },
      cwd: "/tmp/run dir",
      extraStdio: undefined,
    });
    expect(placed.pid).toBe(77);
    const spawn = h.sent[0];
    expect(spawn?.type).toBe(FrameType.SPAWN);
    expect(spawn?.channel).toBe(1);
    const fields = spawn?.payload.toString().split("\0") ?? [];
    expect(fields[0]).toBe("/");
    expect(fields).toContain("EZONE_RUN=tag");
    expect(fields.some((f) => f.startsWith("PATH="))).toBe(true);
    expect(fields.slice(-6)).toEqual([
      "-c",
      'mkdir -p "$0" && cd "$0" && exec "$@"',
      "/tmp/run dir",
      "/bin/agent",
      "--x",
      "",
    ]);
  });

  it("refuses a control channel", () => {
    const h = fakeHostd();
    expect(() =>
      hostdPlacement(h.client, 1, 77).spawn(["/x"], { env: {}, cwd: "/", extraStdio: "pipe" }),
    ).toThrow(/control channel/);
  });

  it("carries stdin, stdout and the exit of a re-attached child", async () => {
    const h = fakeHostd();
    const placed = attachedPlacement(h.client, 1, 77).spawn(["ignored"], {
      env: {},
      cwd: "/",
      extraStdio: undefined,
    });
    expect(h.sent).toEqual([]);
    let out = "";
    placed.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    placed.stdin?.write("RESUME seed=1\n");
    await tick();
    expect(h.sent[0]).toMatchObject({ type: FrameType.STDIN, channel: 1 });
    expect(h.sent[0]?.payload.toString()).toBe("RESUME seed=1\n");
    h.reply(FrameType.STDOUT, 1, "READY ezone-agent\n");
    h.reply(FrameType.EXIT, 1, "exited 3");
    await expect(placed.exited).resolves.toEqual({ code: 3, signal: null });
    expect(out).toBe("READY ezone-agent\n");
  });

  it("kills the child's group with SIGTERM, then SIGKILL after the grace", async () => {
    const h = fakeHostd();
    const placed = attachedPlacement(h.client, 1, 77).spawn([], { env: {}, cwd: "/", extraStdio: undefined });
    const killed = placed.kill(10);
    await expect.poll(() => h.sent.filter((f) => f.type === FrameType.KILL).length).toBe(2);
    const signals = h.sent.filter((f) => f.type === FrameType.KILL).map((f) => f.payload.readUInt32LE(0));
    expect(signals).toEqual([15, 9]);
    h.reply(FrameType.EXIT, 1, "signaled SIGKILL");
    await expect(killed).resolves.toEqual({ code: null, signal: "SIGKILL" });
  });

  it("reads a lost channel as the child killed: its host went away", async () => {
    const h = fakeHostd();
    const placed = attachedPlacement(h.client, 1, 77).spawn([], { env: {}, cwd: "/", extraStdio: undefined });
    h.stream.destroy();
    await expect(placed.exited).resolves.toEqual({ code: null, signal: "SIGKILL" });
  });
});
