import type Database from "better-sqlite3";
import type { Golden } from "../model/soft-error.js";

interface GoldenRow {
  digest: string;
  duration_us: number;
}

/** The golden runs of the soft-error workload: one row per key, the first one recorded wins. */
export class GoldenStore {
  constructor(private readonly db: Database.Database) {}

  /** The stored golden run under `key`, or null. */
  golden(key: string): Golden | null {
    const row = this.db
      .prepare("SELECT digest, duration_us FROM golden_runs WHERE golden_key = ?")
      .get(key) as GoldenRow | undefined;
    return row ? { digest: row.digest, durationUs: row.duration_us } : null;
  }

  /** Store a golden run under `key` unless one is there already; returns the one stored. */
  recordGolden(key: string, g: Golden): Golden {
    this.db
      .prepare(
        `INSERT INTO golden_runs (golden_key, digest, duration_us, recorded_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(golden_key) DO NOTHING`,
      )
      .run(key, g.digest, Math.round(g.durationUs), new Date().toISOString());
    return this.golden(key) ?? g;
  }
}
