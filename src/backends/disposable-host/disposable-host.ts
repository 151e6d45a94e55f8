import { createHash } from "node:crypto";
import type { HostImage } from "../../guest/host-image.js";
import type { BuiltImage } from "../../guest/image-builder.js";
import { deadline as withDeadline } from "../../util/deadline.js";
import { InfraError } from "../../util/errors.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Snapshotter,
  Support,
} from "../backend.js";
import { startProcessEnclave } from "../process-enclave.js";
import { QemuBackend } from "../qemu/qemu.js";
import { raceDeadline } from "../qemu/qmp.js";
import { NESTED_QEMU_REFUSAL } from "../support.js";
import { DhEnclave, type DisposableHostEnclave, HostEvents, probeDh } from "./dh-enclave.js";
import { dhMachine, dhSpec, HOSTD_READY, hostdSocket } from "./dh-machine.js";
import type { DhProbes } from "./dh-probes.js";
import type { HostdClient } from "./hostd-client.js";
import { attachedPlacement, connectHostd, hostdPlacement } from "./hostd-placement.js";

/** Backends whose enclave has no kernel of its own: the disposable host's kernel is theirs. */
const SHARED_KERNEL = new Set(["native", "container"]);
/** The backends whose enclave is one process tree that hostd can spawn (their argv built on this host). */
const PROCESS_BACKENDS = new Set(["native", "container", "gvisor", "uml"]);
/** Why a VM backend is not offered inside the disposable host. */
/** hostd's child id of the enclave (one enclave per disposable host). */
const ENCLAVE_ID = 1;
/** Everything inside runs under TCG emulation: the inner backend's deadlines stretch by this much. */
const DH_TIMEOUT_SCALE = 4;
/** Heartbeats of the enclave's agent before the host is saved: it is idle in its poll loop by then. */
const SAVE_AT = /(^|\n)HB 2 /;
/** hostd answers HELLO in ms once its guest runs; a restored guest resumes first. */
const HELLO_MS = 10_000;

export interface DisposableHostOptions {
  /** The process backend whose enclaves run inside (native, container, gvisor, uml). */
  inner: Backend;
  /** The disposable host's image, built (or found in the cache) on first use. */
  image(signal: AbortSignal): Promise<HostImage>;
  /** The emulator binary. */
  qemuBinary?: string;
}

/**
 * `host: disposable`: the inner backend's enclave runs inside a QEMU-TCG VM that plays the node, restored
 * from a snapshot taken with the enclave already READY, and thrown away after every run. The enclave's
 * console and exit are the run's; the host's own console, panic, heartbeat and probes are its evidence.
 * For shared-kernel enclaves (native, container) the host's kernel is the enclave's: its panic and the
 * fault's proof line are forwarded to the run as well.
 */
export class DisposableHostBackend implements Backend, Snapshotter {
  readonly name: string;
  readonly continuumRank: number;
  readonly timeoutScale: number;
  readonly panicChannel: string | null;
  private readonly sharesKernel: boolean;
  private readonly vm: QemuBackend;

  constructor(private readonly opts: DisposableHostOptions) {
    const { inner } = opts;
    this.name = inner.name;
    this.continuumRank = inner.continuumRank;
    this.timeoutScale = inner.timeoutScale * DH_TIMEOUT_SCALE;
    this.sharesKernel = SHARED_KERNEL.has(inner.name);
    this.panicChannel = this.sharesKernel
      ? "pvpanic of the disposable host (the enclave's kernel)"
      : inner.panicChannel;
    this.vm = new QemuBackend({ accel: "tcg", binary: opts.qemuBinary, machine: dhMachine() });
  }

  async probe(image: BuiltImage | null, signal: AbortSignal): Promise<Availability> {
    if (!PROCESS_BACKENDS.has(this.opts.inner.name))
      return {
        available: false,
        reason: `${this.opts.inner.name} in a disposable host: ${NESTED_QEMU_REFUSAL}`,
      };
    const [vm, inner] = await Promise.all([
      this.vm.probe(null, signal),
      this.opts.inner.probe(image, signal),
    ]);
    if (!vm.available) return { ...vm, reason: `disposable host: ${vm.reason}` };
    return inner.available
      ? { ...inner, reason: `${inner.reason}, in a disposable ${vm.reason} host` }
      : inner;
  }

  /** What the inner backend takes inside a disposable host (src/backends/support.ts decides, by placement). */
  supports(fault: FaultNeeds): Support {
    return this.opts.inner.supports({ ...fault, placement: "disposable" });
  }

  async snapshotKey(spec: EnclaveSpec, signal: AbortSignal): Promise<string> {
    const image = await this.opts.image(signal);
    const shape = {
      host: await this.vm.snapshotKey(dhSpec(image, spec), signal),
      inner: this.opts.inner.name,
      enclave: {
        image: spec.image.manifest.id,
        memoryMb: spec.memoryMb,
        heartbeatMs: spec.heartbeatMs,
        kernelArgs: spec.kernelArgs,
      },
    };
    return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 24);
  }

  /** Boot the host, start the enclave inside, wait for its heartbeat, then save the host (QEMU's path). */
  async saveSnapshot(spec: EnclaveSpec, dir: string, signal: AbortSignal): Promise<void> {
    const image = await this.opts.image(signal);
    const saver = new QemuBackend({
      accel: "tcg",
      binary: this.opts.qemuBinary,
      machine: dhMachine(async (host, vm, s) => {
        const hostd = await connectHostd(hostdSocket(host.workDir), s);
        await hostd.hello({ signal: s, timeoutMs: HELLO_MS * this.vm.timeoutScale });
        const seen = consoleWait(SAVE_AT);
        const inner = await this.opts.inner.start(
          { ...spec, placement: hostdPlacement(hostd, ENCLAVE_ID, vm.pid) },
          seen.sink,
          s,
        );
        const r = await raceDeadline(s, [seen.matched, inner.exited.then(() => "exit" as const)]);
        if (r !== "matched")
          throw new InfraError(
            "dh.enclave",
            `the enclave in the disposable host did not heartbeat (${r}): ${seen.tail()}`,
          );
        // Left running: the host is saved with it; the connection ends with the VM.
      }),
    });
    await saver.saveSnapshot(dhSpec(image, spec), dir, signal);
  }

  async start(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<DisposableHostEnclave> {
    const image = await this.opts.image(signal);
    const events = new HostEvents();
    const bootMs = 90_000 * this.vm.timeoutScale;
    const vmReady = consoleWait(spec.restoreFrom ? null : HOSTD_READY);
    const vm = await this.vm
      .start(dhSpec(image, spec), (ev) => this.onHostEvent(ev, events, vmReady.sink, sink), signal)
      .catch((e: Error) => {
        throw new InfraError("dh.boot", `the disposable host did not start: ${e.message}`, { cause: e });
      });
    try {
      const up = await raceDeadline(withDeadline(signal, bootMs), [
        vmReady.matched,
        vm.exited.then(() => "exit" as const),
      ]);
      if (up !== "matched")
        throw new InfraError("dh.boot", `the disposable host did not come up (${up}): ${vmReady.tail()}`);
      const hostd = await connectHostd(hostdSocket(spec.workDir), signal);
      hostd.on("heartbeat", (_, at) => events.push({ type: "heartbeat", at }));
      const inner = await this.startInner(spec, hostd, vm.pid, sink, signal);
      return new DhEnclave({
        vm,
        inner,
        hostd,
        events,
        faultModulesDir: image.faultModulesDir,
        sharesKernel: this.sharesKernel,
        hostBefore: await warmProbe(hostd, signal),
      });
    } catch (e) {
      await vm.stop();
      throw e;
    }
  }

  /**
   * The enclave: started through hostd in a fresh host; in a restored one, re-attached (before HELLO, so
   * none of its output is dropped), checked against HELLO's list, then RESUME as a QEMU restore says it.
   */
  private async startInner(
    spec: EnclaveSpec,
    hostd: HostdClient,
    vmPid: number,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<Enclave> {
    const hello = () => hostd.hello({ signal, timeoutMs: HELLO_MS * this.vm.timeoutScale });
    if (!spec.restoreFrom) {
      await hello();
      return this.opts.inner.start(
        { ...spec, placement: hostdPlacement(hostd, ENCLAVE_ID, vmPid) },
        sink,
        signal,
      );
    }
    const inner = await startProcessEnclave(
      ["(the enclave saved in the disposable host)"],
      { ...spec, placement: attachedPlacement(hostd, ENCLAVE_ID, vmPid) },
      sink,
      signal,
    );
    const { children } = await hello();
    if (!children.includes(ENCLAVE_ID))
      throw new InfraError(
        "dh.hello",
        `the restored disposable host holds no enclave (hostd's children: ${children.join(",") || "none"})`,
      );
    sink({ type: "control", name: "RESUME", data: null, at: performance.now() });
    return inner;
  }

  /**
   * One event of the host's VM: kept for the run's watch; for a shared-kernel enclave the host kernel's
   * panic event is the enclave's too (its kernel is the host's).
   */
  private onHostEvent(
    ev: EnclaveEvent,
    events: HostEvents,
    ready: (ev: EnclaveEvent) => void,
    sink: (ev: EnclaveEvent) => void,
  ): void {
    ready(ev);
    events.push(ev);
    if (this.sharesKernel && ev.type === "control" && ev.name === "GUEST_PANICKED") sink(ev);
  }

  async close(): Promise<void> {
    await this.vm.close();
  }
}

/**
 * The host's probe before the run, taken twice: a restored host's first fork+exec runs through cold
 * emulation caches (tens to hundreds of ms), which would make a lax baseline for the after-probe.
 */
async function warmProbe(hostd: HostdClient, signal: AbortSignal): Promise<DhProbes> {
  await probeDh(hostd, signal);
  return probeDh(hostd, signal);
}

/** Waits for a console pattern in a stream of events (null: matched at once), keeping a short tail. */
function consoleWait(pattern: RegExp | null) {
  let seen = "";
  let resolve: (v: "matched") => void = () => {};
  const matched = new Promise<"matched">((r) => {
    resolve = r;
  });
  if (pattern === null) resolve("matched");
  return {
    matched,
    sink(ev: EnclaveEvent) {
      if (ev.type === "exit") seen += `\n(exit ${JSON.stringify(ev.exit)}; stderr: ${ev.stderr.slice(-500)})`;
      if (ev.type !== "console" || pattern === null) return;
      seen = (seen + ev.data.toString("latin1")).slice(-4096);
      if (pattern.test(seen)) resolve("matched");
    },
    tail: () => JSON.stringify(seen.slice(-800)),
  };
}
