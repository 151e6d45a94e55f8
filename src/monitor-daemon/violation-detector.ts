/**
 * Turns the messages rsyslog delivered into violations, per enclave. Pure apart from the injected
 * clock: no I/O, no timers (the monitor calls `tick()`).
 *
 * An enclave has at most one open incident. The first sign of trouble raises a violation (an oops, a
 * panic, the VMM's exit, or no heartbeat for more than `missIntervals` intervals); later signs of the
 * same incident (the panic after the oops, the exit after the panic, the silence after the exit) only
 * add evidence to it, so one crash is one violation. An incident closes when the agent starts again
 * (READY) or, for a heartbeat-only incident, when heartbeats resume.
 *
 * Silence is judged only with proof that the path works. The monitor sends its own canary through the
 * same sender and syslog daemon as the taps' messages, in order; a heartbeat is missing only when a
 * canary *sent after the heartbeat's deadline* has come back (`proveDelivery`): then every heartbeat
 * sent before the deadline would have arrived first. A congested or restarted syslog daemon delays
 * judgement instead of raising false alarms, and an enclave that died meanwhile is reported as soon as
 * the proof arrives. `tick()` says when it waits for such proof, so the monitor sends a canary at once.
 */
import type { ViolationRecord } from "../store/store.js";
import { AGENT_APP, HOST_APP, type HostMsgId, wallNow } from "./protocol.js";
import type { SyslogMessage } from "./rfc5424.js";

/** Kinds of violation, sorted. */
export const VIOLATION_KINDS = [
  "enclave-exit",
  "guest-oops",
  "guest-panic",
  "heartbeat-missing",
  "host-probe",
  "pipeline-stalled",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

const KIND_OF: Record<HostMsgId, ViolationKind> = {
  OOPS: "guest-oops",
  PANIC: "guest-panic",
  EXIT: "enclave-exit",
};

/** Most evidence lines kept per violation. */
const MAX_EVIDENCE = 20;
/** Recent agent messages (FIRED, ERROR...) remembered per enclave as context for a violation. */
const MAX_RECENT = 4;

/** One violation as the detector raises it (the store adds the monitor's name). */
export interface Violation extends Omit<ViolationRecord, "monitor" | "kind"> {
  kind: ViolationKind;
}

/** What to watch for one enclave. */
export interface EnclaveWatch {
  name: string;
  heartbeatMs: number;
  /** Heartbeat loss = no heartbeat for more than this many intervals. */
  missIntervals: number;
  /** Allowance before the first heartbeat (boot time). */
  bootGraceMs: number;
}

export interface DetectorEvents {
  /** A new incident. */
  raised(v: Violation): void;
  /** More evidence for an open incident (the same object, already updated). */
  updated(v: Violation, line: string): void;
  /** The incident is over. */
  closed(v: Violation, why: string, at: number): void;
}

/** What the detector did with a message, for the monitor's counters. */
export type Observation = "heartbeat" | "event" | "unknown-enclave" | "foreign";

interface EnclaveState {
  watch: EnclaveWatch;
  /** When it began to be watched: its boot grace counts from here. */
  since: number;
  heartbeatMs: number;
  heartbeats: number;
  lastHbAt: number | null;
  open: Violation | null;
  recent: string[];
}

export interface EnclaveHealth {
  name: string;
  heartbeats: number;
  heartbeatMs: number;
  lastHeartbeatAt: number | null;
  open: ViolationKind | null;
}

export class ViolationDetector {
  readonly #enclaves = new Map<string, EnclaveState>();
  readonly #external = new Map<string, Violation>();
  readonly #events: DetectorEvents;
  readonly #now: () => number;
  /** Send time of the newest canary that came back: everything sent before it has been delivered. */
  #provenUntil = Number.NEGATIVE_INFINITY;
  #pipelineUp = true;

  constructor(watches: EnclaveWatch[], events: DetectorEvents, now: () => number = wallNow) {
    this.#events = events;
    this.#now = now;
    for (const w of watches) this.watch(w);
  }

  /** Watch one more enclave from now on (its boot grace starts now). */
  watch(w: EnclaveWatch): void {
    if (this.#enclaves.has(w.name)) throw new RangeError(`enclave ${w.name} is watched twice`);
    this.#enclaves.set(w.name, {
      watch: w,
      since: this.#now(),
      heartbeatMs: w.heartbeatMs,
      heartbeats: 0,
      lastHbAt: null,
      open: null,
      recent: [],
    });
  }

  /** Feed one message, in the order rsyslog wrote it. */
  observe(m: SyslogMessage): Observation {
    const e = m.hostname === null ? undefined : this.#enclaves.get(m.hostname);
    if (!e) return m.appName === AGENT_APP || m.appName === HOST_APP ? "unknown-enclave" : "foreign";
    const now = this.#now();
    const at = m.timestampMs ?? now;
    if (m.appName === HOST_APP && m.msgId !== null && m.msgId in KIND_OF) {
      const kind = KIND_OF[m.msgId as HostMsgId];
      this.#signal(e, kind, `${m.msgId}: ${m.msg}`, at, now);
      return "event";
    }
    if (m.appName !== AGENT_APP) return "foreign";
    if (m.msgId === "HB" || m.msgId === "READY") {
      if (m.msgId === "READY") {
        const hb = /\bhb=(\d{1,6})\b/.exec(m.msg);
        if (hb) e.heartbeatMs = Number(hb[1]);
        if (e.open) this.#close(e, "the agent started again (READY)", now);
      } else if (e.open?.kind === "heartbeat-missing") {
        this.#close(e, "heartbeats resumed", now);
      }
      e.heartbeats++;
      // The tap's timestamp is when the heartbeat reached the host, whatever the pipeline's lag since;
      // one from the future (another host's clock) is not believed.
      e.lastHbAt = Math.min(at, now);
      return "heartbeat";
    }
    const line = `${m.msgId ?? "-"}: ${m.msg}`.slice(0, 300);
    e.recent.push(line);
    if (e.recent.length > MAX_RECENT) e.recent.shift();
    if (e.open) {
      this.#addEvidence(e.open, line);
      this.#events.updated(e.open, line);
    }
    return "event";
  }

  /**
   * Check heartbeat deadlines; call often (a fraction of the shortest interval). Returns true when a
   * deadline has passed but no canary sent after it has come back yet: the caller should send one.
   */
  tick(): boolean {
    const now = this.#now();
    let waiting = false;
    for (const e of this.#enclaves.values()) {
      if (e.open) continue;
      const deadline = this.#deadline(e);
      if (now <= deadline) continue;
      if (this.#provenUntil < deadline) {
        waiting = true;
        continue;
      }
      const silentFor = Math.round(now - (e.lastHbAt ?? e.since));
      this.#raise(
        e,
        "heartbeat-missing",
        e.lastHbAt === null
          ? `no heartbeat since the monitor started watching it ${silentFor} ms ago`
          : `no heartbeat for ${silentFor} ms (> ${e.watch.missIntervals} x ${e.heartbeatMs} ms)`,
        null,
        now,
      );
    }
    return waiting;
  }

  /** A canary sent at `sentAt` came back: everything sent before it has been delivered. */
  proveDelivery(sentAt: number): void {
    if (sentAt > this.#provenUntil) this.#provenUntil = sentAt;
  }

  /** Whether the syslog path is known to work (for reports; judgement uses `proveDelivery`). */
  setPipeline(up: boolean): void {
    this.#pipelineUp = up;
  }

  get pipelineUp(): boolean {
    return this.#pipelineUp;
  }

  /**
   * A violation not tied to a watched enclave's messages (the host's probes, the pipeline). One open
   * incident per (subject, kind): repeats only add evidence until `clearExternal`.
   */
  raiseExternal(subject: string, kind: ViolationKind, detail: string): Violation {
    const key = `${subject}\0${kind}`;
    const open = this.#external.get(key);
    if (open) {
      this.#addEvidence(open, detail);
      this.#events.updated(open, detail);
      return open;
    }
    const now = this.#now();
    const v: Violation = {
      enclave: subject,
      kind,
      detail,
      lastHeartbeatAt: null,
      firstMissedHeartbeatAt: null,
      sourceAt: null,
      detectedAt: now,
      evidence: [detail],
    };
    this.#external.set(key, v);
    this.#events.raised(v);
    return v;
  }

  clearExternal(subject: string, kind: ViolationKind, why: string): void {
    const key = `${subject}\0${kind}`;
    const open = this.#external.get(key);
    if (!open) return;
    this.#external.delete(key);
    this.#events.closed(open, why, this.#now());
  }

  /** Per-enclave health, for reports. */
  health(): EnclaveHealth[] {
    return [...this.#enclaves.values()].map((e) => ({
      name: e.watch.name,
      heartbeats: e.heartbeats,
      heartbeatMs: e.heartbeatMs,
      lastHeartbeatAt: e.lastHbAt,
      open: e.open?.kind ?? null,
    }));
  }

  #signal(e: EnclaveState, kind: ViolationKind, line: string, at: number, now: number): void {
    if (e.open) {
      this.#addEvidence(e.open, line);
      this.#events.updated(e.open, line);
      return;
    }
    this.#raise(e, kind, line, at, now);
  }

  /** When an enclave's silence becomes a violation. */
  #deadline(e: EnclaveState): number {
    return e.lastHbAt === null
      ? e.since + e.watch.bootGraceMs
      : e.lastHbAt + e.watch.missIntervals * e.heartbeatMs;
  }

  #raise(e: EnclaveState, kind: ViolationKind, detail: string, sourceAt: number | null, now: number): void {
    const v: Violation = {
      enclave: e.watch.name,
      kind,
      detail,
      lastHeartbeatAt: e.lastHbAt,
      firstMissedHeartbeatAt: e.lastHbAt === null ? null : e.lastHbAt + e.heartbeatMs,
      sourceAt,
      detectedAt: now,
      evidence: [...e.recent, detail],
    };
    e.open = v;
    this.#events.raised(v);
  }

  #close(e: EnclaveState, why: string, now: number): void {
    const v = e.open;
    if (!v) return;
    e.open = null;
    e.recent = [];
    this.#events.closed(v, why, now);
  }

  #addEvidence(v: Violation, line: string): void {
    if (v.evidence.length < MAX_EVIDENCE) v.evidence.push(line);
    else v.evidence[MAX_EVIDENCE - 1] = `[...] ${line}`;
  }
}
