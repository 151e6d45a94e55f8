import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { consoleEvidence, TAIL_LINES } from "../../src/report/console-evidence.js";

/** A golden fixture's console, without its header block. */
function fixture(name: string): Buffer {
  const text = readFileSync(`test/fixtures/console/${name}`, "utf8");
  return Buffer.from(text.slice(text.indexOf("\n\n") + 2));
}

describe("consoleEvidence", () => {
  it("places heartbeats, FIRED, the proof, the oops and the panic on the guest clock", () => {
    const e = consoleEvidence(fixture("qemu-tcg/kerncrash-process.log"));
    expect(e.excerptKind).toBe("oops");
    expect(e.crash?.title).toBe("divide error in kerncrash_fire [kerncrash]");
    expect(e.heartbeats).toEqual([
      { seq: 0, atS: 1.785 },
      { seq: 1, atS: 2.286 },
      { seq: 2, atS: 2.786 },
    ]);
    expect(e.marks.map((m) => [m.kind, m.atS, m.approximate])).toEqual([
      ["ready", null, true],
      ["fired", 2.786, true],
      ["proof", 2.961452, false],
      ["crash", 2.962749, false],
      ["panic", 2.976066, false],
    ]);
    // The mark carries the final title, not the first guess made at the header line.
    expect(e.marks.find((m) => m.kind === "crash")?.label).toBe("divide error in kerncrash_fire [kerncrash]");
    expect(e.excerpt.some((l) => l.includes("divide error: 0000"))).toBe(true);
    expect(e.excerpt.at(-1)).toContain("Kernel panic - not syncing");
  });

  it("without a crash the excerpt is the last lines, with their kernel timestamps", () => {
    const e = consoleEvidence(fixture("qemu-tcg/sigenforce.log"));
    expect(e.excerptKind).toBe("tail");
    expect(e.crash).toBeNull();
    expect(e.excerpt.length).toBeLessThanOrEqual(TAIL_LINES);
    expect(e.heartbeats.length).toBe(12);
    expect(e.marks.some((m) => m.kind === "crash")).toBe(false);
  });

  it("hostile bytes come out as visible text: ANSI removed, other controls escaped, markup untouched", () => {
    const log = Buffer.from("HB 1 1000\n<script>x</script> \x1b[31mred\x1b[0m \x07bell\nno newline at end");
    const e = consoleEvidence(log);
    expect(e.excerpt).toEqual(["HB 1 1000", "<script>x</script> red \\x07bell", "no newline at end"]);
    expect(e.lines).toBe(3);
  });

  it("an empty console has no excerpt and no events", () => {
    expect(consoleEvidence(Buffer.alloc(0))).toMatchObject({
      excerptKind: "empty",
      excerpt: [],
      heartbeats: [],
      marks: [],
    });
  });
});
