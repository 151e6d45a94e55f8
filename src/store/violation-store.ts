/**
 * The violation family of the results store: what `ezone monitor` raised, what became of each
 * notification, and when each incident closed. Times are epoch milliseconds in the API and ISO 8601
 * (millisecond precision) in the database.
 */
import type Database from "better-sqlite3";

/**
 * The monitor name a run's violations are stored under (`guest.syslog` in a campaign): the run's key,
 * marked so it cannot clash with an `ezone monitor` config's name (those have no ':').
 */
export function runMonitor(runKey: string): string {
  return `run:${runKey}`;
}

/** A violation raised by `ezone monitor`; times are epoch milliseconds. */
export interface ViolationRecord {
  /** The monitor config's name. */
  monitor: string;
  /** The enclave, or `host` / `ezone-monitor` for the host's probes and the syslog pipeline. */
  enclave: string;
  kind: string;
  detail: string;
  /** The last heartbeat's timestamp (when it reached the host), or null if none was ever seen. */
  lastHeartbeatAt: number | null;
  /** When the first heartbeat that never came was due (last + interval); null if none was seen. */
  firstMissedHeartbeatAt: number | null;
  /** Timestamp of the message that revealed the violation; null for silence. */
  sourceAt: number | null;
  detectedAt: number;
  /** What was seen, oldest first, bounded. */
  evidence: string[];
}

/** A stored violation with what became of its notification and of its incident. */
export interface StoredViolation extends ViolationRecord {
  id: number;
  notifiedAt: number | null;
  notification: "pending" | "sent" | "partial" | "failed" | "dedup" | "rate-limit";
  notificationDetail: string | null;
  closedAt: number | null;
  closedWhy: string | null;
}

/** What `updateViolation` may change; absent fields stay as they are. */
export interface ViolationPatch {
  notifiedAt?: number | null;
  notification?: StoredViolation["notification"];
  notificationDetail?: string;
  evidence?: string[];
  closedAt?: number;
  closedWhy?: string;
}

interface ViolationRow {
  id: number;
  monitor: string;
  enclave: string;
  kind: string;
  detail: string;
  last_heartbeat_at: string | null;
  first_missed_heartbeat_at: string | null;
  source_at: string | null;
  detected_at: string;
  evidence_json: string;
  notified_at: string | null;
  notification: StoredViolation["notification"];
  notification_detail: string | null;
  closed_at: string | null;
  closed_why: string | null;
}

type InsertParams = Pick<
  ViolationRow,
  | "monitor"
  | "enclave"
  | "kind"
  | "detail"
  | "last_heartbeat_at"
  | "first_missed_heartbeat_at"
  | "source_at"
  | "detected_at"
  | "evidence_json"
>;

interface UpdateParams {
  id: number;
  setNotified: 0 | 1;
  notifiedAt: string | null;
  notification: string | null;
  notificationDetail: string | null;
  evidence: string | null;
  closedAt: string | null;
  closedWhy: string | null;
}

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare<InsertParams, { id: number }>(
      `INSERT INTO violations (monitor, enclave, kind, detail, last_heartbeat_at, first_missed_heartbeat_at,
         source_at, detected_at, evidence_json)
       VALUES (@monitor, @enclave, @kind, @detail, @last_heartbeat_at, @first_missed_heartbeat_at,
         @source_at, @detected_at, @evidence_json)
       RETURNING id`,
    ),
    update: db.prepare<UpdateParams>(
      `UPDATE violations SET
         notified_at = CASE WHEN @setNotified THEN @notifiedAt ELSE notified_at END,
         notification = coalesce(@notification, notification),
         notification_detail = coalesce(@notificationDetail, notification_detail),
         evidence_json = coalesce(@evidence, evidence_json),
         closed_at = coalesce(@closedAt, closed_at),
         closed_why = coalesce(@closedWhy, closed_why)
       WHERE id = @id`,
    ),
    list: db.prepare<{ monitor: string | null }, ViolationRow>(
      "SELECT * FROM violations WHERE (@monitor IS NULL OR monitor = @monitor) ORDER BY id",
    ),
  };
}

/** The violations of one results database. */
export class ViolationStore {
  readonly #stmt: ReturnType<typeof prepareStatements>;

  constructor(db: Database.Database) {
    this.#stmt = prepareStatements(db);
  }

  /** Store a new violation (committed before anyone is notified); returns its id. */
  recordViolation(v: ViolationRecord): number {
    const row = this.#stmt.insert.get({
      monitor: v.monitor,
      enclave: v.enclave,
      kind: v.kind,
      detail: v.detail,
      last_heartbeat_at: isoOrNull(v.lastHeartbeatAt),
      first_missed_heartbeat_at: isoOrNull(v.firstMissedHeartbeatAt),
      source_at: isoOrNull(v.sourceAt),
      detected_at: iso(v.detectedAt),
      evidence_json: JSON.stringify(v.evidence),
    });
    if (row === undefined) throw new Error(`violation ${v.kind} of ${v.enclave}: insert returned no row`);
    return row.id;
  }

  /** Record what became of a violation's notification, its later evidence, or the end of its incident. */
  updateViolation(id: number, patch: ViolationPatch): void {
    this.#stmt.update.run({
      id,
      setNotified: patch.notifiedAt === undefined ? 0 : 1,
      notifiedAt: isoOrNull(patch.notifiedAt ?? null),
      notification: patch.notification ?? null,
      notificationDetail: patch.notificationDetail ?? null,
      evidence: patch.evidence ? JSON.stringify(patch.evidence) : null,
      closedAt: patch.closedAt === undefined ? null : iso(patch.closedAt),
      closedWhy: patch.closedWhy ?? null,
    });
  }

  /** Stored violations, oldest first, of one monitor when given. */
  violations(monitor?: string): StoredViolation[] {
    return this.#stmt.list.all({ monitor: monitor ?? null }).map((r) => ({
      id: r.id,
      monitor: r.monitor,
      enclave: r.enclave,
      kind: r.kind,
      detail: r.detail,
      lastHeartbeatAt: msOrNull(r.last_heartbeat_at),
      firstMissedHeartbeatAt: msOrNull(r.first_missed_heartbeat_at),
      sourceAt: msOrNull(r.source_at),
      detectedAt: Date.parse(r.detected_at),
      evidence: JSON.parse(r.evidence_json) as string[],
      notifiedAt: msOrNull(r.notified_at),
      notification: r.notification,
      notificationDetail: r.notification_detail,
      closedAt: msOrNull(r.closed_at),
      closedWhy: r.closed_why,
    }));
  }
}

/** Epoch milliseconds as stored: ISO 8601 with millisecond precision. */
function iso(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

function msOrNull(text: string | null): number | null {
  return text === null ? null : Date.parse(text);
}
