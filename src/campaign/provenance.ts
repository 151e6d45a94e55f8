import { hostname, release } from "node:os";
import type { BuiltImage } from "../guest/image-builder.js";
import type { Provenance } from "../store/store.js";
import { ezoneCommit, ezoneVersion } from "../util/version.js";

/** Where a run's result came from: ezone, the backend, the guest image and kernel, the host. */
export function provenance(
  backendVersion: string | null,
  image: BuiltImage,
  kernelArgs: string[],
): Provenance {
  return {
    ezoneVersion: ezoneVersion(),
    ezoneCommit: ezoneCommit(),
    backendVersion,
    kernelVersion: `${image.manifest.kernel.release} (${image.manifest.kernel.version})`,
    imageHash: image.manifest.id,
    kernelCmdline: kernelArgs.join(" "),
    hostKernel: release(),
    hostname: hostname(),
  };
}
