import { join } from "node:path";
import type { ProbeThresholds } from "../../host/compare.js";
import type { DisposableHostEvidence, EnclaveExit } from "../../model/outcome-types.js";
import type { Enclave, HostKernelInjector } from "../backend.js";
import { DH_VCPUS } from "./dh-machine.js";
import { compareDhProbes, type DhProbes, dhProbesOf, type ProbeAnswer } from "./dh-probes.js";
import { type DhWatch, dhEvidence } from "./dh-watch.js";
import { type HostdClient, HostdRequestError } from "./hostd-client.js";

/** How long the disposable host's agent has to answer a probe (it answers in ms when alive). */
const DH_PROBE_MS = 5_000;
/** A module's init returns in ms; one that hangs the host never does. */
const INSMOD_MS = 30_000;

/**
 * An enclave inside a disposable host: the run talks to the enclave; the host's own evidence (its
 * console, panic, heartbeat, probes) is gathered apart and handed over by `finish`.
 */
export interface DisposableHostEnclave extends Enclave, HostKernelInjector {
  /** The run's nonce: the fault module's proof line with it on the host's console proves the fault. */
  expectProof(nonce: string): void;
  /** Probe the host after the run and compare with before: its evidence. Call before `stop`. */
  finish(thresholds: ProbeThresholds, signal: AbortSignal): Promise<DisposableHostEvidence>;
  /** The host's own console during the run (capped), for the run's artifacts. */
  hostConsole(): { data: Buffer; truncated: boolean };
}

export function isDisposableHostEnclave(e: Enclave): e is DisposableHostEnclave {
  return typeof (e as Partial<DisposableHostEnclave>).finish === "function";
}

/** The parts of a running disposable host with its enclave. */
export interface DhParts {
  vm: Enclave;
  inner: Enclave;
  hostd: HostdClient;
  watch: DhWatch;
  modulesDir: string;
  heartbeatLossMs: number;
  /** hostd's PROBE when the enclave was ready. */
  before: DhProbes;
}

/** Probe the disposable host through hostd; a host that does not answer has every probe timed out. */
export async function probeDh(hostd: HostdClient, signal: AbortSignal): Promise<DhProbes> {
  const takenAt = new Date();
  const answer: ProbeAnswer = await hostd.probe({ signal, timeoutMs: DH_PROBE_MS }).then(
    (p) => ({ kind: "answered", values: p.raw }),
    (e: Error) => ({ kind: e instanceof HostdRequestError ? "refused" : "silent", message: e.message }),
  );
  return dhProbesOf(answer, takenAt, DH_VCPUS);
}

/** The enclave the run sees: input and exit are the inner enclave's; stopping throws the host away. */
export class DhEnclave implements DisposableHostEnclave {
  private stopping: Promise<EnclaveExit> | null = null;
  private answeredAfter = false;
  constructor(private readonly parts: DhParts) {}

  get pid(): number {
    return this.parts.vm.pid;
  }
  get exited(): Promise<EnclaveExit> {
    return this.parts.inner.exited;
  }
  send(line: string): void {
    this.parts.inner.send(line);
  }
  expectProof(nonce: string): void {
    this.parts.watch.expectProof(nonce);
  }

  async injectHostKernel(module: string, params: string, signal: AbortSignal): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(module))
      throw new RangeError(`host kernel module name ${JSON.stringify(module)}`);
    const path = join(this.parts.modulesDir, `${module}.ko`);
    try {
      await this.parts.hostd.insmod(path, params, { signal, timeoutMs: INSMOD_MS });
      return null;
    } catch (e) {
      if (e instanceof HostdRequestError) return `err ${e.errno} ${e.reason}`;
      // The host died while loading it (a module that crashes it at once): that is the fault firing.
      if (await settled(this.parts.hostd.closed)) return null;
      throw e;
    }
  }

  async finish(thresholds: ProbeThresholds, signal: AbortSignal): Promise<DisposableHostEvidence> {
    const { watch, hostd, before } = this.parts;
    const after = await probeDh(hostd, signal);
    this.answeredAfter = after.probes.taint.kind === "ok";
    watch.endBeats(performance.now());
    return dhEvidence(
      watch.seen,
      this.answeredAfter,
      this.parts.heartbeatLossMs,
      compareDhProbes(before, after, thresholds),
    );
  }

  hostConsole(): { data: Buffer; truncated: boolean } {
    return this.parts.watch.console.contents();
  }

  stop(): Promise<EnclaveExit> {
    this.stopping ??= (async () => {
      // The host is thrown away whole: its VM killed, the enclave inside goes with it.
      await this.parts.vm.stop();
      this.parts.hostd.close();
      return this.parts.inner.exited;
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Whether `p` has settled already (checked after a macrotask). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
}
