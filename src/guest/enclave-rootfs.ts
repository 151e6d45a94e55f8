import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { runTool } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import { readCpio } from "./cpio.js";
import type { BuiltImage } from "./image-builder.js";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** The guest's user space laid out as a directory: the root of a container or gVisor sandbox. */
export interface EnclaveRootfs {
  dir: string;
  /** The agent binary inside it (also what the native backend runs). */
  agent: string;
}

/**
 * The image's initramfs extracted once next to the image (`<image>/rootfs`), with BusyBox's applet links
 * made as the guest's init would make them. Device nodes are skipped: the sandbox supplies /dev.
 * Concurrent callers race safely: each extracts into its own temporary directory and the first rename
 * wins.
 */
export async function enclaveRootfs(image: BuiltImage): Promise<EnclaveRootfs> {
  const dir = join(image.dir, "rootfs");
  const done = join(dir, ".complete");
  const result = { dir, agent: join(dir, "sbin", "ezone-agent") };
  if (existsSync(done)) return result;
  const tmp = await mkdtemp(join(image.dir, ".rootfs-"));
  try {
    let members: ReturnType<typeof readCpio>;
    try {
      members = readCpio(await readFile(image.initramfs));
    } catch (e) {
      throw new InfraError("prepare.rootfs", `${image.initramfs}: ${(e as Error).message}`, { cause: e });
    }
    for (const m of members) {
      const rel = normalize(m.path);
      if (rel.startsWith("..") || rel.startsWith("/")) {
        throw new InfraError("prepare.rootfs", `${image.initramfs}: member escapes the root: ${m.path}`);
      }
      const target = join(tmp, rel);
      const type = m.mode & S_IFMT;
      if (type === S_IFDIR) await mkdir(target, { recursive: true, mode: m.mode & 0o7777 });
      else if (type === S_IFREG) {
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, m.data);
        await chmod(target, m.mode & 0o7777);
      } else if (type === S_IFLNK) {
        await mkdir(dirname(target), { recursive: true });
        await symlink(m.data.toString("utf8"), target);
      }
    }
    await linkBusyboxApplets(tmp);
    await writeFile(join(tmp, ".complete"), `${image.manifest.id}\n`);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another run extracted it first: theirs is as good as ours.
      if (!existsSync(done)) throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  if (!existsSync(result.agent))
    throw new InfraError("prepare.rootfs", `${image.initramfs} has no sbin/ezone-agent`);
  return result;
}

/** `busybox --install -s /bin` done from the host: one relative link per applet in bin/. */
async function linkBusyboxApplets(root: string): Promise<void> {
  const busybox = join(root, "bin", "busybox");
  if (!existsSync(busybox)) return;
  const r = await runTool([busybox, "--list"], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new InfraError("prepare.rootfs", `busybox --list failed: ${r.stderr.trim()}`);
  for (const applet of r.stdout.split("\n")) {
    if (!/^[\w.[-]+$/.test(applet) || applet === "busybox") continue;
    const link = join(root, "bin", applet);
    if (!existsSync(link)) await symlink("busybox", link);
  }
}
