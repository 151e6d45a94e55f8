import { buildImage } from "../../guest/image-builder.js";

export interface ImageBuildCliOptions {
  kernel?: string;
  kernelBuildDir?: string;
  kernelModulesDir?: string;
  cacheDir?: string;
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
  const ms = Math.round(performance.now() - t0);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...image, ms }, null, 2)}\n`);
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
}
