import { describe, expect, it } from "vitest";
import { bwrapArgv } from "../../src/backends/container.js";
import { runscArgv, SENTRY_PANIC_SIGNAL } from "../../src/backends/gvisor.js";
import { BACKEND_NAMES, createBackend } from "../../src/backends/index.js";
import { FAULT_NAMES, faultSpec } from "../../src/faults/catalogue.js";
import { readCpio, writeCpio } from "../../src/guest/cpio.js";

const backend = (name: (typeof BACKEND_NAMES)[number]) => createBackend({ name, type: name, exec: null });

describe("supports(fault): refusals are statements", () => {
  it.each(BACKEND_NAMES)("%s hosts the control run (fault none)", (name) => {
    expect(backend(name).supports(faultSpec("none"))).toEqual({ supported: true });
  });

  it.each(["native", "container"] as const)(
    "%s refuses every guest-kernel fault as a host-kernel fault (zone 3 ≡ zone 1)",
    (name) => {
      const zone3 = FAULT_NAMES.filter((f) => f !== "none" && faultSpec(f).zone === 3);
      expect(zone3.length).toBeGreaterThan(0);
      for (const f of zone3) {
        const s = backend(name).supports(faultSpec(f));
        expect(s.supported, f).toBe(false);
        if (!s.supported) expect(s.reason).toMatch(/zone 3 ≡ zone 1/);
      }
    },
  );

  it("gvisor refuses Linux guest-kernel faults: the Sentry loads no modules and has no sysrq", () => {
    expect(backend("gvisor").supports(faultSpec("sysrq-c"))).toEqual({
      supported: false,
      reason: expect.stringMatching(/Sentry, not Linux/),
    });
    const s = backend("gvisor").supports(faultSpec("kerncrash"));
    expect(s).toEqual({
      supported: false,
      reason: expect.stringMatching(/Sentry.*cannot load Linux kernel modules/),
    });
  });

  it("the Sentry panic is refused wherever there is no Sentry", () => {
    for (const name of BACKEND_NAMES) {
      const s = backend(name).supports(faultSpec("sentry-panic"));
      expect(s.supported, name).toBe(name === "gvisor");
    }
  });

  it("zone-2 signals and hogs, and zone-4 faults, run on every backend (memory exhaustion on VMs only)", () => {
    // bitflip (qemu-tcg only) has its own test: test/unit/bitflip-config.test.ts.
    for (const name of BACKEND_NAMES)
      for (const f of FAULT_NAMES.filter(
        (f) => [2, 4].includes(faultSpec(f).zone) && f !== "sentry-panic" && f !== "bitflip",
      )) {
        const vmOnly =
          faultSpec(f).exhaustsMemory === true && ["native", "container", "gvisor"].includes(name);
        expect(backend(name).supports(faultSpec(f)).supported, `${name} × ${f}`).toBe(!vmOnly);
      }
  });

  it("memory exhaustion is refused where the enclave's memory is the host's", () => {
    for (const name of ["native", "container", "gvisor"] as const) {
      expect(backend(name).supports(faultSpec("oomhog"))).toEqual({
        supported: false,
        reason: expect.stringMatching(/no memory of its own/),
      });
    }
  });

  it("a VM backend takes guest-kernel faults", () => {
    expect(backend("qemu-tcg").supports(faultSpec("kerncrash")).supported).toBe(true);
  });

  it("continuum ranks: native 0 < container 1 < gvisor 2 < kvm 3 < exec 4 < qemu-tcg 5", () => {
    const ranks = Object.fromEntries(BACKEND_NAMES.map((n) => [n, backend(n).continuumRank]));
    expect(ranks).toMatchObject({ native: 0, container: 1, gvisor: 2, kvm: 3, exec: 4, "qemu-tcg": 5 });
  });

  it("hogs are marked to run alone", () => {
    expect(faultSpec("host-cpu-hog").runsAlone).toBe(true);
    expect(faultSpec("host-memory-hog").runsAlone).toBe(true);
    expect(faultSpec("vmm-sigkill").runsAlone).toBeUndefined();
  });
});

describe("sandbox command lines", () => {
  it("bwrap: own PID/IPC/UTS/net namespaces, read-only root, the run's tag, stays in ezone's group", () => {
    const argv = bwrapArgv("/img/rootfs", "tag-1", ["/sbin/ezone-agent", "--cmdline", "ezone.hb=250"]);
    for (const f of ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--die-with-parent"])
      expect(argv).toContain(f);
    expect(argv).not.toContain("--new-session");
    expect(argv.join(" ")).toContain("--ro-bind /img/rootfs / ");
    expect(argv.join(" ")).toContain("--setenv EZONE_RUN tag-1");
    expect(argv.slice(-3)).toEqual(["/sbin/ezone-agent", "--cmdline", "ezone.hb=250"]);
  });

  it("runsc: ptrace platform, no network, a panic signal and log, the image root", () => {
    const argv = runscArgv("/w/state", "/w/panic.log", ["/sbin/ezone-agent"], "/img/rootfs");
    expect(argv).toEqual(
      expect.arrayContaining([
        "--platform=ptrace",
        "--network=none",
        `--panic-signal=${SENTRY_PANIC_SIGNAL}`,
        "--panic-log=/w/panic.log",
      ]),
    );
    expect(argv.join(" ")).toContain("do -root /img/rootfs -cwd /");
    expect(argv.at(-1)).toBe("/sbin/ezone-agent");
  });
});

describe("readCpio", () => {
  it("reads back what writeCpio wrote", () => {
    const archive = writeCpio([
      { type: "dir", path: "sbin" },
      { type: "file", path: "sbin/agent", data: Buffer.from("ELF!"), mode: 0o755 },
      { type: "symlink", path: "bin/sh", target: "busybox" },
      { type: "chardev", path: "dev/console", major: 5, minor: 1 },
    ]);
    const got = readCpio(archive).map((m) => ({
      path: m.path,
      mode: m.mode.toString(8),
      data: m.data.toString(),
    }));
    expect(got).toEqual([
      { path: "bin/sh", mode: "120777", data: "busybox" },
      { path: "dev/console", mode: "20600", data: "" },
      { path: "sbin", mode: "40755", data: "" },
      { path: "sbin/agent", mode: "100755", data: "ELF!" },
    ]);
  });

  it("rejects a truncated archive", () => {
    const archive = writeCpio([{ type: "file", path: "a", data: Buffer.alloc(100) }]);
    expect(() => readCpio(archive.subarray(0, 150))).toThrow(/past the end/);
    expect(() => readCpio(Buffer.from("not a cpio archive at all, not at all, no".repeat(4)))).toThrow(
      /bad magic/,
    );
  });
});
