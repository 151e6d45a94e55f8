/**
 * cgroup limits for enclaves (a CPU or memory hog's toggle): one parent cgroup per ezone process, named
 * with its owner tag (`ezone-<pid>_<start ticks>`) so a later ezone can sweep a killed one's leftovers,
 * and below it one cgroup per enclave with `cpu.max` and `memory.max` (or their v1 equivalents) set
 * before the enclave's first process joins it. The layout decisions are pure (cgroup-layout.ts); this
 * module reads and writes the files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { InfraError } from "../util/errors.js";
import { ownerAlive, ownerTag } from "../util/owner-tag.js";
import {
  type CgroupLayout,
  cgroupBases,
  cgroupDirs,
  chooseLayout,
  type EnclaveLimits,
  type LayoutChoice,
  limitWrites,
  parseCgroupMounts,
  parseCpuUsageUs,
  parseProcCgroup,
  usageFile,
} from "./cgroup-layout.js";

/**
 * A cgroup an enclave's first process joins before it runs anything (its limits set by ezone): everything the enclave forks stays in it.
 */
export interface EnclaveCgroup {
  /** The `cgroup.procs` files to write the process into: one under cgroup v2, one per hierarchy under v1. */
  procs: string[];
}

const PARENT = /^ezone-(\d+)_(\d+)$/;
/** How long removing a cgroup waits for its killed processes to leave it. */
const EMPTY_WAIT_MS = 5000;

/** Where this host would put limits, or why it cannot (read from /proc; nothing is created). */
export function probeCgroupLayout(): LayoutChoice {
  try {
    return chooseLayout(
      parseCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")),
      parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8")),
      (mountPoint) => {
        try {
          return readFileSync(`${mountPoint}/cgroup.controllers`, "utf8").trim().split(/\s+/);
        } catch {
          return null;
        }
      },
    );
  } catch (e) {
    return {
      ok: false,
      reason: `cannot read /proc/self/mountinfo or /proc/self/cgroup: ${(e as Error).message}`,
    };
  }
}

/** One enclave's cgroup: what the enclave joins, its CPU use, and its removal. */
export interface EnclaveCgroupHandle extends AsyncDisposable {
  /** What `EnclaveSpec.cgroup` carries so the enclave's first process joins before it runs anything. */
  readonly join: EnclaveCgroup;
  /** CPU time its processes used so far, in microseconds; null where the layout counts none. */
  cpuUsageUs(): Promise<number | null>;
  /** Kill what is left in it and remove it (idempotent). */
  remove(): Promise<void>;
}

/**
 * This ezone process's cgroup parent. `open` refuses with the reason when limits cannot be set here (no
 * hierarchy with both controllers, no permission to create cgroups or enable controllers), so a
 * campaign asking for limits is refused before it starts.
 */
export class CgroupLimits {
  readonly #layout: CgroupLayout;
  readonly #parent: string;
  #count = 0;

  private constructor(layout: CgroupLayout, parent: string) {
    this.#layout = layout;
    this.#parent = parent;
  }

  /** Make this process's parent cgroup(s) and enable the controllers; throws an InfraError why not. */
  static open(choice: LayoutChoice = probeCgroupLayout()): CgroupLimits {
    if (!choice.ok)
      throw new InfraError("cgroup.probe", `cgroup limits cannot be set here: ${choice.reason}`);
    const layout = choice.layout;
    const parent = `ezone-${ownerTag().replace(":", "_")}`;
    try {
      if (layout.version === 2) enableControllers(`${layout.base}/cgroup.subtree_control`);
      for (const dir of cgroupDirs(layout, parent)) mkdirSync(dir, { recursive: true });
      if (layout.version === 2) enableControllers(`${layout.base}/${parent}/cgroup.subtree_control`);
    } catch (e) {
      removeParent(layout, parent);
      throw new InfraError(
        "cgroup.probe",
        `cgroup limits cannot be set here: ${(e as Error).message} (ezone needs to create cgroups: run as root or delegate the subtree)`,
      );
    }
    return new CgroupLimits(layout, parent);
  }

  /** A new cgroup for one enclave (`name`: its role in the run, for whoever reads the tree) with `limits`. */
  create(name: string, limits: EnclaveLimits): EnclaveCgroupHandle {
    const leaf = `${name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40)}-${++this.#count}`;
    const layout = this.#layout;
    const parent = this.#parent;
    const dirs = cgroupDirs(layout, parent, leaf);
    try {
      for (const dir of dirs) mkdirSync(dir);
      for (const [file, value] of limitWrites(layout, parent, leaf, limits)) writeFileSync(file, value);
    } catch (e) {
      for (const dir of dirs) rmdirQuiet(dir);
      throw new InfraError("cgroup.create", `cgroup ${leaf}: ${(e as Error).message}`);
    }
    const usage = usageFile(layout, parent, leaf);
    let removing: Promise<void> | null = null;
    const remove = () => {
      removing ??= Promise.all(dirs.map((d) => removeCgroup(d))).then(() => undefined);
      return removing;
    };
    return {
      join: { procs: dirs.map((d) => `${d}/cgroup.procs`) },
      async cpuUsageUs() {
        return usage ? parseCpuUsageUs(layout.version, await readFile(usage, "utf8")) : null;
      },
      remove,
      [Symbol.asyncDispose]: remove,
    };
  }

  /** Remove this process's parent (its enclaves' cgroups first). */
  async close(): Promise<void> {
    for (const dir of cgroupDirs(this.#layout, this.#parent)) {
      for (const leaf of subdirs(dir)) await removeCgroup(`${dir}/${leaf}`);
      rmdirQuiet(dir);
    }
  }
}

/**
 * Remove the cgroup parents of ezones that no longer run (their processes killed first); returns the
 * directories removed, for the log. A host where limits cannot be set has nothing to sweep.
 */
export async function sweepCgroups(choice: LayoutChoice = probeCgroupLayout()): Promise<string[]> {
  if (!choice.ok) return [];
  const swept: string[] = [];
  for (const base of cgroupBases(choice.layout)) {
    for (const name of subdirs(base)) {
      const m = PARENT.exec(name);
      if (!m || ownerAlive(`${m[1]}:${m[2]}`)) continue;
      const dir = `${base}/${name}`;
      for (const leaf of subdirs(dir)) await removeCgroup(`${dir}/${leaf}`);
      rmdirQuiet(dir);
      swept.push(dir);
    }
  }
  return swept;
}

function enableControllers(subtreeControl: string): void {
  const have = readFileSync(subtreeControl, "utf8").split(/\s+/);
  const missing = ["cpu", "memory"].filter((c) => !have.includes(c));
  if (missing.length > 0) writeFileSync(subtreeControl, missing.map((c) => `+${c}`).join(" "));
}

function removeParent(layout: CgroupLayout, parent: string): void {
  for (const dir of cgroupDirs(layout, parent)) rmdirQuiet(dir);
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not there, or not empty yet: the caller or the next sweep deals with it.
  }
}

/**
 * Kill what is still in a cgroup and remove it once the kernel has let its processes go (rmdir says
 * EBUSY until then), within a bound; a cgroup that stays busy is left for the next sweep.
 */
async function removeCgroup(dir: string): Promise<void> {
  const until = performance.now() + EMPTY_WAIT_MS;
  for (let delayMs = 2; existsSync(dir); delayMs = Math.min(delayMs * 2, 100)) {
    for (const pid of procsOf(dir)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || performance.now() > until) return;
    }
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(`${dir}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
