import { describe, expect, it } from "vitest";
import { toCsv, toJsonl, toJunit } from "../../src/report/export-formats.js";
import { storedRun } from "../helpers/report-fixtures.js";

const hostile = storedRun("qemu-tcg", "unknown", {
  reasons: ['guest said "=cmd|calc", then <script>alert(1)</script>\x1b[31m'],
  crashTitle: '=HYPERLINK("x")',
});
const runs = [storedRun("qemu-tcg", "contained-limited"), storedRun("qemu-tcg", "escaped-global"), hostile];

describe("exports", () => {
  it("jsonl: one parseable object per run", () => {
    const lines = toJsonl(runs).trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1] as string)).toMatchObject({ backend: "qemu-tcg", outcome: "escaped-global" });
  });

  it("csv: header, RFC 4180 quoting, no formula injection", () => {
    const rows = toCsv(runs).split("\r\n");
    expect(rows[0]).toMatch(/^campaign,runKey,backend,fault,zone/);
    expect(rows).toHaveLength(5); // header + 3 + trailing empty
    expect(rows[3]).toContain(`"'=HYPERLINK(""x"")"`);
    expect(rows[3]).not.toMatch(/,=HYPERLINK/);
  });

  it("junit: host failures are failures, unknown is an error, statements are skipped, text is escaped", () => {
    const xml = toJunit(runs, [{ backend: "kvm", fault: "*", kind: "unavailable", reason: "no /dev/kvm" }]);
    expect(xml).toMatch(/<testsuite name="qemu-tcg" tests="3" failures="1" errors="1" skipped="0">/);
    expect(xml).toMatch(/<testsuite name="kvm" tests="1" failures="0" errors="0" skipped="1">/);
    expect(xml).toContain("unavailable: no /dev/kvm");
    expect(xml).not.toContain("<script>");
    expect(xml).not.toContain("\x1b");
  });
});
