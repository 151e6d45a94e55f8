import { describe, expect, it } from "vitest";
import {
  encodeSyslog,
  type ParseResult,
  parseSyslog,
  parseTimestamp,
  REJECT_REASONS,
  type SyslogMessage,
  sdParam,
} from "../../src/monitor-daemon/rfc5424.js";

function accepted(r: ParseResult): SyslogMessage {
  if (!r.ok) throw new Error(`rejected: ${r.reason}: ${r.detail}`);
  return r.message;
}

const base: SyslogMessage = {
  facility: 3,
  severity: 6,
  timestampMs: Date.UTC(2024, 4, 1, 10, 0, 0, 250),
  hostname: "e1",
  appName: "ezone-agent",
  procId: "1",
  msgId: "HB",
  sd: [{ id: "ezone@32473", params: [["uptime_ms", "1250"]] }],
  msg: "HB 4 1250",
};

describe("RFC 5424 parse", () => {
  it("reads what the agent sends, field by field", () => {
    const m = accepted(
      parseSyslog(
        '<30>1 2024-05-01T10:00:00.250Z e1 ezone-agent 1 HB [ezone@32473 uptime_ms="1250" dropped="0"] HB 4 1250',
      ),
    );
    expect(m).toMatchObject({
      facility: 3,
      severity: 6,
      hostname: "e1",
      appName: "ezone-agent",
      msgId: "HB",
    });
    expect(m.timestampMs).toBe(Date.UTC(2024, 4, 1, 10, 0, 0, 250));
    expect(sdParam(m, "ezone@32473", "uptime_ms")).toBe("1250");
    expect(m.msg).toBe("HB 4 1250");
  });

  it("reads rsyslog's output format: microseconds, +00:00 offset, NILVALUEs, no MSG", () => {
    const m = accepted(parseSyslog("<13>1 2026-11-26T01:32:13.493110+02:00 vm myapp - - -"));
    expect(m.timestampMs).toBeCloseTo(Date.UTC(2026, 10, 25, 23, 32, 13, 493) + 0.11, 3);
    expect(m.procId).toBeNull();
    expect(m.msgId).toBeNull();
    expect(m.sd).toEqual([]);
    expect(m.msg).toBe("");
  });

  it("unescapes SD values and keeps several elements", () => {
    const m = accepted(parseSyslog('<29>1 - h a - ID [a@1 x="q\\"b\\\\c\\]d\\e"][b@1 y=""] text'));
    expect(sdParam(m, "a@1", "x")).toBe('q"b\\c]d\\e');
    expect(sdParam(m, "b@1", "y")).toBe("");
  });

  it("drops a UTF-8 BOM before MSG", () => {
    const m = accepted(
      parseSyslog(Buffer.from([...Buffer.from("<30>1 - h a - - - "), 0xef, 0xbb, 0xbf, 0x68])),
    );
    expect(m.msg).toBe("h");
  });

  const malformed: [string, string | Buffer, (typeof REJECT_REASONS)[number]][] = [
    ["empty", "", "empty"],
    ["no PRI", "hello world", "bad-pri"],
    ["PRI over 191", "<192>1 - h a - - -", "bad-pri"],
    ["version 2", "<30>2 - h a - - -", "bad-version"],
    ["BSD syslog (RFC 3164)", "<30>May  1 10:00:00 host app: text", "bad-version"],
    ["month 13", "<30>1 2024-13-01T00:00:00Z h a - - -", "bad-timestamp"],
    ["31 February", "<30>1 2024-02-31T00:00:00Z h a - - -", "bad-timestamp"],
    ["no zone", "<30>1 2024-02-01T00:00:00 h a - - -", "bad-timestamp"],
    ["hostname of 256 chars", `<30>1 - ${"h".repeat(256)} a - - -`, "bad-hostname"],
    ["app-name of 49 chars", `<30>1 - h ${"a".repeat(49)} - - -`, "bad-app-name"],
    ["control byte in hostname", Buffer.from("<30>1 - h\x01x a - - -", "latin1"), "bad-hostname"],
    ["non-ASCII byte in MSGID", Buffer.from("<30>1 - h a - I\xffD -", "latin1"), "bad-msgid"],
    ["header cut short", "<30>1 - h a", "truncated"],
    ["no structured data", "<30>1 - h a - ID", "truncated"],
    ["unterminated SD value", '<30>1 - h a - ID [x@1 k="v', "bad-structured-data"],
    ["SD without a space before MSG", "<30>1 - h a - ID [x@1]text", "bad-structured-data"],
    ["repeated SD-ID", "<30>1 - h a - ID [x@1][x@1] m", "bad-structured-data"],
    [
      "too many SD elements",
      `<30>1 - h a - ID ${Array.from({ length: 17 }, (_, i) => `[e${i}]`).join("")}`,
      "bad-structured-data",
    ],
    ["oversized", `<30>1 - h a - - - ${"x".repeat(9000)}`, "oversized"],
  ];
  it.each(malformed)("rejects %s", (_what, input, reason) => {
    const r = parseSyslog(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it("escapes binary, escape sequences and bidi overrides in MSG instead of passing them on", () => {
    const raw = Buffer.concat([
      Buffer.from("<30>1 - h a - - - x"),
      Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0x00, 0x07]),
      Buffer.from("\u202e", "utf8"),
    ]);
    const m = accepted(parseSyslog(raw));
    expect(m.msg).toBe("x\\x1b[31m\\xff\\x00\\x07\\u{202e}");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none survive
    expect(m.msg).not.toMatch(/[\x00-\x08\x1b\x7f]/);
  });

  it("never throws on random bytes", () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed;
    };
    const prefixes = ["", "<30>1 ", "<30>1 - h a - ID ", '<30>1 - h a - ID [x@1 k="'];
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.alloc(rnd() % 200, 0).map(() => rnd() & 0xff);
      const input = Buffer.concat([Buffer.from(prefixes[i % prefixes.length] ?? ""), bytes]);
      const r = parseSyslog(input);
      expect(typeof r.ok).toBe("boolean");
      if (!r.ok) expect(REJECT_REASONS).toContain(r.reason);
    }
  });
});

describe("RFC 5424 encode", () => {
  it("round-trips through the parser", () => {
    const m = {
      ...base,
      sd: [{ id: "ezone@32473", params: [["title", 'a "quoted" ]thing\\'] as [string, string]] }],
    };
    expect(accepted(parseSyslog(encodeSyslog(m)))).toEqual(m);
  });

  it("encodes NILVALUEs and no SD as '-'", () => {
    const text = encodeSyslog({
      ...base,
      timestampMs: null,
      procId: null,
      msgId: null,
      sd: [],
      msg: "",
    }).toString();
    expect(text).toBe("<30>1 - e1 ezone-agent - - -");
  });

  it("cuts MSG at a character boundary to fit, and never sends a newline", () => {
    const out = encodeSyslog({ ...base, msg: `line1\nline2 ${"é".repeat(3000)}` }, 300);
    expect(out.length).toBeLessThanOrEqual(300);
    expect(out.includes(0x0a)).toBe(false);
    const m = accepted(parseSyslog(out));
    expect(m.msg.startsWith("line1 line2 é")).toBe(true);
    expect(m.msg).not.toContain("\\x");
  });

  it("refuses header fields ezone built wrong", () => {
    expect(() => encodeSyslog({ ...base, hostname: "two words" })).toThrow(/HOSTNAME/);
    expect(() => encodeSyslog({ ...base, msgId: "x".repeat(33) })).toThrow(/MSGID/);
    expect(() => encodeSyslog({ ...base, severity: 8 })).toThrow(/severity/);
    expect(() => encodeSyslog({ ...base, sd: [{ id: "bad id", params: [] }] })).toThrow(/SD-ID/);
  });
});

describe("timestamps", () => {
  it("handles offsets and fractions", () => {
    expect(parseTimestamp("1985-04-12T23:20:50.52Z")).toBe(Date.UTC(1985, 3, 12, 23, 20, 50, 520));
    expect(parseTimestamp("1985-04-12T19:20:50.52-04:00")).toBe(Date.UTC(1985, 3, 12, 23, 20, 50, 520));
    expect(parseTimestamp("2003-08-24T05:14:15.000003-07:00")).toBeCloseTo(
      Date.UTC(2003, 7, 24, 12, 14, 15) + 0.003,
      6,
    );
    expect(parseTimestamp("2003-08-24T05:14:15.000000003-07:00")).toBeNull();
    expect(parseTimestamp("2003-08-24T24:00:00Z")).toBeNull();
  });
});
