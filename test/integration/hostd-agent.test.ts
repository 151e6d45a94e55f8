/**
 * hostd, the disposable host's agent, run on the real host against a UNIX socket (`--channel`): spawn,
 * stdin, fd 3, output floods, kill, probes, a refused INSMOD (a bad path only: a fault module would crash
 * this machine), reconnection, and no child left behind.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type HostdChild,
  HostdClient,
  HostdRequestError,
} from "../../src/backends/disposable-host/hostd-client.js";
import { compileHostd } from "../../src/guest/host-image.js";
import { type GroupChild, spawnGroup } from "../../src/util/child.js";
import { deadline } from "../../src/util/deadline.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";

const SESSION = `EZONE_TEST_SESSION`;
/** Every child gets the test session's tag, so `processesMatching` sees what hostd left behind. */
const ENV = { PATH: "/usr/bin:/bin", [SESSION]: process.env[SESSION] as string };

let dir: string;
let hostdBin: string;
let server: Server;
let hostd: GroupChild;
let client: HostdClient;
const connections: Socket[] = [];
let nextId = 1;

/** The next connection hostd makes to the test's socket (it reconnects every 20 ms while away). */
function nextConnection(ms = 10_000): Promise<Socket> {
  const signal = deadline(null, ms);
  return new Promise((resolve, reject) => {
    const onConn = (s: Socket) => {
      signal.removeEventListener("abort", onAbort);
      resolve(s);
    };
    const onAbort = () => {
      server.off("connection", onConn);
      reject(new Error(`hostd did not connect within ${ms} ms`));
    };
    server.once("connection", onConn);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Collect a child's output until it exits. */
async function outputOf(child: HostdChild): Promise<{ stdout: string; stderr: string; exit: unknown }> {
  let stdout = "";
  let stderr = "";
  child.on("stdout", (b) => {
    stdout += b.toString();
  });
  child.on("stderr", (b) => {
    stderr += b.toString();
  });
  const exit = await child.exited;
  return { stdout, stderr, exit };
}

/** Wait until `check` holds, re-checking on a short tick, failing after `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const signal = deadline(null, ms);
  while (!check()) {
    if (signal.aborted) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.runIf(hasBinary("gcc"))("hostd on the real host", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ezone-hostd-"));
    hostdBin = await compileHostd(join(dir, "hostd"));
    const path = join(dir, "hostd.sock");
    server = createServer((s) => connections.push(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const conn = nextConnection();
    hostd = spawnGroup([hostdBin, "--channel", path], { env: { ...process.env } });
    client = new HostdClient(await conn);
  });

  afterAll(async () => {
    await hostd?.kill(1000);
    for (const s of connections) s.destroy();
    await new Promise((r) => server?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it("answers HELLO with its protocol version and no children", async () => {
    expect(await client.hello()).toEqual({ version: 1, children: [] });
  });

  it("runs /bin/echo: STDOUT then EXIT 0", async () => {
    const r = await outputOf(client.spawn(nextId++, ["/bin/echo", "hi"], { cwd: "/", env: ENV }));
    expect(r).toEqual({ stdout: "hi\n", stderr: "", exit: { kind: "exited", code: 0 } });
  });

  it("gives the child exactly the environment and working directory asked, and searches PATH", async () => {
    const child = client.spawn(nextId++, ["sh", "-c", 'pwd; echo "$FOO"; printenv HOME || echo unset'], {
      cwd: dir,
      env: { ...ENV, FOO: "bar" },
    });
    const r = await outputOf(child);
    expect(r.stdout).toBe(`${dir}\nbar\nunset\n`);
  });

  it("reports a command that cannot start as STDERR with the reason and EXIT 127", async () => {
    const r = await outputOf(client.spawn(nextId++, ["/nonexistent/cmd"], { cwd: "/", env: ENV }));
    expect(r.stderr).toMatch(/hostd: exec \/nonexistent\/cmd: No such file or directory/);
    expect(r.exit).toEqual({ kind: "exited", code: 127 });
    const r2 = await outputOf(client.spawn(nextId++, ["/bin/true"], { cwd: "/nonexistent", env: ENV }));
    expect(r2.stderr).toMatch(/hostd: chdir \/nonexistent: No such file/);
  });

  it("feeds stdin and closes it; fd 3 is a two-way channel when asked", async () => {
    const cat = client.spawn(nextId++, ["cat"], { cwd: "/", env: ENV });
    cat.stdin("abc");
    cat.stdin(Buffer.alloc(100_000, 0x61));
    cat.closeStdin();
    const r = await outputOf(cat);
    expect(r.stdout.length).toBe(100_003);
    expect(r.exit).toEqual({ kind: "exited", code: 0 });

    const echo3 = client.spawn(nextId++, ["sh", "-c", 'read l <&3; echo "got $l" >&3'], {
      cwd: "/",
      env: ENV,
      fd3: true,
    });
    let fd3 = "";
    echo3.on("fd3", (b) => {
      fd3 += b.toString();
    });
    echo3.fd3("x\n");
    expect(await echo3.exited).toEqual({ kind: "exited", code: 0 });
    expect(fd3).toBe("got x\n");
  });

  it("relays a 20 MB flood whole, heartbeating meanwhile", async () => {
    let bytes = 0;
    let beats = 0;
    const onBeat = () => beats++;
    client.on("heartbeat", onBeat);
    const flood = client.spawn(nextId++, ["sh", "-c", "head -c 20000000 /dev/zero; sleep 0.5"], {
      cwd: "/",
      env: ENV,
    });
    flood.on("stdout", (b) => {
      bytes += b.length;
    });
    expect(await flood.exited).toEqual({ kind: "exited", code: 0 });
    client.off("heartbeat", onBeat);
    expect(bytes).toBe(20_000_000);
    expect(beats).toBeGreaterThan(0);
  });

  it("KILL signals the whole group: SIGTERM ignored, SIGKILL ends it, nothing is left", async () => {
    const stubborn = client.spawn(
      nextId++,
      ["sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 0.2; done', "stubborn-sh"],
      { cwd: "/", env: ENV },
    );
    await new Promise<void>((resolve) => stubborn.once("stdout", () => resolve()));
    stubborn.kill("SIGTERM");
    // A probe round trip orders the TERM before the KILL in hostd's input.
    await client.probe();
    stubborn.kill("SIGKILL");
    expect(await stubborn.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
    await eventually(() => processesMatching("stubborn-sh").length === 0, 5000, "no stubborn-sh left");
  });

  it("PROBE reports taint, runnable tasks, fork+exec time, available memory and kernel-log crashes", async () => {
    const p = await client.probe();
    expect(p.taint).toBeGreaterThanOrEqual(0);
    expect(p.runnable).toBeGreaterThanOrEqual(1);
    expect(p.forkexecMs).toBeGreaterThan(0);
    expect(p.memAvailableKb).toBeGreaterThan(0);
    expect(p.oops === null || p.oops >= 0).toBe(true);
  });

  it("INSMOD of a missing file is refused with ENOENT (never a real module on the real host)", async () => {
    const e = await client.insmod(join(dir, "missing.ko"), "nonce=x").catch((err: unknown) => err);
    expect(e).toBeInstanceOf(HostdRequestError);
    expect(e).toMatchObject({ request: "insmod", errno: 2 });
  });

  it("heartbeats carry a growing monotonic clock", async () => {
    const beats: number[] = [];
    await new Promise<void>((resolve) => {
      const on = (ms: number) => {
        beats.push(ms);
        if (beats.length === 2) {
          client.off("heartbeat", on);
          resolve();
        }
      };
      client.on("heartbeat", on);
    });
    expect(beats[1]).toBeGreaterThan(beats[0] as number);
  });

  it("keeps its children across a reconnect and lists them in HELLO", async () => {
    const id = nextId++;
    const sleeper = client.spawn(id, ["sh", "-c", "echo up; exec sleep 600", "reconnect-sleeper"], {
      cwd: "/",
      env: ENV,
    });
    await new Promise<void>((resolve) => sleeper.once("stdout", () => resolve()));
    const again = nextConnection();
    client.close();
    await expect(sleeper.exited).rejects.toThrow(/closed before child/);
    client = new HostdClient(await again);
    expect((await client.hello()).children).toEqual([id]);
    const adopted = client.adopt(id);
    adopted.kill("SIGKILL");
    expect(await adopted.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
    expect((await client.hello()).children).toEqual([]);
  });

  it("ignores a stream that breaks the protocol until the host reconnects", async () => {
    let stderr = "";
    hostd.proc.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const socket = connections.at(-1) as Socket;
    socket.write(Buffer.from("garbage!"));
    await expect(client.hello({ timeoutMs: 1000 })).rejects.toThrow(/hostd\.hello: no answer within 1000 ms/);
    expect(stderr).toMatch(/hostd: protocol error \(type 103, reserved 97, length \d+\)/);
    const again = nextConnection();
    client.close();
    client = new HostdClient(await again);
    expect(await client.hello()).toEqual({ version: 1, children: [] });
  });

  it("fails a request whose deadline passes, naming it", async () => {
    const stalled = new HostdClient(new (await import("node:stream")).PassThrough());
    await expect(stalled.probe({ timeoutMs: 50 })).rejects.toThrow(/hostd\.probe: no answer within 50 ms/);
    stalled.close();
  });

  it("kills every child when it is stopped: none outlives it", async () => {
    client.spawn(nextId++, ["sh", "-c", "exec sleep 600", "last-sleeper"], { cwd: "/", env: ENV });
    await client.hello();
    await eventually(() => processesMatching("sleep 600").length === 1, 5000, "the sleeper started");
    await hostd.kill(2000);
    await eventually(() => processesMatching("sleep 600").length === 0, 5000, "no sleeper left");
  });
});
