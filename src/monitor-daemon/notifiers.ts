/**
 * Where violations are announced: a line on stderr, a syslog message at a chosen severity, a JSON POST
 * to a local webhook, a command. The dispatcher in front of them de-duplicates (the same enclave and
 * kind within a window is announced once) and rate-limits (a token bucket over all notifications), and
 * says for every violation what happened to its notification, so the store can record it.
 */
import { hostname } from "node:os";
import { runTool } from "../util/child.js";
import { escapeControl } from "../util/escape.js";
import { MONITOR_APP, wallNow } from "./protocol.js";
import { EZONE_SD_ID, encodeSyslog, FACILITY, formatTimestamp, isHeaderToken } from "./rfc5424.js";
import type { SyslogSender } from "./syslog-sender.js";
import { TokenBucket } from "./token-bucket.js";
import type { Violation } from "./violation-detector.js";

/** One way of announcing a violation. */
export interface Notifier {
  readonly name: string;
  /** Announce `v`; reject when it could not be announced. Must give up when `signal` aborts. */
  notify(v: Violation, signal: AbortSignal): Promise<void>;
}

/** The violation as notifiers send it: ISO times, no functions. */
export function violationJson(v: Violation, monitor: string): Record<string, unknown> {
  const iso = (t: number | null) => (t === null ? null : formatTimestamp(t));
  return {
    monitor,
    host: hostname(),
    enclave: v.enclave,
    kind: v.kind,
    detail: v.detail,
    lastHeartbeatAt: iso(v.lastHeartbeatAt),
    firstMissedHeartbeatAt: iso(v.firstMissedHeartbeatAt),
    sourceAt: iso(v.sourceAt),
    detectedAt: iso(v.detectedAt),
    evidence: v.evidence,
  };
}

function oneLine(v: Violation): string {
  return escapeControl(`${v.enclave}: ${v.kind}: ${v.detail}`).replace(/\n/g, " ");
}

export class StderrNotifier implements Notifier {
  readonly name = "stderr";
  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(l)) {}
  async notify(v: Violation): Promise<void> {
    this.write(`ezone monitor: VIOLATION ${formatTimestamp(v.detectedAt)} ${oneLine(v)}\n`);
  }
}

export class SyslogNotifier implements Notifier {
  readonly name = "syslog";
  readonly #host: string;
  constructor(
    private readonly sender: SyslogSender,
    private readonly severity: number,
  ) {
    const h = hostname();
    this.#host = isHeaderToken(h, 255) ? h : "-";
  }
  async notify(v: Violation): Promise<void> {
    this.sender.send(
      encodeSyslog({
        facility: FACILITY.daemon,
        severity: this.severity,
        timestampMs: wallNow(),
        hostname: this.#host,
        appName: MONITOR_APP,
        procId: String(process.pid),
        msgId: "VIOLATION",
        sd: [
          {
            id: EZONE_SD_ID,
            params: [
              ["enclave", v.enclave],
              ["kind", v.kind],
            ],
          },
        ],
        msg: oneLine(v),
      }),
    );
  }
}

export class WebhookNotifier implements Notifier {
  readonly name = "webhook";
  constructor(
    private readonly url: string,
    private readonly monitor: string,
  ) {}
  async notify(v: Violation, signal: AbortSignal): Promise<void> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(violationJson(v, this.monitor)),
      signal,
      redirect: "error",
    });
    // Drain the body so the connection is released.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  }
}

/** Runs argv (no shell) with the violation in the environment: EZONE_VIOLATION (JSON), _KIND, _ENCLAVE. */
export class CommandNotifier implements Notifier {
  readonly name = "command";
  constructor(
    private readonly argv: string[],
    private readonly monitor: string,
  ) {}
  async notify(v: Violation, signal: AbortSignal): Promise<void> {
    const r = await runTool(this.argv, {
      signal,
      env: {
        ...process.env,
        EZONE_VIOLATION: JSON.stringify(violationJson(v, this.monitor)),
        EZONE_VIOLATION_KIND: v.kind,
        EZONE_VIOLATION_ENCLAVE: v.enclave,
      },
      maxBytes: 4096,
    });
    if (r.code !== 0)
      throw new Error(
        `${this.argv[0]} ended with ${r.code ?? r.signal}: ${escapeControl(r.stderr.trim().slice(-200))}`,
      );
  }
}

/** What happened to one violation's notification. */
export type NotificationStatus = "sent" | "partial" | "failed" | "dedup" | "rate-limit";

export interface NotificationResult {
  status: NotificationStatus;
  /** When the last notifier finished (null when nothing was attempted). */
  at: number | null;
  detail: string;
}

export interface DispatcherOptions {
  /** The same enclave and kind is announced at most once per window. */
  dedupWindowMs: number;
  ratePerMinute: number;
  burst: number;
  /** Deadline of each notifier. */
  timeoutMs: number;
  now?: () => number;
}

export interface DispatcherStats {
  sent: number;
  partial: number;
  failed: number;
  dedup: number;
  rateLimited: number;
  errors: Record<string, number>;
}

export class NotificationDispatcher {
  readonly #notifiers: Notifier[];
  readonly #opts: DispatcherOptions;
  readonly #now: () => number;
  readonly #bucket: TokenBucket;
  /** Last announcement per enclave+kind; pruned as windows expire, so it stays bounded. */
  readonly #lastSent = new Map<string, number>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #stats: DispatcherStats = { sent: 0, partial: 0, failed: 0, dedup: 0, rateLimited: 0, errors: {} };

  constructor(notifiers: Notifier[], opts: DispatcherOptions) {
    this.#notifiers = notifiers;
    this.#opts = opts;
    this.#now = opts.now ?? wallNow;
    this.#bucket = new TokenBucket(opts.ratePerMinute / 60, opts.burst, this.#now);
  }

  /** Announce `v` through every notifier, unless de-duplicated or rate-limited. Never rejects. */
  dispatch(v: Violation): Promise<NotificationResult> {
    const p = this.#dispatch(v);
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
    return p;
  }

  /** Wait for notifications in flight (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  stats(): DispatcherStats {
    return { ...this.#stats, errors: { ...this.#stats.errors } };
  }

  async #dispatch(v: Violation): Promise<NotificationResult> {
    const now = this.#now();
    for (const [k, t] of this.#lastSent) if (now - t >= this.#opts.dedupWindowMs) this.#lastSent.delete(k);
    const key = `${v.enclave}\0${v.kind}`;
    const last = this.#lastSent.get(key);
    if (last !== undefined) {
      this.#stats.dedup++;
      return {
        status: "dedup",
        at: null,
        detail: `same enclave and kind announced ${Math.round(now - last)} ms ago (window ${this.#opts.dedupWindowMs} ms)`,
      };
    }
    if (!this.#bucket.take()) {
      this.#stats.rateLimited++;
      return {
        status: "rate-limit",
        at: null,
        detail: `over ${this.#opts.ratePerMinute}/min (burst ${this.#opts.burst})`,
      };
    }
    this.#lastSent.set(key, now);
    const results = await Promise.allSettled(
      this.#notifiers.map((n) => n.notify(v, AbortSignal.timeout(this.#opts.timeoutMs))),
    );
    const errors = results.flatMap((r, i) => {
      if (r.status === "fulfilled") return [];
      const name = this.#notifiers[i]?.name ?? "?";
      this.#stats.errors[name] = (this.#stats.errors[name] ?? 0) + 1;
      const reason = r.reason as Error;
      return [
        `${name}: ${reason?.name === "TimeoutError" ? `no answer within ${this.#opts.timeoutMs} ms` : reason?.message}`,
      ];
    });
    const status: NotificationStatus =
      errors.length === 0 ? "sent" : errors.length < this.#notifiers.length ? "partial" : "failed";
    this.#stats[status]++;
    return {
      status,
      at: this.#now(),
      detail: errors.length === 0 ? this.#notifiers.map((n) => n.name).join(", ") : errors.join("; "),
    };
  }
}
