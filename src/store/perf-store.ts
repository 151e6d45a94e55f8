/**
 * The performance family of the results store (`ezone perf`): one block per enclave boot (or per backend
 * the session could not run) and one row per measured repetition of a benchmark.
 */
import type Database from "better-sqlite3";

/** One enclave boot of a perf session, or a backend the session could not run (round null). */
export interface PerfBlock {
  session: string;
  campaign: string;
  round: number | null;
  /** Position in the session's interleaved schedule. */
  seq: number;
  backend: string;
  status: "ok" | "failed" | "unavailable";
  reason: string | null;
  backendVersion: string | null;
  bootMs: number | null;
  /** Warm-up repetitions run and discarded per benchmark. */
  warmup: number;
  stealPct: number | null;
  cpuMhz: number | null;
  load1: number | null;
  /** Benchmarks that failed in this block, and why. */
  failures: Record<string, string>;
  imageHash: string | null;
  hostKernel: string;
  hostname: string;
  startedAt: Date;
  finishedAt: Date;
}

/** One measured repetition of a benchmark in a block; `value` is a cost (lower is better). */
export interface PerfResult {
  benchmark: string;
  sample: number;
  value: number;
  unit: string;
  ops: number | null;
  elapsedNs: number | null;
  /** The agent's other fields (fs, max_us). */
  detail: Record<string, string>;
}

/** A perf result as read back, with its block's coordinates. */
export interface StoredPerfResult extends PerfResult {
  session: string;
  campaign: string;
  round: number;
  backend: string;
}

/** A block as stored and read back: JSON and dates as text, columns named as the fields. */
type BlockRow = Omit<PerfBlock, "failures" | "startedAt" | "finishedAt"> & {
  failures: string;
  startedAt: string;
  finishedAt: string;
};

type ResultRow = Omit<StoredPerfResult, "detail"> & { detail: string };

function prepareStatements(db: Database.Database) {
  return {
    insertBlock: db.prepare<BlockRow, { id: number }>(
      `INSERT INTO perf_blocks (session, campaign, round, seq, backend, status, reason, backend_version,
         boot_ms, warmup, steal_pct, cpu_mhz, load1, failures_json, image_hash, host_kernel, hostname,
         started_at, finished_at)
       VALUES (@session, @campaign, @round, @seq, @backend, @status, @reason, @backendVersion,
         @bootMs, @warmup, @stealPct, @cpuMhz, @load1, @failures, @imageHash, @hostKernel, @hostname,
         @startedAt, @finishedAt)
       RETURNING id`,
    ),
    insertResult: db.prepare<ResultRow & { blockId: number }>(
      `INSERT INTO perf_results (block_id, session, campaign, round, backend, benchmark, sample, value, unit,
         ops, elapsed_ns, detail_json)
       VALUES (@blockId, @session, @campaign, @round, @backend, @benchmark, @sample, @value, @unit,
         @ops, @elapsedNs, @detail)`,
    ),
    sessions: db.prepare<{ campaign: string | null }, { session: string }>(
      `SELECT session FROM perf_blocks WHERE (@campaign IS NULL OR campaign = @campaign)
       GROUP BY session ORDER BY min(id)`,
    ),
    blocks: db.prepare<{ session: string }, BlockRow>(
      `SELECT session, campaign, round, seq, backend, status, reason, backend_version AS backendVersion,
         boot_ms AS bootMs, warmup, steal_pct AS stealPct, cpu_mhz AS cpuMhz, load1,
         failures_json AS failures, image_hash AS imageHash, host_kernel AS hostKernel, hostname,
         started_at AS startedAt, finished_at AS finishedAt
       FROM perf_blocks WHERE session = @session ORDER BY seq`,
    ),
    results: db.prepare<{ session: string }, ResultRow>(
      `SELECT session, campaign, round, backend, benchmark, sample, value, unit, ops,
         elapsed_ns AS elapsedNs, detail_json AS detail
       FROM perf_results WHERE session = @session ORDER BY id`,
    ),
  };
}

/** The perf sessions of one results database. */
export class PerfStore {
  readonly #db: Database.Database;
  readonly #stmt: ReturnType<typeof prepareStatements>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#stmt = prepareStatements(db);
  }

  /** Store one perf block and its measured repetitions in one transaction; returns the block's id. */
  recordPerfBlock(block: PerfBlock, results: PerfResult[]): number {
    if (block.round === null && results.length > 0)
      throw new TypeError(`perf block ${block.backend}: results without a round`);
    const round = block.round;
    const insert = this.#db.transaction((): number => {
      const row = this.#stmt.insertBlock.get({
        ...block,
        failures: JSON.stringify(block.failures),
        startedAt: block.startedAt.toISOString(),
        finishedAt: block.finishedAt.toISOString(),
      });
      if (row === undefined) throw new Error(`perf block ${block.backend}: insert returned no row`);
      const { session, campaign, backend } = block;
      for (const r of results) {
        const coordinates = { blockId: row.id, session, campaign, round: round as number, backend };
        this.#stmt.insertResult.run({ ...r, ...coordinates, detail: JSON.stringify(r.detail) });
      }
      return row.id;
    });
    return insert.immediate();
  }

  /** Perf sessions stored here (of one campaign, when given), oldest first. */
  perfSessions(campaign?: string): string[] {
    return this.#stmt.sessions.all({ campaign: campaign ?? null }).map((r) => r.session);
  }

  /** The blocks of a perf session in schedule order. */
  perfBlocks(session: string): PerfBlock[] {
    return this.#stmt.blocks.all({ session }).map((r) => ({
      ...r,
      failures: JSON.parse(r.failures) as Record<string, string>,
      startedAt: new Date(r.startedAt),
      finishedAt: new Date(r.finishedAt),
    }));
  }

  /** The measured repetitions of a perf session, in the order they were stored. */
  perfResults(session: string): StoredPerfResult[] {
    return this.#stmt.results
      .all({ session })
      .map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, string> }));
  }
}
