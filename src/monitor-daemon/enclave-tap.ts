/**
 * The host end of one enclave's syslog channel. It reads the agent's RFC 5424 lines from the second
 * channel (a UNIX socket QEMU connects the guest's ttyS1 to, or a pipe of a process enclave), checks
 * each strictly, rewrites it so it cannot lie about who sent it (HOSTNAME = the enclave's name,
 * APP-NAME `ezone-agent`, a known MSGID, the host's receive time), and forwards it to the host's
 * syslog. It also watches the enclave's console and exit, and reports on the enclave's behalf what the
 * agent cannot: a kernel oops, a panic, the VMM's exit.
 *
 * Hostile input is bounded: lines longer than `maxLineBytes` are dropped, guest messages beyond a rate
 * are dropped (heartbeats and the rest in separate buckets), and every drop is counted by reason.
 */
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { Readable } from "node:stream";
import type { EnclaveEvent } from "../backends/backend.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { ConsoleParser } from "../monitor/console-parser.js";
import { LineSplitter } from "../util/line-splitter.js";
import {
  AGENT_APP,
  AGENT_MSGIDS,
  ENCLAVE_NAME,
  HOST_APP,
  HOST_MSGIDS,
  type HostMsgId,
  wallNow,
} from "./protocol.js";
import {
  EZONE_SD_ID,
  encodeSyslog,
  FACILITY,
  formatTimestamp,
  parseSyslog,
  type SdElement,
} from "./rfc5424.js";
import type { SyslogSender } from "./syslog-sender.js";
import { TokenBucket } from "./token-bucket.js";

/**
 * How long the exit report waits for the agent's channel to end. The enclave's exit and the last bytes on
 * its channel arrive on different descriptors in no fixed order: the report waits until the channel has
 * been read to its end (the VMM or agent holding it is gone), so the heartbeats sent before the end come
 * first, but never longer than this if something else still holds the channel open.
 */
const EXIT_DRAIN_MS = 500;

/** Parameters of the agent's `ezone@32473` element that are passed on (anything else is dropped). */
const AGENT_PARAMS = new Set(["uptime_ms", "dropped"]);

export interface EnclaveTapOptions {
  /** The enclave's name: HOSTNAME of everything forwarded. */
  name: string;
  sender: SyslogSender;
  /** Longest guest line accepted; default 2048 (RFC 5424's minimum a receiver must take). */
  maxLineBytes?: number;
  /** Guest heartbeats per second passed on (burst twice that); default 100 (the agent's 10 ms floor). */
  heartbeatsPerSecond?: number;
  /** Other guest messages per second passed on (burst twice that); default 20. */
  messagesPerSecond?: number;
  now?: () => number;
}

export type TapDropReason = "oversized" | "malformed" | "unknown-msgid" | "rate-limit";

export interface TapStats {
  name: string;
  connections: number;
  forwarded: number;
  /** OOPS, PANIC and EXIT messages the host sent on the enclave's behalf. */
  hostReports: number;
  dropped: Partial<Record<TapDropReason, number>>;
  /** Reasons of the last few malformed lines, for a report. */
  lastMalformed: string | null;
}

export class EnclaveTap {
  readonly name: string;
  readonly #sender: SyslogSender;
  readonly #maxLineBytes: number;
  readonly #now: () => number;
  readonly #hbBucket: TokenBucket;
  readonly #msgBucket: TokenBucket;
  readonly #console = new ConsoleParser();
  readonly #streams = new Set<Readable>();
  #server: Server | null = null;
  #socketPath: string | null = null;
  #reported = { oops: false, panic: false, exit: false };
  /** The exit report waiting for the channel's end, and its settling. */
  #pendingExit: { report: () => void; settled: Promise<void> } | null = null;
  readonly #stats: TapStats;

  constructor(opts: EnclaveTapOptions) {
    if (!ENCLAVE_NAME.test(opts.name))
      throw new RangeError(`enclave name ${JSON.stringify(opts.name)}: expected ${ENCLAVE_NAME}`);
    this.name = opts.name;
    this.#sender = opts.sender;
    this.#maxLineBytes = opts.maxLineBytes ?? 2048;
    this.#now = opts.now ?? wallNow;
    const hb = opts.heartbeatsPerSecond ?? 100;
    const other = opts.messagesPerSecond ?? 20;
    this.#hbBucket = new TokenBucket(hb, hb * 2, this.#now);
    this.#msgBucket = new TokenBucket(other, other * 2, this.#now);
    this.#stats = {
      name: opts.name,
      connections: 0,
      forwarded: 0,
      hostReports: 0,
      dropped: {},
      lastMalformed: null,
    };
  }

  /**
   * Listen on a UNIX stream socket at `path` for the enclave's channel (QEMU's `-chardev socket`
   * connects to it, and reconnects after a restart of the listener). A stale socket file is replaced.
   */
  static async listen(path: string, opts: EnclaveTapOptions): Promise<EnclaveTap> {
    const tap = new EnclaveTap(opts);
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
    const server = createServer((conn: Socket) => tap.attach(conn));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    tap.#server = server;
    tap.#socketPath = path;
    return tap;
  }

  /** Read the agent's messages from a stream (a connection, or a process enclave's pipe). */
  attach(stream: Readable): void {
    this.#stats.connections++;
    this.#streams.add(stream);
    const splitter = new LineSplitter(this.#maxLineBytes);
    let oversized = 0;
    stream.on("data", (chunk: Buffer) => {
      splitter.push(chunk, (line) => this.#guestLine(line));
      if (splitter.oversized > oversized) {
        this.#drop("oversized", splitter.oversized - oversized);
        oversized = splitter.oversized;
      }
    });
    stream.on("error", () => {});
    stream.on("close", () => {
      this.#streams.delete(stream);
      if (this.#streams.size === 0) this.#pendingExit?.report();
    });
  }

  /** The enclave's console and exit events (chain it into the backend's sink). */
  readonly consoleSink = (ev: EnclaveEvent): void => {
    if (ev.type === "console") {
      const { crash } = this.#console.push(ev.data, ev.at);
      if (!crash) return;
      if (!this.#reported.oops) {
        this.#reported.oops = true;
        this.#hostReport("OOPS", `guest kernel: ${crash.title}`, [
          ["class", crash.crashClass],
          ["title", crash.title],
        ]);
      }
      if (crash.panic && !this.#reported.panic) {
        this.#reported.panic = true;
        this.#hostReport("PANIC", `guest kernel panic: ${crash.panicReason ?? crash.title}`, [
          ["class", crash.crashClass],
          ["title", crash.title],
        ]);
      }
    } else if (ev.type === "exit") {
      this.reportExit(ev.exit);
    }
  };

  /**
   * Report that the enclave's process ended (once), after what its channel still held (see
   * EXIT_DRAIN_MS); `exitReported` settles when it has been sent.
   */
  reportExit(exit: EnclaveExit): void {
    if (this.#reported.exit) return;
    this.#reported.exit = true;
    const how =
      exit.kind === "exited"
        ? `exit code ${exit.code}`
        : exit.kind === "signaled"
          ? `signal ${exit.signal}`
          : exit.kind === "failed-to-start"
            ? `failed to start: ${exit.message}`
            : "running";
    const send = () => this.#hostReport("EXIT", `enclave ended: ${how}`, [["how", how]]);
    if (this.#streams.size === 0) send();
    else this.#pendingExit = this.#waitForChannelEnd(send);
  }

  /** `send` once the channel has ended (the last stream closed) or EXIT_DRAIN_MS passed. */
  #waitForChannelEnd(send: () => void): { report: () => void; settled: Promise<void> } {
    let done: () => void = () => {};
    const settled = new Promise<void>((resolve) => {
      done = resolve;
    });
    const timer = setTimeout(() => pending.report(), EXIT_DRAIN_MS);
    const pending = {
      settled,
      report: () => {
        if (this.#pendingExit !== pending) return;
        this.#pendingExit = null;
        clearTimeout(timer);
        send();
        done();
      },
    };
    return pending;
  }

  /** Settles once an exit report waiting for the channel's end has been sent (at once if none waits). */
  exitReported(): Promise<void> {
    return this.#pendingExit?.settled ?? Promise.resolve();
  }

  stats(): TapStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Stop listening and reading (an exit report still waiting is sent first); removes the socket file. Idempotent. */
  async close(): Promise<void> {
    this.#pendingExit?.report();
    for (const s of this.#streams) s.destroy();
    this.#streams.clear();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.#socketPath && existsSync(this.#socketPath)) unlinkSync(this.#socketPath);
    this.#socketPath = null;
  }

  #drop(reason: TapDropReason, n = 1): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + n;
  }

  #guestLine(line: Buffer): void {
    const parsed = parseSyslog(line, this.#maxLineBytes);
    if (!parsed.ok) {
      this.#drop("malformed");
      this.#stats.lastMalformed = `${parsed.reason}: ${parsed.detail}`;
      return;
    }
    const m = parsed.message;
    const severity = m.msgId === null ? undefined : AGENT_MSGIDS[m.msgId];
    if (severity === undefined || m.msgId === null) {
      this.#drop("unknown-msgid");
      return;
    }
    const heartbeat = m.msgId === "HB";
    if (!(heartbeat ? this.#hbBucket : this.#msgBucket).take()) {
      this.#drop("rate-limit");
      return;
    }
    const params = (m.sd.find((e) => e.id === EZONE_SD_ID)?.params ?? []).filter(
      ([n, v]) => AGENT_PARAMS.has(n) && /^\d{1,20}$/.test(v),
    );
    if (m.timestampMs !== null) params.push(["guest_ts", formatTimestamp(m.timestampMs)]);
    this.#forward(
      {
        facility: FACILITY.daemon,
        severity,
        timestampMs: this.#now(),
        hostname: this.name,
        appName: AGENT_APP,
        procId: m.procId,
        msgId: m.msgId,
        sd: [{ id: EZONE_SD_ID, params }],
        msg: m.msg,
      },
      heartbeat,
    );
  }

  #hostReport(msgId: HostMsgId, text: string, params: SdElement["params"]): void {
    this.#stats.hostReports++;
    this.#forward(
      {
        facility: FACILITY.daemon,
        severity: HOST_MSGIDS[msgId],
        timestampMs: this.#now(),
        hostname: this.name,
        appName: HOST_APP,
        procId: String(process.pid),
        msgId,
        sd: [{ id: EZONE_SD_ID, params: params.map(([n, v]) => [n, v.slice(0, 200)]) }],
        msg: text,
      },
      false,
    );
  }

  #forward(m: Parameters<typeof encodeSyslog>[0], sheddable: boolean): void {
    this.#sender.send(encodeSyslog(m), sheddable);
    this.#stats.forwarded++;
  }
}
