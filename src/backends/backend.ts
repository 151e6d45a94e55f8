import type { Socket } from "node:net";
import type { Duplex, Readable, Writable } from "node:stream";
import type { HostAction } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { EnclaveCgroup } from "../host/cgroup.js";
import type { EnclaveExit, Zone } from "../model/outcome-types.js";
import type { ProcessFlip, ProcessFlipReport } from "../model/process-flip.js";
import type { EnclavePrivileges, HostPlacement } from "../model/run-params.js";
import type { ChildExit } from "../util/child.js";

/** Whether this host can run a backend, and if not why and what would fix it. */
export interface Availability {
  available: boolean;
  /** Human reason, e.g. "qemu-system-x86_64 7.2.22" or "no /dev/kvm". */
  reason: string;
  /** Version string recorded as provenance, when available. */
  version?: string;
  /** Command that would make it available, when one exists. */
  install?: string;
}

/** Whether a backend can host a fault: a refusal is a statement, never a run. */
export type Support = { supported: true } | { supported: false; reason: string };

/** What a fault needs from a backend. */
export interface FaultNeeds {
  name: string;
  zone: Zone;
  /** The fault is a guest kernel module. */
  kernelModule: boolean;
  /** Zone 2: what ezone does on the host instead of asking the agent. */
  host?: HostAction;
  /** Exhausts its enclave's memory: needs memory of the enclave's own (a VM). */
  exhaustsMemory?: boolean;
  /** Flips bits in the running guest from outside: needs a debug stub (QEMU's gdbstub under TCG). */
  flipsBits?: boolean;
  /** Where the enclave would run: absent = the real host, whose kernel no fault may reach. */
  placement?: HostPlacement;
  /** A bit flip's target (`data`, `registers`...), when the backend's support depends on it. */
  flipTarget?: string;
}

/** The host process that embodies a running enclave: where a zone-2 signal goes. */
export interface EnclaveHostProcess {
  pid: number;
  /** `vmm` (QEMU, UML...), `sandboxed-process` (the agent itself: native, container), `sentry` (gVisor). */
  role: "vmm" | "sandboxed-process" | "sentry";
  /** What it is, for the evidence (e.g. its command name). */
  describe: string;
}

/** A fault armed on the kernel command line, fired by the agent right after READY (the paper's mode). */
export interface BootArm {
  fault: string;
  nonce: string;
  delayMs: number;
}

/** The agent's second channel, for its RFC 5424 messages (src/monitor-daemon, syslog-channel.c). */
export interface SyslogChannelSpec {
  /** A UNIX stream socket the host listens on; QEMU connects the guest's ttyS1 to it. */
  socket: string;
  /** The enclave's name, HOSTNAME of its messages: [A-Za-z0-9._-], at most 63 characters. */
  hostname: string;
}

/** A NIC on a tap inside a composed cell's private network namespace (src/backends/links). */
export interface EnclaveNic {
  /** The namespace the VMM runs in: `/proc/<holder pid>/ns/net`. */
  netns: string;
  /** The tap the NIC is attached to, made in that namespace beforehand. */
  tap: string;
  /** The NIC's MAC at boot; a restored guest keeps the saved one until the agent's `NET`. */
  mac: string;
}

/** Everything needed to start one enclave. */
export interface EnclaveSpec {
  image: BuiltImage;
  memoryMb: number;
  heartbeatMs: number;
  /** Extra kernel command line (campaign parameters such as oops=panic). */
  kernelArgs: string[];
  arm: BootArm | null;
  /** Tag put in the environment of every process of this run (EZONE_RUN), to find leftovers. */
  runTag: string;
  /** Per-run scratch directory, removed by the caller. */
  workDir: string;
  /** The agent's syslog channel; absent: the agent sends nothing but its console lines. */
  syslog?: SyslogChannelSpec;
  /** A cgroup with CPU and memory limits the enclave runs in; absent: ezone's own. */
  cgroup?: EnclaveCgroup;
  /** Start from the saved, booted guest in this directory instead of booting (Snapshotter backends). */
  restoreFrom?: string;
  /**
   * What the enclave's processes may do to the kernel beneath them (native, container): `privileged` =
   * CAP_SYS_MODULE and a writable /proc/sysrq-trigger, `unprivileged` = every capability dropped and no
   * way to gain one. Absent: the backend's default. VM backends ignore it (their kernel is their own).
   */
  privileges?: EnclavePrivileges;
  /**
   * More restores of this snapshot follow: the backend may start the next one's VMM ahead, idle until
   * claimed. Whoever sets this calls the backend's `close()` when done.
   */
  keepSpare?: boolean;
  /** A NIC on a tap in a private network namespace; absent: no network at all. */
  nic?: EnclaveNic;
  /**
   * Where a process backend's command runs: absent, on this host (its own process group); set, e.g. inside
   * a disposable host VM, whose agent spawns the same argv (every path in it is valid there too).
   */
  placement?: EnclavePlacement;
}

/** How a process backend's command is started: `spawnGroup` on this host, or an agent elsewhere. */
export interface EnclavePlacement {
  /**
   * Start `argv` in its own process group with `env` added to a minimal environment, in `cwd` (created when
   * missing); `extraStdio` asks for fd 3 (a control channel or the agent's syslog channel).
   */
  spawn(argv: string[], opts: PlacementSpawnOptions): PlacedProcess;
}

/** What a placement's `spawn` is asked for. */
export interface PlacementSpawnOptions {
  /** Variables the process needs (EZONE_RUN...), added to the place's own base environment. */
  env: Record<string, string>;
  cwd: string;
  /** fd 3: a pipe (a control channel), or this connection (the agent's syslog channel); absent: none. */
  extraStdio?: "pipe" | Socket;
}

/** A process started by a placement: its stdio, how it ended, and how to kill its group. */
export interface PlacedProcess {
  /** The local process that embodies it (the VMM of a disposable host for a remote child); -1 if none. */
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** fd 3, when asked for. */
  readonly control: Duplex | null;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** SIGTERM the whole group, SIGKILL after `graceMs`; resolves when it has exited. Idempotent. */
  kill(graceMs?: number): Promise<ChildExit>;
}

/** One event from a running enclave, in arrival order. `at` is performance.now() on the host. */
export type EnclaveEvent =
  | { type: "console"; data: Buffer; at: number }
  | { type: "control"; name: string; data: unknown; at: number }
  | { type: "exit"; exit: EnclaveExit; stderr: string; at: number };

/** A running enclave. `stop()` is idempotent; running enclaves are async-disposable. */
export interface Enclave extends AsyncDisposable {
  readonly pid: number;
  /** Write one line to the guest agent. */
  send(line: string): void;
  /** Resolves when the enclave's process has ended. */
  readonly exited: Promise<EnclaveExit>;
  /** The EZONE_RUN tag its processes carry, when not the run's own (a VMM started ahead as a spare). */
  readonly tag?: string;
  /** Kill the whole process group (idempotent); resolves with how it ended. */
  stop(): Promise<EnclaveExit>;
  /**
   * The host process a zone-2 signal should hit; absent means the group leader `pid` is the VMM.
   * Resolves null when it cannot be found before `signal` aborts.
   */
  hostProcess?(signal: AbortSignal): Promise<EnclaveHostProcess | null>;
}

/** A virtualization layer behind one interface (DESIGN.md §4). */
export interface Backend {
  readonly name: string;
  /** Position on the performance/isolation continuum: native 0 ... full emulation high. */
  readonly continuumRank: number;
  /** Multiplies every timeout (TCG >> KVM). */
  readonly timeoutScale: number;
  /**
   * A witness of a guest kernel panic that does not go through the console (QEMU's pvpanic, reported as
   * a `GUEST_PANICKED` control event); null where the console is the only witness.
   */
  readonly panicChannel: string | null;
  /** Why this backend cannot carry the agent's syslog channel (`guest.syslog`); absent: it can. */
  readonly noSyslogChannel?: string;
  /** Its enclaves can have a NIC on a tap (`EnclaveSpec.nic`): a composed cell's network links; absent: no. */
  readonly nic?: boolean;
  /** Can this host run it? Why not? */
  probe(image: BuiltImage | null, signal: AbortSignal): Promise<Availability>;
  /** Can this backend host the fault at all? */
  supports(fault: FaultNeeds): Support;
  /** Start an enclave; every event goes to `sink` from the first byte on. */
  start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave>;
  /** Release what the backend keeps between runs (spare VMMs); absent: it keeps nothing. */
  close?(): Promise<void>;
}

/**
 * Optional: a backend that can save a booted guest and start runs from it (a separate interface,
 * checked with `isSnapshotter`, like syzkaller's optional VM features).
 */
export interface Snapshotter {
  /** What makes two snapshots interchangeable: image, VMM version, machine flags, device set. */
  snapshotKey(spec: EnclaveSpec, signal: AbortSignal): Promise<string>;
  /** Boot `spec` once, wait until the agent is READY and idle, save the running guest's files in `dir`. */
  saveSnapshot(spec: EnclaveSpec, dir: string, signal: AbortSignal): Promise<void>;
}

/**
 * Optional: an enclave whose VMM can open a gdb remote-protocol stub on a UNIX socket (QEMU's gdbstub).
 * Connecting to it stops the guest's CPUs.
 */
export interface DebugStub {
  /** Open the stub on a UNIX socket at `path` (a private path of the run). */
  openDebugStub(path: string, signal: AbortSignal): Promise<void>;
}

/**
 * Optional: an enclave that runs inside a host it may crash (a disposable host VM): a zone-1 fault is a
 * module loaded into that host's kernel while the enclave runs.
 */
export interface HostKernelInjector {
  /**
   * Set `sysctls` (`key=value`) in the host's kernel, then load the fault module `module` (a name such as
   * `kpanic`) with `params`; resolves with null when the load returned, or the refusal (`err <errno>
   * <message>`). A module that crashes the host never returns: the call then settles when the host is gone.
   */
  injectHostKernel(
    module: string,
    params: string,
    sysctls: readonly string[],
    signal: AbortSignal,
  ): Promise<string | null>;
}

export function isHostKernelInjector(e: Enclave): e is Enclave & HostKernelInjector {
  return typeof (e as Partial<HostKernelInjector>).injectHostKernel === "function";
}

export function hasDebugStub(e: Enclave): e is Enclave & DebugStub {
  return typeof (e as Partial<DebugStub>).openDebugStub === "function";
}

/**
 * Optional: an enclave whose workload is a plain host process ezone may ptrace (native): a bit is flipped
 * in it from the host, with no debug stub.
 */
export interface ProcessTracer {
  /** Flip one bit in the process (parked, or spinning in its loop), read it back, and detach. */
  flipProcess(flip: ProcessFlip, signal: AbortSignal): Promise<ProcessFlipReport>;
}

export function hasProcessTracer(e: Enclave): e is Enclave & ProcessTracer {
  return typeof (e as Partial<ProcessTracer>).flipProcess === "function";
}

export function isSnapshotter(b: Backend): b is Backend & Snapshotter {
  return typeof (b as Partial<Snapshotter>).saveSnapshot === "function";
}
