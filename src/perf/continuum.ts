/**
 * The performance coordinate of each backend on the continuum, read back from a results directory: the
 * CLI hands the report `readContinuumPerformance(resultsDir, campaign)` to pair with the containment axis.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BACKEND_NAMES, type BackendName, createBackend } from "../backends/index.js";
import { DB_FILE, type PerfBlock, Store } from "../store/store.js";
import { fsName } from "./benchmarks.js";
import { REFERENCE } from "./run-perf.js";
import {
  type BenchmarkOverhead,
  type OrderViolation,
  orderViolations,
  type RatioInterval,
  summarize,
} from "./stats.js";

/** Smallest and largest of a host note over a backend's blocks; null when the host never exposed it. */
export type NoteRange = { min: number; max: number } | null;

/** One backend's place on the performance axis. */
export interface ContinuumPoint {
  backend: string;
  /** Its continuum rank (native 0 ... full emulation high); null for backends ezone does not rank. */
  rank: number | null;
  status: "measured" | "failed" | "unavailable";
  /** Why it was not run or why its blocks failed (the first reason). */
  reason: string | null;
  /** Slowdown against native: the geometric mean over benchmarks, 95% interval over rounds. */
  overall: RatioInterval | null;
  benchmarks: BenchmarkOverhead[];
  /** Rounds whose block succeeded, and whose block failed (`reason` says why). */
  rounds: number;
  failedRounds: number;
  host: { stealPct: NoteRange; cpuMhz: NoteRange; load1: NoteRange };
  /** File systems the file-io benchmark ran on (tmpfs vs a disk changes what fsync costs). */
  fileSystems: string[];
  /** Benchmarks that failed in some block, and the first reason. */
  failures: Record<string, string>;
}

/** A whole perf session, summarized. */
export interface PerfSessionSummary {
  session: string;
  campaign: string;
  /** Backends in schedule order, native first. */
  points: ContinuumPoint[];
  /** Unit of each benchmark's value, in run order. */
  units: Record<string, string>;
  warmup: number;
  /** Measured repetitions per benchmark per block (the most seen). */
  samples: number;
  /** Backend pairs measured in the opposite order of their continuum ranks, beyond the intervals. */
  violations: OrderViolation[];
}

function rankOf(backend: string): number | null {
  if (!(BACKEND_NAMES as readonly string[]).includes(backend) || backend === "exec") return null;
  return createBackend({ name: backend, type: backend as BackendName }).continuumRank;
}

function range(values: (number | null)[]): NoteRange {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? { min: Math.min(...v), max: Math.max(...v) } : null;
}

/** Summarize one stored session: ratios and intervals (stats.ts), host notes and statuses per backend. */
export function summarizeSession(store: Store, session: string): PerfSessionSummary {
  const blocks = store.perfBlocks(session);
  const results = store.perfResults(session);
  const overheads = new Map(summarize(results, REFERENCE).map((o) => [o.backend, o]));
  const order = [...new Set(blocks.map((b) => b.backend))].sort(
    (a, b) => Number(b === REFERENCE) - Number(a === REFERENCE),
  );
  const points = order.map((backend): ContinuumPoint => {
    const mine = blocks.filter((b) => b.backend === backend);
    const ran = mine.filter((b) => b.status !== "unavailable");
    const ok = ran.filter((b) => b.status === "ok");
    const failures: Record<string, string> = {};
    for (const b of ran) for (const [k, v] of Object.entries(b.failures)) failures[k] ??= v;
    const o = overheads.get(backend);
    return {
      backend,
      rank: rankOf(backend),
      status: ran.length === 0 ? "unavailable" : o?.overall ? "measured" : "failed",
      reason: firstReason(ran.length === 0 ? mine : ran),
      overall: o?.overall ?? null,
      benchmarks: o?.benchmarks ?? [],
      rounds: ok.length,
      failedRounds: ran.length - ok.length,
      host: {
        stealPct: range(ran.map((b) => b.stealPct)),
        cpuMhz: range(ran.map((b) => b.cpuMhz)),
        load1: range(ran.map((b) => b.load1)),
      },
      fileSystems: [
        ...new Set(
          results
            .filter((r) => r.backend === backend && r.detail.fs)
            .map((r) => fsName(r.detail.fs as string)),
        ),
      ],
      failures,
    };
  });
  const ranked = points.flatMap((p) =>
    p.rank !== null && p.overall ? [{ backend: p.backend, rank: p.rank, overall: p.overall }] : [],
  );
  return {
    session,
    campaign: blocks[0]?.campaign ?? "",
    points,
    units: Object.fromEntries(results.map((r) => [r.benchmark, r.unit])),
    warmup: Math.max(0, ...blocks.map((b) => b.warmup)),
    samples: Math.max(0, ...results.map((r) => r.sample)),
    violations: orderViolations(ranked),
  };
}

function firstReason(blocks: PerfBlock[]): string | null {
  return blocks.find((b) => b.reason !== null)?.reason ?? null;
}

/**
 * The latest perf session of a results directory (of `campaign`, when given), summarized; null when the
 * directory has no database or no perf session. For the report's continuum plot (overhead axis).
 */
export function readContinuumPerformance(resultsDir: string, campaign?: string): PerfSessionSummary | null {
  if (!existsSync(join(resultsDir, DB_FILE))) return null;
  using store = Store.open(resultsDir);
  const session = store.perfSessions(campaign).at(-1);
  return session === undefined ? null : summarizeSession(store, session);
}
