import type { EnclaveSpec } from "./backend.js";

/**
 * The guest kernel command line: serial console, reboot at once on panic (with QEMU's -no-reboot the
 * VMM then exits), the agent's heartbeat interval, campaign arguments and the boot-time arming.
 */
export function guestKernelCmdline(spec: EnclaveSpec): string {
  return [
    "console=ttyS0",
    "panic=-1",
    "quiet",
    // The crypto self-tests take ~0.2 s of an emulated boot and test nothing ezone relies on.
    "cryptomgr.notests",
    `ezone.hb=${spec.heartbeatMs}`,
    ...spec.kernelArgs,
    ...(spec.arm
      ? [`ezone.arm=${spec.arm.fault}`, `ezone.nonce=${spec.arm.nonce}`, `ezone.delay_ms=${spec.arm.delayMs}`]
      : []),
  ].join(" ");
}
