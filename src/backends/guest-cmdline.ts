import type { EnclaveSpec } from "./backend.js";

/**
 * The guest kernel command line: serial console, reboot at once on panic (with QEMU's -no-reboot the
 * VMM then exits), the agent's heartbeat interval, campaign arguments and the boot-time arming; and,
 * with `spec.syslog`, the agent's syslog channel at `syslogDevice` (where the backend put it).
 */
export function guestKernelCmdline(spec: EnclaveSpec, syslogDevice?: string): string {
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
    ...(syslogDevice ? syslogArgs(spec, syslogDevice) : []),
  ].join(" ");
}

/**
 * The agent's syslog arguments: where its channel is in the guest (`/dev/ttyS1`, `fd:3`) and the
 * enclave's name; none without `spec.syslog`. The name must be a syslog HOSTNAME token.
 */
function syslogArgs(spec: EnclaveSpec, device: string): string[] {
  const syslog = spec.syslog;
  if (!syslog) return [];
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(syslog.hostname))
    throw new RangeError(
      `syslog hostname ${JSON.stringify(syslog.hostname)}: expected [A-Za-z0-9._-], at most 63`,
    );
  return [`ezone.syslog=${device}`, `ezone.name=${syslog.hostname}`];
}
