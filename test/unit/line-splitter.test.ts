import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../src/util/line-splitter.js";

describe("line splitter", () => {
  it("keeps lines whole across chunks and drops (counts) the ones over the bound without buffering them", () => {
    const s = new LineSplitter(8);
    const lines: string[] = [];
    s.push(Buffer.from("abc\r\nde"), (l) => lines.push(l.toString()));
    s.push(Buffer.from("f\n0123456789"), (l) => lines.push(l.toString()));
    expect(s.bufferedBytes).toBe(0);
    s.push(Buffer.from("0123456789\nok\n"), (l) => lines.push(l.toString()));
    expect(lines).toEqual(["abc", "def", "ok"]);
    expect(s.oversized).toBe(1);
  });

  it("keeps a line of exactly the bound, skips empty lines and rejects a bound that is not a positive integer", () => {
    const s = new LineSplitter(4);
    const lines: string[] = [];
    s.push(Buffer.from("\n\r\nabcd\nabcde\n"), (l) => lines.push(l.toString()));
    expect(lines).toEqual(["abcd"]);
    expect(s.oversized).toBe(1);
    expect(() => new LineSplitter(0)).toThrow(RangeError);
  });
});
