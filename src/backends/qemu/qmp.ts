import type { Duplex } from "node:stream";
import { LineSplitter } from "../../util/line-splitter.js";

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

/** How a wait ended when its deadline passed (or its signal aborted) first. */
export type Deadline = "deadline";

/** How an event wait ended when QEMU closed the connection first (it exited). */
export type Closed = "closed";

const MAX_LINE = 64 * 1024;

/** Commands sent over QMP, answered in order of their ids, and the events QEMU sends. */
export interface QmpClient {
  /** Run a QMP command; rejects on a QMP error, when the connection closes, or when `signal` aborts. */
  execute(command: string, args: Record<string, unknown> | undefined, signal: AbortSignal): Promise<unknown>;
  /** Settles once QEMU has greeted and ezone has negotiated capabilities; never rejects. */
  readonly greeted: Promise<void>;
  /**
   * The first `event` from now on whose data `match` accepts; `deadline` when `signal` aborts first,
   * `closed` when the connection ends first. Register before the command that causes the event.
   */
  waitEvent(
    event: string,
    match: (data: unknown) => boolean,
    signal: AbortSignal,
  ): Promise<QmpEvent | Deadline | Closed>;
}

/**
 * The first of `waits` to settle, or `deadline` when `signal` aborts before any does (at once when it
 * already has). The abort listener goes when the race ends. Every wait of the QEMU backend goes through
 * this one race.
 */
export async function raceDeadline<T>(signal: AbortSignal, waits: Promise<T>[]): Promise<T | Deadline> {
  if (signal.aborted) return "deadline";
  let onAbort = () => {};
  const aborted = new Promise<Deadline>((resolve) => {
    onAbort = () => resolve("deadline");
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([...waits, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

interface EventWaiter {
  event: string;
  match: (data: unknown) => boolean;
  resolve: (outcome: QmpEvent | Closed) => void;
}

/** A command in flight, by id. */
interface PendingCommand {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** The client side of one QMP connection (see `attachQmp`). */
class QmpConnection implements QmpClient {
  readonly greeted: Promise<void>;
  readonly #stream: Duplex;
  readonly #onEvent: (ev: QmpEvent, at: number) => void;
  readonly #pending = new Map<number, PendingCommand>();
  readonly #waiters = new Set<EventWaiter>();
  #greet = () => {};
  #nextId = 1;
  #closed = false;

  constructor(stream: Duplex, onEvent: (ev: QmpEvent, at: number) => void) {
    this.#stream = stream;
    this.#onEvent = onEvent;
    this.greeted = new Promise<void>((resolve) => {
      this.#greet = resolve;
    });
    const splitter = new LineSplitter(MAX_LINE);
    stream.on("data", (chunk: Buffer) => {
      const at = performance.now();
      splitter.push(chunk, (line) => {
        const msg = parseObject(line.toString("utf8"));
        if (msg) this.#message(msg, at);
      });
    });
    stream.on("close", () => this.#close());
    // QEMU closes the socket as it exits; that is not an error for us.
    stream.on("error", () => this.#close());
  }

  execute(command: string, args: Record<string, unknown> | undefined, signal: AbortSignal): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(id);
        reject(new Error(`QMP ${command}: ${String(signal.reason)}`));
      };
      if (signal.aborted) return onAbort();
      if (this.#closed) return reject(new Error(`QMP ${command}: connection closed`));
      signal.addEventListener("abort", onAbort, { once: true });
      const settled = <T>(settle: (v: T) => void) => {
        return (v: T) => {
          signal.removeEventListener("abort", onAbort);
          settle(v);
        };
      };
      this.#pending.set(id, { resolve: settled(resolve), reject: settled(reject) });
      const request = { execute: command, ...(args ? { arguments: args } : {}), id };
      this.#stream.write(`${JSON.stringify(request)}\n`);
    });
  }

  async waitEvent(
    event: string,
    match: (data: unknown) => boolean,
    signal: AbortSignal,
  ): Promise<QmpEvent | Deadline | Closed> {
    if (this.#closed) return "closed";
    let waiter: EventWaiter | undefined;
    const seen = new Promise<QmpEvent | Closed>((resolve) => {
      waiter = { event, match, resolve };
      this.#waiters.add(waiter);
    });
    try {
      return await raceDeadline(signal, [seen]);
    } finally {
      if (waiter) this.#waiters.delete(waiter);
    }
  }

  #message(msg: Record<string, unknown>, at: number): void {
    if ("QMP" in msg) {
      this.#stream.write('{"execute":"qmp_capabilities"}\n');
      this.#greet();
    } else if (typeof msg.event === "string") {
      const ev = msg as unknown as QmpEvent;
      this.#onEvent(ev, at);
      for (const w of this.#waiters) if (w.event === ev.event && w.match(ev.data)) w.resolve(ev);
    } else if (typeof msg.id === "number") {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      const err = msg.error as { desc?: string } | undefined;
      if (err) p?.reject(new Error(`QMP: ${err.desc ?? JSON.stringify(err)}`));
      else p?.resolve(msg.return);
    }
  }

  #close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.reject(new Error("QMP connection closed"));
    this.#pending.clear();
    for (const w of this.#waiters) w.resolve("closed");
  }
}

/**
 * Minimal QMP client over an already-connected stream (QEMU's `-chardev socket,fd=3`): negotiates
 * capabilities on the greeting, reports every event to `onEvent`, runs commands and waits for events.
 * Lines longer than 64 KiB are dropped, not buffered.
 */
export function attachQmp(stream: Duplex, onEvent: (ev: QmpEvent, at: number) => void): QmpClient {
  return new QmpConnection(stream, onEvent);
}

/** A JSON object, or null for anything else (QEMU only sends objects; a torn line is skipped). */
function parseObject(line: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
