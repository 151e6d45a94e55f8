import { createHash, randomBytes } from "node:crypto";
import { constants, existsSync } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, release } from "node:os";
import { join } from "node:path";
import type { BuiltImage } from "../../guest/image-builder.js";
import { defaultCacheDir } from "../../guest/image-builder.js";
import type { EnclaveExit } from "../../model/outcome-types.js";
import { runTool } from "../../util/child.js";
import { deadline as withDeadline } from "../../util/deadline.js";
import { InfraError } from "../../util/errors.js";
import { shellQuote } from "../../util/escape.js";
import { makeScratchDir } from "../../util/scratch-dir.js";
import type {
  Availability,
  Backend,
  DebugStub,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Snapshotter,
  Support,
} from "../backend.js";
import { guestKernelCmdline } from "../guest-cmdline.js";
import { attachConsoleFifo, startProcessEnclave, stopOnAbort } from "../process-enclave.js";
import { SinkRelay, SparePool } from "../spares.js";
import { NESTED_QEMU_REFUSAL, supportFor } from "../support.js";
import { attachQmp, type QmpClient, raceDeadline } from "./qmp.js";

export type QemuAccel = "tcg" | "kvm";

/** QEMU answers on QMP within milliseconds of starting; this is the deadline for it. */
const QMP_GREETING_MS = 15_000;

export interface QemuOptions {
  accel: QemuAccel;
  /** The emulator binary; tests point it at a bad path to provoke an infrastructure error. */
  binary?: string;
  /** Deadline of the KVM usability probe boot. */
  kvmProbeMs?: number;
  /** A machine of another shape than the guest's (the disposable host); absent: the guest's. */
  machine?: QemuMachine;
}

/** What a machine other than the agent's guest changes: vCPUs, devices, when it is ready to save. */
export interface QemuMachine {
  smp: number;
  /** More arguments for `spec`'s machine (devices, chardevs on sockets in its work dir). */
  extraArgs(spec: EnclaveSpec): string[];
  /** The console text that says the booted machine may be saved (the guest's: its agent's second heartbeat). */
  savePattern: RegExp;
  /** Deadline of the boot to `savePattern`, and again of `beforeSave` (default: the guest's, 90 s x scale). */
  saveBootMs?: number;
  /** Runs on the booted machine before it is saved (e.g. start what must be running in the snapshot). */
  beforeSave?(spec: EnclaveSpec, vm: Enclave, signal: AbortSignal): Promise<void>;
}

/** A snapshot's parts in its directory: the device state (a migration stream) and the guest RAM. */
const STATE_FILE = "state.bin";
const RAM_FILE = "ram.bin";

/**
 * Guest RAM in a file: `shared` while booting the guest to save (its RAM lands in the file), private
 * (copy-on-write, MAP_PRIVATE) when restoring, so a run's writes never reach the snapshot. Migration with
 * x-ignore-shared then carries only the device state (~0.3 MB instead of ~90 MB of RAM).
 */
export interface MemoryFile {
  path: string;
  shared: boolean;
}

/** The QEMU command line for one enclave (pure, unit-tested). */
export function qemuArgv(
  binary: string,
  accel: QemuAccel,
  spec: EnclaveSpec,
  memory?: MemoryFile,
  machine?: Pick<QemuMachine, "smp" | "extraArgs">,
): string[] {
  const syslog = spec.syslog;
  const cmdline = guestKernelCmdline(spec, "/dev/ttyS1");
  const nic = spec.nic;
  return [
    // In the cell's network namespace: nsenter execs QEMU (same pid, parent-death signal kept).
    ...(nic ? ["nsenter", `--net=${nic.netns}`, "--"] : []),
    binary,
    ...["-accel", accel, "-m", String(spec.memoryMb), "-nodefaults", "-display", "none"],
    ...(memory
      ? [
          ...["-M", "q35,memory-backend=ram", "-object"],
          `memory-backend-file,id=ram,size=${spec.memoryMb}M,mem-path=${commaEscape(memory.path)},share=${memory.shared ? "on" : "off"}`,
        ]
      : ["-M", "q35"]),
    ...["-no-reboot", "-sandbox", "on"],
    ...(machine ? ["-smp", String(machine.smp), ...machine.extraArgs(spec)] : []),
    // The uncompressed kernel boots through its PVH entry: no firmware loader, no self-decompression.
    ...["-kernel", spec.image.vmlinux ?? spec.image.vmlinuz],
    ...["-initrd", spec.image.initramfs, "-append", cmdline],
    // pvpanic: the guest tells QEMU it panicked; QEMU emits GUEST_PANICKED and exits with status 1.
    ...["-device", "pvpanic", "-action", "panic=exit-failure"],
    // Console on a FIFO pair in the work dir (made by the launcher), drained continuously by ezone: an
    // unread 16550 slows printk to ~10 ms a char, and a FIFO takes 64 KiB of its one-byte writes.
    ...["-chardev", `pipe,id=con,path=${commaEscape(consoleFifo(spec))}`, "-serial", "chardev:con"],
    // QMP on an inherited socket (fd 3): no path to race on, nothing to clean up.
    ...["-chardev", "socket,id=qmp,fd=3", "-mon", "chardev=qmp,mode=control"],
    // The agent's syslog channel: the built-in 16550 ttyS1 (no guest module) on the host's socket;
    // reconnect=1 finds a restarted listener again.
    ...(syslog ? ["-chardev", `socket,id=syslog,path=${commaEscape(syslog.socket)},reconnect=1`] : []),
    ...(syslog ? ["-serial", "chardev:syslog"] : []),
    // The cell's NIC on its tap (made beforehand, so QEMU neither runs scripts nor needs the bridge).
    ...(nic
      ? [
          ...["-netdev", `tap,id=n0,ifname=${commaEscape(nic.tap)},script=no,downscript=no`],
          ...["-device", `virtio-net-pci,netdev=n0,mac=${nic.mac},romfile=`],
        ]
      : []),
    // A saved guest instead of a boot: QEMU waits for the state (launch sends it once x-ignore-shared is
    // set), then the CPUs run on from where they were saved.
    ...(spec.restoreFrom ? ["-incoming", "defer"] : []),
  ];
}

/** The base path of the console FIFOs (`.in`, `.out`) of an enclave. */
function consoleFifo(spec: EnclaveSpec): string {
  return join(spec.workDir, "console");
}

/** QEMU option values escape a comma by doubling it. */
export function commaEscape(s: string): string {
  return s.replaceAll(",", ",,");
}

/** Where the RAM of `spec`'s machine lives: the snapshot's file (private) when restoring, else QEMU's own. */
function memoryOf(spec: EnclaveSpec): MemoryFile | undefined {
  return spec.restoreFrom ? { path: join(spec.restoreFrom, RAM_FILE), shared: false } : undefined;
}

/** Migration leaves file-backed shared RAM where it is: only the device state travels. */
const IGNORE_SHARED = [{ capability: "x-ignore-shared", state: true }];

/** A started QEMU: the enclave and its QMP connection. */
interface Launched {
  enclave: Enclave;
  qmp: QmpClient;
}

/** The states a migration ends in. */
const MIGRATION_ENDS = ["completed", "failed", "cancelled"];

function migrationStatus(data: unknown): string {
  return (data as { status?: string } | undefined)?.status ?? "";
}

export class QemuBackend implements Backend, Snapshotter {
  readonly name: string;
  readonly continuumRank: number;
  readonly panicChannel = "pvpanic (QMP GUEST_PANICKED)";
  readonly nic = true;
  readonly timeoutScale: number;
  private readonly binary: string;
  private readonly spares = new SparePool<Launched>();
  /** The emulator's version, asked once (every snapshot key needs it). */
  private knownVersion: string | undefined;

  constructor(private readonly opts: QemuOptions) {
    this.name = opts.accel === "kvm" ? "kvm" : "qemu-tcg";
    this.continuumRank = opts.accel === "kvm" ? 3 : 5;
    this.timeoutScale = opts.accel === "kvm" ? 0.5 : 1;
    this.binary = opts.binary ?? "qemu-system-x86_64";
  }

  /** The emulator's version; asked once per backend (every snapshot key needs it). */
  async version(signal: AbortSignal): Promise<string | null> {
    if (this.knownVersion !== undefined) return this.knownVersion;
    const r = await runTool([this.binary, "--version"], { signal, timeoutMs: 10_000 }).catch(() => null);
    const v =
      r?.code !== 0 ? null : (/version\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split("\n")[0] ?? null);
    if (v !== null) this.knownVersion = v;
    return v;
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
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return {
        version: `QEMU ${version}`,
        available: false,
        reason: `no usable /dev/kvm (${code})`,
        install:
          code === "ENOENT"
            ? "a host with hardware virtualization (this one has no /dev/kvm)"
            : "read/write access to /dev/kvm (e.g. add the user to group kvm)",
      };
    }
    // /dev/kvm is here: what is missing, if the probe boot fails, is a KVM that runs a standard guest.
    const base = {
      version: `QEMU ${version}`,
      install: "a KVM that boots a standard x86-64 guest (a PVM or broken nested KVM does not)",
    };
    if (!image) return { ...base, available: false, reason: "/dev/kvm present; no image to probe-boot yet" };
    const cacheFile = join(defaultCacheDir(), "kvm-probe.json");
    const key = [hostname(), release(), version, image.manifest.id].join("|");
    const cache = JSON.parse(await readFile(cacheFile, "utf8").catch(() => "{}")) as Record<
      string,
      Availability
    >;
    const hit = cache[key];
    if (hit) return { ...hit, install: base.install, reason: `${hit.reason} (cached probe)` };
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
    const spec: EnclaveSpec = {
      image,
      memoryMb: 256,
      heartbeatMs: 1000,
      kernelArgs: [],
      arm: null,
      runTag: "kvm-probe",
      workDir,
    };
    try {
      const booted = await this.bootUntil(spec, /(^|\n)READY ezone-agent/, deadlineMs, signal);
      await booted.enclave.stop();
      if (booted.result === "matched")
        return { available: true, reason: `KVM boots to READY in ${booted.ms} ms` };
      if (booted.result === "exit")
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

  /** Boot `spec` until its console matches `pattern`, the VMM exits, or the deadline passes. */
  private async bootUntil(
    spec: EnclaveSpec,
    pattern: RegExp,
    deadlineMs: number,
    signal: AbortSignal,
    memory?: MemoryFile,
  ): Promise<Launched & { result: "matched" | "exit" | "deadline"; ms: number }> {
    const started = performance.now();
    let seen = "";
    let matched: () => void = () => {};
    const match = new Promise<"matched">((r) => {
      matched = () => r("matched");
    });
    const sink = (ev: EnclaveEvent) => {
      if (ev.type !== "console") return;
      seen = (seen + ev.data.toString("latin1")).slice(-4096);
      if (pattern.test(seen)) matched();
    };
    const deadline = withDeadline(signal, deadlineMs);
    const { enclave, qmp } = await this.launch(spec, sink, deadline, memory);
    const result = await raceDeadline<"matched" | "exit">(deadline, [
      match,
      enclave.exited.then(() => "exit" as const),
    ]);
    return { enclave, qmp, result, ms: Math.round(performance.now() - started) };
  }

  async snapshotKey(spec: EnclaveSpec, signal: AbortSignal): Promise<string> {
    // Everything that shapes the saved machine; per-run paths (work dir, sockets) are not part of it.
    const shape = qemuArgv(
      "qemu",
      this.opts.accel,
      {
        ...spec,
        workDir: "-",
        runTag: "-",
        arm: null,
        restoreFrom: "-",
        syslog: spec.syslog ? { socket: "-", hostname: "snapshot" } : undefined,
        // Every peer restored from it gets its own tap, MAC and address (the agent's NET).
        nic: spec.nic ? { netns: "-", tap: "-", mac: "52:54:00:00:00:00" } : undefined,
      },
      { path: "-", shared: false },
      this.opts.machine,
    );
    return createHash("sha256")
      .update(JSON.stringify({ version: await this.version(signal), image: spec.image.manifest.id, shape }))
      .digest("hex")
      .slice(0, 24);
  }

  /**
   * Boot once with RAM in a shared file of `dir`, wait for READY and two heartbeats (the agent idle in
   * poll), then migrate the running machine with x-ignore-shared: the RAM stays in its file, the device
   * state goes to state.bin (QEMU 7.2 has no file: URI; exec:cat does the writing). Migration completing
   * stops the guest, so the RAM file holds the same moment as the state. Not stopped before: the stream
   * carries the run state, and a guest saved paused would stay paused on every restore.
   */
  async saveSnapshot(spec: EnclaveSpec, dir: string, signal: AbortSignal): Promise<void> {
    const machine = this.opts.machine;
    const bootMs = machine?.saveBootMs ?? 90_000 * this.timeoutScale;
    const memory = { path: join(dir, RAM_FILE), shared: true };
    const booted = await this.bootUntil(spec, machine?.savePattern ?? /(^|\n)HB 2 /, bootMs, signal, memory);
    try {
      if (booted.result !== "matched") {
        throw new InfraError(
          "snapshot.boot",
          `the guest to snapshot did not heartbeat (${booted.result}) within ${bootMs} ms`,
        );
      }
      await machine?.beforeSave?.(spec, booted.enclave, withDeadline(signal, bootMs));
      const deadline = withDeadline(signal, 60_000);
      const ended = booted.qmp.waitEvent(
        "MIGRATION",
        (d) => MIGRATION_ENDS.includes(migrationStatus(d)),
        deadline,
      );
      await booted.qmp.execute(
        "migrate-set-capabilities",
        { capabilities: [...IGNORE_SHARED, { capability: "events", state: true }] },
        deadline,
      );
      const file = join(dir, STATE_FILE);
      await booted.qmp.execute("migrate", { uri: `exec:cat > ${shellQuote(file)}` }, deadline);
      const end = await ended;
      const status = typeof end === "string" ? end : migrationStatus(end.data);
      if (status !== "completed")
        throw new InfraError("snapshot.save", `migration to ${file} ended: ${status}`);
    } finally {
      await booted.enclave.stop();
    }
  }

  supports(fault: FaultNeeds): Support {
    const traits = { notInDisposableHost: NESTED_QEMU_REFUSAL };
    if (fault.flipsBits && this.opts.accel === "tcg")
      return supportFor("own-linux", { ...fault, flipsBits: false }, traits);
    return supportFor("own-linux", fault, traits);
  }

  async start(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<Enclave & DebugStub> {
    const { enclave, qmp } = await this.launch(spec, sink, signal);
    // Opened on demand through the monitor, so the command line (and a spare's, and the snapshot key)
    // stays the same for every run; connecting to it stops the CPUs (QEMU's gdbstub does on connect).
    const openDebugStub = async (path: string, s: AbortSignal): Promise<void> => {
      const device = `unix:${commaEscape(path)},server=on,wait=off`;
      await qmp.execute("human-monitor-command", { "command-line": `gdbserver ${device}` }, s);
    };
    return Object.assign(enclave, { openDebugStub });
  }

  /** Kill the spare VMMs started ahead of restores; the backend starts none after this. */
  async close(): Promise<void> {
    await this.spares.close();
  }

  private async launch(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
    memory = memoryOf(spec),
  ): Promise<Launched> {
    const launched =
      (await this.claimSpare(spec, memory, sink, signal)) ??
      (await this.spawnVmm(spec, sink, signal, memory));
    if (spec.restoreFrom) await this.incoming(launched, spec.restoreFrom, signal);
    return launched;
  }

  /**
   * A spare QEMU started ahead for this very restore (same command line, same RAM file), handed to the
   * caller; and a new spare started for the next one. Null when the spec does not ask for spares (a
   * per-run syslog socket changes the command line; a per-run cgroup would hold the next run's VMM) or
   * none is ready.
   */
  private async claimSpare(
    spec: EnclaveSpec,
    memory: MemoryFile | undefined,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<Launched | null> {
    // A NIC's tap and namespace belong to one run: a spare started ahead would hold the last run's.
    if (!spec.keepSpare || !spec.restoreFrom || spec.syslog || spec.cgroup || spec.nic || !memory)
      return null;
    const ram = await stat(memory.path).catch(() => null);
    if (!ram) return null;
    const shape = qemuArgv(
      this.binary,
      this.opts.accel,
      { ...spec, workDir: "-" },
      memory,
      this.opts.machine,
    );
    const key = JSON.stringify([shape, ram.ino, ram.mtimeMs]);
    const spare = await this.spares.claim(key);
    this.spares.add(key, spec.restoreFrom, async () => {
      const relay = new SinkRelay();
      // Unique across backends and runs: a run's leak check looks for its claimed spare's tag.
      const tag = `spare-${process.pid}-${randomBytes(6).toString("hex")}`;
      const idle = new AbortController().signal; // a spare lives until claimed, or until close()
      const workDir = await makeScratchDir("spare");
      const started = await this.spawnVmm({ ...spec, runTag: tag, workDir }, relay.sink, idle, memory).catch(
        async (e) => {
          await rm(workDir, { recursive: true, force: true });
          throw e;
        },
      );
      void started.enclave.exited.then(() => rm(workDir, { recursive: true, force: true }));
      return { launched: started, relay };
    });
    if (!spare) return null;
    spare.relay.attach(sink);
    stopOnAbort(spare.launched.enclave, signal);
    return spare.launched;
  }

  /** Start QEMU and wait for its QMP greeting (a restore also gets x-ignore-shared set). */
  private async spawnVmm(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
    memory: MemoryFile | undefined,
  ): Promise<Launched> {
    const kernel = spec.image.vmlinux ?? spec.image.vmlinuz;
    if (!existsSync(kernel)) throw new InfraError("validate.image", `missing ${kernel}`);
    // Set by the control-channel callback while the enclave starts.
    let qmp = null as QmpClient | null;
    // The launcher makes the console FIFOs, then becomes QEMU (same pid, parent-death signal kept).
    const launcher = ["/bin/sh", "-c", 'mkfifo -m 600 "$0.in" "$0.out" && exec "$@"', consoleFifo(spec)];
    const enclave = await startProcessEnclave(
      [...launcher, ...qemuArgv(this.binary, this.opts.accel, spec, memory, this.opts.machine)],
      spec,
      sink,
      signal,
      {
        onControl: (stream) => {
          qmp = attachQmp(stream, (ev, at) =>
            sink({ type: "control", name: ev.event, data: ev.data ?? null, at }),
          );
        },
      },
    );
    // The QMP greeting proves QEMU itself runs: setpriv has set the parent-death signal and exec'd it, so
    // from here on the VMM dies with ezone. (An exit before the greeting is reported by the run's READY wait.)
    const deadline = withDeadline(signal, QMP_GREETING_MS * this.timeoutScale);
    const client = qmp;
    const first = client
      ? await raceDeadline<"greeting" | EnclaveExit>(deadline, [
          client.greeted.then(() => "greeting" as const),
          enclave.exited,
        ])
      : "deadline";
    if (first === "deadline" || !client) {
      await enclave.stop();
      throw new InfraError(
        "spawn.vmm",
        `no QMP greeting from QEMU within ${QMP_GREETING_MS * this.timeoutScale} ms`,
      );
    }
    const launched: Launched = { enclave, qmp: client };
    if (first !== "greeting") return launched; // exited: the run reports it with QEMU's stderr
    try {
      attachConsoleFifo(enclave, consoleFifo(spec), sink);
    } catch (e) {
      await enclave.stop();
      throw new InfraError("spawn.console", `cannot open QEMU's console FIFOs: ${(e as Error).message}`);
    }
    if (spec.restoreFrom)
      await this.qmpOrStop(launched, "migrate-set-capabilities", { capabilities: IGNORE_SHARED }, deadline);
    return launched;
  }

  /** Feed a waiting (-incoming defer) QEMU the snapshot's device state; its RAM is already mapped. */
  private async incoming(launched: Launched, dir: string, signal: AbortSignal): Promise<void> {
    const uri = `exec:cat ${shellQuote(join(dir, STATE_FILE))}`;
    await this.qmpOrStop(launched, "migrate-incoming", { uri }, withDeadline(signal, QMP_GREETING_MS));
  }

  /** A QMP command of the restore; QEMU refusing it ends the enclave as an infrastructure error. */
  private async qmpOrStop(
    { qmp, enclave }: Launched,
    command: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await qmp.execute(command, args, signal);
    } catch (e) {
      await enclave.stop();
      throw new InfraError("spawn.restore", `QEMU refused ${command}: ${(e as Error).message}`);
    }
  }
}
