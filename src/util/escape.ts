/**
 * Escaping for untrusted guest text (console lines, agent messages) before it reaches a terminal or HTML,
 * and quoting of a word for a POSIX shell command line. Pure functions, no I/O.
 */
import { Buffer, isUtf8 } from "node:buffer";

/**
 * Characters a terminal would act on or hide: C0 controls except tab and newline, DEL, C1 controls,
 * bidi/line-separator/BOM format characters (they reorder or hide text, "trojan source"), and
 * surrogate halves that have no partner (what invalid UTF-16 looks like in a JS string).
 */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the purpose here
  /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function visible(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * Make every control character, ANSI escape (its ESC byte), lone surrogate and bidi override visible as
 * `\xNN` or `\u{...}`, so guest output printed on a terminal cannot move the cursor, recolour, hide or
 * reorder text. Tab and newline are kept: harmless, and common in real text. Backslashes are not doubled:
 * the result is for people to read, not to be parsed back.
 */
export function escapeControl(text: string): string {
  return text.replace(UNSAFE, visible);
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape the five characters that matter in HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ENTITIES[char] ?? char);
}

/** Length of the well-formed UTF-8 sequence starting at `i`, or 0 if the byte there starts none. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i] ?? 0;
  if (lead < 0x80) return 1;
  // Second-byte bounds exclude overlong forms, UTF-16 surrogates and code points above U+10FFFF.
  let length: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return 0;
  if (i + length > bytes.length) return 0;
  const second = bytes[i + 1] ?? 0;
  if (second < low || second > high) return 0;
  for (let k = 2; k < length; k++) {
    const next = bytes[i + k] ?? 0;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return length;
}

/**
 * Decode UTF-8, turning each byte that is not part of a well-formed sequence into the text `\xNN`
 * (rather than U+FFFD, which would lose the byte's value). Control characters are left as they are.
 */
export function decodeUtf8Visible(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buffer)) return buffer.toString("utf8");
  let out = "";
  let spanStart = 0;
  let i = 0;
  while (i < buffer.length) {
    const length = utf8SequenceLength(buffer, i);
    if (length > 0) {
      i += length;
      continue;
    }
    out += buffer.toString("utf8", spanStart, i) + visible(String.fromCharCode(buffer[i] ?? 0));
    i += 1;
    spanStart = i;
  }
  return out + buffer.toString("utf8", spanStart, i);
}

/** `s` as one word of a POSIX shell command line (single quotes; a quote inside becomes '\''). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}
