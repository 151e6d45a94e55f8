import { describe, expect, it } from "vitest";
import { useColor } from "../../src/cli/commands/report.js";
import { jsonReport, mdCell, renderMarkdownReport, renderTextReport } from "../../src/report/text-report.js";
import { storedRun, summaryOf } from "../helpers/report-fixtures.js";

const summaries = [
  summaryOf(
    "paper",
    [storedRun("qemu-tcg", "contained-limited"), storedRun("qemu-tcg", "no-effect", { fault: "none" })],
    [{ backend: "kvm", fault: "*", kind: "unavailable", reason: "no /dev/kvm\x1b[2J <b>|x|</b>" }],
    ["qemu-tcg", "kvm"],
    { "qemu-tcg": { ratio: 2.5, min: 2, max: 3, benchmarks: ["a", "b"] } },
  ),
];

describe("text report", () => {
  it("prints the paper table, the zone matrix and the overhead, with stored escapes made visible", () => {
    const text = renderTextReport(summaries, { color: false });
    expect(text).toContain("Campaign paper: E-Zone 3 (guest kernel) fault\n| VMM ");
    expect(text).toMatch(/\| QEMU \(TCG\) \| 1 +\| 1\/1/);
    expect(text).toContain("Zone matrix (fault runs; control runs left out)");
    expect(text).toContain("| kvm      | skipped in every zone: no /dev/kvm\\x1b[2J <b>|x|</b>");
    expect(text).toContain("qemu-tcg: 2.50× (2.00–3.00 95% interval, 2 benchmark(s))");
    expect(text).toContain("kvm: not measured");
    expect(text).not.toContain("\x1b");
  });

  it("colours only when asked", () => {
    expect(renderTextReport(summaries, { color: true })).toContain("\x1b[32m");
  });

  it("colour follows the terminal and NO_COLOR", () => {
    expect(useColor({ isTTY: true }, {})).toBe(true);
    expect(useColor({ isTTY: false }, {})).toBe(false);
    expect(useColor({}, {})).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(useColor({ isTTY: true }, { NO_COLOR: "" })).toBe(true);
  });
});

describe("markdown report", () => {
  it("neutralises HTML, table pipes and emphasis in stored text", () => {
    expect(mdCell("a|b <i>*x*</i>\x1b_\n")).toBe("a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;\\\\x1b\\_ ");
    const md = renderMarkdownReport(summaries);
    expect(md).toContain("## Campaign paper: E-Zone 3 (guest kernel) fault");
    expect(md).toContain("### Zone matrix");
    expect(md).toContain("limited 1/1<br>contained 1/1, ≥ 5%<br>host failures 0/1, &lt; 95%");
    expect(md).not.toContain("<b>");
    expect(md).toContain("&lt;b&gt;\\|x\\|&lt;/b&gt;");
  });
});

describe("json report", () => {
  it("keeps the paper rows under `rows` and adds the matrix, overhead and statements", () => {
    const [c] = jsonReport(summaries) as Record<string, unknown>[];
    if (!c) throw new Error("no campaign in the JSON report");
    expect(c.campaign).toBe("paper");
    expect((c.rows as { backend: string; runs: number }[])[0]).toMatchObject({
      backend: "qemu-tcg",
      runs: 1,
    });
    expect(c.matrix).toMatchObject({ backends: ["qemu-tcg", "kvm"], zones: [1, 2, 3, 4] });
    expect(c.overhead).toEqual({
      "qemu-tcg": { ratio: 2.5, min: 2, max: 3, benchmarks: ["a", "b"] },
      kvm: null,
    });
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
  });
});
