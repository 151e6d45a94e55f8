import { constants, existsSync } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, release } from "node:os";
import { join } from "node:path";
import type { BuiltImage } from "../../guest/image-builder.js";
import { defaultCacheDir } from "../../guest/image-builder.js";
import { runTool } from "../../util/child.js";
import { InfraError } from "../../util/errors.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Support,
} from "../backend.js";
import { guestKernelCmdline } from "../guest-cmdline.js";
import { startProcessEnclave } from "../process-enclave.js";
import { supportFor } from "../support.js";
import { attachQmp } from "./qmp.js";

export type QemuAccel = "tcg" | "kvm";

/** QEMU answers on QMP within milliseconds of starting; this is the deadline for it. */
const QMP_GREETING_MS = 15_000;

export interface QemuOptions {
  accel: QemuAccel;
  /** The emulator binary; tests point it at a bad path to provoke an infrastructure error. */
  binary?: string;
  /** Deadline of the KVM usability probe boot. */
  kvmProbeMs?: number;
}

/** The QEMU command line for one enclave (pure, unit-tested). */
export function qemuArgv(binary: string, accel: QemuAccel, spec: EnclaveSpec): string[] {
  const syslog = spec.syslog;
  if (syslog && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(syslog.hostname))
    throw new RangeError(
      `syslog hostname ${JSON.stringify(syslog.hostname)}: expected [A-Za-z0-9._-], at most 63`,
    );
  const cmdline = [
    guestKernelCmdline(spec),
    ...(syslog ? ["ezone.syslog=/dev/ttyS1", `ezone.name=${syslog.hostname}`] : []),
  ].join(" ");
  return [
    binary,
    ...["-accel", accel, "-M", "q35", "-m", String(spec.memoryMb), "-nodefaults", "-display", "none"],
    ...["-no-reboot", "-sandbox", "on"],
    ...["-kernel", spec.image.vmlinuz, "-initrd", spec.image.initramfs, "-append", cmdline],
    // pvpanic: the guest tells QEMU it panicked; QEMU emits GUEST_PANICKED and exits with status 1.
    ...["-device", "pvpanic", "-action", "panic=exit-failure"],
    // Console on stdio, drained continuously by ezone (an unread 16550 slows printk to ~10 ms a char).
    ...["-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"],
    // QMP on an inherited socket (fd 3): no path to race on, nothing to clean up.
    ...["-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control"],
    // The agent's syslog channel: the built-in 16550 ttyS1 (no guest module) on the host's socket;
    // reconnect=1 finds a restarted listener again.
    ...(syslog
      ? ["-chardev", `socket,id=syslog,path=${syslog.socket.replaceAll(",", ",,")},reconnect=1`]
      : []),
    ...(syslog ? ["-serial", "chardev:syslog"] : []),
  ];
}

export class QemuBackend implements Backend {
  readonly name: string;
  readonly continuumRank: number;
  readonly timeoutScale: number;
  private readonly binary: string;

  constructor(private readonly opts: QemuOptions) {
    this.name = opts.accel === "kvm" ? "kvm" : "qemu-tcg";
    this.continuumRank = opts.accel === "kvm" ? 3 : 5;
    this.timeoutScale = opts.accel === "kvm" ? 0.5 : 1;
    this.binary = opts.binary ?? "qemu-system-x86_64";
  }

  async version(signal: AbortSignal): Promise<string | null> {
    const r = await runTool([this.binary, "--version"], { signal, timeoutMs: 10_000 }).catch(() => null);
    if (r?.code !== 0) return null;
    return /version\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split("\n")[0] ?? null;
  }

  async probe(image: BuiltImage | null, signal: AbortSignal): Promise<Availability> {
    const version = await this.version(signal);
    if (!version) {
      return {
        available: false,
        reason: `${this.binary} not found or not runnable`,
        install: "apt-get install -y qemu-system-x86",
      };
    }
    if (this.opts.accel === "tcg")
      return { available: true, reason: `QEMU ${version} (TCG)`, version: `QEMU ${version}` };
    return this.probeKvm(version, image, signal);
  }

  /**
   * /dev/kvm existing proves little: on PVM hosts it accepts KVM_CREATE_VM yet a normal guest hangs
   * after decompression. Only a real boot to READY within a deadline counts; the answer is cached per
   * (host, host kernel, QEMU, image).
   */
  private async probeKvm(
    version: string,
    image: BuiltImage | null,
    signal: AbortSignal,
  ): Promise<Availability> {
    const base = {
      version: `QEMU ${version}`,
      install: "a host with working hardware virtualization (/dev/kvm)",
    };
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch (e) {
      return {
        ...base,
        available: false,
        reason: `no usable /dev/kvm (${(e as NodeJS.ErrnoException).code})`,
      };
    }
    if (!image) return { ...base, available: false, reason: "/dev/kvm present; no image to probe-boot yet" };
    const cacheFile = join(defaultCacheDir(), "kvm-probe.json");
    const key = [hostname(), release(), version, image.manifest.id].join("|");
    const cache = JSON.parse(await readFile(cacheFile, "utf8").catch(() => "{}")) as Record<
      string,
      Availability
    >;
    const hit = cache[key];
    if (hit) return { ...hit, reason: `${hit.reason} (cached probe)` };
    const result = await this.probeBoot(image, signal);
    cache[key] = { ...base, ...result };
    await mkdir(defaultCacheDir(), { recursive: true });
    await writeFile(cacheFile, JSON.stringify(cache, null, 2));
    return cache[key] as Availability;
  }

  private async probeBoot(
    image: BuiltImage,
    signal: AbortSignal,
  ): Promise<{ available: boolean; reason: string }> {
    const deadlineMs = this.opts.kvmProbeMs ?? 20_000;
    const workDir = await mkdtemp(join(defaultCacheDir(), ".kvm-probe-"));
    const started = performance.now();
    let seen = "";
    let ready: () => void = () => {};
    const readyP = new Promise<void>((r) => {
      ready = r;
    });
    const sink = (ev: EnclaveEvent) => {
      if (ev.type !== "console") return;
      seen = (seen + ev.data.toString("latin1")).slice(-4096);
      if (/(^|\n)READY ezone-agent/.test(seen)) ready();
    };
    const spec: EnclaveSpec = {
      image,
      memoryMb: 256,
      heartbeatMs: 1000,
      kernelArgs: [],
      arm: null,
      runTag: "kvm-probe",
      workDir,
    };
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(deadlineMs)]);
    try {
      await using enclave = await this.start(spec, sink, deadline);
      const aborted = new Promise<"deadline">((r) =>
        deadline.addEventListener("abort", () => r("deadline"), { once: true }),
      );
      const r = await Promise.race([
        readyP.then(() => "ready" as const),
        enclave.exited.then(() => "exit" as const),
        aborted,
      ]);
      if (r === "ready")
        return {
          available: true,
          reason: `KVM boots to READY in ${Math.round(performance.now() - started)} ms`,
        };
      if (r === "exit")
        return { available: false, reason: "QEMU -accel kvm exited before the guest was READY" };
      return {
        available: false,
        reason: `a KVM guest did not reach READY within ${deadlineMs / 1000} s (PVM-only KVM?)`,
      };
    } catch (e) {
      return { available: false, reason: `KVM probe boot failed: ${(e as Error).message}` };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  supports(fault: FaultNeeds): Support {
    return supportFor("own-linux", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    if (!existsSync(spec.image.vmlinuz))
      throw new InfraError("validate.image", `missing ${spec.image.vmlinuz}`);
    let greeted: () => void = () => {};
    const greeting = new Promise<void>((r) => {
      greeted = r;
    });
    const enclave = await startProcessEnclave(
      qemuArgv(this.binary, this.opts.accel, spec),
      spec,
      sink,
      signal,
      (qmp) =>
        attachQmp(
          qmp,
          (ev, at) => sink({ type: "control", name: ev.event, data: ev.data ?? null, at }),
          greeted,
        ),
    );
    // The QMP greeting proves QEMU itself runs: setpriv has set the parent-death signal and exec'd it, so
    // from here on the VMM dies with ezone. (An exit before the greeting is reported by the run's READY wait.)
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(QMP_GREETING_MS * this.timeoutScale)]);
    const timedOut = new Promise<"timeout">((r) =>
      deadline.addEventListener("abort", () => r("timeout"), { once: true }),
    );
    const first = await Promise.race([greeting.then(() => "greeting" as const), enclave.exited, timedOut]);
    if (first === "timeout") {
      await enclave.stop();
      throw new InfraError(
        "spawn.vmm",
        `no QMP greeting from QEMU within ${QMP_GREETING_MS * this.timeoutScale} ms`,
      );
    }
    return enclave;
  }
}
