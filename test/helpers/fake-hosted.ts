import type { Backend, Enclave, EnclaveEvent, EnclaveSpec } from "../../src/backends/backend.js";
import type { DisposableHostEnclave, HostEvent } from "../../src/backends/disposable-host/dh-enclave.js";
import { dhProbesOf } from "../../src/backends/disposable-host/dh-probes.js";
import { TestBackend, type TestScript } from "../../src/backends/test.js";

/** hostd's PROBE answer of a healthy 2-vCPU disposable host. */
export const HEALTHY_PROBE = {
  taint: "0",
  runnable: "1",
  forkexec_ms: "3",
  mem_available_kb: "800000",
  oops: "0",
  cpus_online: "2",
  cpus_stalled: "0",
};

/** What the fake disposable host does: its events, whether it answers after the run, its zone-1 module. */
export interface FakeHost {
  /** Delivered as soon as the run watches the host. */
  events: HostEvent[];
  answersAfter: boolean;
  /** Delivered when a zone-1 module is loaded with the run's nonce; may also act on the enclave. */
  onInject?: (nonce: string, enclave: Enclave) => HostEvent[];
}

/**
 * The replaying backend as if inside a disposable host: the host's events are scripted (heartbeats, then
 * optionally its console and death), its probes answer (or not) as asked. No QEMU.
 */
export function fakeHosted(script: TestScript, host: FakeHost): Backend {
  const inner = new TestBackend(script);
  return {
    name: "test",
    continuumRank: 0,
    timeoutScale: 1,
    panicChannel: null,
    probe: (i, s) => inner.probe(i, s),
    supports: (f) => inner.supports(f),
    async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal) {
      const enclave = await inner.start(spec, sink, signal);
      let listen: (ev: HostEvent) => void = () => {};
      const hosted: DisposableHostEnclave = Object.assign(enclave, {
        sharesKernel: true,
        hostBefore: dhProbesOf({ kind: "answered", values: HEALTHY_PROBE }, new Date(), 2),
        watchHost: (listener: (ev: HostEvent) => void) => {
          listen = listener;
          for (const ev of host.events) listener(ev);
        },
        probeHost: async () =>
          host.answersAfter
            ? dhProbesOf({ kind: "answered", values: HEALTHY_PROBE }, new Date(), 2)
            : dhProbesOf({ kind: "silent", message: "hostd.channel: closed" }, new Date(), 2),
        injectHostKernel: async (_module: string, params: string) => {
          const nonce = /nonce=(\S+)/.exec(params)?.[1] ?? "";
          for (const ev of host.onInject?.(nonce, enclave) ?? []) listen(ev);
          return null;
        },
      });
      return hosted;
    },
  };
}
