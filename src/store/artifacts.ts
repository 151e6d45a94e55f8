/**
 * Content-addressed artifact files (DESIGN.md §7): console logs, QMP events, probe data.
 *
 * Layout: `<resultsDir>/artifacts/<sha256[0:2]>/<sha256>`. A file is written to a temp name in its final
 * directory, fsynced, renamed into place and the directory fsynced, so a name that exists always holds
 * complete content and the run row that cites it can commit afterwards.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Where an artifact is written or read; what `writeArtifact` returns. */
export interface ArtifactRef {
  sha256: string;
  bytes: number;
}

/** Writing an artifact failed (disk full, permissions, not a directory...). The fs error is `cause`. */
export class ArtifactWriteError extends Error {
  override readonly name = "ArtifactWriteError";
  /** The content hash whose file could not be written. */
  readonly sha256: string;
  /** The final path that was being written. */
  readonly path: string;

  constructor(sha256: string, path: string, cause: unknown) {
    super(
      `cannot write artifact ${sha256} to ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.sha256 = sha256;
    this.path = path;
  }
}

/** The path of the artifact `sha256` under `resultsDir`. Throws on anything that is not a sha256 hex. */
export function artifactPath(resultsDir: string, sha256: string): string {
  if (!SHA256_HEX.test(sha256)) {
    throw new TypeError(`artifact sha256: expected 64 lowercase hex digits, got ${JSON.stringify(sha256)}`);
  }
  return join(resultsDir, "artifacts", sha256.slice(0, 2), sha256);
}

/**
 * Store `data` content-addressed under `resultsDir` and return its hash and size. Idempotent: when a file
 * of that hash and size already exists nothing is written. Throws `ArtifactWriteError`, leaving no temp file.
 */
export async function writeArtifact(resultsDir: string, data: Buffer | string): Promise<ArtifactRef> {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const sha256 = createHash("sha256").update(buf).digest("hex");
  const ref: ArtifactRef = { sha256, bytes: buf.length };
  const finalPath = artifactPath(resultsDir, sha256);
  const shardDir = dirname(finalPath);
  if (await isCompleteFile(finalPath, buf.length)) return ref;

  const tmpPath = join(shardDir, `.${sha256}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let tmpCreated = false;
  try {
    const created = await mkdir(shardDir, { recursive: true });
    // A new shard (or artifacts) directory is itself a new entry in its parent: make that durable too.
    if (created !== undefined) await syncNewDirs(created, shardDir);
    const fh = await open(tmpPath, "wx", 0o644);
    tmpCreated = true;
    try {
      await fh.writeFile(buf);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmpPath, finalPath);
    tmpCreated = false;
    await syncDir(shardDir);
  } catch (err) {
    if (tmpCreated) await unlink(tmpPath).catch(() => undefined);
    throw new ArtifactWriteError(sha256, finalPath, err);
  }
  return ref;
}

/** Read the artifact `sha256` and check its content still hashes to its name. */
export async function readArtifact(resultsDir: string, sha256: string): Promise<Buffer> {
  const path = artifactPath(resultsDir, sha256);
  const buf = await readFile(path);
  const actual = createHash("sha256").update(buf).digest("hex");
  if (actual !== sha256) throw new Error(`artifact ${path} is corrupt: its content hashes to ${actual}`);
  return buf;
}

/** True when `path` is a regular file of `bytes` bytes; anything else there gets replaced by the rename. */
async function isCompleteFile(path: string, bytes: number): Promise<boolean> {
  try {
    const st = await lstat(path);
    return st.isFile() && st.size === bytes;
  } catch {
    return false;
  }
}

/** fsync every directory from the parent of `firstCreated` down to `deepest`'s parent. */
async function syncNewDirs(firstCreated: string, deepest: string): Promise<void> {
  const dirs: string[] = [];
  for (let d = dirname(deepest); ; d = dirname(d)) {
    dirs.push(d);
    if (d === dirname(firstCreated) || d === dirname(d)) break;
  }
  for (const d of dirs) await syncDir(d);
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
