import type { FaultNeeds, Support } from "./backend.js";

/**
 * What plays the guest kernel in a backend, which decides most refusals: a VM has its own Linux kernel,
 * native and container share the host's, gVisor's is the Sentry (a Go program in host user space).
 */
export type GuestKernel = "own-linux" | "host" | "sentry";

/**
 * Refusals shared by every backend, from what its guest kernel is. A refusal is a statement stored
 * instead of a run, never a `not-fired` result.
 */
export function supportFor(kernel: GuestKernel, fault: FaultNeeds): Support {
  // The control run injects nothing: every backend can host it, whatever zone the catalogue files it in.
  if (fault.name === "none") return { supported: true };
  if (fault.zone === 1) {
    return {
      supported: false,
      reason: "a host-kernel fault is only injected inside a disposable VM playing the host",
    };
  }
  if (kernel === "host" && (fault.zone === 3 || fault.kernelModule)) {
    return {
      supported: false,
      reason:
        "the guest kernel here is the host's own kernel: a guest-kernel fault would be a host-kernel fault (zone 3 ≡ zone 1), refused on the real host",
    };
  }
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
  if (fault.exhaustsMemory && kernel !== "own-linux") {
    return {
      supported: false,
      reason:
        "the enclave has no memory of its own here (the host's memory, with no bound): exhausting it would press on the host (and the guest's OOM killer would be the host's)",
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
