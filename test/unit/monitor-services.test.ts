import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CappedFile } from "../../src/monitor-daemon/capped-file.js";
import { listenControl, sendControl } from "../../src/monitor-daemon/enclave-control.js";
import { listEnclaves, stopEnclave } from "../../src/monitor-daemon/enclave-registry.js";
import type { EnclaveRecord } from "../../src/monitor-daemon/enclave-service.js";
import { enclavePaths, syslogServicePaths } from "../../src/monitor-daemon/runtime-dir.js";
import {
  isAlive,
  readRecord,
  recordOf,
  stopService,
  writeRecord,
} from "../../src/monitor-daemon/service-record.js";
import { setupSyslog, teardownSyslog } from "../../src/monitor-daemon/syslog-setup.js";
import { hasBinary } from "../helpers/capabilities.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ezs-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("CappedFile", () => {
  it("keeps bytes up to its cap, counts the rest and says so on its last line", () => {
    const path = join(dir, "console.log");
    const f = new CappedFile(path, 10);
    f.write(Buffer.from("0123456"));
    f.write(Buffer.from("789abc"));
    f.write(Buffer.from("def"));
    expect(f.cut).toBe(6);
    f.close();
    f.close();
    expect(readFileSync(path, "utf8")).toBe(
      "0123456789\n[ezone: 6 more console bytes not stored (cap 10)]\n",
    );
  });

  it("adds nothing when under the cap", () => {
    const path = join(dir, "console.log");
    const f = new CappedFile(path, 100);
    f.write(Buffer.from("READY\n"));
    f.close();
    expect(readFileSync(path, "utf8")).toBe("READY\n");
  });
});

/** A child that ignores SIGTERM (only SIGKILL ends it), and resolves once it is set up. */
function stubbornChild() {
  const child = spawn(
    process.execPath,
    ["-e", "process.on('SIGTERM',()=>{}); console.log('up'); setInterval(()=>{},1000)"],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const up = new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  return { child, up };
}

describe("service records", () => {
  it("names a live process by PID and start time; another start time is not it", () => {
    const me = recordOf(process.pid);
    expect(me && isAlive(me)).toBe(true);
    expect(isAlive({ pid: process.pid, startTicks: (me?.startTicks ?? 0) + 1 })).toBe(false);
  });

  it("reads back what it wrote, and null for a missing or foreign file", () => {
    const path = join(dir, "r.json");
    writeRecord(path, { pid: 7, startTicks: 9, name: "x" });
    expect(readRecord(path)).toEqual({ pid: 7, startTicks: 9, name: "x" });
    writeFileSync(path, '{"pid":"7"}');
    expect(readRecord(path)).toBeNull();
    expect(readRecord(join(dir, "none.json"))).toBeNull();
  });

  it("stops a service that ignores SIGTERM with SIGKILL after the grace period; a dead one is not stopped", async () => {
    const { child, up } = stubbornChild();
    await up;
    const r = recordOf(child.pid as number);
    if (!r) throw new Error("no record of the child");
    const exited = new Promise((resolve) => child.once("exit", (_c, s) => resolve(s)));
    expect(await stopService(r, 200)).toBe(true);
    expect(await exited).toBe("SIGKILL");
    expect(await stopService(r, 200)).toBe(false);
  });
});

describe("the enclave control socket", () => {
  it("answers inject with the handler's nonce, and every bad request with a reason", async () => {
    const path = join(dir, "control.sock");
    const server = await listenControl(path, {
      inject: (fault) => {
        if (fault !== "kerncrash") throw new Error(`unknown guest fault ${fault}`);
        return { nonce: "abc" };
      },
    });
    try {
      expect(await sendControl(path, { op: "inject", fault: "kerncrash" })).toEqual({
        ok: true,
        nonce: "abc",
      });
      expect(await sendControl(path, { op: "inject", fault: "nope" })).toEqual({
        ok: false,
        error: "unknown guest fault nope",
      });
      expect(await raw(path, "not json\n")).toMatchObject({ ok: false, error: "request is not JSON" });
      expect(await raw(path, '{"op":"stop"}\n')).toMatchObject({ ok: false });
      expect(await raw(path, "x".repeat(5000))).toMatchObject({ ok: false, error: /longer than 1024/ });
    } finally {
      await server.close();
    }
    expect(existsSync(path)).toBe(false);
    await expect(sendControl(path, { op: "inject", fault: "kerncrash" })).rejects.toThrow(/cannot reach/);
  });
});

function raw(path: string, text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(path, () => conn.write(text));
    let reply = "";
    conn.on("data", (b) => {
      reply += b.toString();
    });
    conn.on("end", () => resolve(JSON.parse(reply)));
    conn.on("error", reject);
  });
}

describe("the enclave registry", () => {
  function record(name: string, over: Partial<EnclaveRecord>): void {
    const p = enclavePaths(dir, name);
    mkdirSync(p.dir, { recursive: true });
    const me = recordOf(process.pid) ?? { pid: 0, startTicks: 0 };
    writeRecord(p.record, {
      ...me,
      name,
      backend: "qemu-tcg",
      phase: "running",
      startedAt: 0,
      readyAt: 1,
      vmmPid: null,
      syslog: null,
      console: p.console,
      ended: null,
      ...over,
    } satisfies EnclaveRecord);
  }

  it("lists running, ended and dead enclaves (a record whose supervisor is gone), and removes a dead one", async () => {
    record("a", {});
    record("b", { phase: "ended", ended: { at: 2, why: "the enclave exited with status 1" } });
    record("c", { startTicks: -5 });
    mkdirSync(join(dir, "enclaves", "junk"));
    expect(listEnclaves(dir).map((e) => [e.record.name, e.status])).toEqual([
      ["a", "running"],
      ["b", "ended"],
      ["c", "dead"],
    ]);
    expect(await stopEnclave(dir, "c")).toBe("dead");
    expect(existsSync(enclavePaths(dir, "c").dir)).toBe(false);
    await expect(stopEnclave(dir, "zz")).rejects.toThrow(/no enclave zz/);
  });
});

describe.runIf(hasBinary("rsyslogd"))("monitor setup's private rsyslogd", () => {
  it("starts once, leaves a daemon with the same configuration alone, restarts on a change, stops", async () => {
    const first = syslogServicePaths(join(dir, "run"), join(dir, "a.log"));
    try {
      const started = await setupSyslog(first);
      expect(started.action).toBe("started");
      expect(existsSync(first.socket)).toBe(true);
      expect((await setupSyslog(first)).action).toBe("unchanged");
      const moved = await setupSyslog(syslogServicePaths(join(dir, "run"), join(dir, "b.log")));
      expect(moved.action).toBe("restarted");
      expect(moved.pid).not.toBe(started.pid);
      expect(isAlive({ pid: started.pid, startTicks: recordOf(started.pid)?.startTicks ?? -1 })).toBe(false);
    } finally {
      expect(await teardownSyslog(first)).toBe(true);
    }
    expect(await teardownSyslog(first)).toBe(false);
    expect(existsSync(first.socket)).toBe(false);
  });

  it("a configuration rsyslogd rejects is an infrastructure error and starts nothing", async () => {
    const paths = syslogServicePaths(join(dir, "run"), join(dir, "a.log"));
    await expect(setupSyslog(paths, "false")).rejects.toThrow(/rsyslogd.validate: false -N1 rejected/);
    expect(existsSync(paths.record)).toBe(false);
  });
});
