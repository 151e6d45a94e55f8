import type { BuiltImage } from "../guest/image-builder.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Support,
} from "./backend.js";
import { enclaveRootfs } from "./enclave-rootfs.js";
import { guestKernelCmdline } from "./guest-cmdline.js";
import { SYSLOG_FD_ARG, startProcessEnclave } from "./process-enclave.js";
import { supportFor } from "./support.js";

/**
 * `native`: the agent from the guest image run as a plain host process, the continuum's zero. There is
 * no guest kernel (the host's serves), so only user-space faults (zone 4) and host-side faults (zone 2)
 * make sense; a guest-kernel fault here would crash the host and is refused.
 */
export class NativeBackend implements Backend {
  readonly name = "native";
  readonly panicChannel = null;
  readonly continuumRank = 0;
  /** Deadlines as for QEMU-TCG: the same heartbeat-loss threshold on every backend keeps zone-2 fair. */
  readonly timeoutScale = 1;

  async probe(_image: BuiltImage | null, _signal: AbortSignal): Promise<Availability> {
    return { available: true, reason: "the agent as a host process", version: `native ${process.platform}` };
  }

  supports(fault: FaultNeeds): Support {
    return supportFor("host", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    const { agent } = await enclaveRootfs(spec.image);
    const enclave = await startProcessEnclave(
      [agent, "--cmdline", guestKernelCmdline(spec, SYSLOG_FD_ARG)],
      spec,
      sink,
      signal,
      { syslogFd: true },
    );
    // setpriv execs the agent: the group leader is the agent itself.
    enclave.hostProcess = async () => ({
      pid: enclave.pid,
      role: "sandboxed-process",
      describe: "ezone-agent (a plain host process)",
    });
    return enclave;
  }
}
