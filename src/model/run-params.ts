/**
 * The parameters of a run: part of its key (hashed as JSON, so the order of the fields is part of the
 * key and must never change), stored with it, and read back to replay it. Pure types: no I/O here.
 */

import type { CompositionParams } from "./composition.js";
import type { SoftErrorParams } from "./soft-error.js";

/** When a fault fires. */
export type Trigger =
  /** The paper's mode: armed on the kernel command line, fires `delaySeconds` after the agent is READY. */
  | { mode: "boot-delay"; delaySeconds: number }
  /** Sent to the agent over the console once it heartbeats, fires `delaySeconds` later. */
  | { mode: "command"; delaySeconds: number };

/** How a run's guest started: from the saved, booted guest, or a fresh boot. */
export type BootMode = "snapshot" | "fresh";

/**
 * Where the enclave runs: on the real host (absent: today's runs and keys), or inside a disposable QEMU-TCG
 * VM that plays the host, may die, and is thrown away after every run.
 */
export type HostPlacement = "disposable";

/**
 * What the enclave's own processes may do to the kernel beneath them: `privileged` = CAP_SYS_MODULE and a
 * writable /proc/sysrq-trigger (a zone-3 fault from inside a shared-kernel enclave reaches that kernel);
 * `unprivileged` = neither (the kernel refuses: EPERM). Absent: the backend's default.
 */
export type EnclavePrivileges = "privileged" | "unprivileged";

/**
 * One cell's parameters. Every fault kind has the same fields (a control run keeps its unused trigger),
 * because stored keys were made from this shape: a per-kind shape would change them.
 */
export interface RunParams {
  trigger: Trigger;
  memoryMb: number;
  heartbeatMs: number;
  /** The campaign's kernel arguments followed by the fault's own (e.g. softlockup's watchdog_thresh=1). */
  kernelArgs: string[];
  boot: BootMode;
  /** Healthy enclaves beside the faulty one; absent when none, so keys without bystanders stay as they were. */
  bystanders?: number;
  /** A bit flip's target (and pinned register or bit); absent for every other fault, so their keys stay. */
  softError?: SoftErrorParams;
  /** The enclave runs inside a disposable host VM; absent on the real host, so older keys stay. */
  host?: HostPlacement;
  /** The enclave's privileges over the kernel beneath it; absent: the backend's default. */
  privileges?: EnclavePrivileges;
  /** A composed cell's peers, links and limits; absent on single-enclave runs. */
  composition?: CompositionParams;
}

/** Build run parameters with their fields in key order (JSON.stringify follows insertion order). */
export function runParams(p: RunParams): RunParams {
  return {
    trigger: { mode: p.trigger.mode, delaySeconds: p.trigger.delaySeconds },
    memoryMb: p.memoryMb,
    heartbeatMs: p.heartbeatMs,
    kernelArgs: [...p.kernelArgs],
    boot: p.boot,
    ...(p.bystanders !== undefined && p.bystanders > 0 ? { bystanders: p.bystanders } : {}),
    ...(p.softError ? { softError: softErrorParams(p.softError) } : {}),
    ...(p.host ? { host: p.host } : {}),
    ...(p.privileges ? { privileges: p.privileges } : {}),
    ...(p.composition ? { composition: p.composition } : {}),
  };
}

/** Soft-error parameters with their fields in key order, the optional ones only when set. */
function softErrorParams(p: SoftErrorParams): SoftErrorParams {
  return {
    target: p.target,
    ...(p.register !== undefined ? { register: p.register } : {}),
    ...(p.bit !== undefined ? { bit: p.bit } : {}),
  };
}
