/**
 * Sends encoded syslog messages to the host's syslog daemon: a UNIX datagram socket (`/dev/log`, or
 * rsyslog's imuxsock socket) or UDP on the loopback. Survives the daemon's restart: while the socket
 * is missing or refuses, messages wait in a bounded queue and are retried with backoff, in order.
 *
 * The queue is bounded in messages and bytes. When it is full the oldest *sheddable* message
 * (a heartbeat: the next one says the same) is dropped first; only when none is left does the oldest
 * message of any kind go. Every drop is counted by reason.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createRequire } from "node:module";

/** Where messages go. UDP is fire-and-forget: while the daemon is down its datagrams are lost. */
export type SyslogTarget = { kind: "unix"; path: string } | { kind: "udp"; host: string; port: number };

/** The part of the `unix-dgram` package ezone uses (a native addon: Node has no AF_UNIX datagrams). */
interface UnixDgramSocket {
  send(
    buf: Buffer,
    offset: number,
    length: number,
    path: string,
    cb: (err?: Error & { code?: number }) => void,
  ): void;
  on(event: "error", fn: (err: Error) => void): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)("unix-dgram") as {
  createSocket(type: "unix_dgram"): UnixDgramSocket;
};

/** A drop counter key: why a message did not reach the daemon. */
export type SendDropReason = "queue-full" | "too-large" | "closed" | "send-error";

export interface SenderStats {
  sent: number;
  queued: number;
  queuedBytes: number;
  dropped: Partial<Record<SendDropReason, number>>;
  /** Errors that made the sender wait and retry, by errno name. */
  retries: Record<string, number>;
  lastError: string | null;
}

export interface SenderOptions {
  /** Most messages waiting; default 10 000. */
  maxQueue?: number;
  /** Most bytes waiting; default 8 MiB. */
  maxQueueBytes?: number;
  /** First retry delay while the daemon is missing; doubles up to `maxRetryMs`. Defaults 20 and 250 ms. */
  retryMs?: number;
  maxRetryMs?: number;
}

/** A FIFO with O(1) push and shift, compacted as it drains. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    const item = this.#items[this.#head];
    if (item === undefined) return undefined;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

interface Queued {
  seq: number;
  data: Buffer;
}

/** errno numbers unix-dgram reports (negated) that mean "the daemon is not there right now". */
const TRANSIENT: Record<number, string> = { 2: "ENOENT", 111: "ECONNREFUSED", 11: "EAGAIN", 105: "ENOBUFS" };
const EMSGSIZE = 90;
const CONGESTION_RETRY_MS = 2;

export class SyslogSender {
  readonly target: SyslogTarget;
  readonly #maxQueue: number;
  readonly #maxBytes: number;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  /** Two queues merged by sequence number, so order survives while heartbeats can be shed first. */
  readonly #keep = new Fifo<Queued>();
  readonly #shed = new Fifo<Queued>();
  #seq = 0;
  #bytes = 0;
  #backoff = 0;
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  #closed = false;
  #unix: UnixDgramSocket | null = null;
  #udp: UdpSocket | null = null;
  #drainWaiters: (() => void)[] = [];
  readonly #stats: SenderStats = {
    sent: 0,
    queued: 0,
    queuedBytes: 0,
    dropped: {},
    retries: {},
    lastError: null,
  };

  constructor(target: SyslogTarget, opts: SenderOptions = {}) {
    this.target = target;
    this.#maxQueue = opts.maxQueue ?? 10_000;
    this.#maxBytes = opts.maxQueueBytes ?? 8 * 1024 * 1024;
    this.#retryMs = opts.retryMs ?? 20;
    this.#maxRetryMs = opts.maxRetryMs ?? 250;
  }

  /** Queue one encoded message; `sheddable` ones (heartbeats) are dropped first when the queue is full. */
  send(data: Buffer, sheddable = false): void {
    if (this.#closed) {
      this.#drop("closed");
      return;
    }
    (sheddable ? this.#shed : this.#keep).push({ seq: this.#seq++, data });
    this.#bytes += data.length;
    while (this.#keep.length + this.#shed.length > this.#maxQueue || this.#bytes > this.#maxBytes) {
      const victim = this.#shed.shift() ?? this.#keep.shift();
      if (!victim) break;
      this.#bytes -= victim.data.length;
      this.#drop("queue-full");
    }
    if (!this.#timer) this.#pump();
  }

  /** Counters and the current queue, for reports. */
  stats(): SenderStats {
    return {
      ...this.#stats,
      dropped: { ...this.#stats.dropped },
      retries: { ...this.#stats.retries },
      queued: this.#keep.length + this.#shed.length,
      queuedBytes: this.#bytes,
    };
  }

  /** Resolves when the queue is empty, or false at the deadline. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.#keep.length + this.#shed.length === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stop sending; what is still queued is dropped (counted as `closed`). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (let m = this.#next(); m; m = this.#next()) this.#drop("closed");
    this.#bytes = 0;
    this.#unix?.close();
    this.#udp?.close();
    this.#unix = null;
    this.#udp = null;
  }

  #drop(reason: SendDropReason): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + 1;
  }

  #peek(): Queued | undefined {
    const a = this.#keep.peek();
    const b = this.#shed.peek();
    if (!a) return b;
    if (!b) return a;
    return a.seq < b.seq ? a : b;
  }

  #next(): Queued | undefined {
    const head = this.#peek();
    if (!head) return undefined;
    return head === this.#keep.peek() ? this.#keep.shift() : this.#shed.shift();
  }

  #wait(why: string): void {
    this.#stats.retries[why] = (this.#stats.retries[why] ?? 0) + 1;
    this.#stats.lastError = why;
    // A full socket queue (EAGAIN) drains in milliseconds: retry soon. A missing daemon backs off.
    if (why === "EAGAIN") this.#backoff = CONGESTION_RETRY_MS;
    else this.#backoff = this.#backoff === 0 ? this.#retryMs : Math.min(this.#maxRetryMs, this.#backoff * 2);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#pump();
    }, this.#backoff);
  }

  /** Send queued messages in order until the queue is empty or the daemon is not taking them. */
  #pump(): void {
    if (this.#busy || this.#closed) return;
    this.#busy = true;
    try {
      for (let head = this.#peek(); head; head = this.#peek()) {
        const result = this.#target(head.data);
        if (result === "retry") return;
        this.#next();
        this.#bytes -= head.data.length;
        if (result === "sent") this.#stats.sent++;
        else this.#drop(result);
        this.#backoff = 0;
      }
      for (const w of this.#drainWaiters.splice(0)) w();
    } finally {
      this.#busy = false;
    }
  }

  /** One attempt; unix-dgram reports synchronously, UDP is handed to the kernel and counted sent. */
  #target(data: Buffer): "sent" | "retry" | SendDropReason {
    if (this.target.kind === "udp") {
      this.#udp ??= this.#openUdp();
      this.#udp.send(data, this.target.port, this.target.host, (err) => {
        if (err) {
          this.#stats.lastError = err.message;
          this.#drop("send-error");
        }
      });
      return "sent";
    }
    this.#unix ??= this.#openUnix();
    let outcome: "sent" | "retry" | SendDropReason = "sent";
    this.#unix.send(data, 0, data.length, this.target.path, (err) => {
      if (!err) return;
      // unix-dgram reports EAGAIN (the daemon's queue is full) as code 1, "congestion".
      const errno = err.code === 1 ? 11 : -(err.code ?? 0);
      const transient = TRANSIENT[errno];
      if (transient) {
        this.#wait(transient);
        outcome = "retry";
      } else if (errno === EMSGSIZE) {
        outcome = "too-large";
      } else {
        this.#stats.lastError = `errno ${errno}`;
        this.#wait(`errno-${errno}`);
        outcome = "retry";
      }
    });
    return outcome;
  }

  #openUnix(): UnixDgramSocket {
    const s = unixDgram.createSocket("unix_dgram");
    s.on("error", (e) => {
      this.#stats.lastError = e.message;
    });
    return s;
  }

  #openUdp(): UdpSocket {
    const s = createSocket(this.target.kind === "udp" && this.target.host.includes(":") ? "udp6" : "udp4");
    s.on("error", (e) => {
      this.#stats.lastError = e.message;
    });
    s.unref();
    return s;
  }
}
