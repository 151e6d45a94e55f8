import { join } from "node:path";
import type { EnclaveExit } from "../../model/outcome-types.js";
import { deadline } from "../../util/deadline.js";
import type { Enclave, EnclaveEvent, HostKernelInjector } from "../backend.js";
import { raceDeadline } from "../qemu/qmp.js";
import { DH_VCPUS } from "./dh-machine.js";
import { type DhProbes, dhProbesOf, type ProbeAnswer } from "./dh-probes.js";
import { type HostdClient, HostdRequestError } from "./hostd-client.js";

/** How long the disposable host's agent has to answer a probe (it answers in ms when alive). */
const DH_PROBE_MS = 5_000;
/** A module's init returns in ms; one that hangs the host never does. */
const INSMOD_MS = 30_000;
/** `sysctl -w` answers in ms. */
const SYSCTL_MS = 10_000;
/** Events of the disposable host kept until the run watches them (a fresh boot's console is the most). */
const EARLY_EVENTS_MAX = 4096;

/** One event of the disposable host itself: its VM's console, QMP events and exit, or hostd's heartbeat. */
export type HostEvent = EnclaveEvent | { type: "heartbeat"; at: number };

/**
 * An enclave inside a disposable host: the run talks to the enclave as to any other; the host's own
 * events and probes are there to be watched apart, for the host's evidence.
 */
export interface DisposableHostEnclave extends Enclave, HostKernelInjector {
  /** The enclave has no kernel of its own (native, container): the host's kernel is its kernel. */
  readonly sharesKernel: boolean;
  /** hostd's probe when the enclave was up, before the run. */
  readonly hostBefore: DhProbes;
  /** Every host event so far (kept since the start), then each as it comes. */
  watchHost(listener: (ev: HostEvent) => void): void;
  /** Probe the host now through hostd; every probe times out when it does not answer. */
  probeHost(signal: AbortSignal): Promise<DhProbes>;
}

export function isDisposableHostEnclave(e: Enclave): e is DisposableHostEnclave {
  return typeof (e as Partial<DisposableHostEnclave>).watchHost === "function";
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

/** Host events, kept (bounded) until a listener comes, then passed on. */
export class HostEvents {
  private early: HostEvent[] | null = [];
  private listener: ((ev: HostEvent) => void) | null = null;

  push(ev: HostEvent): void {
    if (this.listener) this.listener(ev);
    // Past the bound, dropped: the run watches right after the start, whose console is shorter.
    else if (this.early && this.early.length < EARLY_EVENTS_MAX) this.early.push(ev);
  }

  listen(listener: (ev: HostEvent) => void): void {
    for (const ev of this.early ?? []) listener(ev);
    this.early = null;
    this.listener = listener;
  }
}

/** The parts of a running disposable host with its enclave. */
export interface DhParts {
  vm: Enclave;
  inner: Enclave;
  hostd: HostdClient;
  events: HostEvents;
  faultModulesDir: string;
  sharesKernel: boolean;
  hostBefore: DhProbes;
}

/** The enclave the run sees: input and exit are the inner enclave's; stopping throws the host away. */
export class DhEnclave implements DisposableHostEnclave {
  private stopping: Promise<EnclaveExit> | null = null;
  /** hostd child ids for helpers (the enclave is child 1). */
  private nextChild = 2;
  constructor(private readonly parts: DhParts) {}

  get pid(): number {
    return this.parts.vm.pid;
  }
  get exited(): Promise<EnclaveExit> {
    return this.parts.inner.exited;
  }
  get sharesKernel(): boolean {
    return this.parts.sharesKernel;
  }
  get hostBefore(): DhProbes {
    return this.parts.hostBefore;
  }
  send(line: string): void {
    this.parts.inner.send(line);
  }
  watchHost(listener: (ev: HostEvent) => void): void {
    this.parts.events.listen(listener);
  }
  probeHost(signal: AbortSignal): Promise<DhProbes> {
    return probeDh(this.parts.hostd, signal);
  }

  async injectHostKernel(
    module: string,
    params: string,
    sysctls: readonly string[],
    signal: AbortSignal,
  ): Promise<string | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(module))
      throw new RangeError(
        `host kernel module ${JSON.stringify(module)}: expected [A-Za-z0-9_-], at most 64`,
      );
    for (const setting of sysctls) {
      const refused = await this.sysctl(setting, signal);
      if (refused) return refused;
    }
    const path = join(this.parts.faultModulesDir, `${module}.ko`);
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

  /** One kernel setting through hostd (`sysctl -w`, a child of its own); its refusal, or null. */
  private async sysctl(setting: string, signal: AbortSignal): Promise<string | null> {
    if (!/^[a-z0-9_.]{1,64}=[A-Za-z0-9_.-]{1,32}$/.test(setting))
      throw new RangeError(`host sysctl ${JSON.stringify(setting)}: expected key=value`);
    const child = this.parts.hostd.spawn(this.nextChild++, ["/bin/sysctl", "-w", setting], {
      cwd: "/",
      env: {},
    });
    let err = "";
    child.on("stderr", (b) => {
      err = (err + b.toString()).slice(-200);
    });
    const end = await raceDeadline(deadline(signal, SYSCTL_MS), [child.exited.catch(() => null)]);
    if (end !== "deadline" && end?.kind === "exited" && end.code === 0) return null;
    return `err sysctl ${setting}: ${end === "deadline" ? "no answer" : JSON.stringify(end)} ${err.trim()}`;
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
