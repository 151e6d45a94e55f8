/**
 * The disposable host's image booted for real in QEMU-TCG (2 vCPUs, 1 GiB, hostd on a virtio-serial
 * port): hostd answers HELLO, runs /bin/echo, the native agent from the enclave rootfs at its real path
 * and today's container and gVisor command lines, probes the VM's kernel, and a guest fault module loaded with INSMOD panics the VM (pvpanic: QEMU
 * exits), its nonce line on the console.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapArgv } from "../../src/backends/container.js";
import { type HostdChild, HostdClient } from "../../src/backends/disposable-host/hostd-client.js";
import { runscArgv } from "../../src/backends/gvisor.js";
import { enclaveRootfs } from "../../src/guest/enclave-rootfs.js";
import { buildHostImage, type HostImage } from "../../src/guest/host-image.js";
import { type GroupChild, spawnGroup } from "../../src/util/child.js";
import { deadline } from "../../src/util/deadline.js";
import { hasBinary } from "../helpers/capabilities.js";

const CONSOLE_MAX = 512 * 1024;
const ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

let dir: string;
let image: HostImage;
let qemu: GroupChild;
let client: HostdClient;
let console_ = "";
let bootMs = 0;
let socket: string;

/** A connection to QEMU's chardev socket for hostd's port. */
async function connected(path: string): Promise<Socket> {
  const conn = connect(path);
  await new Promise<void>((resolve, reject) => {
    conn.once("connect", resolve);
    conn.once("error", reject);
  });
  return conn;
}

/** Resolve once the console has matched `re`, or fail after `ms` naming what was awaited. */
function consoleMatch(re: RegExp, ms: number): Promise<RegExpExecArray> {
  const signal = deadline(null, ms);
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(console_);
      if (m) {
        done();
        resolve(m);
      }
    };
    const onAbort = () => {
      done();
      reject(
        new Error(`no ${re} on the disposable host's console within ${ms} ms:\n${console_.slice(-2000)}`),
      );
    };
    const done = () => {
      qemu.proc.stdout?.off("data", check);
      signal.removeEventListener("abort", onAbort);
    };
    qemu.proc.stdout?.on("data", check);
    signal.addEventListener("abort", onAbort, { once: true });
    check();
  });
}

/** The first stdout line of `child` that matches `re`. */
function childLine(child: HostdChild, re: RegExp, ms: number): Promise<string> {
  const signal = deadline(null, ms);
  let text = "";
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      text += b.toString();
      const line = text.split("\n").find((l) => re.test(l));
      if (line) {
        signal.removeEventListener("abort", onAbort);
        child.off("stdout", onData);
        resolve(line);
      }
    };
    const onAbort = () => {
      child.off("stdout", onData);
      reject(new Error(`no ${re} from child ${child.id} within ${ms} ms: ${text.slice(-1000)}`));
    };
    child.on("stdout", onData);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

describe.runIf(hasBinary("qemu-system-x86_64"))("the disposable host image in QEMU-TCG", () => {
  beforeAll(async () => {
    image = await buildHostImage();
    dir = await mkdtemp(join(tmpdir(), "ezone-dh-"));
    socket = join(dir, "hostd.sock");
    const started = performance.now();
    qemu = spawnGroup([
      "qemu-system-x86_64",
      ...["-accel", "tcg", "-smp", "2", "-m", "1024", "-M", "q35", "-nodefaults", "-display", "none"],
      ...["-no-reboot", "-sandbox", "on", "-kernel", image.kernel, "-initrd", image.initramfs],
      ...[
        "-append",
        image.cmdline,
        "-device",
        "pvpanic",
        "-action",
        "panic=exit-failure",
        "-serial",
        "stdio",
      ],
      ...["-device", "virtio-serial-pci", "-chardev", `socket,id=hostd,path=${socket},server=on,wait=off`],
      ...["-device", "virtserialport,chardev=hostd,name=ezone.hostd"],
    ]);
    qemu.proc.stdout?.on("data", (b: Buffer) => {
      console_ = (console_ + b.toString("latin1")).slice(-CONSOLE_MAX);
    });
    await consoleMatch(/hostd: READY/, 60_000);
    bootMs = performance.now() - started;
    client = new HostdClient(await connected(socket));
  });

  afterAll(async () => {
    client?.close();
    await qemu?.kill(1000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("boots to hostd READY and answers HELLO", async () => {
    expect(bootMs).toBeGreaterThan(0);
    expect(await client.hello({ timeoutMs: 20_000 })).toEqual({ version: 1, children: [] });
  });

  it("runs /bin/echo: STDOUT then EXIT 0", async () => {
    const echo = client.spawn(1, ["/bin/echo", "hi"], { cwd: "/", env: ENV });
    let out = "";
    echo.on("stdout", (b) => {
      out += b.toString();
    });
    expect(await echo.exited).toEqual({ kind: "exited", code: 0 });
    expect(out).toBe("hi\n");
  });

  it("runs the native agent from the enclave rootfs at its real path: READY", async () => {
    const { agent } = await enclaveRootfs(image.guest);
    const native = client.spawn(2, [agent, "--cmdline", "quiet ezone.hb=250"], { cwd: "/", env: ENV });
    expect(await childLine(native, /^READY ezone-agent\/1 hb=250/, 30_000)).toMatch(/READY/);
    native.kill("SIGKILL");
    expect(await native.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it("runs today's container argv (bwrap's pivot_root works: the DH's root is a bind mount): READY", async () => {
    const { dir: root } = await enclaveRootfs(image.guest);
    const argv = bwrapArgv(root, "dh-test", ["/sbin/ezone-agent", "--cmdline", "quiet ezone.hb=250"]);
    const container = client.spawn(3, argv, { cwd: "/", env: ENV });
    expect(await childLine(container, /^READY ezone-agent\/1/, 30_000)).toMatch(/READY/);
    container.kill("SIGKILL");
    expect(await container.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it.runIf(hasBinary("runsc"))("runs today's gVisor argv (runsc do, ptrace platform): READY", async () => {
    const { dir: root } = await enclaveRootfs(image.guest);
    const mkdir = client.spawn(4, ["mkdir", "-p", "/tmp/gvisor-run"], { cwd: "/", env: ENV });
    expect(await mkdir.exited).toEqual({ kind: "exited", code: 0 });
    const agent = ["/sbin/ezone-agent", "--cmdline", "quiet ezone.hb=250"];
    const argv = runscArgv("/tmp/gvisor-run/state", "/tmp/gvisor-run/panic.log", agent, root);
    const gvisor = client.spawn(5, ["env", "TMPDIR=/tmp/gvisor-run", ...argv], { cwd: "/", env: ENV });
    expect(await childLine(gvisor, /^READY ezone-agent\/1/, 45_000)).toMatch(/READY/);
    gvisor.kill("SIGKILL");
    expect(await gvisor.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it("PROBE reports the VM's kernel: untainted, no oops, memory of a 1 GiB machine, 2 ticking vCPUs", async () => {
    const p = await client.probe();
    expect(p.raw).toMatchObject({ cpus_online: "2", cpus_stalled: "0" });
    expect(p.taint).toBe(0);
    expect(p.oops).toBe(0);
    expect(p.forkexecMs).toBeGreaterThan(0);
    expect(p.memAvailableKb).toBeGreaterThan(256 * 1024);
    expect(p.memAvailableKb).toBeLessThan(1024 * 1024);
  });

  it("heartbeats over the port, and keeps its children across a host reconnect (as after a restore)", async () => {
    expect(client.lastHeartbeatAt).not.toBeNull();
    const sleeper = client.spawn(6, ["sh", "-c", "echo up; exec sleep 600"], { cwd: "/", env: ENV });
    await childLine(sleeper, /^up$/, 10_000);
    client.close();
    client = new HostdClient(await connected(socket));
    expect((await client.hello({ timeoutMs: 10_000 })).children).toEqual([6]);
    const adopted = client.adopt(6);
    adopted.kill("SIGKILL");
    expect(await adopted.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it("INSMOD of the guest's kpanic.ko panics the disposable host: its nonce, then QEMU exits", async () => {
    const nonce = randomBytes(6).toString("hex");
    const insmod = client.insmod(`${image.faultModulesDir}/kpanic.ko`, `nonce=${nonce} delay_ms=0`);
    insmod.catch(() => {});
    const exit = await qemu.exited;
    expect(console_).toContain(`ezone-fault: kpanic nonce=${nonce} firing`);
    expect(console_).toMatch(/Kernel panic - not syncing: ezone kpanic requested/);
    // -action panic=exit-failure: pvpanic told QEMU, which exits with status 1.
    expect(exit).toEqual({ code: 1, signal: null });
    await expect(insmod).rejects.toThrow(/hostd\.channel/);
  });
});
