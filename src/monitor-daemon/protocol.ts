/**
 * What travels through syslog between ezone's parts: who sends which APP-NAME and MSGID, at which
 * severity. The monitor trusts a message by its APP-NAME only because the tap rewrites every guest
 * message to `ezone-agent` with a known MSGID: a guest cannot forge the host's `ezone` messages.
 *
 *   ezone-agent  READY HB FIRED INJECT-FAILED ERROR   the guest agent, via the tap (syslog-channel.c)
 *   ezone        OOPS PANIC EXIT                      the host, about an enclave (console, VMM exit)
 *   ezone-monitor CANARY VIOLATION                    the monitor itself
 */
export const AGENT_APP = "ezone-agent";
export const HOST_APP = "ezone";
export const MONITOR_APP = "ezone-monitor";

/** The agent's message kinds and their severities (RFC 5424 numbers). */
export const AGENT_MSGIDS: Readonly<Record<string, number>> = Object.freeze({
  READY: 5,
  HB: 6,
  FIRED: 5,
  "INJECT-FAILED": 3,
  ERROR: 3,
});

/** What the host reports about an enclave, and at which severity. */
export const HOST_MSGIDS = { OOPS: 2, PANIC: 1, EXIT: 3 } as const;
export type HostMsgId = keyof typeof HOST_MSGIDS;

/** An enclave's name: the HOSTNAME of its messages, so a valid RFC 5424 header token. */
export const ENCLAVE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Wall-clock milliseconds that never jump backwards within this process. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
