/**
 * Where this host lets ezone put an enclave's CPU and memory limits, decided from text the kernel
 * publishes (/proc/self/mountinfo, /proc/self/cgroup, a cgroup2 root's cgroup.controllers), and which
 * files carry the limits. Pure: the adapter (cgroup.ts) reads the files and writes the values.
 *
 * Two layouts: the unified hierarchy (cgroup v2: `cpu.max`, `memory.max`, usage in `cpu.stat`) when its
 * root offers both controllers; else the legacy one (v1: `cpu` and `memory` hierarchies, which may be
 * one mount, usage in `cpuacct.usage`), as on hosts whose unified mount carries no controllers.
 */

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  version: 1 | 2;
  /** Where it is mounted. */
  mountPoint: string;
  /** The hierarchy path shown at the mount point ("/" unless a container bind-mounted a subtree). */
  root: string;
  /** v1: the controllers bound to it (from the super options); v2: empty (read cgroup.controllers). */
  controllers: string[];
}

/** The limits of one enclave's cgroup. */
export interface EnclaveLimits {
  /** CPU time per period, in microseconds (cpu.max's first field, cfs_quota_us); null: no CPU limit. */
  cpuQuotaUs: number | null;
  cpuPeriodUs: number;
  memoryBytes: number;
}

/** Directories under which ezone makes its per-process parents, one per hierarchy it writes to. */
export type CgroupLayout =
  | { version: 2; base: string }
  | { version: 1; cpu: string; memory: string; cpuacct: string | null };

export type LayoutChoice = { ok: true; layout: CgroupLayout } | { ok: false; reason: string };

/** Default share of one core an enclave gets under limits: half (cpu.max "50000 100000"). */
const DEFAULT_CPU_PERCENT = 50;
const CPU_PERIOD_US = 100_000;
/** Beyond the guest's memory: the VMM's own (QEMU's TCG translation cache, UML's, runsc's Go heap). */
const MEMORY_OVERHEAD_MB = 256;

/**
 * The limits for an enclave of `memoryMb` MiB of guest memory and `cpuPercent` % of one core (null: no
 * CPU limit, only memory).
 */
export function enclaveLimits(
  memoryMb: number,
  cpuPercent: number | null = DEFAULT_CPU_PERCENT,
): EnclaveLimits {
  if (cpuPercent !== null && !(cpuPercent >= 1 && cpuPercent <= 100 * 1024))
    throw new RangeError(`cpu percent ${cpuPercent}: expected 1 to ${100 * 1024}`);
  return {
    cpuQuotaUs: cpuPercent === null ? null : Math.round((CPU_PERIOD_US * cpuPercent) / 100),
    cpuPeriodUs: CPU_PERIOD_US,
    memoryBytes: (memoryMb + MEMORY_OVERHEAD_MB) * 1024 * 1024,
  };
}

/** The cgroup mounts of a /proc/self/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(" ");
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    const root = before[3];
    const mountPoint = before[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fstype === "cgroup2")
      out.push({ version: 2, mountPoint: unescapeMount(mountPoint), root, controllers: [] });
    else if (fstype === "cgroup")
      out.push({
        version: 1,
        mountPoint: unescapeMount(mountPoint),
        root,
        controllers: superOptions
          .split(",")
          .filter((o) => !/^(rw|ro|name=.*|clone_children|noprefix|xattr)$/.test(o)),
      });
  }
  return out;
}

/** /proc/self/cgroup: hierarchy → path; the key is the controller list ("cpu,cpuacct") or "" for v2. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/**
 * Where to put limits. v2 when a cgroup2 mount offers `cpu` and `memory` (`v2Controllers` reads a
 * mount's cgroup.controllers, null if unreadable): ezone's parents go at its root, which is exempt from
 * the rule that a cgroup with processes cannot hand controllers to children. Else v1 with `cpu` and
 * `memory` hierarchies, under ezone's own cgroup in each (so a limit around ezone still holds).
 */
export function chooseLayout(
  mounts: CgroupMount[],
  self: Map<string, string>,
  v2Controllers: (mountPoint: string) => string[] | null,
): LayoutChoice {
  const v2 = mounts.filter((m) => m.version === 2);
  for (const m of v2) {
    const have = v2Controllers(m.mountPoint);
    if (have?.includes("cpu") && have.includes("memory"))
      return { ok: true, layout: { version: 2, base: m.mountPoint } };
  }
  const dirOf = (controller: string): string | null => {
    const m = mounts.find((x) => x.version === 1 && x.controllers.includes(controller));
    if (!m) return null;
    const own = [...self].find(([k]) => k.split(",").includes(controller))?.[1] ?? "/";
    return joinCgroupPath(m.mountPoint, m.root, own);
  };
  const cpu = dirOf("cpu");
  const memory = dirOf("memory");
  if (cpu && memory) return { ok: true, layout: { version: 1, cpu, memory, cpuacct: dirOf("cpuacct") } };
  const seen =
    v2
      .map(
        (m) =>
          `${m.mountPoint} (cgroup2: ${(v2Controllers(m.mountPoint) ?? ["unreadable"]).join(" ") || "no controllers"})`,
      )
      .join(", ") || "no cgroup2 mount";
  return {
    ok: false,
    reason: `no cgroup hierarchy offers both cpu and memory controllers (${seen}; cgroup v1: ${cpu ? "cpu" : "no cpu"}, ${memory ? "memory" : "no memory"})`,
  };
}

/** The directories ezone's parents go in: one per hierarchy (v1 controllers may share a mount). */
export function cgroupBases(layout: CgroupLayout): string[] {
  const bases = layout.version === 2 ? [layout.base] : [layout.cpu, layout.memory, layout.cpuacct];
  return [...new Set(bases.filter((b): b is string => b !== null))];
}

/** The directories of the per-process parent `parent`, or of its enclave cgroup `leaf`. */
export function cgroupDirs(layout: CgroupLayout, parent: string, leaf?: string): string[] {
  return cgroupBases(layout).map((b) => (leaf === undefined ? `${b}/${parent}` : `${b}/${parent}/${leaf}`));
}

/** The files and values that set `limits` on the enclave cgroup `parent/leaf`. */
export function limitWrites(
  layout: CgroupLayout,
  parent: string,
  leaf: string,
  limits: EnclaveLimits,
): [string, string][] {
  if (layout.version === 2) {
    const dir = `${layout.base}/${parent}/${leaf}`;
    return [
      [`${dir}/cpu.max`, `${limits.cpuQuotaUs ?? "max"} ${limits.cpuPeriodUs}`],
      [`${dir}/memory.max`, String(limits.memoryBytes)],
    ];
  }
  const cpu = `${layout.cpu}/${parent}/${leaf}`;
  const memory = `${layout.memory}/${parent}/${leaf}`;
  return [
    [`${cpu}/cpu.cfs_period_us`, String(limits.cpuPeriodUs)],
    [`${cpu}/cpu.cfs_quota_us`, String(limits.cpuQuotaUs ?? -1)],
    [`${memory}/memory.limit_in_bytes`, String(limits.memoryBytes)],
  ];
}

/** CPU time used, in microseconds, from the usage file's text (v2 cpu.stat, or v1 cpuacct.usage in ns). */
export function parseCpuUsageUs(version: 1 | 2, text: string): number | null {
  if (version === 2) {
    const m = /^usage_usec (\d+)$/m.exec(text);
    return m ? Number(m[1]) : null;
  }
  const ns = Number(text.trim());
  return Number.isFinite(ns) && text.trim() !== "" ? Math.floor(ns / 1000) : null;
}

/** The file that counts an enclave cgroup's CPU time; null when the layout has none (v1 without cpuacct). */
export function usageFile(layout: CgroupLayout, parent: string, leaf: string): string | null {
  if (layout.version === 2) return `${layout.base}/${parent}/${leaf}/cpu.stat`;
  return layout.cpuacct ? `${layout.cpuacct}/${parent}/${leaf}/cpuacct.usage` : null;
}

function joinCgroupPath(mountPoint: string, root: string, own: string): string {
  const rel = root !== "/" && own.startsWith(root) ? own.slice(root.length) : own;
  const tail = rel.replace(/^\/+|\/+$/g, "");
  return tail ? `${mountPoint}/${tail}` : mountPoint;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}
