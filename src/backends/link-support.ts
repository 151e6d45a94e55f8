import type { LinkKind } from "../model/composition.js";
import type { BackendName } from "./index.js";

/** What an enclave of a backend can take part in, for the links of a composed cell. Pure data. */
export interface LinkCapabilities {
  /** A NIC of its own that can join a bridge (virtio-net, tap, veth); null when it has one, else why not. */
  nic: string | null;
  /** A directory or block device it can share with another enclave; null when it can, else why not. */
  sharedStorage: string | null;
}

const NO_SHARED_STORAGE = "shared storage between enclaves is not built yet";
const NIC_QEMU_ONLY = (what: string) =>
  `${what}: only QEMU enclaves get a NIC on a cell's bridge so far (virtio-net on a tap)`;

/**
 * The one table of link capabilities per backend type. Only QEMU's virtio-net on a tap is built: `native`
 * shares the host's own network stack, and the other sandboxes have no veth or tap wiring yet; `exec`
 * runs a VMM ezone knows nothing of. `runCampaign` refuses what the host itself cannot build.
 */
export const LINK_CAPABILITIES: Record<BackendName, LinkCapabilities> = {
  native: {
    nic: "a native enclave uses the host's own network stack: it has no NIC of its own to bridge",
    sharedStorage: NO_SHARED_STORAGE,
  },
  container: { nic: NIC_QEMU_ONLY("a bubblewrap container"), sharedStorage: NO_SHARED_STORAGE },
  gvisor: { nic: NIC_QEMU_ONLY("a gVisor sandbox"), sharedStorage: NO_SHARED_STORAGE },
  uml: { nic: NIC_QEMU_ONLY("a UML guest"), sharedStorage: NO_SHARED_STORAGE },
  kvm: { nic: null, sharedStorage: NO_SHARED_STORAGE },
  "qemu-tcg": { nic: null, sharedStorage: NO_SHARED_STORAGE },
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
