import { existsSync, lstatSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enclaveRootfs } from "../guest/enclave-rootfs.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { InfraError } from "../util/errors.js";

/** The agent and its fault modules where any user may read them. */
export interface UserAgentCopy {
  agent: string;
  /** The fault modules (`<name>.ko`), for the agent's `ezone.moddir`. */
  moduleDir: string;
}

/**
 * A copy of the image's agent and fault modules that an unprivileged user can read and run: the image
 * cache usually lives in root's home (mode 0700). Made once per image in the temp dir, owned by this
 * user and writable by no one else (checked, since anyone can create names there); concurrent callers
 * race safely as `enclaveRootfs` does.
 */
export async function userAgentCopy(image: BuiltImage): Promise<UserAgentCopy> {
  const dir = join(tmpdir(), `ezone-agent-${image.manifest.id}`);
  const result = { agent: join(dir, "ezone-agent"), moduleDir: join(dir, "modules") };
  if (!existsSync(join(dir, ".complete"))) await makeCopy(image, dir);
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new InfraError("prepare.agent-copy", `${dir} is not a directory of this user writable by it alone`);
  }
  return result;
}

async function makeCopy(image: BuiltImage, dir: string): Promise<void> {
  const rootfs = await enclaveRootfs(image);
  const tmp = await mkdtemp(join(tmpdir(), `.ezone-agent-${image.manifest.id}-`));
  try {
    await copyFile(rootfs.agent, join(tmp, "ezone-agent"));
    await chmod(join(tmp, "ezone-agent"), 0o755);
    await mkdir(join(tmp, "modules"));
    await chmod(join(tmp, "modules"), 0o755);
    const moduleSrc = join(rootfs.dir, "lib", "ezone");
    const modules = existsSync(moduleSrc) ? await readdir(moduleSrc) : [];
    for (const m of modules.filter((m) => m.endsWith(".ko"))) {
      await copyFile(join(moduleSrc, m), join(tmp, "modules", m));
      await chmod(join(tmp, "modules", m), 0o644);
    }
    await writeFile(join(tmp, ".complete"), `${image.manifest.id}\n`);
    await chmod(tmp, 0o755);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another run made it first: theirs is as good as ours.
      if (!existsSync(join(dir, ".complete"))) throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
