/**
 * RFC 5424 syslog messages: a strict, bounded parser for what arrives from guests and from rsyslog's
 * output, and an encoder for what ezone sends. Pure functions, no I/O.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]
 *
 * The parser never throws: a message is either accepted (header fields checked against the RFC's
 * character sets and lengths, structured data unescaped, MSG decoded with invalid bytes and control
 * characters made visible) or rejected with one of `REJECT_REASONS`, which callers count. Messages are
 * bytes: the header is US-ASCII, SD values and MSG are UTF-8 (a BOM before MSG is dropped).
 */
import { Buffer } from "node:buffer";
import { decodeUtf8Visible, escapeControl } from "../util/escape.js";

/** Severities by number (RFC 5424 §6.2.1). */
export const SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"] as const;
export type SeverityName = (typeof SEVERITIES)[number];

/** The facilities ezone uses; anything 0..23 parses. */
export const FACILITY = { kern: 0, user: 1, daemon: 3, local0: 16 } as const;

/** ezone's structured-data IDs carry the documentation enterprise number (RFC 5612). */
export const EZONE_SD_ID = "ezone@32473";

/** The longest message accepted by default: rsyslog's default maxMessageSize. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8192;

/** Header field limits of RFC 5424 §6. */
const LIMITS = { hostname: 255, appName: 48, procId: 128, msgId: 32, sdName: 32 } as const;
/** Bounds on structured data, so a hostile message cannot make the parser allocate without limit. */
const MAX_SD_ELEMENTS = 16;
const MAX_SD_PARAMS = 32;

export interface SdElement {
  id: string;
  /** Parameters in message order; a name may repeat (RFC 5424 §6.3.3). */
  params: [name: string, value: string][];
}

/** One syslog message; null is the RFC's NILVALUE `-`. */
export interface SyslogMessage {
  facility: number;
  severity: number;
  /** Milliseconds since the epoch (fractions kept), or null when the sender gave none. */
  timestampMs: number | null;
  hostname: string | null;
  appName: string | null;
  procId: string | null;
  msgId: string | null;
  sd: SdElement[];
  /** Display-safe text: invalid UTF-8 and control characters made visible (util/escape.ts). */
  msg: string;
}

/** Why a message was rejected; a closed list so drop counters stay bounded. */
export const REJECT_REASONS = [
  "empty",
  "oversized",
  "bad-pri",
  "bad-version",
  "bad-timestamp",
  "bad-hostname",
  "bad-app-name",
  "bad-procid",
  "bad-msgid",
  "bad-structured-data",
  "truncated",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type ParseResult =
  | { ok: true; message: SyslogMessage }
  | { ok: false; reason: RejectReason; detail: string };

const SP = 0x20;

function isPrintUsAscii(byte: number): boolean {
  return byte >= 33 && byte <= 126;
}

/** A cursor over the message bytes with the RFC's token rules. */
class Reader {
  pos = 0;
  constructor(readonly bytes: Buffer) {}
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  peek(): number {
    return this.bytes[this.pos] ?? -1;
  }
  /** A run of PRINTUSASCII up to the next space (or end), of 1..max bytes; null if it breaks the rules. */
  token(max: number): string | null {
    const start = this.pos;
    while (!this.done && this.peek() !== SP) {
      if (!isPrintUsAscii(this.peek())) return null;
      this.pos++;
      if (this.pos - start > max) return null;
    }
    return this.pos > start ? this.bytes.toString("latin1", start, this.pos) : null;
  }
  space(): boolean {
    if (this.peek() !== SP) return false;
    this.pos++;
    return true;
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-](\d{2}):(\d{2}))$/;

/** An RFC 5424 TIMESTAMP as epoch milliseconds; null when it is not one (e.g. month 13, 25:00). */
export function parseTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map(Number);
  const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  const offsetH = m[9] ? Number(m[9]) : 0;
  const offsetM = m[10] ? Number(m[10]) : 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (offsetH > 23 || offsetM > 59) return null;
  const base = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 February over into March: a day past the month's end is not a date.
  if (new Date(base).getUTCDate() !== day) return null;
  const sign = m[8]?.startsWith("-") ? -1 : 1;
  const offset = m[8] === "Z" ? 0 : sign * (offsetH * 60 + offsetM) * 60_000;
  return base - offset + frac;
}

/** Parse structured data at the reader (after the MSGID's space). */
function parseSd(r: Reader): SdElement[] | string {
  if (r.peek() === 0x2d /* - */) {
    r.pos++;
    return [];
  }
  const elements: SdElement[] = [];
  while (r.peek() === 0x5b /* [ */) {
    if (elements.length >= MAX_SD_ELEMENTS) return `more than ${MAX_SD_ELEMENTS} SD elements`;
    r.pos++;
    const id = sdName(r);
    if (!id) return "bad SD-ID";
    const params: SdElement["params"] = [];
    for (;;) {
      if (r.peek() === 0x5d /* ] */) {
        r.pos++;
        break;
      }
      if (!r.space()) return `SD element ${id}: expected space or ']'`;
      if (params.length >= MAX_SD_PARAMS) return `SD element ${id}: more than ${MAX_SD_PARAMS} params`;
      const name = sdName(r);
      if (!name) return `SD element ${id}: bad PARAM-NAME`;
      if (r.peek() !== 0x3d /* = */ || r.bytes[r.pos + 1] !== 0x22 /* " */)
        return `SD param ${id}.${name}: expected ="`;
      r.pos += 2;
      const value = sdValue(r);
      if (value === null) return `SD param ${id}.${name}: unterminated value`;
      params.push([name, value]);
    }
    if (elements.some((e) => e.id === id)) return `SD-ID ${id} repeated`;
    elements.push({ id, params });
  }
  return elements.length > 0 ? elements : "expected '-' or '['";
}

/** SD-NAME: 1..32 PRINTUSASCII except '=', SP, ']' and '"'. */
function sdName(r: Reader): string | null {
  const start = r.pos;
  for (;;) {
    const b = r.peek();
    if (!isPrintUsAscii(b) || b === 0x3d || b === 0x5d || b === 0x22) break;
    r.pos++;
    if (r.pos - start > LIMITS.sdName) return null;
  }
  return r.pos > start ? r.bytes.toString("latin1", start, r.pos) : null;
}

/** PARAM-VALUE up to its closing quote: `\"`, `\\` and `\]` unescape; any other backslash stays. */
function sdValue(r: Reader): string | null {
  const out: number[] = [];
  while (!r.done) {
    const b = r.peek();
    r.pos++;
    if (b === 0x22) return escapeControl(decodeUtf8Visible(Uint8Array.from(out)));
    if (b === 0x5c /* \ */) {
      const next = r.peek();
      if (next === 0x22 || next === 0x5c || next === 0x5d) {
        out.push(next);
        r.pos++;
        continue;
      }
    }
    out.push(b);
  }
  return null;
}

/**
 * Parse one message (without its transport framing: no trailing newline). Rejects anything longer
 * than `maxBytes` before looking at it.
 */
export function parseSyslog(input: Buffer | string, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): ParseResult {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const reject = (reason: RejectReason, detail: string): ParseResult => ({ ok: false, reason, detail });
  if (bytes.length === 0) return reject("empty", "no bytes");
  if (bytes.length > maxBytes) return reject("oversized", `${bytes.length} bytes > ${maxBytes}`);
  const r = new Reader(bytes);

  const pri = /^<(\d{1,3})>/.exec(bytes.toString("latin1", 0, 5));
  const prival = pri ? Number(pri[1]) : Number.NaN;
  if (!pri || prival > 191) return reject("bad-pri", "expected <0..191>");
  r.pos = pri[0].length;
  const version = r.token(3);
  if (version !== "1") return reject("bad-version", `expected VERSION 1, got ${JSON.stringify(version)}`);
  const fields: (string | null)[] = [];
  const specs: [RejectReason, number][] = [
    ["bad-timestamp", 32],
    ["bad-hostname", LIMITS.hostname],
    ["bad-app-name", LIMITS.appName],
    ["bad-procid", LIMITS.procId],
    ["bad-msgid", LIMITS.msgId],
  ];
  for (const [reason, max] of specs) {
    if (!r.space()) return reject(r.done ? "truncated" : reason, "expected a space before the field");
    const field = r.token(max);
    if (field === null) return reject(reason, `not 1..${max} printable US-ASCII characters`);
    fields.push(field === "-" ? null : field);
  }
  const [ts, hostname, appName, procId, msgId] = fields as [
    string | null,
    string | null,
    string | null,
    string | null,
    string | null,
  ];
  const timestampMs = ts === null ? null : parseTimestamp(ts);
  if (ts !== null && timestampMs === null) return reject("bad-timestamp", `not an RFC 3339 time: ${ts}`);
  if (!r.space()) return reject("truncated", "no STRUCTURED-DATA");
  const sd = parseSd(r);
  if (typeof sd === "string") return reject("bad-structured-data", sd);
  let msg = "";
  if (!r.done) {
    if (!r.space()) return reject("bad-structured-data", "expected a space after STRUCTURED-DATA");
    let body = bytes.subarray(r.pos);
    if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
    msg = escapeControl(decodeUtf8Visible(body));
  }
  return {
    ok: true,
    message: {
      facility: prival >> 3,
      severity: prival & 7,
      timestampMs,
      hostname,
      appName,
      procId,
      msgId,
      sd,
      msg,
    },
  };
}

/** A value of one structured-data parameter, or undefined. */
export function sdParam(m: SyslogMessage, id: string, name: string): string | undefined {
  return m.sd.find((e) => e.id === id)?.params.find(([n]) => n === name)?.[1];
}

/** RFC 3339 time with milliseconds in UTC. */
export function formatTimestamp(ms: number): string {
  return new Date(Math.floor(ms)).toISOString();
}

/** A header field as RFC 5424 wants it: 1..max printable US-ASCII, or `-`; throws otherwise (our bug). */
function headerField(name: string, value: string | null, max: number): string {
  if (value === null) return "-";
  if (value.length === 0 || value.length > max || ![...value].every((c) => isPrintUsAscii(c.charCodeAt(0))))
    throw new RangeError(`syslog ${name} ${JSON.stringify(value)}: expected 1..${max} printable ASCII`);
  return value;
}

/** Whether a string can be an RFC 5424 header field of at most `max` characters. */
export function isHeaderToken(value: string, max: number): boolean {
  return value.length > 0 && value.length <= max && [...value].every((c) => isPrintUsAscii(c.charCodeAt(0)));
}

function sdNameOk(name: string): boolean {
  return isHeaderToken(name, LIMITS.sdName) && !/[= \]"]/.test(name);
}

/** Structured data as text; throws on an SD-ID or PARAM-NAME ezone built wrong. */
export function encodeSd(sd: SdElement[]): string {
  if (sd.length === 0) return "-";
  return sd
    .map((e) => {
      if (!sdNameOk(e.id)) throw new RangeError(`syslog SD-ID ${JSON.stringify(e.id)} is not an SD-NAME`);
      const params = e.params.map(([n, v]) => {
        if (!sdNameOk(n)) throw new RangeError(`syslog PARAM-NAME ${JSON.stringify(n)} is not an SD-NAME`);
        return ` ${n}="${v.replace(/["\\\]]/g, (c) => `\\${c}`)}"`;
      });
      return `[${e.id}${params.join("")}]`;
    })
    .join("");
}

/**
 * Encode a message. Header fields must already be valid (they come from ezone's own configuration or
 * from a message that parsed); MSG is cut at a character boundary so the whole message fits `maxBytes`.
 */
export function encodeSyslog(m: SyslogMessage, maxBytes = 2048): Buffer {
  if (!Number.isInteger(m.facility) || m.facility < 0 || m.facility > 23)
    throw new RangeError(`syslog facility ${m.facility}: expected 0..23`);
  if (!Number.isInteger(m.severity) || m.severity < 0 || m.severity > 7)
    throw new RangeError(`syslog severity ${m.severity}: expected 0..7`);
  const head = [
    `<${m.facility * 8 + m.severity}>1`,
    m.timestampMs === null ? "-" : formatTimestamp(m.timestampMs),
    headerField("HOSTNAME", m.hostname, LIMITS.hostname),
    headerField("APP-NAME", m.appName, LIMITS.appName),
    headerField("PROCID", m.procId, LIMITS.procId),
    headerField("MSGID", m.msgId, LIMITS.msgId),
    encodeSd(m.sd),
  ].join(" ");
  const headBytes = Buffer.from(head, "utf8");
  if (headBytes.length > maxBytes)
    throw new RangeError(`syslog header of ${headBytes.length} bytes > ${maxBytes}`);
  // A newline would end the message early in every line-framed transport: never send one.
  const text = m.msg.replace(/[\r\n]+/g, " ");
  if (text.length === 0) return headBytes;
  const body = Buffer.from(text, "utf8");
  const room = maxBytes - headBytes.length - 1;
  let cut = Math.min(body.length, Math.max(0, room));
  while (cut > 0 && cut < body.length && ((body[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut === 0 ? headBytes : Buffer.concat([headBytes, Buffer.from(" "), body.subarray(0, cut)]);
}
