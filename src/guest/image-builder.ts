import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { runTool } from "../util/child.js";
import { installedVersion } from "../util/dpkg.js";
import { InfraError } from "../util/errors.js";
import { projectRoot } from "../util/project-root.js";
import { type CpioEntry, writeCpio } from "./cpio.js";
import { extractPvhKernel } from "./vmlinux.js";

/**
 * The modules every image of ezone loads first, in dependency order: pvpanic lets QEMU see a panic (QMP
 * GUEST_PANICKED), then the virtio PCI transport its other devices sit on.
 */
export const PANIC_AND_VIRTIO_MODULES = [
  "drivers/misc/pvpanic/pvpanic.ko",
  "drivers/misc/pvpanic/pvpanic-mmio.ko",
  "drivers/virtio/virtio_ring.ko",
  "drivers/virtio/virtio.ko",
  "drivers/virtio/virtio_pci_legacy_dev.ko",
  "drivers/virtio/virtio_pci_modern_dev.ko",
  "drivers/virtio/virtio_pci.ko",
] as const;

/** Kernel modules the guest loads at boot: then virtio-net and the failover it needs, a composed cell's NIC. */
const BOOT_MODULES = [
  ...PANIC_AND_VIRTIO_MODULES,
  "net/core/failover.ko",
  "drivers/net/net_failover.ko",
  "drivers/net/virtio_net.ko",
];

/** What a built image is, written next to it as manifest.json. */
export interface ImageManifest {
  id: string;
  kernel: { source: "debian" | "user"; package: string | null; version: string; release: string };
  busybox: string;
  gcc: string;
  faultModules: string[];
  bootModules: string[];
  inputs: Record<string, string>;
  files: { vmlinuz: string; initramfs: string; vmlinux?: string };
  /** Why there is no uncompressed PVH kernel (QEMU then boots the bzImage), when there is none. */
  noVmlinux?: string;
  builtAt: string;
  buildMs: number;
}

export interface BuiltImage {
  dir: string;
  vmlinuz: string;
  /** The same kernel uncompressed, with a PVH entry QEMU boots directly; null when it could not be made. */
  vmlinux: string | null;
  initramfs: string;
  manifest: ImageManifest;
  /** true when the cache already had this image (a no-op build). */
  cached: boolean;
}

export interface ImageBuildOptions {
  cacheDir?: string;
  /** A user kernel instead of Debian's: its bzImage and a build tree to compile modules against. */
  kernel?: string;
  kernelBuildDir?: string;
  /** Directory holding the user kernel's pvpanic modules, if they are not built in. */
  kernelModulesDir?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "ezone");
}

const GUEST_SRC = join(projectRoot(), "src", "guest");

/** Run a build tool (10 min deadline); a failure is an InfraError naming `step` and the tool's stderr. */
export async function tool(argv: string[], step: string, opts: { cwd?: string; signal?: AbortSignal } = {}) {
  const r = await runTool(argv, { ...opts, timeoutMs: 600_000 });
  if (r.code !== 0) {
    throw new InfraError(
      step,
      `${argv.join(" ")} failed (${r.code ?? r.signal}): ${r.stderr.trim().slice(-2000)}`,
    );
  }
  return r.stdout;
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The ABI package Debian's `linux-image-amd64` depends on today, and its version; resolved at build time. */
export async function resolveDebianKernel(
  signal?: AbortSignal,
): Promise<{ pkg: string; version: string; release: string }> {
  const deps = await tool(["apt-cache", "depends", "linux-image-amd64"], "image.resolve-kernel", { signal });
  const pkg = /Depends:\s*(linux-image-[\w.+-]+)/.exec(deps)?.[1];
  if (!pkg) {
    throw new InfraError(
      "image.resolve-kernel",
      "apt-cache knows no linux-image-amd64 dependency; run `apt-get update` (make setup does)",
    );
  }
  const show = await tool(["apt-cache", "show", "--no-all-versions", pkg], "image.resolve-kernel", {
    signal,
  });
  const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  if (!version) throw new InfraError("image.resolve-kernel", `no Version for ${pkg} in apt-cache show`);
  return { pkg, version, release: pkg.replace(/^linux-image-/, "") };
}

async function requirePackage(pkg: string, signal?: AbortSignal): Promise<string> {
  const version = await installedVersion(pkg, signal);
  if (!version) {
    throw new InfraError(
      "image.tools",
      `${pkg} is not installed: run \`apt-get install -y ${pkg}\` (make setup does)`,
    );
  }
  return version;
}

/** Fetch a Debian kernel .deb with apt-get download and keep only vmlinuz and the boot modules. */
async function fetchDebianKernel(
  cacheDir: string,
  k: { pkg: string; version: string; release: string },
  log: (l: string) => void,
  signal?: AbortSignal,
): Promise<{ vmlinuz: string; modulesRoot: string }> {
  const dir = join(cacheDir, "kernels", `${k.pkg}_${k.version}`);
  const vmlinuz = join(dir, "vmlinuz");
  const modulesRoot = join(dir, "modules");
  // A cache made before a boot module was added lacks it: fetched again.
  const complete = [".complete", ...BOOT_MODULES.map((m) => join("modules", m))];
  if (complete.every((f) => existsSync(join(dir, f)))) return { vmlinuz, modulesRoot };
  log(`fetching ${k.pkg} ${k.version} (apt-get download)`);
  await mkdir(join(cacheDir, "kernels"), { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, "kernels", ".fetch-"));
  try {
    await tool(["apt-get", "download", `${k.pkg}=${k.version}`], "image.fetch-kernel", { cwd: tmp, signal });
    const deb = (await readdir(tmp)).find((f) => f.endsWith(".deb"));
    if (!deb) throw new InfraError("image.fetch-kernel", `apt-get download left no .deb in ${tmp}`);
    await tool(["dpkg-deb", "-x", join(tmp, deb), join(tmp, "x")], "image.extract-kernel", { signal });
    const out = join(tmp, "keep");
    await mkdir(join(out, "modules"), { recursive: true });
    await cp(join(tmp, "x", "boot", `vmlinuz-${k.release}`), join(out, "vmlinuz"));
    await cp(join(tmp, "x", "boot", `config-${k.release}`), join(out, "config"));
    for (const m of BOOT_MODULES) {
      const src = join(tmp, "x", "lib", "modules", k.release, "kernel", m);
      await mkdir(dirname(join(out, "modules", m)), { recursive: true });
      await cp(src, join(out, "modules", m));
    }
    await writeFile(join(out, ".complete"), `${k.pkg} ${k.version}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { vmlinuz, modulesRoot };
}

/** The headers' Makefile includes an absolute /usr/src path, so headers come from apt, not a cache. */
async function ensureHeaders(
  release: string,
  log: (l: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const dir = `/usr/src/linux-headers-${release}`;
  if (existsSync(join(dir, "Makefile"))) return dir;
  if (process.getuid?.() !== 0) {
    throw new InfraError(
      "image.headers",
      `missing ${dir}: run \`apt-get install -y linux-headers-${release}\` as root`,
    );
  }
  log(`installing linux-headers-${release} (apt-get)`);
  await tool(
    ["apt-get", "install", "-y", "-q", "--no-install-recommends", `linux-headers-${release}`],
    "image.headers",
    {
      signal,
    },
  );
  return dir;
}

async function buildModules(
  buildDir: string,
  work: string,
  signal?: AbortSignal,
): Promise<Map<string, Buffer>> {
  const src = join(work, "modules");
  await cp(join(GUEST_SRC, "modules"), src, { recursive: true });
  await tool(["make", "-s", "-C", buildDir, `M=${src}`, "modules"], "image.build-modules", { signal });
  const out = new Map<string, Buffer>();
  // Every module Kbuild lists (obj-m += name.o) is a fault module shipped as /lib/ezone/<name>.ko.
  const kbuild = await readFile(join(src, "Kbuild"), "utf8");
  for (const [, name] of kbuild.matchAll(/^obj-m\s*\+?=\s*([\w-]+)\.o/gm)) {
    out.set(name as string, await readFile(join(src, `${name}.ko`)));
  }
  return out;
}

/** Compile every .c of `src/guest/<name>` into one static binary `out` (`step` names a failure). */
export async function compileStaticC(
  name: string,
  out: string,
  step: string,
  signal?: AbortSignal,
): Promise<string> {
  const dir = join(GUEST_SRC, name);
  const sources = (await readdir(dir)).filter((f) => f.endsWith(".c")).sort();
  const flags = ["-static", "-O2", "-Wall", "-Wextra", "-Werror"];
  await tool(["gcc", ...flags, "-o", out, ...sources.map((f) => join(dir, f))], step, { signal });
  return out;
}

/** Compile the agent to `out`: every .c of src/guest/agent, static (the image's and the native backend's). */
export async function compileAgent(out: string, signal?: AbortSignal): Promise<string> {
  return compileStaticC("agent", out, "image.build-agent", signal);
}

async function buildAgent(work: string, signal?: AbortSignal): Promise<Buffer> {
  return readFile(await compileAgent(join(work, "ezone-agent"), signal));
}

/** Files of src/guest that belong to the disposable host's image only (src/guest/host-image.ts). */
const HOST_ONLY = /^(hostd\/|host-init\.sh$)/;

/** Hash of every guest source file (init, agent, modules): any change makes a new image. */
async function sourceInputs(): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  const files = (await readdir(GUEST_SRC, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile() && !d.name.endsWith(".ts"))
    .filter((d) => !HOST_ONLY.test(join(d.parentPath, d.name).slice(GUEST_SRC.length + 1)))
    .map((d) => join(d.parentPath, d.name))
    .sort();
  for (const f of files) inputs[f.slice(GUEST_SRC.length + 1)] = sha256(await readFile(f));
  return inputs;
}

async function fileHash(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** The image stored in `dir` (its files by their fixed names). */
export function imageAt(dir: string, manifest: ImageManifest, cached: boolean): BuiltImage {
  return {
    dir,
    vmlinuz: join(dir, "vmlinuz"),
    vmlinux: manifest.files.vmlinux ? join(dir, "vmlinux") : null,
    initramfs: join(dir, "initramfs.cpio"),
    manifest,
    cached,
  };
}

/** The kernel an image boots and what its modules build against. */
interface KernelSource {
  kernel: ImageManifest["kernel"];
  /** The bzImage. */
  vmlinuz: string;
  /** The kernel build tree (headers) the fault modules compile against. */
  buildDir: string;
  /** Modules the guest loads at boot, in load order. */
  bootModuleFiles: { name: string; path: string }[];
}

function bootModule(root: string, module: string): { name: string; path: string } {
  return { name: module.split("/").pop() as string, path: join(root, module) };
}

/** The user's kernel (`--kernel`), its build tree and the boot modules that exist for it. */
async function userKernel(opts: ImageBuildOptions, vmlinuz: string): Promise<KernelSource> {
  if (!opts.kernelBuildDir)
    throw new InfraError("image.user-kernel", "--kernel needs --kernel-build-dir DIR");
  const buildDir = opts.kernelBuildDir;
  const release = (
    await readFile(join(buildDir, "include", "config", "kernel.release"), "utf8").catch(() => "")
  ).trim();
  const modDir = opts.kernelModulesDir;
  return {
    kernel: {
      source: "user",
      package: null,
      version: await fileHash(vmlinuz),
      release: release || "unknown",
    },
    vmlinuz,
    buildDir,
    bootModuleFiles: modDir
      ? BOOT_MODULES.map((m) => bootModule(modDir, m)).filter((m) => existsSync(m.path))
      : [],
  };
}

/** Debian's current kernel package, fetched into the cache, with its headers installed. */
async function debianKernel(
  cacheDir: string,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<KernelSource> {
  const k = await resolveDebianKernel(signal);
  const fetched = await fetchDebianKernel(cacheDir, k, log, signal);
  return {
    kernel: { source: "debian", package: k.pkg, version: k.version, release: k.release },
    vmlinuz: fetched.vmlinuz,
    buildDir: await ensureHeaders(k.release, log, signal),
    bootModuleFiles: BOOT_MODULES.map((m) => bootModule(fetched.modulesRoot, m)),
  };
}

/** Everything the image depends on; its hash is the image's id. */
async function imageInputs(
  source: KernelSource,
  busybox: string,
  gcc: string,
): Promise<Record<string, string>> {
  const { kernel, buildDir } = source;
  return {
    ...(await sourceInputs()),
    kernel: `${kernel.source}:${kernel.package ?? ""}:${kernel.version}`,
    busybox,
    gcc,
    // Layout 2 adds the uncompressed PVH kernel (vmlinux) next to the bzImage.
    layout: "2",
    headers:
      kernel.source === "debian"
        ? buildDir
        : await fileHash(join(buildDir, "Module.symvers")).catch(() => buildDir),
  };
}

/** What every BusyBox initramfs of ezone starts with: `dirs`, the console node, BusyBox and `init`. */
export async function busyboxBase(dirs: string[], init: string): Promise<CpioEntry[]> {
  return [
    ...dirs.map((path): CpioEntry => ({ type: "dir", path })),
    { type: "chardev", path: "dev/console", major: 5, minor: 1 },
    { type: "file", path: "bin/busybox", data: await readFile("/bin/busybox"), mode: 0o755 },
    { type: "file", path: "init", data: await readFile(init), mode: 0o755 },
  ];
}

/** The initramfs: BusyBox, ezone's init and agent, the fault modules and the boot modules. */
async function initramfsEntries(
  agent: Buffer,
  modules: Map<string, Buffer>,
  bootModuleFiles: KernelSource["bootModuleFiles"],
): Promise<CpioEntry[]> {
  return [
    ...(await busyboxBase(
      ["bin", "sbin", "dev", "proc", "sys", "tmp", "lib", "lib/ezone", "lib/ezone/boot"],
      join(GUEST_SRC, "init.sh"),
    )),
    { type: "file", path: "sbin/ezone-agent", data: agent, mode: 0o755 },
    ...[...modules].map(([name, data]): CpioEntry => ({ type: "file", path: `lib/ezone/${name}.ko`, data })),
    // Numbered (two digits, so 10 sorts after 09) so the init's glob loads them in dependency order.
    ...(await Promise.all(
      bootModuleFiles.map(
        async (m, i): Promise<CpioEntry> => ({
          type: "file",
          path: `lib/ezone/boot/${String(i).padStart(2, "0")}-${m.name}`,
          data: await readFile(m.path),
        }),
      ),
    )),
  ];
}

/** What an image build knows before it starts: its id, inputs and the versions it records. */
interface ImagePlan {
  id: string;
  inputs: Record<string, string>;
  source: KernelSource;
  busybox: string;
  gcc: string;
  started: number;
}

/** Build the image's files in `work/out` and its manifest; the caller moves `out` into the cache. */
async function buildInto(
  work: string,
  plan: ImagePlan,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<{ out: string; manifest: ImageManifest }> {
  const { source } = plan;
  const [agent, modules] = await Promise.all([
    buildAgent(work, signal),
    buildModules(source.buildDir, work, signal),
  ]);
  const cpio = writeCpio(await initramfsEntries(agent, modules, source.bootModuleFiles));
  await writeFile(join(work, "initramfs.cpio"), cpio);
  await cp(source.vmlinuz, join(work, "vmlinuz"));
  const pvh = await extractPvhKernel(join(work, "vmlinuz"), join(work, "vmlinux"), signal);
  if (!pvh.ok) log(`no PVH kernel, QEMU boots the bzImage: ${pvh.reason}`);
  const manifest: ImageManifest = {
    id: plan.id,
    kernel: source.kernel,
    busybox: plan.busybox,
    gcc: plan.gcc,
    faultModules: [...modules.keys()],
    bootModules: source.bootModuleFiles.map((m) => m.name),
    inputs: plan.inputs,
    files: {
      vmlinuz: await fileHash(join(work, "vmlinuz")),
      initramfs: sha256(cpio),
      ...(pvh.ok ? { vmlinux: await fileHash(join(work, "vmlinux")) } : {}),
    },
    ...(pvh.ok ? {} : { noVmlinux: pvh.reason }),
    builtAt: new Date().toISOString(),
    buildMs: Math.round(performance.now() - plan.started),
  };
  const out = join(work, "out");
  await mkdir(out);
  for (const f of ["vmlinuz", "initramfs.cpio", ...(pvh.ok ? ["vmlinux"] : [])])
    await rename(join(work, f), join(out, f));
  await writeFile(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return { out, manifest };
}

/**
 * Build (or find in the cache) the guest image: kernel + BusyBox initramfs with ezone's init, agent and
 * fault modules. The image id hashes every input, so a second build with the same inputs is a no-op.
 */
export async function buildImage(opts: ImageBuildOptions = {}): Promise<BuiltImage> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const signal = opts.signal;
  const busybox = await requirePackage("busybox-static", signal);
  const gcc = (await tool(["gcc", "-dumpfullversion"], "image.tools", { signal })).trim();
  const source = opts.kernel
    ? await userKernel(opts, opts.kernel)
    : await debianKernel(cacheDir, log, signal);
  const inputs = await imageInputs(source, busybox, gcc);
  const id = sha256(JSON.stringify(inputs)).slice(0, 16);
  const dir = join(cacheDir, "images", id);
  const manifestPath = join(dir, "manifest.json");
  if (existsSync(manifestPath)) {
    return imageAt(dir, JSON.parse(await readFile(manifestPath, "utf8")) as ImageManifest, true);
  }

  log(`building image ${id}`);
  await mkdir(join(cacheDir, "images"), { recursive: true });
  const work = await mkdtemp(join(cacheDir, "images", `.build-${id}-`));
  try {
    const { out, manifest } = await buildInto(
      work,
      { id, inputs, source, busybox, gcc, started },
      log,
      signal,
    );
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    return imageAt(dir, manifest, false);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
