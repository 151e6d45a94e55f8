import type { BuiltImage } from "../guest/image-builder.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  ProcessTracer,
  Support,
} from "./backend.js";
import { enclaveRootfs } from "./enclave-rootfs.js";
import { guestKernelCmdline } from "./guest-cmdline.js";
import { startProcessEnclave } from "./process-enclave.js";
import { flipProcess, hostPtraceRefusal } from "./ptrace-flipper.js";
import { supportFor } from "./support.js";

/**
 * `native`: the agent from the guest image run as a plain host process, the continuum's zero. There is
 * no guest kernel (the host's serves), so only user-space faults (zone 4) and host-side faults (zone 2)
 * make sense; a guest-kernel fault here would crash the host and is refused. Bit flips go into the
 * workload's process by ptrace from the host (ezone's flipper).
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
    if (fault.flipsBits) return nativeFlipSupport(fault.flipTarget, hostPtraceRefusal());
    return supportFor("host", fault);
  }

  async start(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<Enclave & ProcessTracer> {
    const { agent } = await enclaveRootfs(spec.image);
    const enclave = await startProcessEnclave(
      [agent, "--cmdline", guestKernelCmdline(spec)],
      spec,
      sink,
      signal,
    );
    // setpriv execs the agent: the group leader is the agent itself.
    enclave.hostProcess = async () => ({
      pid: enclave.pid,
      role: "sandboxed-process",
      describe: "ezone-agent (a plain host process)",
    });
    return Object.assign(enclave, { flipProcess });
  }
}

/** The targets a flip by ptrace reaches: the workload's own input and registers. */
const NATIVE_FLIP_TARGETS = ["data", "registers"];

/** Whether native flips bits into `target`: by ptrace of the workload, where Yama lets ezone attach. */
export function nativeFlipSupport(target: string | undefined, ptraceRefused: string | null): Support {
  if (target?.startsWith("kernel"))
    return {
      supported: false,
      reason: `the kernel here is the host's own: a flip in its ${target.slice("kernel-".length) || "memory"} would be a host-kernel fault, refused on the real host`,
    };
  if (target !== undefined && !NATIVE_FLIP_TARGETS.includes(target))
    return {
      supported: false,
      reason: `native flips bits by ptrace into the workload's ${NATIVE_FLIP_TARGETS.join(" and ")} only, not its ${target}`,
    };
  return ptraceRefused === null ? { supported: true } : { supported: false, reason: ptraceRefused };
}
