import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultCacheDir } from "../guest/image-builder.js";
import { InfraError } from "../util/errors.js";
import type { Backend, EnclaveSpec, Snapshotter } from "./backend.js";

/** A saved, booted guest on disk (a directory of the backend's files), keyed by everything that shapes it. */
export interface SnapshotRef {
  key: string;
  dir: string;
  /** Bytes its files take on disk (sparse RAM files count what they hold). */
  bytes: number;
  /** How long saving it took, when this call made it. */
  savedMs: number | null;
}

/** One file of a snapshot as saved: its size and content hash. */
interface FileMeta {
  bytes: number;
  sha256: string;
}

interface Meta {
  key: string;
  files: Record<string, FileMeta>;
  savedAt: string;
  saveMs: number;
}

const META = "meta.json";
/** The snapshot cache's bound: past it the oldest snapshots go (a disposable host's RAM file alone is ~0.3 GB). */
export const SNAPSHOT_CACHE_MAX_BYTES = 6 * 1024 ** 3;
const building = new Map<string, Promise<SnapshotRef>>();
/** Snapshot files whose hash this process has checked, with their mtime then: re-hashed only if it changed. */
const verified = new Map<string, number>();

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function snapshotDir(key: string, cacheDir: string): string {
  return join(cacheDir, "snapshots", key);
}

/** The stored snapshot if it is intact (every file's size and hash match its metadata), else null. */
async function intact(key: string, cacheDir: string): Promise<SnapshotRef | null> {
  const dir = snapshotDir(key, cacheDir);
  try {
    const meta = JSON.parse(await readFile(join(dir, META), "utf8")) as Meta;
    if (meta.key !== key || Object.keys(meta.files ?? {}).length === 0) return null;
    let bytes = 0;
    for (const [name, want] of Object.entries(meta.files)) {
      const file = join(dir, name);
      const { size, mtimeMs, blocks } = await stat(file);
      if (size !== want.bytes) return null;
      if (verified.get(file) !== mtimeMs) {
        if ((await sha256File(file)) !== want.sha256) return null;
        verified.set(file, mtimeMs);
      }
      bytes += blocks * 512;
    }
    return { key, dir, bytes, savedMs: null };
  } catch {
    return null;
  }
}

/** Size and hash of every file the backend saved in `dir`, and its mtime when hashed. */
async function describeFiles(
  dir: string,
): Promise<{ files: Record<string, FileMeta>; mtimes: Record<string, number> }> {
  const files: Record<string, FileMeta> = {};
  const mtimes: Record<string, number> = {};
  for (const name of (await readdir(dir)).sort()) {
    const { size, mtimeMs } = await stat(join(dir, name));
    files[name] = { bytes: size, sha256: await sha256File(join(dir, name)) };
    mtimes[name] = mtimeMs;
  }
  return { files, mtimes };
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
        const files = join(tmp, "files");
        await mkdir(files);
        const work = join(tmp, "work");
        await mkdir(work);
        await backend.saveSnapshot(
          { ...spec, workDir: work, restoreFrom: undefined, arm: null },
          files,
          signal,
        );
        const { files: described, mtimes } = await describeFiles(files);
        const empty = Object.entries(described).find(([, f]) => f.bytes === 0)?.[0];
        if (empty !== undefined || Object.keys(described).length === 0)
          throw new InfraError("snapshot.save", `the saved snapshot is empty (${empty ?? "no files"})`);
        const saveMs = Math.round(performance.now() - started);
        const meta: Meta = { key, files: described, savedAt: new Date().toISOString(), saveMs };
        await writeFile(join(files, META), JSON.stringify(meta, null, 2));
        const dir = snapshotDir(key, cacheDir);
        await rm(dir, { recursive: true, force: true });
        await rename(files, dir);
        // Just hashed (rename keeps mtimes): the check below re-hashes only a file changed since.
        for (const [name, mtimeMs] of Object.entries(mtimes)) verified.set(join(dir, name), mtimeMs);
        const ref = await intact(key, cacheDir);
        if (!ref) throw new InfraError("snapshot.save", `the snapshot in ${dir} changed as it was stored`);
        await evictSnapshots(cacheDir, key);
        return { ...ref, savedMs: saveMs };
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
  const dir = snapshotDir(key, cacheDir);
  for (const file of verified.keys()) if (file.startsWith(`${dir}/`)) verified.delete(file);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Remove the oldest snapshots (by save time) until the cache holds at most `maxBytes` on disk, never
 * `keep` (the one just saved). A restore that has a removed snapshot's RAM file mapped keeps its copy
 * (the file lives on until unmapped); a later run saves that snapshot anew.
 */
export async function evictSnapshots(
  cacheDir: string,
  keep: string,
  maxBytes = SNAPSHOT_CACHE_MAX_BYTES,
): Promise<string[]> {
  const root = join(cacheDir, "snapshots");
  const found: { key: string; bytes: number; savedAt: string }[] = [];
  for (const key of await readdir(root).catch(() => [] as string[])) {
    if (key.startsWith(".")) continue;
    const dir = join(root, key);
    let bytes = 0;
    for (const name of await readdir(dir).catch(() => [] as string[]))
      bytes += ((await stat(join(dir, name)).catch(() => null))?.blocks ?? 0) * 512;
    found.push({ key, bytes, savedAt: await savedAtOf(dir) });
  }
  let total = found.reduce((sum, f) => sum + f.bytes, 0);
  const evicted: string[] = [];
  for (const f of found.sort((a, b) => a.savedAt.localeCompare(b.savedAt))) {
    if (total <= maxBytes) break;
    if (f.key === keep) continue;
    await invalidateSnapshot(f.key, cacheDir);
    total -= f.bytes;
    evicted.push(f.key);
  }
  return evicted;
}

/** When the snapshot in `dir` was saved; "" (oldest of all) when its metadata cannot be read. */
async function savedAtOf(dir: string): Promise<string> {
  try {
    return (JSON.parse(await readFile(join(dir, META), "utf8")) as Partial<Meta>).savedAt ?? "";
  } catch {
    return "";
  }
}
