/**
 * What the host says about its own CPU while benchmarks run: steal time (this host is often a VM
 * itself), the CPU frequency and the load. Read from /proc; each note is null where the host does not
 * expose it.
 */
import { readFile } from "node:fs/promises";

/** CPU time of the `cpu` line of /proc/stat (or a difference of two readings), in ticks. */
export interface CpuTimes {
  total: number;
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal ...). */
export function parseCpuTimes(stat: string): CpuTimes | null {
  const line = /^cpu\s+([\d\s]+)$/m.exec(stat)?.[1];
  if (!line) return null;
  const fields = line.trim().split(/\s+/).map(Number);
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  const total = fields.slice(0, 8).reduce((s, x) => s + x, 0);
  return { total, steal: fields[7] ?? 0 };
}

/** Ticks between two readings added to `into` (a running sum); unchanged when a reading is missing. */
export function addCpuDelta(into: CpuTimes, before: CpuTimes | null, after: CpuTimes | null): void {
  if (!before || !after || after.total < before.total) return;
  into.total += after.total - before.total;
  into.steal += after.steal - before.steal;
}

/** Percent of ticks stolen; null when no tick was counted. */
export function stealPercent(ticks: CpuTimes): number | null {
  return ticks.total > 0 ? (100 * ticks.steal) / ticks.total : null;
}

/** Mean `cpu MHz` of /proc/cpuinfo; null when absent. */
export function parseCpuMhz(cpuinfo: string): number | null {
  const mhz = [...cpuinfo.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
  return mhz.length ? mhz.reduce((s, x) => s + x, 0) / mhz.length : null;
}

const readOrNull = (path: string) => readFile(path, "utf8").catch(() => null);

export async function readCpuTimes(): Promise<CpuTimes | null> {
  const stat = await readOrNull("/proc/stat");
  return stat === null ? null : parseCpuTimes(stat);
}

/** The CPU frequency and the 1-minute load average now. */
export async function readFrequencyAndLoad(): Promise<{ cpuMhz: number | null; load1: number | null }> {
  const [cpuinfo, loadavg] = await Promise.all([readOrNull("/proc/cpuinfo"), readOrNull("/proc/loadavg")]);
  const load1 = Number(loadavg?.split(" ")[0]);
  return {
    cpuMhz: cpuinfo === null ? null : parseCpuMhz(cpuinfo),
    load1: loadavg !== null && Number.isFinite(load1) ? load1 : null,
  };
}
