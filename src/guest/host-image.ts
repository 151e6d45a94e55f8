import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InfraError } from "../util/errors.js";
import { projectRoot } from "../util/project-root.js";
import { type CpioEntry, writeCpio } from "./cpio.js";
import { enclaveRootfs } from "./enclave-rootfs.js";
import { fileEntry, onPath, sharedLibraries, treeEntries, withParents } from "./host-files.js";
import {
  type BuiltImage,
  buildImage,
  busyboxBase,
  compileStaticC,
  defaultCacheDir,
  type ImageBuildOptions,
  PANIC_AND_VIRTIO_MODULES,
  tool,
} from "./image-builder.js";

const GUEST_SRC = join(projectRoot(), "src", "guest");

/** Kernel modules the disposable host loads at boot: then the virtio console hostd speaks over. */
const HOST_BOOT_MODULES = [...PANIC_AND_VIRTIO_MODULES, "drivers/char/virtio_console.ko"];

/**
 * The host tools the backends' command lines call (container: bwrap; gvisor: env, runsc; uml: prlimit,
 * linux.uml; process hygiene: setpriv), copied with their shared libraries to the paths they have here.
 * One that this host lacks is left out (and listed in the manifest): its backend cannot run there either.
 */
const HOST_TOOLS = ["bwrap", "runsc", "linux.uml", "prlimit", "setpriv", "env"];

/** With `nestedQemu`: QEMU for a nested qemu-tcg enclave, and the firmware and option ROMs it loads. */
const NESTED_QEMU_TOOLS = ["qemu-system-x86_64"];
const NESTED_QEMU_DATA = [
  "/usr/share/qemu",
  "/usr/share/seabios",
  // Debian builds TCG's accelerator as a module QEMU loads at start.
  "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
];

/**
 * The base kernel command line of the disposable host: serial console, and a panic that stops the VM
 * (panic=-1 reboots at once; with QEMU's -no-reboot and pvpanic, `-action panic=exit-failure`, QEMU
 * reports GUEST_PANICKED and exits). Callers append their own arguments (e.g. oops=panic).
 */
export const HOST_KERNEL_CMDLINE = "console=ttyS0 panic=-1 quiet cryptomgr.notests";

/** What the disposable host's image is, written next to it as manifest.json. */
export interface HostImageManifest {
  id: string;
  guestImage: string;
  kernelRelease: string;
  tools: Record<string, string>;
  missingTools: string[];
  libraries: string[];
  faultModules: string[];
  bootModules: string[];
  inputs: Record<string, string>;
  initramfsBytes: number;
  builtAt: string;
  buildMs: number;
}

/**
 * A built disposable-host image. Boot `kernel` with `initramfs` and `cmdline` (plus a virtio-serial port
 * named `ezone.hostd` and pvpanic); hostd prints `hostd: READY` on the console once it listens.
 */
export interface HostImage {
  /** The cache directory holding initramfs.cpio and manifest.json. */
  dir: string;
  /** The kernel to boot: the guest image's (its PVH vmlinux when there is one, else the bzImage). */
  kernel: string;
  initramfs: string;
  /** The image's id: a hash of every input (guest image, hostd, init, tools, libraries, modules). */
  hash: string;
  /** `uname -r` inside the disposable host. */
  kernelVersion: string;
  cmdline: string;
  /** Where the guest image's fault modules are inside the disposable host: `<dir>/<name>.ko`. */
  faultModulesDir: string;
  /** The guest image inside, with its initramfs and its enclave rootfs at the same absolute paths. */
  guest: BuiltImage;
  manifest: HostImageManifest;
  /** true when the cache already had this image. */
  cached: boolean;
}

export interface HostImageOptions {
  cacheDir?: string;
  /** The guest image to put inside; built (or found) with `buildImage` when absent. */
  guest?: BuiltImage;
  /** Passed to `buildImage` when `guest` is absent. */
  guestOptions?: ImageBuildOptions;
  /** Also put QEMU inside (with its libraries and firmware, ~+55 MB) for nested qemu-tcg enclaves. */
  nestedQemu?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** Compile hostd (every .c of src/guest/hostd, static, the agent's flags) to `out`. */
export function compileHostd(out: string, signal?: AbortSignal): Promise<string> {
  return compileStaticC("hostd", out, "host-image.build-hostd", signal);
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The disposable host's boot modules from the guest kernel's Debian package (only those files are
 * extracted), cached beside the guest's kernel as `<pkg>_<version>.host-modules`.
 */
async function hostModules(
  cacheDir: string,
  kernel: BuiltImage["manifest"]["kernel"],
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  if (kernel.source !== "debian" || !kernel.package)
    throw new InfraError(
      "host-image.kernel",
      "the disposable host needs the guest image built on Debian's kernel",
    );
  const dir = join(cacheDir, "kernels", `${kernel.package}_${kernel.version}.host-modules`);
  const root = join(dir, "lib", "modules", kernel.release, "kernel");
  if (existsSync(join(dir, ".complete"))) return root;
  log(`fetching ${kernel.package} ${kernel.version} for the disposable host's modules`);
  await mkdir(join(cacheDir, "kernels"), { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, "kernels", ".host-fetch-"));
  try {
    await tool(["apt-get", "download", `${kernel.package}=${kernel.version}`], "host-image.fetch-kernel", {
      cwd: tmp,
      signal,
    });
    const deb = (await readdir(tmp)).find((f) => f.endsWith(".deb"));
    if (!deb) throw new InfraError("host-image.fetch-kernel", `apt-get download left no .deb in ${tmp}`);
    const out = join(tmp, "out");
    await mkdir(out);
    const members = HOST_BOOT_MODULES.map((m) => `./lib/modules/${kernel.release}/kernel/${m}`);
    const script = 'deb=$1; out=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out" "$@"';
    await tool(["sh", "-c", script, "sh", join(tmp, deb), out, ...members], "host-image.extract-modules", {
      signal,
    });
    await writeFile(join(out, ".complete"), `${kernel.package} ${kernel.version}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return root;
}

/** What the image takes from this host: tools found, their libraries, those missing, data trees. */
interface HostContent {
  tools: Record<string, string>;
  missing: string[];
  libraries: string[];
  /** Data the tools read (QEMU's firmware), at the same paths. */
  data: CpioEntry[];
}

/** The host tools found here, their libraries, those missing, and (nested QEMU) its firmware. */
async function hostContent(nestedQemu: boolean, signal?: AbortSignal): Promise<HostContent> {
  const found = await hostTools(nestedQemu ? [...HOST_TOOLS, ...NESTED_QEMU_TOOLS] : HOST_TOOLS, signal);
  const dataPaths = nestedQemu ? NESTED_QEMU_DATA.filter((d) => existsSync(d)) : [];
  const data = (
    await Promise.all(
      dataPaths.map(async (d) => ((await stat(d)).isDirectory() ? treeEntries(d) : [await fileEntry(d)])),
    )
  ).flat();
  return { ...found, data };
}

async function hostTools(names: string[], signal?: AbortSignal) {
  const tools: Record<string, string> = {};
  const missing: string[] = [];
  const libraries = new Set<string>();
  for (const name of names) {
    const path = onPath(name);
    if (!path) {
      missing.push(name);
      continue;
    }
    tools[name] = path;
    for (const lib of await sharedLibraries(path, signal)) libraries.add(lib);
  }
  return { tools, missing, libraries: [...libraries].sort() };
}

async function fileHash(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Hashes of everything the image is made of; their hash is the image's id. */
async function hostInputs(
  guest: BuiltImage,
  found: HostContent,
  modulesRoot: string,
): Promise<Record<string, string>> {
  const inputs: Record<string, string> = { layout: "1", guestImage: guest.manifest.id };
  const sources = (await readdir(join(GUEST_SRC, "hostd"))).sort().map((f) => join("hostd", f));
  for (const f of [...sources, "host-init.sh"]) inputs[f] = await fileHash(join(GUEST_SRC, f));
  for (const p of [...Object.values(found.tools), ...found.libraries]) inputs[p] = await fileHash(p);
  for (const m of HOST_BOOT_MODULES) inputs[m] = await fileHash(join(modulesRoot, m));
  for (const e of found.data)
    if (e.type === "file") inputs[e.path] = sha256(e.data);
    else if (e.type === "symlink") inputs[e.path] = `-> ${e.target}`;
  inputs.busybox = await fileHash("/bin/busybox");
  return inputs;
}

/** Everything inside the disposable host, at the paths its tools and the backends' argv expect. */
async function hostEntries(
  guest: BuiltImage,
  hostd: Buffer,
  found: HostContent,
  modulesRoot: string,
): Promise<{ entries: CpioEntry[]; faultModules: string[] }> {
  const rootfs = await enclaveRootfs(guest);
  const modDir = `lib/modules/${guest.manifest.kernel.release}`;
  const faultModules = (await readdir(join(rootfs.dir, "lib", "ezone")))
    .filter((f) => f.endsWith(".ko"))
    .sort();
  const entries: CpioEntry[] = [
    ...(await busyboxBase(
      ["bin", "sbin", "dev", "proc", "sys", "tmp", "run", "etc", "root"],
      join(GUEST_SRC, "host-init.sh"),
    )),
    { type: "file", path: "sbin/hostd", data: hostd, mode: 0o755 },
    // Numbered so the init's glob loads them in dependency order.
    ...(await Promise.all(
      HOST_BOOT_MODULES.map(
        async (m, i): Promise<CpioEntry> => ({
          type: "file",
          path: `${modDir}/boot/${String(i).padStart(2, "0")}-${m.split("/").pop()}`,
          data: await readFile(join(modulesRoot, m)),
        }),
      ),
    )),
    ...(await Promise.all(
      faultModules.map(async (f) => ({
        ...(await fileEntry(join(rootfs.dir, "lib", "ezone", f))),
        path: `${modDir}/ezone/${f}`,
      })),
    )),
    ...(await Promise.all([...Object.values(found.tools), ...found.libraries].map(fileEntry))),
    ...found.data,
    // A nested qemu-tcg enclave boots the guest's bzImage (the PVH vmlinux is 8 times larger).
    ...(found.data.length ? [await fileEntry(guest.vmlinuz)] : []),
    await fileEntry(guest.initramfs),
    ...(await treeEntries(rootfs.dir)),
  ];
  return { entries: withParents(entries), faultModules };
}

/** The image stored in `dir`. */
function hostImageAt(
  dir: string,
  manifest: HostImageManifest,
  guest: BuiltImage,
  cached: boolean,
): HostImage {
  return {
    dir,
    kernel: guest.vmlinux ?? guest.vmlinuz,
    initramfs: join(dir, "initramfs.cpio"),
    hash: manifest.id,
    kernelVersion: manifest.kernelRelease,
    cmdline: HOST_KERNEL_CMDLINE,
    faultModulesDir: `/lib/modules/${manifest.kernelRelease}/ezone`,
    guest,
    manifest,
    cached,
  };
}

/**
 * Build (or find in the cache, `<cache>/host-images/<id>`) the disposable host's image: an initramfs with
 * BusyBox, its init, hostd as PID 1, the virtio-console and pvpanic modules, the guest image's fault
 * modules, the backends' host tools with their libraries, and the guest image's initramfs and enclave
 * rootfs at their real paths. It boots the guest image's kernel.
 */
export async function buildHostImage(opts: HostImageOptions = {}): Promise<HostImage> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const signal = opts.signal;
  const guest = opts.guest ?? (await buildImage({ ...opts.guestOptions, cacheDir, log, signal }));
  const modulesRoot = await hostModules(cacheDir, guest.manifest.kernel, log, signal);
  const found = await hostContent(opts.nestedQemu ?? false, signal);
  const gcc = (await tool(["gcc", "-dumpfullversion"], "host-image.tools", { signal })).trim();
  const inputs = { ...(await hostInputs(guest, found, modulesRoot)), gcc };
  const id = sha256(JSON.stringify(inputs)).slice(0, 16);
  const dir = join(cacheDir, "host-images", id);
  const manifestPath = join(dir, "manifest.json");
  if (existsSync(manifestPath))
    return hostImageAt(
      dir,
      JSON.parse(await readFile(manifestPath, "utf8")) as HostImageManifest,
      guest,
      true,
    );

  log(`building disposable host image ${id}`);
  await mkdir(join(cacheDir, "host-images"), { recursive: true });
  const work = await mkdtemp(join(cacheDir, "host-images", `.build-${id}-`));
  try {
    const hostd = await readFile(await compileHostd(join(work, "hostd"), signal));
    const { entries, faultModules } = await hostEntries(guest, hostd, found, modulesRoot);
    const out = join(work, "out");
    await mkdir(out);
    await writeFile(join(out, "initramfs.cpio"), writeCpio(entries));
    const manifest: HostImageManifest = {
      id,
      guestImage: guest.manifest.id,
      kernelRelease: guest.manifest.kernel.release,
      tools: found.tools,
      missingTools: found.missing,
      libraries: found.libraries,
      faultModules,
      bootModules: HOST_BOOT_MODULES,
      inputs,
      initramfsBytes: (await stat(join(out, "initramfs.cpio"))).size,
      builtAt: new Date().toISOString(),
      buildMs: Math.round(performance.now() - started),
    };
    await writeFile(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
    return hostImageAt(dir, manifest, guest, false);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
