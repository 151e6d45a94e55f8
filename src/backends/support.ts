import type { FaultNeeds, Support } from "./backend.js";

/**
 * What plays the guest kernel in a backend, which decides most refusals: a VM has its own Linux kernel,
 * native and container share the host's, gVisor's is the Sentry (a Go program in host user space).
 */
export type GuestKernel = "own-linux" | "host" | "sentry";

/** What a backend says about itself beyond its guest kernel. */
export interface SupportTraits {
  /** Why this backend's enclaves cannot run inside the disposable host; absent: they can. */
  notInDisposableHost?: string;
}

/**
 * Why QEMU is not offered inside the disposable host (a QEMU-TCG VM itself): TCG inside TCG, measured
 * (docs/disposable-host-image.md), is far beyond the 60 s a run may take.
 */
export const NESTED_QEMU_REFUSAL =
  "QEMU inside the TCG host VM: not offered: a nested QEMU-TCG guest took 118 s from start to the agent's READY " +
  "(measured once), so only a snapshot with the nested guest READY could fit a run in 60 s, and that needs " +
  "QEMU's QMP on a socket at fd 3, which hostd carries as a pipe";

/**
 * Refusals shared by every backend, from what its guest kernel is and where the enclave runs (the real
 * host, or a disposable host VM that may die). A refusal is a statement stored instead of a run, never
 * a `not-fired` result.
 */
export function supportFor(kernel: GuestKernel, fault: FaultNeeds, traits: SupportTraits = {}): Support {
  const disposable = fault.placement === "disposable";
  if (disposable && traits.notInDisposableHost) {
    return { supported: false, reason: traits.notInDisposableHost };
  }
  // The control run injects nothing: every backend can host it, whatever zone the catalogue files it in.
  if (fault.name === "none") return { supported: true };
  if (fault.zone === 1) {
    // The module goes into the disposable host's kernel, beside the enclave: any enclave may watch it.
    if (disposable) return { supported: true };
    return {
      supported: false,
      reason:
        "a host-kernel fault is only injected inside a disposable VM playing the host (host: disposable)",
    };
  }
  return disposable ? inDisposableHost(kernel, fault) : onRealHost(kernel, fault);
}

/** On the real host, whose kernel must never be hurt. */
function onRealHost(kernel: GuestKernel, fault: FaultNeeds): Support {
  if (kernel === "host" && (fault.zone === 3 || fault.kernelModule)) {
    return {
      supported: false,
      reason:
        "the guest kernel here is the host's own kernel: a guest-kernel fault would be a host-kernel fault (zone 3 ≡ zone 1), refused on the real host (host: disposable runs it)",
    };
  }
  if (fault.exhaustsMemory && kernel !== "own-linux") {
    return {
      supported: false,
      reason:
        "the enclave has no memory of its own here (the host's memory, with no bound): exhausting it would press on the host (and the guest's OOM killer would be the host's); host: disposable runs it",
    };
  }
  return commonRefusals(kernel, fault);
}

/**
 * Inside the disposable host the kernel beneath a shared-kernel enclave is the disposable host's: its
 * zone-3 faults and memory exhaustion run there. ezone's host-side (zone-2) actions reach only the real
 * host's processes, not the enclave's inside the VM.
 */
function inDisposableHost(kernel: GuestKernel, fault: FaultNeeds): Support {
  if (fault.host) {
    return {
      supported: false,
      reason:
        "a zone-2 fault is ezone acting on the enclave's host processes: inside the disposable host they are out of its reach",
    };
  }
  return commonRefusals(kernel, fault);
}

function commonRefusals(kernel: GuestKernel, fault: FaultNeeds): Support {
  if (kernel === "sentry" && fault.kernelModule) {
    return {
      supported: false,
      reason:
        "gVisor's guest kernel is the Sentry (Go, in host user space): it cannot load Linux kernel modules",
    };
  }
  if (kernel === "sentry" && fault.zone === 3) {
    // Not a module, but still a Linux-kernel mechanism (sysrq, ...): the Sentry has none of them, and no
    // way is known to panic it from inside without a Sentry bug (its watchdog wants a task stuck 3 min).
    return {
      supported: false,
      reason:
        "gVisor's guest kernel is the Sentry, not Linux: Linux guest-kernel faults do not apply; its crash is measured from the host by sentry-panic (zone 2)",
    };
  }
  if (fault.flipsBits) {
    return {
      supported: false,
      reason:
        "bit flips are placed through QEMU's gdbstub under TCG (qemu-tcg) or by ptrace into the workload as a plain host process (native); here there is no debug stub ezone drives, and the workload's pid is not a host pid ezone may trace (a sandbox's or another kernel's)",
    };
  }
  if (fault.host?.kind === "signal" && fault.host.target === "sentry" && kernel !== "sentry") {
    return { supported: false, reason: "no gVisor Sentry here to panic" };
  }
  return { supported: true };
}
