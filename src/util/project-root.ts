import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | null = null;

/** ezone's own folder (package.json named ezone), found upward from this file: src/, dist/ or dist-bench/. */
export function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "ezone") {
      root = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find ezone's package.json above its code");
    dir = up;
  }
}
