/**
 * Scratch directories in the system's temp dir whose names carry the owner tag of the ezone that made
 * them (`ezone-run-<pid>_<start ticks>-XXXXXX`), so that a later ezone can tell a killed owner's leftovers
 * from a live one's and remove them, as the reaper does for processes.
 */
import { readdirSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ownerAlive, ownerTag } from "./owner-tag.js";

/** What scratch directories are for: a run's files, or a spare VMM's. */
export type ScratchKind = "run" | "spare";

const SCRATCH = /^ezone-(?:run|spare)-(\d+)_(\d+)-[A-Za-z0-9]+$/;

/** A new, empty scratch directory of this ezone, removed by its owner (or swept after it died). */
export function makeScratchDir(kind: ScratchKind): Promise<string> {
  return mkdtemp(join(tmpdir(), `ezone-${kind}-${ownerTag().replace(":", "_")}-`));
}

/** Remove the scratch directories of ezones that no longer run; returns their paths, for the log. */
export function sweepScratchDirs(dir: string = tmpdir()): string[] {
  const swept: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = SCRATCH.exec(name);
    if (!m || ownerAlive(`${m[1]}:${m[2]}`)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    swept.push(join(dir, name));
  }
  return swept;
}
