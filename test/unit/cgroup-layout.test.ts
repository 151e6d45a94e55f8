import { describe, expect, it } from "vitest";
import { cgroupJoinArgv } from "../../src/backends/process-enclave.js";
import {
  cgroupDirs,
  chooseLayout,
  enclaveLimits,
  limitWrites,
  parseCgroupMounts,
  parseCpuUsageUs,
  parseProcCgroup,
  usageFile,
} from "../../src/host/cgroup-layout.js";

// Recorded on the 2-core Debian VM this was written on: v1 cpu and memory, a cgroup2 mount without them.
const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const HYBRID_SELF = "4:memory:/process_api/23c5\n2:cpuacct:/\n1:cpu:/\n0::/\n";

// A systemd host with only the unified hierarchy (synthetic, in the kernel's format).
const UNIFIED_MOUNTINFO =
  "25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate";
const UNIFIED_SELF = "0::/user.slice/user-1000.slice/session-3.scope\n";

describe("cgroup layout", () => {
  it("uses v1 cpu and memory, under ezone's own cgroup, when the unified mount has no controllers", () => {
    const choice = chooseLayout(parseCgroupMounts(HYBRID_MOUNTINFO), parseProcCgroup(HYBRID_SELF), () => [
      "hugetlb",
    ]);
    expect(choice).toEqual({
      ok: true,
      layout: {
        version: 1,
        cpu: "/sys/fs/cgroup/cpu",
        memory: "/sys/fs/cgroup/memory/process_api/23c5",
        cpuacct: "/sys/fs/cgroup/cpuacct",
      },
    });
  });

  it("uses the unified root when it offers cpu and memory", () => {
    const choice = chooseLayout(parseCgroupMounts(UNIFIED_MOUNTINFO), parseProcCgroup(UNIFIED_SELF), () => [
      "cpuset",
      "cpu",
      "io",
      "memory",
      "pids",
    ]);
    expect(choice).toEqual({ ok: true, layout: { version: 2, base: "/sys/fs/cgroup" } });
  });

  it("refuses with what it saw when no hierarchy has both controllers", () => {
    const choice = chooseLayout(parseCgroupMounts(UNIFIED_MOUNTINFO), parseProcCgroup(UNIFIED_SELF), () => [
      "pids",
    ]);
    expect(choice.ok).toBe(false);
    if (!choice.ok) expect(choice.reason).toMatch(/\/sys\/fs\/cgroup \(cgroup2: pids\).*no cpu, no memory/);
  });

  it("writes cpu.max and memory.max under v2, quota and limit_in_bytes under v1", () => {
    const limits = enclaveLimits(256);
    expect(limits).toEqual({ cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 512 * 1024 * 1024 });
    expect(limitWrites({ version: 2, base: "/cg" }, "ezone-1_2", "victim-1", limits)).toEqual([
      ["/cg/ezone-1_2/victim-1/cpu.max", "50000 100000"],
      ["/cg/ezone-1_2/victim-1/memory.max", "536870912"],
    ]);
    const v1 = { version: 1, cpu: "/c", memory: "/m", cpuacct: null } as const;
    expect(limitWrites(v1, "p", "l", enclaveLimits(64, null))).toEqual([
      ["/c/p/l/cpu.cfs_period_us", "100000"],
      ["/c/p/l/cpu.cfs_quota_us", "-1"],
      ["/m/p/l/memory.limit_in_bytes", String(320 * 1024 * 1024)],
    ]);
    expect(cgroupDirs({ version: 1, cpu: "/x", memory: "/x", cpuacct: "/y" }, "p", "l")).toEqual([
      "/x/p/l",
      "/y/p/l",
    ]);
    expect(usageFile(v1, "p", "l")).toBeNull();
    expect(() => enclaveLimits(64, 0)).toThrow(/cpu percent 0/);
  });

  it("reads CPU usage from cpu.stat (µs) and cpuacct.usage (ns)", () => {
    expect(parseCpuUsageUs(2, "usage_usec 1234\nuser_usec 1000\n")).toBe(1234);
    expect(parseCpuUsageUs(1, "5000999\n")).toBe(5000);
    expect(parseCpuUsageUs(1, "")).toBeNull();
    expect(parseCpuUsageUs(2, "nr_periods 3\n")).toBeNull();
  });

  it("joins the cgroup before exec, and refuses a path the list cannot carry", () => {
    const j = cgroupJoinArgv({ procs: ["/a/cgroup.procs", "/b/cgroup.procs"] }, ["qemu", "-m", "256"]);
    expect(j.argv.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(j.argv.slice(3)).toEqual(["ezone-cgroup-join", "qemu", "-m", "256"]);
    expect(j.env).toEqual({ EZONE_CGROUP_PROCS: "/a/cgroup.procs:/b/cgroup.procs" });
    expect(() => cgroupJoinArgv({ procs: ["/a:b/cgroup.procs"] }, ["x"])).toThrow(/':'/);
  });
});
