import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultCacheDir } from "../guest/image-builder.js";
import { InfraError } from "../util/errors.js";
import type { Backend, EnclaveSpec, Snapshotter } from "./backend.js";

/** A saved, booted guest on disk, keyed by everything that shapes it. */
export interface SnapshotRef {
  key: string;
  file: string;
  bytes: number;
  /** How long saving it took, when this call made it. */
  savedMs: number | null;
}

interface Meta {
  key: string;
  sha256: string;
  bytes: number;
  savedAt: string;
  saveMs: number;
}

const building = new Map<string, Promise<SnapshotRef>>();
/** Snapshots whose hash this process has checked, with the file's mtime then: re-hashed only if it changed. */
const verified = new Map<string, number>();

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function snapshotDir(key: string, cacheDir: string): string {
  return join(cacheDir, "snapshots", key);
}

/** The stored snapshot if it is intact (size and hash match its metadata), else null. */
async function intact(key: string, cacheDir: string): Promise<SnapshotRef | null> {
  const dir = snapshotDir(key, cacheDir);
  const file = join(dir, "state.bin");
  if (!existsSync(file)) return null;
  try {
    const meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8")) as Meta;
    const { size, mtimeMs } = await stat(file);
    if (meta.key !== key || size !== meta.bytes) return null;
    if (verified.get(key) !== mtimeMs) {
      if ((await sha256File(file)) !== meta.sha256) return null;
      verified.set(key, mtimeMs);
    }
    return { key, file, bytes: size, savedMs: null };
  } catch {
    return null;
  }
}

/**
 * The snapshot for `spec` on `backend`, saved once per key (image hash + VMM version + machine flags +
 * device set) and reused by every run; a missing or corrupt one (size or hash differs) is saved anew.
 * Concurrent callers in one process share one save.
 */
export function ensureSnapshot(
  backend: Backend & Snapshotter,
  spec: EnclaveSpec,
  signal: AbortSignal,
  cacheDir = defaultCacheDir(),
): Promise<SnapshotRef> {
  return (async () => {
    const key = await backend.snapshotKey(spec, signal);
    const existing = building.get(key);
    if (existing) return existing;
    const job = (async () => {
      const ok = await intact(key, cacheDir);
      if (ok) return ok;
      const started = performance.now();
      await mkdir(join(cacheDir, "snapshots"), { recursive: true });
      const tmp = await mkdtemp(join(cacheDir, "snapshots", `.save-${key}-`));
      try {
        const file = join(tmp, "state.bin");
        await backend.saveSnapshot(
          { ...spec, workDir: tmp, restoreFrom: undefined, arm: null },
          file,
          signal,
        );
        const bytes = (await stat(file)).size;
        if (bytes === 0) throw new InfraError("snapshot.save", "the saved state is empty");
        const saveMs = Math.round(performance.now() - started);
        const meta: Meta = {
          key,
          sha256: await sha256File(file),
          bytes,
          savedAt: new Date().toISOString(),
          saveMs,
        };
        await writeFile(join(tmp, "meta.json"), JSON.stringify(meta, null, 2));
        const dir = snapshotDir(key, cacheDir);
        await rm(dir, { recursive: true, force: true });
        await rename(tmp, dir);
        const file2 = join(dir, "state.bin");
        verified.set(key, (await stat(file2)).mtimeMs);
        return { key, file: file2, bytes, savedMs: saveMs };
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    })();
    building.set(key, job);
    try {
      const ref = await job;
      // Later callers re-check the file (cheap unless it changed), so corruption is noticed.
      building.delete(key);
      return ref;
    } catch (e) {
      building.delete(key);
      throw e;
    }
  })();
}

/** Forget a snapshot that failed to restore: the next `ensureSnapshot` saves it anew. */
export async function invalidateSnapshot(key: string, cacheDir = defaultCacheDir()): Promise<void> {
  building.delete(key);
  verified.delete(key);
  await rm(snapshotDir(key, cacheDir), { recursive: true, force: true });
}
