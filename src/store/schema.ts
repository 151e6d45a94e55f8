/**
 * The results database schema (DESIGN.md §7): SQLite in WAL mode, versioned by `PRAGMA user_version`.
 *
 * `MIGRATIONS[i]` takes a database from version i to i + 1. Steps are frozen once released: never edit
 * one, append a new step. That is also why the outcome CHECK below spells the outcomes out instead of
 * reading `OUTCOMES`: a new outcome needs a new migration (a unit test compares the two lists).
 */
import Database from "better-sqlite3";

/** How long a writer waits for another process's lock before SQLITE_BUSY (Slurm shards, resume). */
export const BUSY_TIMEOUT_MS = 10_000;

/**
 * The runs table, with `outcomes` as the list its outcome CHECK allows (each step that adds an outcome
 * rebuilds it with a longer list, the rest unchanged).
 */
function runsTable(outcomes: string): string {
  return `CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    campaign_id   INTEGER NOT NULL REFERENCES campaigns(id),
    run_key       TEXT NOT NULL UNIQUE,
    backend       TEXT NOT NULL,
    fault         TEXT NOT NULL,
    zone          INTEGER NOT NULL CHECK (zone BETWEEN 1 AND 4),
    params_json   TEXT NOT NULL,
    repetition    INTEGER NOT NULL,
    seed          TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN (
                    ${outcomes})),
    reasons_json  TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    boot_ms       REAL NULL,
    detection_ms  REAL NULL,
    run_ms        REAL NOT NULL,
    stop_reason   TEXT NOT NULL,
    crash_title   TEXT NULL,
    crash_class   TEXT NULL,
    proof         INTEGER NOT NULL CHECK (proof IN (0, 1)),
    guest_crashed INTEGER NOT NULL CHECK (guest_crashed IN (0, 1)),
    -- NULL when not judged (infra-error): the run says nothing about the host.
    host_survived INTEGER NULL CHECK (host_survived IN (0, 1)),
    infra_error   TEXT NULL
  );`;
}

/** Migration steps; the database's `user_version` is the number of steps applied. */
export const MIGRATIONS: readonly string[] = [
  // 1: campaigns, runs and what each run cites.
  `
  CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL
  );

  ${runsTable(`'contained-limited', 'contained-varied', 'escaped-global', 'infra-error',
                    'no-effect', 'not-fired', 'unknown'`)}
  CREATE INDEX runs_campaign_backend ON runs(campaign_id, backend);

  -- The whole RunEvidence, as the verdict saw it.
  CREATE TABLE evidence (
    run_id        INTEGER NOT NULL UNIQUE REFERENCES runs(id),
    evidence_json TEXT NOT NULL
  );

  -- before/after hold JSON (a number, or a quoted string) so their type survives; NULL for null.
  CREATE TABLE probes (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    probe     TEXT NOT NULL,
    severity  TEXT NOT NULL CHECK (severity IN ('ok', 'degraded', 'failed', 'unavailable')),
    before    TEXT NULL,
    after     TEXT NULL,
    threshold TEXT NOT NULL,
    detail    TEXT NOT NULL
  );
  CREATE INDEX probes_run ON probes(run_id);

  CREATE TABLE artifacts (
    run_id    INTEGER NOT NULL REFERENCES runs(id),
    kind      TEXT NOT NULL, -- console, qmp, probe-data, ...
    sha256    TEXT NOT NULL,
    bytes     INTEGER NOT NULL,
    truncated INTEGER NOT NULL CHECK (truncated IN (0, 1))
  );
  CREATE INDEX artifacts_run ON artifacts(run_id);

  CREATE TABLE provenance (
    run_id          INTEGER NOT NULL UNIQUE REFERENCES runs(id),
    ezone_version   TEXT NOT NULL,
    ezone_commit    TEXT NULL,
    backend_version TEXT NULL, -- e.g. QEMU 7.2.22
    kernel_version  TEXT NULL,
    image_hash      TEXT NULL,
    kernel_cmdline  TEXT NULL,
    host_kernel     TEXT NOT NULL,
    hostname        TEXT NOT NULL
  );

  -- Statements that are not results: a backend not runnable here, a fault a backend refuses. Latest wins.
  CREATE TABLE statements (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    backend     TEXT NOT NULL,
    fault       TEXT NOT NULL, -- '*' for the whole backend
    kind        TEXT NOT NULL CHECK (kind IN ('available', 'unavailable', 'refused')),
    reason      TEXT NOT NULL,
    checked_at  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, backend, fault)
  );
  `,
  // 2: the performance axis (`ezone perf`): one row per enclave boot, one per measured repetition.
  `
  CREATE TABLE perf_blocks (
    id              INTEGER PRIMARY KEY,
    session         TEXT NOT NULL, -- one \`ezone perf\` invocation
    campaign        TEXT NOT NULL,
    round           INTEGER NULL,  -- NULL: the backend was not run (status 'unavailable')
    seq             INTEGER NOT NULL, -- position in the session's interleaved schedule
    backend         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'unavailable')),
    reason          TEXT NULL,
    backend_version TEXT NULL,
    boot_ms         REAL NULL,
    warmup          INTEGER NOT NULL, -- warm-up repetitions run and discarded per benchmark
    steal_pct       REAL NULL,
    cpu_mhz         REAL NULL,
    load1           REAL NULL,
    failures_json   TEXT NOT NULL, -- {benchmark: why} for benchmarks that failed in this block
    image_hash      TEXT NULL,
    host_kernel     TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    UNIQUE (session, seq)
  );

  -- Measured repetitions only (warm-ups are not stored). value is a cost: lower is better.
  CREATE TABLE perf_results (
    id              INTEGER PRIMARY KEY,
    block_id        INTEGER NOT NULL REFERENCES perf_blocks(id),
    session         TEXT NOT NULL,
    campaign        TEXT NOT NULL,
    round           INTEGER NOT NULL,
    backend         TEXT NOT NULL,
    benchmark       TEXT NOT NULL,
    sample          INTEGER NOT NULL,
    value           REAL NOT NULL CHECK (value >= 0),
    unit            TEXT NOT NULL,
    lower_is_better INTEGER NOT NULL DEFAULT 1 CHECK (lower_is_better IN (0, 1)),
    ops             INTEGER NULL,
    elapsed_ns      INTEGER NULL,
    detail_json     TEXT NOT NULL, -- the agent's other fields (fs, max_us)
    UNIQUE (session, round, backend, benchmark, sample)
  );
  CREATE INDEX perf_results_campaign ON perf_results(campaign, session);
  `,
  // 3: violations raised by `ezone monitor`, with the time of each step from last heartbeat to notification.
  `
  CREATE TABLE violations (
    id                        INTEGER PRIMARY KEY,
    monitor                   TEXT NOT NULL, -- the monitor config's name
    enclave                   TEXT NOT NULL, -- or 'host', 'ezone-monitor' for host and pipeline
    kind                      TEXT NOT NULL,
    detail                    TEXT NOT NULL,
    last_heartbeat_at         TEXT NULL,
    first_missed_heartbeat_at TEXT NULL,     -- when the first heartbeat that never came was due
    source_at                 TEXT NULL,     -- timestamp of the message that revealed it
    detected_at               TEXT NOT NULL,
    notified_at               TEXT NULL,     -- when the notifiers finished; NULL if none ran
    notification              TEXT NOT NULL DEFAULT 'pending' CHECK (notification IN (
                                'pending', 'sent', 'partial', 'failed', 'dedup', 'rate-limit')),
    notification_detail       TEXT NULL,
    evidence_json             TEXT NOT NULL,
    closed_at                 TEXT NULL,
    closed_why                TEXT NULL
  );
  CREATE INDEX violations_monitor ON violations(monitor, detected_at);
  `,
  // 4: the outcome boot-error (a guest that never came up). SQLite cannot change a CHECK in place: the runs
  // table is rebuilt. Its children's foreign keys are deferred meanwhile: dropping the old table orphans
  // them, copying the rows back into the new one resolves them before the commit.
  `
  PRAGMA defer_foreign_keys = ON;
  CREATE TABLE runs_copy AS SELECT * FROM runs;
  DROP TABLE runs;
  ${runsTable(`'boot-error', 'contained-limited', 'contained-varied', 'escaped-global',
                    'infra-error', 'no-effect', 'not-fired', 'unknown'`)}
  INSERT INTO runs SELECT * FROM runs_copy;
  DROP TABLE runs_copy;
  CREATE INDEX runs_campaign_backend ON runs(campaign_id, backend);
  `,
  // 5: soft errors (bit flips): each run's class against the golden run, and the golden runs themselves,
  // one per (image, backend, workload), measured once and reused on resume.
  `
  ALTER TABLE runs ADD COLUMN soft_class TEXT NULL CHECK (soft_class IN (
    'benign', 'detected', 'hang', 'silent-data-corruption'));
  CREATE TABLE golden_runs (
    golden_key  TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
  );
  `,
];

/** The schema version this build of ezone writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Open (creating if needed) the database at `path`: WAL, foreign keys, busy timeout, migrated to
 * `SCHEMA_VERSION`. Throws if the file was written by a newer ezone.
 */
export function openDatabase(path: string): Database.Database {
  const db = new Database(path);
  try {
    // busy_timeout first: switching to WAL and migrating both take locks another process may hold.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma("journal_mode = WAL");
    // FULL also fsyncs the WAL on each commit: a finished run survives power loss, not just a crash.
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Apply the missing migration steps in one IMMEDIATE transaction; returns the resulting version. */
export function migrate(db: Database.Database): number {
  const apply = db.transaction(() => {
    // Read inside the write lock: two processes opening a fresh file must not both run step 1.
    const current = userVersion(db);
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this ezone supports (${MIGRATIONS.length}): upgrade ezone`,
      );
    }
    for (const [i, step] of MIGRATIONS.entries()) {
      if (i < current) continue;
      db.exec(step);
      db.pragma(`user_version = ${i + 1}`);
    }
    return userVersion(db);
  });
  return apply.immediate();
}

/** The database's `PRAGMA user_version`. */
export function userVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}
