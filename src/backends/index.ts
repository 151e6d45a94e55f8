import type { Backend } from "./backend.js";
import { ContainerBackend } from "./container.js";
import { ExecBackend, type ExecConfig } from "./exec.js";
import { GvisorBackend } from "./gvisor.js";
import { NativeBackend } from "./native.js";
import { QemuBackend } from "./qemu/qemu.js";
import { TestBackend, type TestScript } from "./test.js";
import { UmlBackend } from "./uml.js";

/** Every backend ezone knows, in continuum order; the only name → backend table. */
export const BACKEND_NAMES = ["native", "container", "gvisor", "uml", "kvm", "exec", "qemu-tcg"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A backend as a campaign names it: its type and, for `exec`, the VMM's commands. */
export interface BackendRef {
  name: string;
  type: BackendName;
  exec?: ExecConfig | null;
  /** Override of the emulator binary (tests). */
  binary?: string;
}

/**
 * The replaying `test` backend, for tests only: its type is not in BACKEND_NAMES, so campaigns, `ezone
 * matrix` and doctor never offer it.
 */
export interface TestBackendRef {
  name: string;
  type: "test";
  script: TestScript;
}

export function createBackend(ref: BackendRef | TestBackendRef): Backend {
  switch (ref.type) {
    case "test":
      return new TestBackend(ref.script);
    case "native":
      return new NativeBackend();
    case "container":
      return new ContainerBackend();
    case "gvisor":
      return new GvisorBackend();
    case "uml":
      return new UmlBackend();
    case "qemu-tcg":
      return new QemuBackend({ accel: "tcg", binary: ref.binary });
    case "kvm":
      return new QemuBackend({ accel: "kvm", binary: ref.binary });
    case "exec":
      return new ExecBackend(ref.name, ref.exec ?? null);
  }
}
