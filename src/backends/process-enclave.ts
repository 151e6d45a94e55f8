import { closeSync, constants, openSync } from "node:fs";
import { Socket } from "node:net";
import type { Duplex, Writable } from "node:stream";
import type { EnclaveCgroup } from "../host/cgroup.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { spawnGroup } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import type { Enclave, EnclaveEvent, EnclavePlacement, EnclaveSpec, PlacedProcess } from "./backend.js";

const STDERR_MAX = 16 * 1024;

/** Map a child's exit status to the model's vocabulary. */
export function toEnclaveExit(code: number | null, signal: NodeJS.Signals | null): EnclaveExit {
  if (signal) return { kind: "signaled", signal };
  return { kind: "exited", code: code ?? -1 };
}

/** An enclave that is one process group whose stdio is the guest console (QEMU, exec VMMs, ...). */
class ProcessEnclave implements Enclave {
  readonly exited: Promise<EnclaveExit>;
  /** Where `send` writes: the process's stdin, or the console FIFO once one is attached. */
  input: Writable | null;
  /** Settles once the console FIFO has delivered its last byte (immediately without a FIFO). */
  drained: Promise<void> = Promise.resolve();
  constructor(
    private readonly child: PlacedProcess,
    readonly tag: string,
  ) {
    this.exited = child.exited.then((e) => toEnclaveExit(e.code, e.signal));
    this.input = child.stdin;
  }
  get pid(): number {
    return this.child.pid;
  }
  send(line: string): void {
    const input = this.input;
    if (input && !input.destroyed && input.writable) input.write(`${line}\n`);
  }
  async stop(): Promise<EnclaveExit> {
    const e = await this.child.kill(1000);
    return toEnclaveExit(e.code, e.signal);
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Stop `enclave` when `signal` aborts (at once if it already has); forget the signal once it has exited. */
export function stopOnAbort(enclave: Enclave, signal: AbortSignal): void {
  const onAbort = () => void enclave.stop();
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  void enclave.exited.then(() => signal.removeEventListener("abort", onAbort));
}

/** How long the exit event waits for the console FIFO's last bytes once the process has exited. */
const CONSOLE_DRAIN_MS = 1000;

/**
 * Read the guest console from the FIFO pair `<base>.out` / `<base>.in` instead of stdio (QEMU's
 * `-chardev pipe`). Both must exist and be held open by the VMM: the VMM opens them read-write at start,
 * so neither open here blocks, and bytes written before this call wait in the FIFO. A FIFO holds 64 KiB
 * of one-byte writes, where Node's stdio socketpair takes only ~570 of them before the emulated UART
 * stalls the guest's printk: a busy event loop no longer slows the guest down.
 */
export function attachConsoleFifo(enclave: Enclave, base: string, sink: (ev: EnclaveEvent) => void): void {
  if (!(enclave instanceof ProcessEnclave)) throw new TypeError("not a process enclave");
  const readFd = openSync(`${base}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
  let writeFd: number;
  try {
    writeFd = openSync(`${base}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    closeSync(readFd);
    throw e;
  }
  const output = new Socket({ fd: readFd, readable: true, writable: false });
  const input = new Socket({ fd: writeFd, readable: false, writable: true });
  output.on("data", (data: Buffer) => sink({ type: "console", data, at: performance.now() }));
  enclave.drained = new Promise<void>((resolve) => {
    output.once("close", () => resolve());
    output.once("error", () => resolve());
  });
  // The agent may be gone (guest panicked) when we write: EPIPE is expected then.
  input.on("error", () => {});
  enclave.input = input;
  // The VMM holds both FIFOs open, so our end sees EOF once it has exited; if a child of the VMM kept
  // them open, stop waiting after a bound.
  void enclave.exited.then(() => {
    const timer = setTimeout(() => output.destroy(), CONSOLE_DRAIN_MS);
    void enclave.drained.then(() => {
      clearTimeout(timer);
      input.destroy();
    });
  });
}

/** The default placement: a process group on this host, with this process's environment. */
export const localPlacement: EnclavePlacement = {
  spawn(argv, opts) {
    const child = spawnGroup(argv, {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
      extraStdio: opts.extraStdio ? [opts.extraStdio] : [],
    });
    const { proc } = child;
    return {
      pid: child.pid,
      stdin: proc.stdin,
      stdout: proc.stdout,
      stderr: proc.stderr,
      control: (proc.stdio[3] as Duplex | null | undefined) ?? null,
      exited: child.exited,
      kill: (graceMs) => child.kill(graceMs),
    };
  },
};

/**
 * The shell that puts itself into the enclave's cgroup and then becomes the enclave's first process
 * (exec keeps its PID, so the group leader and a zone-2 signal's target stay the same). Joining before
 * exec rather than writing the child's PID after spawn: a VMM or sandbox that forks at once (bwrap,
 * runsc) would leave children outside the limits in the gap. A join that fails ends the enclave with
 * exit 125 and the reason on stderr, before anything runs unlimited.
 */
const CGROUP_JOIN =
  'IFS=:; for f in $EZONE_CGROUP_PROCS; do echo $$ > "$f" || { echo "ezone: cannot join cgroup ($f)" >&2; exit 125; }; done; unset EZONE_CGROUP_PROCS; exec "$@"';

/** `argv` started through the cgroup join (pure); the environment carries the procs files. */
export function cgroupJoinArgv(
  cgroup: EnclaveCgroup,
  argv: string[],
): { argv: string[]; env: Record<string, string> } {
  if (cgroup.procs.some((p) => p.includes(":")))
    throw new InfraError("cgroup.join", `a cgroup path with ':': ${cgroup.procs.join(", ")}`);
  return {
    argv: ["/bin/sh", "-c", CGROUP_JOIN, "ezone-cgroup-join", ...argv],
    env: { EZONE_CGROUP_PROCS: cgroup.procs.join(":") },
  };
}

/** What a process enclave gets at fd 3 (one of them). */
export interface ProcessEnclaveOptions {
  /** A control channel (QMP): a pipe at fd 3, handed to this callback. */
  onControl?: (stream: Duplex) => void;
  /**
   * The agent's syslog channel at fd 3 (`ezone.syslog=fd:3`): a connection to `spec.syslog.socket`,
   * made here, so the agent writes straight into its tap as a VMM's serial port does.
   */
  syslogFd?: boolean;
}

/** Where the agent finds its syslog channel with `syslogFd` (`guestKernelCmdline(spec, SYSLOG_FD_ARG)`). */
export const SYSLOG_FD_ARG = "fd:3";

/** A connection to the tap's socket, to be handed to the enclave. */
async function connectChannel(path: string): Promise<Socket> {
  const conn = new Socket();
  await new Promise<void>((resolve, reject) => {
    conn.once("error", (e) => reject(new InfraError("syslog.connect", `${path}: ${e.message}`)));
    conn.connect(path, () => resolve());
  });
  return conn;
}

/**
 * Spawn `argv` as an enclave (where `spec.placement` says; default this host): its own process group, EZONE_RUN tag in the environment, stdout streamed to
 * `sink` as console from the first byte, stderr kept (bounded) for the exit event, killed when `signal`
 * aborts; inside `spec.cgroup` from its first instruction when one is given. `opts` puts a control
 * channel or the agent's syslog channel at fd 3.
 */
export async function startProcessEnclave(
  argv: string[],
  spec: EnclaveSpec,
  sink: (ev: EnclaveEvent) => void,
  signal: AbortSignal,
  opts: ProcessEnclaveOptions = {},
): Promise<Enclave> {
  const { onControl } = opts;
  if (signal.aborted) throw new InfraError("spawn.vmm", `aborted before start: ${String(signal.reason)}`);
  const joined = spec.cgroup ? cgroupJoinArgv(spec.cgroup, argv) : { argv, env: {} };
  const channel = opts.syslogFd && spec.syslog ? await connectChannel(spec.syslog.socket) : null;
  const child = (spec.placement ?? localPlacement).spawn(joined.argv, {
    env: { EZONE_RUN: spec.runTag, ...joined.env },
    cwd: spec.workDir,
    extraStdio: onControl ? "pipe" : (channel ?? undefined),
  });
  // The child has its own copy of the connection: ours is closed (not shut down), so the tap sees the
  // end of the channel only when the enclave's last process holding it is gone.
  channel?.destroy();
  const enclave = new ProcessEnclave(child, spec.runTag);
  let stderr = "";
  child.stdout?.on("data", (data: Buffer) => sink({ type: "console", data, at: performance.now() }));
  child.stderr?.on("data", (b: Buffer) => {
    if (stderr.length < STDERR_MAX) stderr += b.toString("utf8").slice(0, STDERR_MAX - stderr.length);
  });
  // The agent may be gone (guest panicked) when we write: EPIPE is expected then.
  child.stdin?.on("error", () => {});
  if (onControl && child.control) onControl(child.control);
  // The exit is reported after the console's last bytes (a console FIFO is read apart from the process).
  void enclave.exited.then(async (exit) => {
    const exitedAt = performance.now();
    await enclave.drained;
    sink({ type: "exit", exit, stderr, at: exitedAt });
  });
  stopOnAbort(enclave, signal);
  if (child.pid <= 0) {
    await enclave.exited;
    throw new InfraError("spawn.vmm", `could not start ${argv[0]}`);
  }
  return enclave;
}
