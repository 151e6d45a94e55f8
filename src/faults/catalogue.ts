import type { Zone } from "../model/outcome-types.js";

/** A fault ezone can inject: where it is, how it is triggered, what proves it fired, what it should do. */
export interface FaultSpec {
  name: string;
  zone: Zone;
  /** Triggered by loading a guest kernel module (needs a backend that can load modules). */
  kernelModule: boolean;
  mechanism: string;
  proof: string;
  expected: string;
}

/** The catalogue; `none` is the control run. Sorted by name. */
export const FAULTS = {
  kerncrash: {
    name: "kerncrash",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: inline-asm divl by zero in kernel mode, at once (process context) or after N s (timer)",
    proof: "the module's printk 'ezone-fault: kerncrash nonce=<run nonce> firing' on the guest console",
    expected: "guest kernel oopses and panics; the host is untouched",
  },
  none: {
    name: "none",
    zone: 3,
    kernelModule: false,
    mechanism: "control run: nothing is injected",
    proof: "none needed",
    expected: "the guest keeps heartbeating",
  },
} as const satisfies Record<string, FaultSpec>;

export type FaultName = keyof typeof FAULTS;
export const FAULT_NAMES = Object.keys(FAULTS) as [FaultName, ...FaultName[]];
