import type { Backend } from "./backend.js";
import { ExecBackend, type ExecConfig } from "./exec.js";
import { QemuBackend } from "./qemu/qemu.js";

/** Every backend ezone knows, in continuum order; the only name → backend table. */
export const BACKEND_NAMES = ["qemu-tcg", "kvm", "exec"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A backend as a campaign names it: its type and, for `exec`, the VMM's commands. */
export interface BackendRef {
  name: string;
  type: BackendName;
  exec?: ExecConfig | null;
  /** Override of the emulator binary (tests). */
  binary?: string;
}

export function createBackend(ref: BackendRef): Backend {
  switch (ref.type) {
    case "qemu-tcg":
      return new QemuBackend({ accel: "tcg", binary: ref.binary });
    case "kvm":
      return new QemuBackend({ accel: "kvm", binary: ref.binary });
    case "exec":
      return new ExecBackend(ref.name, ref.exec ?? null);
  }
}
