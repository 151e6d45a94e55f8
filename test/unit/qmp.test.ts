import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { attachQmp, type QmpEvent, raceDeadline } from "../../src/backends/qemu/qmp.js";

/** A connected pair of UNIX sockets: `qemu` plays QEMU's side of QMP, `ezone` is what the client gets. */
interface Pair {
  qemu: Socket;
  ezone: Socket;
  /** Lines ezone sent, parsed. */
  sent: Record<string, unknown>[];
  /** Resolves at ezone's next line. */
  nextSent(): Promise<Record<string, unknown>>;
}

let dir: string;
let server: Server;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ezone-qmp-"));
});
afterEach(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function socketPair(): Promise<Pair> {
  const path = join(dir, "qmp.sock");
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer(resolve);
    server.listen(path);
  });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const ezone = connect(path);
  const qemu = await accepted;
  const sent: Record<string, unknown>[] = [];
  const waiting: ((msg: Record<string, unknown>) => void)[] = [];
  let buf = "";
  qemu.setEncoding("utf8");
  qemu.on("data", (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      sent.push(msg);
      waiting.shift()?.(msg);
    }
  });
  return { qemu, ezone, sent, nextSent: () => new Promise((resolve) => waiting.push(resolve)) };
}

const forever = new AbortController().signal;
const isCompleted = (data: unknown) => (data as { status?: string }).status === "completed";

describe("QMP client", () => {
  it("negotiates on the greeting, then runs commands and reports events", async () => {
    const pair = await socketPair();
    const events: QmpEvent[] = [];
    const qmp = attachQmp(pair.ezone, (ev) => events.push(ev));
    const negotiated = pair.nextSent();
    pair.qemu.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
    await qmp.greeted;
    expect(await negotiated).toEqual({ execute: "qmp_capabilities" });

    const asked = pair.nextSent();
    const answer = qmp.execute("query-status", undefined, forever);
    const { id } = await asked;
    // An event split across writes, then the answer and a torn line that is skipped.
    pair.qemu.write('{"event": "STOP", "da');
    pair.qemu.write(`ta": {}}\n{"return": {"status": "running"}, "id": ${id}}\n{not json\n`);
    expect(await answer).toEqual({ status: "running" });
    expect(events.map((e) => e.event)).toEqual(["STOP"]);

    const refused = qmp.execute("migrate", { uri: "exec:false" }, forever);
    const second = await pair.nextSent();
    pair.qemu.write(`${JSON.stringify({ error: { desc: "no migration" }, id: second.id })}\n`);
    await expect(refused).rejects.toThrow("QMP: no migration");
    pair.ezone.destroy();
  });

  it("waitEvent resolves with the first matching event after it was asked, and lets go of it", async () => {
    const pair = await socketPair();
    const qmp = attachQmp(pair.ezone, () => {});
    const ended = qmp.waitEvent("MIGRATION", isCompleted, forever);
    pair.qemu.write('{"event": "MIGRATION", "data": {"status": "active"}}\n');
    pair.qemu.write('{"event": "RESUME"}\n{"event": "MIGRATION", "data": {"status": "completed"}}\n');
    expect(await ended).toMatchObject({ event: "MIGRATION", data: { status: "completed" } });
    pair.ezone.destroy();
  });

  it("waitEvent says deadline when its signal aborts first, and closed when QEMU goes away first", async () => {
    const pair = await socketPair();
    const qmp = attachQmp(pair.ezone, () => {});
    const controller = new AbortController();
    const timedOut = qmp.waitEvent("MIGRATION", isCompleted, controller.signal);
    controller.abort(new Error("test deadline"));
    expect(await timedOut).toBe("deadline");
    expect(await qmp.waitEvent("MIGRATION", isCompleted, controller.signal)).toBe("deadline");

    const gone = qmp.waitEvent("MIGRATION", isCompleted, forever);
    const pendingCommand = qmp.execute("query-status", undefined, forever);
    pair.qemu.destroy();
    expect(await gone).toBe("closed");
    await expect(pendingCommand).rejects.toThrow("QMP connection closed");
    expect(await qmp.waitEvent("SHUTDOWN", () => true, forever)).toBe("closed");
    await expect(qmp.execute("cont", undefined, forever)).rejects.toThrow("connection closed");
  });

  it("drops a line over 64 KiB without buffering it and reads on after it", async () => {
    const pair = await socketPair();
    const events: string[] = [];
    const qmp = attachQmp(pair.ezone, (ev) => events.push(ev.event));
    const resumed = qmp.waitEvent("RESUME", () => true, forever);
    pair.qemu.write(`{"event": "HUGE", "data": "${"x".repeat(100 * 1024)}"}\n{"event": "RESUME"}\n`);
    expect(await resumed).toMatchObject({ event: "RESUME" });
    expect(events).toEqual(["RESUME"]);
    pair.ezone.destroy();
  });
});

describe("raceDeadline", () => {
  it("returns the first wait to settle, deadline when the signal aborts first or already has", async () => {
    const never = new Promise<string>(() => {});
    expect(await raceDeadline(forever, [never, Promise.resolve("exit")])).toBe("exit");
    const controller = new AbortController();
    const raced = raceDeadline(controller.signal, [never]);
    controller.abort();
    expect(await raced).toBe("deadline");
    expect(await raceDeadline(controller.signal, [Promise.resolve("late")])).toBe("deadline");
  });
});
