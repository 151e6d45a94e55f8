import { describe, expect, it } from "vitest";
import { capBuffer, HeadTailBuffer } from "../../src/util/console-cap.js";

describe("console cap (head + elision marker + tail)", () => {
  it("keeps a console under the cap whole", () => {
    const kept = new HeadTailBuffer(100);
    kept.push(Buffer.from("READY\n"));
    kept.push(Buffer.from("HB 1\n"));
    expect(kept.contents()).toEqual({ data: Buffer.from("READY\nHB 1\n"), truncated: false });
  });

  it("keeps the first and the last half of the cap, fed in chunks, and says how much fell out", () => {
    const kept = new HeadTailBuffer(10);
    for (const c of "abcdefghijklmnopqrstuvwxyz") kept.push(Buffer.from(c));
    const { data, truncated } = kept.contents();
    expect(truncated).toBe(true);
    expect(data.toString()).toBe("abcde\n[ezone: 16 bytes elided]\nvwxyz");
  });

  it("gives the same result for one buffer at once", () => {
    const text = "x".repeat(40) + "y".repeat(40);
    expect(capBuffer(Buffer.from(text), 20).toString()).toBe(
      `${"x".repeat(10)}\n[ezone: 60 bytes elided]\n${"y".repeat(10)}`,
    );
  });

  it("refuses a cap that is not a non-negative integer", () => {
    expect(() => new HeadTailBuffer(-1)).toThrow(/non-negative integer/);
    expect(() => new HeadTailBuffer(1.5)).toThrow(/non-negative integer/);
  });
});
