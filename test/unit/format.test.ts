import { describe, expect, it } from "vitest";
import { duration, percent, renderTable } from "../../src/util/format.js";

describe("formatting for people", () => {
  it.each([
    [null, "-"],
    [0, "0 ms"],
    [999.4, "999 ms"],
    [1000, "1.00 s"],
    [7346, "7.35 s"],
  ])("writes %s ms as %s", (ms, text) => {
    expect(duration(ms)).toBe(text);
  });

  it("writes a rate as a whole percentage", () => {
    expect(percent(0.447)).toBe("45%");
    expect(percent(0)).toBe("0%");
    expect(percent(1)).toBe("100%");
  });

  it("pads a table's columns to their widest cell, missing cells empty", () => {
    expect(renderTable(["VMM", "runs"], [["QEMU (TCG)", "5"], ["UML"]])).toBe(
      ["| VMM        | runs |", "|------------|------|", "| QEMU (TCG) | 5    |", "| UML        |"].join(
        "\n",
      ),
    );
  });
});
