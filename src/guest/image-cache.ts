import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type BuiltImage, defaultCacheDir, type ImageManifest, imageAt } from "./image-builder.js";

/** The most recently built image in the cache, without building anything (for `doctor`). */
export async function findCachedImage(cacheDir = defaultCacheDir()): Promise<BuiltImage | null> {
  const root = join(cacheDir, "images");
  if (!existsSync(root)) return null;
  let best: { dir: string; mtime: number } | null = null;
  for (const id of await readdir(root)) {
    const manifest = join(root, id, "manifest.json");
    if (id.startsWith(".") || !existsSync(manifest)) continue;
    const mtime = (await stat(manifest)).mtimeMs;
    if (!best || mtime > best.mtime) best = { dir: join(root, id), mtime };
  }
  if (!best) return null;
  const manifest = JSON.parse(await readFile(join(best.dir, "manifest.json"), "utf8")) as ImageManifest;
  return imageAt(best.dir, manifest, true);
}
