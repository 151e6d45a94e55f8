import type { LinkKind } from "../model/composition.js";
import type { BackendName } from "./index.js";

/** What an enclave of a backend can take part in, for the links of a composed cell. Pure data. */
export interface LinkCapabilities {
  /** A NIC of its own that can join a bridge (virtio-net, tap, veth); null when it has one, else why not. */
  nic: string | null;
  /** A directory or block device it can share with another enclave; null when it can, else why not. */
  sharedStorage: string | null;
}

/**
 * The one table of link capabilities per backend type. `native` shares the host's network stack, so it
 * has no NIC of its own to put on a cell's bridge; `exec` runs a VMM ezone knows nothing of.
 */
export const LINK_CAPABILITIES: Record<BackendName, LinkCapabilities> = {
  native: {
    nic: "a native enclave uses the host's own network stack: it has no NIC of its own to bridge",
    sharedStorage: null,
  },
  container: { nic: null, sharedStorage: null },
  gvisor: { nic: null, sharedStorage: null },
  uml: { nic: null, sharedStorage: null },
  kvm: { nic: null, sharedStorage: null },
  "qemu-tcg": { nic: null, sharedStorage: null },
  exec: {
    nic: "an exec backend's VMM is driven by user commands: ezone cannot give it a NIC",
    sharedStorage: "an exec backend's VMM is driven by user commands: ezone cannot give it shared storage",
  },
};

/**
 * Why an enclave of backend type `type` cannot be an end of a `kind` link, or null when it can. A
 * `depends-on` link is a request/answer service over the cell's bridge: both ends need a NIC.
 */
export function linkRefusal(type: BackendName, kind: LinkKind): string | null {
  const caps = LINK_CAPABILITIES[type];
  return kind === "shared-storage" ? caps.sharedStorage : caps.nic;
}
