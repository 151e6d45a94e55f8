import { buildHostImage, type HostImage } from "../../guest/host-image.js";
import { buildImage } from "../../guest/image-builder.js";

export interface ImageBuildCliOptions {
  kernel?: string;
  kernelBuildDir?: string;
  kernelModulesDir?: string;
  cacheDir?: string;
  /** Also build the disposable host's image around the guest image. */
  host?: boolean;
  json?: boolean;
}

/** `ezone image build`: kernel + BusyBox initramfs + agent + fault modules, cached by content hash. */
export async function run(opts: ImageBuildCliOptions): Promise<void> {
  const t0 = performance.now();
  const image = await buildImage({
    cacheDir: opts.cacheDir,
    kernel: opts.kernel,
    kernelBuildDir: opts.kernelBuildDir,
    kernelModulesDir: opts.kernelModulesDir,
    log: (l) => process.stderr.write(`ezone: ${l}\n`),
  });
  const host = opts.host
    ? await buildHostImage({
        guest: image,
        cacheDir: opts.cacheDir,
        log: (l) => process.stderr.write(`ezone: ${l}\n`),
      })
    : null;
  const ms = Math.round(performance.now() - t0);
  if (opts.json) {
    const hostJson = host ? { host: { ...host, guest: undefined } } : {};
    process.stdout.write(`${JSON.stringify({ ...image, ...hostJson, ms }, null, 2)}\n`);
    return;
  }
  const m = image.manifest;
  process.stdout.write(
    `image ${m.id} ${image.cached ? "(cached: nothing to do)" : "(built)"} in ${(ms / 1000).toFixed(1)} s\n` +
      `  kernel   ${m.kernel.package ?? "user kernel"} ${m.kernel.version} (${m.kernel.release})\n` +
      `  busybox  ${m.busybox}\n  modules  ${m.faultModules.join(", ")} + boot: ${m.bootModules.join(", ") || "none"}\n` +
      `  files    ${image.vmlinuz}\n           ${image.initramfs}\n` +
      `  vmlinux  ${image.vmlinux ?? `none (QEMU boots the bzImage): ${m.noVmlinux ?? "unknown"}`}\n`,
  );
  if (host) process.stdout.write(hostSummary(host));
}

function hostSummary(host: HostImage): string {
  const m = host.manifest;
  const missing = m.missingTools.length ? ` (missing here: ${m.missingTools.join(", ")})` : "";
  return (
    `disposable host image ${m.id} ${host.cached ? "(cached)" : "(built)"}, ${(m.initramfsBytes / 1e6).toFixed(1)} MB\n` +
    `  tools    ${Object.keys(m.tools).join(", ")}${missing}\n` +
    `  files    ${host.kernel}\n           ${host.initramfs}\n`
  );
}
