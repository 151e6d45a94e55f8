import { existsSync } from "node:fs";
import type { BuiltImage } from "../guest/image-builder.js";
import { runTool } from "../util/child.js";
import { InfraError } from "../util/errors.js";
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

export interface UmlOptions {
  /** The UML kernel binary (Debian's `user-mode-linux`); tests point it at a bad path. */
  binary?: string;
}

/** Why module faults are refused on `uml` (a statement, never a `not-fired` run). */
export const UML_NO_MODULES =
  "Debian's user-mode-linux ships its UML kernel and prebuilt modules but no headers or build tree, so ezone's fault modules cannot be built for it; on uml the guest kernel is crashed through in-kernel paths only (sysrq-c)";

/**
 * The `linux.uml` command line for one enclave (pure, unit-tested). The guest kernel is a Linux process:
 * its console is its stdin/stdout (`con0=fd:0,fd:1`, every other console and serial line null), its
 * per-instance files go to the run's directory (`uml_dir`, `umid`), and `prlimit --core=0` keeps the
 * abort() that ends a panicking UML from writing a core file of the guest's whole memory.
 */
export function umlArgv(binary: string, spec: EnclaveSpec): string[] {
  // console=ttyS0 is QEMU's serial port; UML has no ttyS0 and would lose the kernel's messages.
  const cmdline = guestKernelCmdline(spec, "/dev/ttyS1")
    .split(" ")
    .filter((arg) => !arg.startsWith("console="));
  return [
    ...["prlimit", "--core=0", "--", binary],
    `mem=${spec.memoryMb}M`,
    `initrd=${spec.image.initramfs}`,
    ...["con=null", "con0=fd:0,fd:1", "ssl=null"],
    // The agent's syslog channel: the guest's ttyS1 on the connection ezone passes at fd 3.
    ...(spec.syslog ? ["ssl1=fd:3"] : []),
    ...[`uml_dir=${spec.workDir}`, `umid=ezone-${spec.runTag}`],
    // Debian's UML kernel has no PRINTK_TIME: timestamps make its console read like QEMU's.
    "printk.time=1",
    ...cmdline,
  ];
}

/**
 * `uml`: User-mode Linux, a Linux kernel running as a host process, with the same BusyBox initramfs and
 * agent as the QEMU guests. A guest-kernel panic ends the UML process (its panic notifier aborts it:
 * SIGABRT) after the panic text reached the console; that text is the guest's crash report. UML has no
 * pvpanic and cannot load modules built for Debian's amd64 kernel (refused, see `UML_NO_MODULES`).
 */
export class UmlBackend implements Backend {
  readonly name = "uml";
  /** Between gVisor (a user-space kernel that is not Linux) and KVM (hardware virtualization). */
  readonly continuumRank = 2.5;
  /** No pvpanic: the console (and the process ending) is the only witness of a guest panic. */
  readonly panicChannel = null;
  readonly timeoutScale = 1;
  private readonly binary: string;

  constructor(opts: UmlOptions = {}) {
    this.binary = opts.binary ?? "linux.uml";
  }

  async probe(_image: BuiltImage | null, signal: AbortSignal): Promise<Availability> {
    const install = "apt-get install -y user-mode-linux";
    const r = await runTool([this.binary, "--version"], { signal, timeoutMs: 10_000 }).catch(() => null);
    const version = r?.code === 0 ? r.stdout.trim().split("\n")[0] : undefined;
    if (!version) return { available: false, reason: `${this.binary} not found or not runnable`, install };
    return { available: true, reason: `User-mode Linux ${version}`, version: `UML ${version}` };
  }

  supports(fault: FaultNeeds): Support {
    if (fault.kernelModule && fault.zone !== 1) return { supported: false, reason: UML_NO_MODULES };
    return supportFor("own-linux", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    if (!existsSync(spec.image.initramfs))
      throw new InfraError("validate.image", `missing ${spec.image.initramfs}`);
    return startProcessEnclave(umlArgv(this.binary, spec), spec, sink, signal, { syslogFd: true });
  }
}
