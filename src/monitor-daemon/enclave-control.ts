/**
 * The control socket of a long-running enclave (`ezone enclave inject`): one JSON request line in,
 * one JSON reply line out, then the connection closes. Requests are bounded; the socket lives in the
 * enclave's directory (mode 0700), so only its owner can reach it.
 */
import { existsSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { deadline } from "../util/deadline.js";
import { UsageError } from "../util/errors.js";

/** Longest request accepted, in bytes. */
const MAX_REQUEST = 1024;

/** What the supervisor does for a request. */
export interface ControlHandlers {
  /** Ask the agent to fire a guest fault now; returns the nonce its proof will carry. */
  inject(fault: string): { nonce: string };
}

/** The one request there is. */
export type ControlRequest = { op: "inject"; fault: string };
/** The reply: the nonce of an injected fault, or why not. */
export type ControlReply = { ok: true; nonce: string } | { ok: false; error: string };

/** The listening side, for its owner to close. */
export interface ControlServer {
  /** Stop listening and remove the socket. Idempotent. */
  close(): Promise<void>;
}

/** Listen on `path` (a stale socket there is replaced). */
export async function listenControl(path: string, handlers: ControlHandlers): Promise<ControlServer> {
  rmSync(path, { force: true });
  const server = createServer((conn) => serve(conn, handlers));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve())).then(() => {
        if (existsSync(path)) rmSync(path, { force: true });
      });
      return closing;
    },
  };
}

function serve(conn: Socket, handlers: ControlHandlers): void {
  let buf = "";
  conn.setEncoding("utf8");
  conn.on("error", () => {});
  conn.on("data", (chunk: string) => {
    buf += chunk;
    const nl = buf.indexOf("\n");
    if (nl === -1 && buf.length <= MAX_REQUEST) return;
    conn.removeAllListeners("data");
    const reply =
      nl === -1 ? failure(`request longer than ${MAX_REQUEST} bytes`) : answer(buf.slice(0, nl), handlers);
    conn.end(`${JSON.stringify(reply)}\n`);
  });
}

function failure(error: string): ControlReply {
  return { ok: false, error };
}

function answer(line: string, handlers: ControlHandlers): ControlReply {
  let req: Partial<ControlRequest>;
  try {
    req = JSON.parse(line) as Partial<ControlRequest>;
  } catch {
    return failure("request is not JSON");
  }
  if (req.op !== "inject" || typeof req.fault !== "string")
    return failure('expected {"op":"inject","fault":NAME}');
  try {
    return { ok: true, ...handlers.inject(req.fault) };
  } catch (e) {
    return failure((e as Error).message);
  }
}

/** Send one request to the control socket at `path`; the reply, or a UsageError naming what failed. */
export async function sendControl(
  path: string,
  req: ControlRequest,
  timeoutMs = 10_000,
): Promise<ControlReply> {
  const signal = deadline(null, timeoutMs);
  const conn = createConnection(path);
  let text = "";
  conn.setEncoding("utf8");
  conn.on("data", (s: string) => {
    if (text.length < MAX_REQUEST * 4) text += s;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once("connect", () => conn.write(`${JSON.stringify(req)}\n`));
      conn.once("end", resolve);
      conn.once("error", (e) =>
        reject(new UsageError(`cannot reach ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`)),
      );
      signal.addEventListener(
        "abort",
        () => reject(new UsageError(`${path}: no reply within ${timeoutMs} ms`)),
        {
          once: true,
        },
      );
    });
  } finally {
    conn.destroy();
  }
  try {
    return JSON.parse(text) as ControlReply;
  } catch {
    return failure(`unreadable reply: ${JSON.stringify(text.slice(0, 200))}`);
  }
}
