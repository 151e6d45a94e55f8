import { describe, expect, it } from "vitest";
import { cellDiagram } from "../../src/report/cell-diagram.js";
import { affectedBy, composedRows, composedTable } from "../../src/report/composed-cells.js";
import { renderTextReport } from "../../src/report/text-report.js";
import { dependencyComparison } from "../helpers/composed-runs.js";
import { storedRun, summaryOf } from "../helpers/report-fixtures.js";

describe("composed cells in the report", () => {
  it("counts who each fault affected per toggle, link on and off side by side, with their controls", () => {
    const rows = composedRows(dependencyComparison());
    expect(rows.map((r) => [r.cell, r.fault, r.variant, r.runs, r.controls, r.counts])).toEqual([
      [
        "qemu-tcg + b qemu-tcg",
        "kerncrash",
        "depends-on b→victim on, network b→victim on, limits off",
        5,
        5,
        { "victim only": 0, peer: 5, host: 0, undecided: 0 },
      ],
      [
        "qemu-tcg + b qemu-tcg",
        "kerncrash",
        "depends-on b→victim off, network b→victim on, limits off",
        5,
        5,
        { "victim only": 5, peer: 0, host: 0, undecided: 0 },
      ],
    ]);
    expect(rows[0]?.nodes).toEqual([
      { name: "victim", backend: "qemu-tcg", died: 5, affected: 0 },
      { name: "b", backend: "qemu-tcg", died: 1, affected: 4 },
    ]);
  });

  it("reads the affected party from the verdict's first reason", () => {
    const run = (outcome: Parameters<typeof storedRun>[1], reason: string) =>
      affectedBy(storedRun("q", outcome, { reasons: [reason] }));
    expect(run("contained-varied", "host: host probe host.forkExecMs degraded: slow")).toBe("host");
    expect(run("escaped-global", "host probe host.taint failed: tainted")).toBe("host");
    expect(run("contained-varied", "victim guest: never heartbeated again")).toBe("victim only");
    expect(run("unknown", "only 3 finished control runs")).toBe("undecided");
  });

  it("prints the table with 95 % intervals in the text report, and nothing for a campaign without cells", () => {
    const text = composedTable(dependencyComparison());
    expect(text).toContain("5 (48–100%)");
    expect(text).toContain("0 (0–52%)");
    const report = renderTextReport([summaryOf("comp", dependencyComparison())], { color: false });
    expect(report).toContain("Composed cells: who each fault affected, per toggle");
    expect(
      renderTextReport([summaryOf("plain", [storedRun("q", "contained-limited")])], { color: false }),
    ).not.toContain("Composed cells");
  });

  it("draws the diagram with hostile names escaped, the dead peer and the cut link marked", () => {
    const evil = `b"><script>alert(1)</script>`;
    const [on, off] = composedRows(dependencyComparison(evil));
    if (!on || !off) throw new Error("two rows expected");
    const svg = cellDiagram(on, "a0").toString();
    expect(svg).not.toContain("<script>");
    expect(svg).toContain("&lt;script&gt;");
    expect(svg).toContain('class="enclave died"');
    expect(cellDiagram(off, "a1").toString()).toContain('class="link off"');
  });
});
