import type { Duplex } from "node:stream";

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  event: string;
  data?: unknown;
  timestamp?: { seconds: number; microseconds: number };
}

const MAX_LINE = 64 * 1024;

/**
 * Minimal QMP client over an already-connected stream (QEMU's `-chardev socket,fd=3`): negotiates
 * capabilities on the greeting and reports every event. Lines longer than 64 KiB are dropped, not buffered.
 */
export function attachQmp(
  stream: Duplex,
  onEvent: (ev: QmpEvent, at: number) => void,
  onGreeting: () => void = () => {},
): void {
  let buf = "";
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
      } else if (typeof msg.event === "string") onEvent(msg as unknown as QmpEvent, performance.now());
    }
  });
  // QEMU closes the socket as it exits; that is not an error for us.
  stream.on("error", () => {});
}
