import { accessSync, constants } from "node:fs";
import { lstat, readdir, readFile, readlink, stat } from "node:fs/promises";
import { delimiter, join, posix } from "node:path";
import { runTool } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import type { CpioEntry } from "./cpio.js";

/**
 * The shared libraries in `ldd` output, as the loader looks them up (the `=> /path` side and the
 * interpreter line); vdso and unresolved entries are skipped (pure, unit-tested).
 */
export function parseLdd(text: string): string[] {
  const libs = new Set<string>();
  for (const line of text.split("\n")) {
    const path = /=>\s*(\/\S+)\s+\(0x/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(0x/.exec(line)?.[1];
    if (path) libs.add(path);
  }
  return [...libs].sort();
}

/** Every shared library `binary` loads; [] for a static binary (ldd then says so and exits 1). */
export async function sharedLibraries(binary: string, signal?: AbortSignal): Promise<string[]> {
  const r = await runTool(["ldd", binary], { signal, timeoutMs: 30_000 });
  if (r.code !== 0) {
    if (/not a dynamic executable/.test(r.stdout + r.stderr)) return [];
    throw new InfraError("host-image.ldd", `ldd ${binary} failed: ${r.stderr.trim().slice(-500)}`);
  }
  return parseLdd(r.stdout);
}

/** `name` found on `searchPath` as an executable file (like `command -v`), null when absent. */
export function onPath(name: string, searchPath = process.env.PATH ?? ""): string | null {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir.startsWith("/")) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** A host file (a symlink's target) at the same absolute path in the archive, with its permission bits. */
export async function fileEntry(path: string): Promise<CpioEntry> {
  const st = await stat(path);
  return { type: "file", path, data: await readFile(path), mode: st.mode & 0o7777 };
}

/** A host directory tree at the same absolute path: directories, regular files and symlinks. */
export async function treeEntries(root: string): Promise<CpioEntry[]> {
  const entries: CpioEntry[] = [{ type: "dir", path: root }];
  for (const d of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(d.parentPath, d.name);
    if (d.isDirectory()) entries.push({ type: "dir", path, mode: (await lstat(path)).mode & 0o7777 });
    else if (d.isFile()) entries.push(await fileEntry(path));
    else if (d.isSymbolicLink()) entries.push({ type: "symlink", path, target: await readlink(path) });
  }
  return entries;
}

/**
 * The entries with every missing ancestor directory added and duplicate paths dropped (first wins), paths
 * made relative to the archive's root (pure, unit-tested).
 */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = posix.normalize(e.path).replace(/^\/+/, "");
    if (!path || path === "." || path.startsWith("..")) continue;
    for (let up = posix.dirname(path); up !== "."; up = posix.dirname(up))
      if (!byPath.has(up)) byPath.set(up, { type: "dir", path: up });
    const existing = byPath.get(path);
    // An explicit directory entry (with its mode) replaces one made up as a parent.
    if (!existing || (existing.type === "dir" && e.type === "dir")) byPath.set(path, { ...e, path });
  }
  return [...byPath.values()];
}
