/**
 * A stored console log made fit for a terminal: bounded (head and tail kept around a marker, as the
 * store caps consoles) and with every control character, ANSI escape and invalid byte made visible.
 * Pure.
 */
import { capBuffer } from "../util/console-cap.js";
import { decodeUtf8Visible, escapeControl } from "../util/escape.js";

/** `log` as printable text of at most about `maxBytes` bytes (before escaping), ending with a newline. */
export function boundedConsole(log: Buffer, maxBytes: number): string {
  const text = escapeControl(decodeUtf8Visible(capBuffer(log, maxBytes)));
  return text.endsWith("\n") || text === "" ? text : `${text}\n`;
}
