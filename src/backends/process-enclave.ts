import type { Duplex } from "node:stream";
import type { EnclaveExit } from "../model/outcome-types.js";
import { type GroupChild, spawnGroup } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import type { Enclave, EnclaveEvent, EnclaveSpec } from "./backend.js";

const STDERR_MAX = 16 * 1024;

/** Map a child's exit status to the model's vocabulary. */
export function toEnclaveExit(code: number | null, signal: NodeJS.Signals | null): EnclaveExit {
  if (signal) return { kind: "signaled", signal };
  return { kind: "exited", code: code ?? -1 };
}

/** An enclave that is one process group whose stdio is the guest console (QEMU, exec VMMs, ...). */
class ProcessEnclave implements Enclave {
  readonly exited: Promise<EnclaveExit>;
  constructor(
    private readonly child: GroupChild,
    readonly tag: string,
  ) {
    this.exited = child.exited.then((e) => toEnclaveExit(e.code, e.signal));
  }
  get pid(): number {
    return this.child.pid;
  }
  send(line: string): void {
    const stdin = this.child.proc.stdin;
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(`${line}\n`);
  }
  async stop(): Promise<EnclaveExit> {
    const e = await this.child.kill(1000);
    return toEnclaveExit(e.code, e.signal);
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Spawn `argv` as an enclave: its own process group, EZONE_RUN tag in the environment, stdout streamed to
 * `sink` as console from the first byte, stderr kept (bounded) for the exit event, killed when `signal`
 * aborts. `onControl` receives fd 3 when the backend asked for a control channel there.
 */
export async function startProcessEnclave(
  argv: string[],
  spec: EnclaveSpec,
  sink: (ev: EnclaveEvent) => void,
  signal: AbortSignal,
  onControl?: (stream: Duplex) => void,
): Promise<Enclave> {
  if (signal.aborted) throw new InfraError("spawn.vmm", `aborted before start: ${String(signal.reason)}`);
  const child = spawnGroup(argv, {
    env: { ...process.env, EZONE_RUN: spec.runTag },
    cwd: spec.workDir,
    extraStdio: onControl ? ["pipe"] : [],
  });
  const enclave = new ProcessEnclave(child, spec.runTag);
  let stderr = "";
  child.proc.stdout?.on("data", (data: Buffer) => sink({ type: "console", data, at: performance.now() }));
  child.proc.stderr?.on("data", (b: Buffer) => {
    if (stderr.length < STDERR_MAX) stderr += b.toString("utf8").slice(0, STDERR_MAX - stderr.length);
  });
  // The agent may be gone (guest panicked) when we write: EPIPE is expected then.
  child.proc.stdin?.on("error", () => {});
  const control = child.proc.stdio[3] as Duplex | null | undefined;
  if (onControl && control) onControl(control);
  void enclave.exited.then((exit) => sink({ type: "exit", exit, stderr, at: performance.now() }));
  const onAbort = () => void enclave.stop();
  signal.addEventListener("abort", onAbort, { once: true });
  void enclave.exited.then(() => signal.removeEventListener("abort", onAbort));
  if (child.pid <= 0) {
    await enclave.exited;
    throw new InfraError("spawn.vmm", `could not start ${argv[0]}`);
  }
  return enclave;
}
