import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCampaign } from "../src/campaign/load.js";
import { type CampaignRunTally, runCampaign } from "../src/campaign/run-campaign.js";
import type { BuiltImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";
import { Store, type StoredRun } from "../src/store/store.js";

/** One campaign measured end to end (ezone's real work: probes, agent, store rows), then thrown away. */
export interface Measured {
  summary: CampaignRunTally;
  runs: StoredRun[];
  perHour: number;
  /** ezone's own CPU (user + system) over the campaign; the VMMs are other processes and not counted. */
  cpuMs: number;
  /** CPU of the processes ezone started and reaped meanwhile (VMMs, probes' /bin/true, helpers). */
  childrenCpuMs: number;
  /** Bytes of guest console stored per judged run (what the VMM wrote to ezone's pipe, up to the cap). */
  consoleBytes: number[];
  /** The console text per judged run, when asked for with `keepConsole` (else empty). */
  consoles: string[];
  /** Runs left as infra-error, counted by their failed step (e.g. `probe.baseline`). */
  infraErrors: Record<string, number>;
}

/** A kerncrash campaign on qemu-tcg fired at once: the benchmarks' standard fault run. */
export function kerncrashCampaign(boot: "fresh" | "snapshot", reps: number, name = "bench-fast"): string {
  return [
    `name: ${name}`,
    `repetitions: ${reps}`,
    "backends: [qemu-tcg]",
    "faults: [{ name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]",
    `guest: { boot: ${boot} }`,
    "",
  ].join("\n");
}

export async function measureCampaign(
  text: string,
  image: BuiltImage,
  opts: { jobs: number; noSnapshot?: boolean; keepConsole?: boolean },
): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), "ezone-bench-"));
  try {
    const config = parseCampaign(text, "bench");
    const cpu0 = process.cpuUsage();
    const children0 = childrenCpuMs();
    const summary = await runCampaign(
      { file: "bench", config, text, resultsDir: dir },
      {
        image,
        signal: AbortSignal.timeout(3_600_000),
        log: () => {},
        jobs: opts.jobs,
        noSnapshot: opts.noSnapshot,
      },
    );
    const cpu = process.cpuUsage(cpu0);
    using store = Store.open(dir);
    const all = store.runs();
    const runs = all.filter((r) => r.outcome !== "infra-error");
    const infraErrors: Record<string, number> = {};
    for (const r of all) {
      if (r.outcome !== "infra-error") continue;
      // The failed step opens the message; a golden run's failure names its own step inside.
      const text = r.infraError ?? "";
      const step = /^[\w.-]+/.exec(text)?.[0] ?? "?";
      const inner = /infra-error: ([\w.-]+):/.exec(text)?.[1];
      const key = inner ? `${step} (${inner})` : step;
      infraErrors[key] = (infraErrors[key] ?? 0) + 1;
    }
    const consoles = runs.map((r) => store.artifactsFor(r.id).filter((a) => a.kind === "console"));
    return {
      summary,
      runs,
      perHour: (summary.executed / summary.wallMs) * 3_600_000,
      cpuMs: (cpu.user + cpu.system) / 1000,
      childrenCpuMs: childrenCpuMs() - children0,
      consoleBytes: consoles.map((c) => c.reduce((sum, a) => sum + a.bytes, 0)),
      infraErrors,
      consoles: opts.keepConsole
        ? consoles.map((c) => c.map((a) => readFileSync(a.path, "utf8")).join(""))
        : [],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU of this process's reaped children so far: cutime + cstime of /proc/self/stat (clock ticks of 10 ms). */
function childrenCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** The p-th percentile (nearest rank) of the numbers given. */
export function percentile(values: (number | null)[], p: number): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] ?? null;
}

export function stats(values: (number | null)[]): { median: number | null; p95: number | null; n: number } {
  return { median: median(values), p95: percentile(values, 95), n: values.filter((x) => x !== null).length };
}
