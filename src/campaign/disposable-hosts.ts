import type { Backend } from "../backends/backend.js";
import { DisposableHostBackend } from "../backends/disposable-host/disposable-host.js";
import { buildHostImage, type HostImage } from "../guest/host-image.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { HostPlacement } from "../model/run-params.js";
import { InfraError } from "../util/errors.js";

/** One wrapper per backend, so every run of a campaign shares its snapshots' key lookups. */
const wrappers = new WeakMap<Backend, DisposableHostBackend>();
/** One disposable-host image per guest image, built once per process (then found in the cache). */
const images = new Map<string, Promise<HostImage>>();

/**
 * The backend a run starts its enclave with: `backend` itself on the real host, or `backend` inside a
 * disposable host (`host: disposable`), whose image is built from the campaign's guest image on first use.
 */
export function hostedBackend(backend: Backend, host: HostPlacement | undefined, guest: BuiltImage): Backend {
  if (host !== "disposable") return backend;
  let wrapper = wrappers.get(backend);
  if (!wrapper) {
    wrapper = new DisposableHostBackend({ inner: backend, image: (signal) => hostImage(guest, signal) });
    wrappers.set(backend, wrapper);
  }
  return wrapper;
}

function hostImage(guest: BuiltImage, signal: AbortSignal): Promise<HostImage> {
  const id = guest.manifest.id;
  let image = images.get(id);
  if (!image) {
    image = buildHostImage({ guest, signal }).catch((e: Error) => {
      // Not kept: the next run tries again (a build interrupted by its run's deadline is no verdict).
      images.delete(id);
      throw new InfraError("dh.image", `the disposable host's image: ${e.message}`, { cause: e });
    });
    images.set(id, image);
  }
  return image;
}
