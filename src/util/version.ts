import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "./project-root.js";

let cachedCommit: string | null | undefined;

/** ezone's version from package.json. */
export function ezoneVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), "package.json"), "utf8")) as { version: string })
    .version;
}

/** The git commit ezone runs from, or null outside a checkout; read once. */
export function ezoneCommit(): string | null {
  if (cachedCommit === undefined) {
    try {
      cachedCommit = execFileSync("git", ["-C", projectRoot(), "rev-parse", "HEAD"], {
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 5000,
      })
        .toString()
        .trim();
    } catch {
      cachedCommit = null;
    }
  }
  return cachedCommit;
}
