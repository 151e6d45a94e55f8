/**
 * A burst of syslog datagrams from a host the monitor does not watch, straight into the daemon's
 * socket, at a target rate: the load half of the monitor's burst tests and soak. Datagrams the daemon
 * refuses (its socket queue full) are counted, not retried: that is what a flooding program does.
 */
import { createRequire } from "node:module";

const unix = createRequire(import.meta.url)("unix-dgram") as {
  createSocket(t: "unix_dgram"): {
    send(b: Buffer, o: number, l: number, p: string, cb: (e?: Error) => void): void;
    close(): void;
  };
};

export async function flood(
  socket: string,
  opts: { perSecond: number; durationMs: number; hostname?: string },
): Promise<{ sent: number; refused: number }> {
  const s = unix.createSocket("unix_dgram");
  const msg = Buffer.from(`<30>1 - ${opts.hostname ?? "flood"} ezone-agent 1 HB - ${"x".repeat(120)}`);
  let sent = 0;
  let refused = 0;
  const end = Date.now() + opts.durationMs;
  try {
    // 100 slices a second, each sending its share and then yielding until the slice is over.
    while (Date.now() < end) {
      const sliceEnd = Date.now() + 10;
      for (let i = 0; i < opts.perSecond / 100; i++, sent++)
        s.send(msg, 0, msg.length, socket, (e) => void (e && refused++));
      await new Promise((r) => setTimeout(r, Math.max(0, sliceEnd - Date.now())));
    }
  } finally {
    s.close();
  }
  return { sent, refused };
}
