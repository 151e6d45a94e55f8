/**
 * The host-side watchdog of `ezone monitor` (the paper's monitor): enclaves' heartbeats and
 * reports reach the host's syslog daemon; the monitor reads only the daemon's output, raises violations,
 * stores each in SQLite before announcing it, and announces it through the configured notifiers.
 *
 *   guest agent --ttyS1/pipe--> EnclaveTap --/dev/log--> rsyslogd --omfile--> FileFollower
 *        console/exit ---------^                                            --> parse --> ViolationDetector
 *                                                                                 --> Store + notifiers
 *
 * Memory is bounded whatever arrives: one read buffer, one line, fixed per-enclave state, bounded
 * queues and evidence; everything dropped is counted by reason in `stats()`.
 */
import { availableParallelism } from "node:os";
import { judgeBaseline } from "../host/baseline-health.js";
import { compareProbes, DEFAULT_PROBE_THRESHOLDS } from "../host/compare.js";
import { type HostProbes, kmsgCursorOf, probeHost } from "../host/probes.js";
import { isOopsLine } from "../monitor/oops-patterns.js";
import type { Store } from "../store/store.js";
import { deadline } from "../util/deadline.js";
import { EnclaveTap, type TapStats } from "./enclave-tap.js";
import { FileFollower, type FileFollower as Follower, type FollowerStats } from "./file-follower.js";
import { type MonitorConfig, syslogTarget } from "./monitor-config.js";
import {
  CommandNotifier,
  type DispatcherStats,
  NotificationDispatcher,
  type NotificationResult,
  type Notifier,
  StderrNotifier,
  SyslogNotifier,
  WebhookNotifier,
} from "./notifiers.js";
import { MONITOR_APP, wallNow } from "./protocol.js";
import {
  EZONE_SD_ID,
  encodeSyslog,
  FACILITY,
  parseSyslog,
  type RejectReason,
  SEVERITIES,
  sdParam,
} from "./rfc5424.js";
import { type SenderStats, SyslogSender } from "./syslog-sender.js";
import {
  type EnclaveHealth,
  type EnclaveWatch,
  type Violation,
  ViolationDetector,
} from "./violation-detector.js";

/** One enclave of a monitor config. */
type EnclaveConfig = MonitorConfig["enclaves"][number];

/** What the detector watches of a configured enclave. */
function watchOf(e: EnclaveConfig): EnclaveWatch {
  return {
    name: e.name,
    heartbeatMs: e.heartbeatMs,
    missIntervals: e.missIntervals,
    bootGraceMs: e.bootGraceSeconds * 1000,
  };
}

/** Least spacing of the canaries sent on demand while a heartbeat deadline waits for proof. */
const ON_DEMAND_CANARY_MS = 20;

/** What happened to a violation, for whoever listens (the CLI, tests). */
export type MonitorEvent =
  | { type: "raised"; id: number | null; violation: Violation }
  | { type: "notified"; id: number | null; violation: Violation; result: NotificationResult }
  | { type: "updated"; id: number | null; violation: Violation }
  | { type: "closed"; id: number | null; violation: Violation; why: string };

export interface MonitorStats {
  uptimeMs: number;
  input: FollowerStats;
  messages: number;
  /** Lines from rsyslog's output that were not accepted, by reason. */
  rejected: Partial<Record<RejectReason, number>>;
  heartbeats: number;
  events: number;
  /** Messages about enclaves this monitor does not watch. */
  unknownEnclave: number;
  /** Other programs' messages in the same output, and the monitor's own. */
  foreign: number;
  canary: { sent: number; received: number; pipelineUp: boolean };
  violations: number;
  sender: SenderStats;
  taps: TapStats[];
  notifications: DispatcherStats;
  enclaves: EnclaveHealth[];
  process: { rssBytes: number; heapUsedBytes: number; cpuUserMs: number; cpuSystemMs: number };
}

export interface MonitorOptions {
  /** Where violations are stored; null keeps them in memory only (events still fire). */
  store: Store | null;
  /** Extra notifiers (tests); the configured ones are built from the config. */
  notifiers?: Notifier[];
  log?: (line: string) => void;
  now?: () => number;
}

export class SyslogMonitor {
  readonly config: MonitorConfig;
  readonly #store: Store | null;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #sender: SyslogSender;
  readonly #taps = new Map<string, EnclaveTap>();
  readonly #detector: ViolationDetector;
  readonly #dispatcher: NotificationDispatcher;
  readonly #follower: Follower;
  readonly #listeners = new Set<(ev: MonitorEvent) => void>();
  readonly #ids = new WeakMap<Violation, number>();
  readonly #startedAt: number;
  readonly #canaryId = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  #canarySeq = 0;
  #canaryRx = 0;
  #lastCanaryAt: number;
  #lastCanarySentAt = 0;
  /** Send time of the newest canary that came back. */
  #lastProvenSentAt = 0;
  #timers: NodeJS.Timeout[] = [];
  /** Callers of `flush` waiting for their canary. */
  readonly #proofWaiters = new Set<() => void>();
  #hostProbe: { last: HostProbes | null; running: boolean; abort: AbortController } = {
    last: null,
    running: false,
    abort: new AbortController(),
  };
  #stopped = false;
  readonly #counts = {
    messages: 0,
    heartbeats: 0,
    events: 0,
    unknownEnclave: 0,
    foreign: 0,
    violations: 0,
    rejected: {} as Partial<Record<RejectReason, number>>,
  };

  private constructor(config: MonitorConfig, opts: MonitorOptions) {
    this.config = config;
    this.#store = opts.store;
    this.#now = opts.now ?? wallNow;
    this.#log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.#startedAt = this.#now();
    this.#lastCanaryAt = this.#startedAt;
    this.#sender = new SyslogSender(syslogTarget(config));
    this.#detector = new ViolationDetector(
      config.enclaves.map(watchOf),
      {
        raised: (v) => this.#raised(v),
        updated: (v) =>
          this.#persist(v, { evidence: v.evidence }, { type: "updated", id: this.#id(v), violation: v }),
        closed: (v, why, at) =>
          this.#persist(
            v,
            { closedAt: at, closedWhy: why },
            { type: "closed", id: this.#id(v), violation: v, why },
          ),
      },
      this.#now,
    );
    this.#dispatcher = new NotificationDispatcher(
      [...this.#configuredNotifiers(), ...(opts.notifiers ?? [])],
      {
        dedupWindowMs: config.notify.dedupWindowSeconds * 1000,
        ratePerMinute: config.notify.rateLimit.perMinute,
        burst: config.notify.rateLimit.burst,
        timeoutMs: config.notify.timeoutSeconds * 1000,
        now: this.#now,
      },
    );
    this.#follower = new FileFollower(config.syslog.input.file, (line) => this.#line(line), {
      from: config.syslog.input.from,
      pollMs: config.syslog.input.pollMs,
      maxLineBytes: config.syslog.maxMessageBytes + 1,
    });
  }

  /** Start taps, the follower, the canary and the checks. */
  static async start(config: MonitorConfig, opts: MonitorOptions): Promise<SyslogMonitor> {
    const m = new SyslogMonitor(config, opts);
    try {
      for (const e of config.enclaves) {
        if (!e.channel) continue;
        m.#taps.set(e.name, await EnclaveTap.listen(e.channel.socket, { name: e.name, sender: m.#sender }));
      }
      await m.#follower.start();
    } catch (err) {
      await m.stop();
      throw err;
    }
    const tickMs = Math.max(10, Math.min(250, ...config.enclaves.map((e) => e.heartbeatMs / 5)));
    m.#timers.push(setInterval(() => m.#tick(), tickMs));
    m.#timers.push(setInterval(() => m.#sendCanary(), config.canary.intervalMs));
    if (config.host.probeIntervalSeconds > 0)
      m.#timers.push(setInterval(() => void m.#probeHost(), config.host.probeIntervalSeconds * 1000));
    if (config.statsIntervalSeconds > 0)
      m.#timers.push(
        setInterval(() => m.#log(JSON.stringify(m.stats())), config.statsIntervalSeconds * 1000),
      );
    m.#sendCanary();
    return m;
  }

  /**
   * Watch one more enclave from now on (its boot grace starts now), with a tap listening on its channel
   * when it has one. The checks keep the pace set by the configured enclaves' heartbeats.
   */
  async watch(e: EnclaveConfig): Promise<void> {
    if (e.channel)
      this.#taps.set(
        e.name,
        await EnclaveTap.listen(e.channel.socket, { name: e.name, sender: this.#sender }),
      );
    this.#detector.watch(watchOf(e));
  }

  /** The tap of an enclave with a configured channel: chain its `consoleSink` into the backend's sink. */
  tap(name: string): EnclaveTap | undefined {
    return this.#taps.get(name);
  }

  /** Listen to violations as they are raised, notified, updated and closed. Returns an unsubscribe. */
  on(listener: (ev: MonitorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Send a canary now and resolve true once it has come back through syslog: every message the taps
   * sent before this call has then been read and judged. False when `timeoutMs` passes first.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    // An enclave's exit report waits for the last bytes of its channel: it goes before the canary.
    await Promise.all([...this.#taps.values()].map((t) => t.exitReported()));
    const sentAt = Math.floor(this.#now());
    this.#sendCanary();
    if (this.#lastProvenSentAt >= sentAt) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#proofWaiters.delete(check);
        resolve(ok);
      };
      const check = () => this.#lastProvenSentAt >= sentAt && done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#proofWaiters.add(check);
    });
  }

  /** Read rsyslog's output now rather than at the next inotify event or poll. */
  poke(): Promise<void> {
    return this.#follower.poke();
  }

  stats(): MonitorStats {
    const usage = process.resourceUsage();
    const mem = process.memoryUsage();
    return {
      uptimeMs: Math.round(this.#now() - this.#startedAt),
      input: this.#follower.stats(),
      messages: this.#counts.messages,
      rejected: { ...this.#counts.rejected },
      heartbeats: this.#counts.heartbeats,
      events: this.#counts.events,
      unknownEnclave: this.#counts.unknownEnclave,
      foreign: this.#counts.foreign,
      canary: { sent: this.#canarySeq, received: this.#canaryRx, pipelineUp: this.#detector.pipelineUp },
      violations: this.#counts.violations,
      sender: this.#sender.stats(),
      taps: [...this.#taps.values()].map((t) => t.stats()),
      notifications: this.#dispatcher.stats(),
      enclaves: this.#detector.health(),
      process: {
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        cpuUserMs: Math.round(usage.userCPUTime / 1000),
        cpuSystemMs: Math.round(usage.systemCPUTime / 1000),
      },
    };
  }

  /** Stop everything; notifications in flight finish (bounded by their timeout). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#hostProbe.abort.abort(new Error("monitor stopped"));
    for (const tap of this.#taps.values()) await tap.close();
    await this.#follower.close();
    await this.#dispatcher.settle();
    // Give what the taps and notifiers queued a moment to reach the daemon.
    await this.#sender.drained(1000);
    this.#sender.close();
  }

  #configuredNotifiers(): Notifier[] {
    const n = this.config.notify;
    const list: Notifier[] = [];
    if (n.stderr) list.push(new StderrNotifier());
    if (n.syslog) list.push(new SyslogNotifier(this.#sender, SEVERITIES.indexOf(n.syslog.severity)));
    if (n.webhook) list.push(new WebhookNotifier(n.webhook.url, this.config.name));
    if (n.command) list.push(new CommandNotifier(n.command.argv, this.config.name));
    return list;
  }

  #line(line: Buffer): void {
    const parsed = parseSyslog(line, this.config.syslog.maxMessageBytes);
    if (!parsed.ok) {
      this.#counts.rejected[parsed.reason] = (this.#counts.rejected[parsed.reason] ?? 0) + 1;
      return;
    }
    this.#counts.messages++;
    const m = parsed.message;
    if (m.appName === MONITOR_APP) {
      const sentMs = Number(sdParam(m, EZONE_SD_ID, "sent_ms"));
      if (m.msgId === "CANARY" && sdParam(m, EZONE_SD_ID, "monitor") === this.#canaryId && sentMs > 0) {
        this.#canaryRx++;
        this.#lastCanaryAt = this.#now();
        this.#detector.proveDelivery(sentMs);
        this.#lastProvenSentAt = Math.max(this.#lastProvenSentAt, sentMs);
        for (const check of this.#proofWaiters) check();
        if (!this.#detector.pipelineUp) {
          this.#detector.setPipeline(true);
          this.#detector.clearExternal(MONITOR_APP, "pipeline-stalled", "the canary came back");
        }
      }
      this.#counts.foreign++;
      return;
    }
    const seen = this.#detector.observe(m);
    if (seen === "heartbeat") this.#counts.heartbeats++;
    else if (seen === "event") this.#counts.events++;
    else if (seen === "unknown-enclave") this.#counts.unknownEnclave++;
    else this.#counts.foreign++;
  }

  #tick(): void {
    const c = this.config.canary;
    const silentFor = this.#now() - this.#lastCanaryAt;
    if (this.#detector.pipelineUp && silentFor > c.missIntervals * c.intervalMs) {
      this.#detector.setPipeline(false);
      const s = this.#sender.stats();
      this.#detector.raiseExternal(
        MONITOR_APP,
        "pipeline-stalled",
        `the monitor's own syslog message has not come back for ${Math.round(silentFor)} ms ` +
          `(sender: ${s.queued} queued, last error ${s.lastError ?? "none"}; input lag ${this.#follower.stats().lagBytes} bytes): ` +
          "heartbeat loss cannot be judged until it does",
      );
    }
    // A deadline passed without proof that the path works: ask for proof now, not at the next canary.
    const now = this.#now();
    // One in flight at a time: during an outage the queue must not fill with canaries.
    const inFlight = this.#lastCanarySentAt > this.#lastProvenSentAt;
    const sinceSent = now - this.#lastCanarySentAt;
    const due = inFlight ? sinceSent >= this.config.canary.intervalMs : sinceSent >= ON_DEMAND_CANARY_MS;
    if (this.#detector.tick() && due) this.#sendCanary();
  }

  #sendCanary(): void {
    // Whole milliseconds, rounded down: the proof may only be earlier than the send, never later.
    const sentAt = Math.floor(this.#now());
    this.#lastCanarySentAt = sentAt;
    this.#sender.send(
      encodeSyslog({
        facility: FACILITY.daemon,
        severity: 7,
        timestampMs: this.#now(),
        hostname: MONITOR_APP,
        appName: MONITOR_APP,
        procId: String(process.pid),
        msgId: "CANARY",
        sd: [
          {
            id: EZONE_SD_ID,
            params: [
              ["monitor", this.#canaryId],
              ["seq", String(this.#canarySeq++)],
              // Our own send time: the proof must not depend on rsyslog keeping TIMESTAMP.
              ["sent_ms", String(sentAt)],
            ],
          },
        ],
        msg: "",
      }),
      true,
    );
  }

  /** A host probe round: a probe that fails against the previous round is a `host-probe` violation. */
  async #probeHost(): Promise<void> {
    const p = this.#hostProbe;
    if (p.running) return;
    p.running = true;
    try {
      const snap = await probeHost({
        runTag: null,
        signal: deadline(p.abort.signal, 30_000),
        kmsgCursor: p.last ? kmsgCursorOf(p.last) : null,
      });
      const problems: string[] = [];
      const unhealthy = judgeBaseline(snap, DEFAULT_PROBE_THRESHOLDS);
      if (unhealthy) problems.push(unhealthy);
      if (p.last) {
        for (const f of compareProbes(p.last, snap, DEFAULT_PROBE_THRESHOLDS, isOopsLine))
          if (f.severity === "failed") problems.push(`${f.probe}: ${f.detail} (threshold ${f.threshold})`);
      }
      p.last = snap;
      if (problems.length > 0) this.#detector.raiseExternal("host", "host-probe", problems.join("; "));
      else
        this.#detector.clearExternal("host", "host-probe", `probes clean on ${availableParallelism()} cores`);
    } catch (e) {
      if (!this.#stopped) this.#log(`ezone monitor: host probe round failed: ${(e as Error).message}`);
    } finally {
      p.running = false;
    }
  }

  #id(v: Violation): number | null {
    return this.#ids.get(v) ?? null;
  }

  #emit(ev: MonitorEvent): void {
    for (const l of this.#listeners) l(ev);
  }

  #raised(v: Violation): void {
    this.#counts.violations++;
    let id: number | null = null;
    try {
      id = this.#store?.recordViolation({ ...v, monitor: this.config.name }) ?? null;
      if (id !== null) this.#ids.set(v, id);
    } catch (e) {
      this.#log(`ezone monitor: could not store a violation (${(e as Error).message}); announcing it anyway`);
    }
    this.#emit({ type: "raised", id, violation: v });
    void this.#dispatcher.dispatch(v).then((result) => {
      this.#persist(
        v,
        { notifiedAt: result.at, notification: result.status, notificationDetail: result.detail },
        { type: "notified", id, violation: v, result },
      );
    });
  }

  #persist(v: Violation, patch: Parameters<Store["updateViolation"]>[1], ev: MonitorEvent): void {
    const id = this.#id(v);
    try {
      if (id !== null) this.#store?.updateViolation(id, patch);
    } catch (e) {
      this.#log(`ezone monitor: could not update violation ${id}: ${(e as Error).message}`);
    }
    this.#emit(ev);
  }
}
