import type { BuiltImage } from "../guest/image-builder.js";
import { InfraError } from "../util/errors.js";
import { shellQuote } from "../util/escape.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Support,
} from "./backend.js";
import { guestKernelCmdline } from "./guest-cmdline.js";
import { startProcessEnclave } from "./process-enclave.js";
import { supportFor } from "./support.js";

export interface ExecConfig {
  /** Shell command starting the VMM with the guest console on stdio; {kernel} {initrd} {cmdline} {memory}. */
  start: string;
}

export const EXTERNAL_VMM_DOC = "docs/external-vmm.md";

/**
 * Any other VMM (Palacios, Xen, Firecracker, ...) driven by a command from the campaign YAML. Without a
 * command it is a statement of unavailability, never a result.
 */
export class ExecBackend implements Backend {
  readonly panicChannel = null;
  readonly noSyslogChannel =
    "its VMM is started by the campaign's own command, which ezone cannot give a serial port";
  readonly continuumRank = 4;
  readonly timeoutScale = 1;
  constructor(
    readonly name: string,
    private readonly config: ExecConfig | null,
  ) {}

  async probe(_image: BuiltImage | null, _signal: AbortSignal): Promise<Availability> {
    if (!this.config) {
      return {
        available: false,
        reason: `no such VMM installed or configured here: give '${this.name}' an exec.start command (see ${EXTERNAL_VMM_DOC})`,
      };
    }
    return {
      available: true,
      reason: `external VMM via: ${this.config.start}`,
      version: `exec:${this.name}`,
    };
  }

  supports(fault: FaultNeeds): Support {
    return supportFor("own-linux", fault, {
      notInDisposableHost: "an exec backend's VMM commands run on the real host only",
    });
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    if (!this.config)
      throw new InfraError("validate.config", `${this.name}: no exec.start command configured`);
    const cmdline = guestKernelCmdline(spec);
    const vars: Record<string, string> = {
      kernel: spec.image.vmlinuz,
      // The same kernel uncompressed (ELF, PVH entry), as Firecracker and Cloud Hypervisor boot it.
      vmlinux: spec.image.vmlinux ?? spec.image.vmlinuz,
      initrd: spec.image.initramfs,
      cmdline,
      memory: String(spec.memoryMb),
    };
    const command = this.config.start.replace(/\{(kernel|vmlinux|initrd|cmdline|memory)\}/g, (_, k: string) =>
      shellQuote(vars[k] ?? ""),
    );
    return startProcessEnclave(["/bin/sh", "-c", `exec ${command}`], spec, sink, signal);
  }
}
