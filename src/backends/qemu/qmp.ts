import type { Duplex } from "node:stream";

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

const MAX_LINE = 64 * 1024;

/** Commands sent over QMP, answered in order of their ids. */
export interface QmpClient {
  /** Run a QMP command; rejects on a QMP error or when `signal` aborts. */
  execute(command: string, args: Record<string, unknown> | undefined, signal: AbortSignal): Promise<unknown>;
}

/**
 * Minimal QMP client over an already-connected stream (QEMU's `-chardev socket,fd=3`): negotiates
 * capabilities on the greeting, reports every event, and runs commands. Lines longer than 64 KiB are
 * dropped, not buffered.
 */
export function attachQmp(
  stream: Duplex,
  onEvent: (ev: QmpEvent, at: number) => void,
  onGreeting: () => void = () => {},
): QmpClient {
  let buf = "";
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE && !buf.includes("\n")) buf = "";
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ("QMP" in msg) {
        stream.write('{"execute":"qmp_capabilities"}\n');
        onGreeting();
      } else if (typeof msg.event === "string") {
        onEvent(msg as unknown as QmpEvent, performance.now());
      } else if (typeof msg.id === "number") {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        const err = msg.error as { desc?: string } | undefined;
        if (err) p?.reject(new Error(`QMP: ${err.desc ?? JSON.stringify(err)}`));
        else p?.resolve(msg.return);
      }
    }
  });
  const failAll = () => {
    for (const p of pending.values()) p.reject(new Error("QMP connection closed"));
    pending.clear();
  };
  stream.on("close", failAll);
  // QEMU closes the socket as it exits; that is not an error for us.
  stream.on("error", failAll);
  return {
    execute(command, args, signal) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          pending.delete(id);
          reject(new Error(`QMP ${command}: ${String(signal.reason)}`));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        const done = () => signal.removeEventListener("abort", onAbort);
        pending.set(id, {
          resolve: (v) => {
            done();
            resolve(v);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        });
        stream.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
      });
    },
  };
}
