import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { decodeUtf8Visible, escapeControl, escapeHtml, shellQuote } from "../../src/util/escape.js";

describe("escapeControl", () => {
  it("leaves ordinary text, Unicode, tabs and newlines alone", () => {
    const text = "RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]\tüber → 😀\nnext";
    expect(escapeControl(text)).toBe(text);
  });

  it("makes C0, DEL and C1 controls visible as \\xNN", () => {
    expect(escapeControl("a\x00b\x07c\rd\x7fe\x9bf")).toBe("a\\x00b\\x07c\\x0dd\\x7fe\\x9bf");
  });

  it("makes ANSI escape sequences visible instead of letting them act", () => {
    expect(escapeControl("\x1b[2J\x1b[31mred\x1b[0m")).toBe("\\x1b[2J\\x1b[31mred\\x1b[0m");
  });

  it("makes bidi overrides, separators and lone surrogates visible as \\u{...}", () => {
    expect(escapeControl("a\u202eb\u2066c\u2028d\ufeff")).toBe("a\\u{202e}b\\u{2066}c\\u{2028}d\\u{feff}");
    expect(escapeControl("x\ud800y\udc00z")).toBe("x\\u{d800}y\\u{dc00}z");
    expect(escapeControl("\ud83d\ude00")).toBe("😀");
  });
});

describe("escapeHtml", () => {
  it("escapes the five HTML-significant characters and nothing else", () => {
    expect(escapeHtml(`<a href="x">Tom & 'Jerry'</a> → ok`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt; → ok",
    );
  });
});

describe("decodeUtf8Visible", () => {
  it("decodes well-formed UTF-8 unchanged, control characters included", () => {
    expect(decodeUtf8Visible(Buffer.from("über\x00 😀"))).toBe("über\x00 😀");
  });

  it("shows each byte of an ill-formed sequence as \\xNN and resynchronises", () => {
    const cases: [number[], string][] = [
      [[0x61, 0xff, 0x62], "a\\xffb"],
      [[0xc0, 0x80], "\\xc0\\x80"], // overlong NUL
      [[0xed, 0xa0, 0x80], "\\xed\\xa0\\x80"], // UTF-8-encoded surrogate
      [[0xf4, 0x90, 0x80, 0x80], "\\xf4\\x90\\x80\\x80"], // above U+10FFFF
      [[0xe2, 0x82], "\\xe2\\x82"], // truncated at the end
      [[0xe2, 0x82, 0x41, 0xe2, 0x82, 0xac], "\\xe2\\x82A€"],
    ];
    for (const [bytes, expected] of cases) expect(decodeUtf8Visible(Uint8Array.from(bytes))).toBe(expected);
  });

  it("respects the view's offset into a larger buffer", () => {
    const whole = Buffer.from("xxhello\xffyy", "latin1");
    expect(decodeUtf8Visible(whole.subarray(2, 8))).toBe("hello\\xff");
  });
});

describe("shellQuote", () => {
  it("makes one shell word of anything, quotes and spaces included", () => {
    const word = "it's a $(dangerous) `word`";
    expect(shellQuote(word)).toBe("'it'\\''s a $(dangerous) `word`'");
    expect(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote(word)}`]).toString()).toBe(word);
  });
});
