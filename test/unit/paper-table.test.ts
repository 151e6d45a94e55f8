import { describe, expect, it } from "vitest";
import { NO_PAPER_ROWS, PAPER_CAMPAIGN, paperRows } from "../../src/report/paper-table.js";
import { renderMarkdownReport, renderTextReport } from "../../src/report/text-report.js";
import type { Statement } from "../../src/store/store.js";
import { storedRun, summaryOf } from "../helpers/report-fixtures.js";

const kvmAbsent: Statement = { backend: "kvm", fault: "*", kind: "unavailable", reason: "no /dev/kvm" };
const order = ["qemu-tcg", "kvm", "uml", "gvisor"];
const runs = [
  storedRun("qemu-tcg", "contained-limited"),
  storedRun("uml", "infra-error"),
  storedRun("gvisor", "boot-error"),
  // gVisor ran only a zone-4 fault: no row in the zone-3 table.
  storedRun("gvisor", "contained-limited", { fault: "segfault", zone: 4 }),
];

describe("the paper table", () => {
  it("in the paper's campaign lists every backend, run or skipped", () => {
    const rows = paperRows(order, runs, [kvmAbsent], PAPER_CAMPAIGN);
    expect(rows.map((r) => [r.backend, r.runs, r.skipped])).toEqual([
      ["qemu-tcg", 1, null],
      ["kvm", 0, "no /dev/kvm"],
      ["uml", 0, null],
      ["gvisor", 0, null],
    ]);
  });

  it("in any other campaign leaves out backends without zone-3 fault runs (infra- and boot-errors count)", () => {
    const rows = paperRows(order, runs, [kvmAbsent], "matrix");
    expect(rows.map((r) => [r.backend, r.runs, r.infraErrors, r.bootErrors])).toEqual([
      ["qemu-tcg", 1, 0, 0],
      ["uml", 0, 1, 0],
      ["gvisor", 0, 0, 1],
    ]);
  });

  it("leaves out bit flips placed in the guest kernel: zone 3, but judged against a golden run", () => {
    const flips = [storedRun("qemu-tcg", "no-effect", { fault: "bitflip", zone: 3 }), ...runs];
    expect(paperRows(order, flips, [], "matrix").map((r) => [r.backend, r.runs])).toEqual([
      ["qemu-tcg", 1],
      ["uml", 0],
      ["gvisor", 0],
    ]);
  });

  it("counts a disposable host's proof, and that host dying as the host not surviving", () => {
    const base = storedRun("native", "escaped-global", { fault: "kerncrash", zone: 3 });
    const inDh = {
      ...base,
      proof: false,
      hostSurvived: true,
      evidence: {
        ...base.evidence,
        proof: false,
        disposableHost: {
          alive: false,
          panicked: true,
          crash: { title: "divide error in kerncrash_fire", crashClass: "divide-error", panic: true },
          heartbeatLost: true,
          exit: { kind: "exited" as const, code: 0 },
          probes: [],
          proof: true,
        },
      },
    };
    const [row] = paperRows(["native"], [inDh], [], "matrix");
    expect([row?.runs, row?.proof, row?.hostSurvived]).toEqual([1, 1, 0]);
  });

  it("says so instead of printing an empty table", () => {
    const s = summaryOf("perf-only", [storedRun("native", "no-effect", { fault: "none" })]);
    expect(s.paper).toEqual([]);
    expect(renderTextReport([s], { color: false })).toContain(
      `E-Zone 3 (guest kernel) fault\n${NO_PAPER_ROWS}\n`,
    );
    expect(renderMarkdownReport([s])).toContain(`fault\n\n${NO_PAPER_ROWS}\n`);
  });
});
