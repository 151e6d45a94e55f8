import { describe, expect, it } from "vitest";
import {
  renderZoneMatrix,
  rowBackend,
  rowLabel,
  skippedEverywhere,
  type ZoneCell,
  zoneMatrix,
} from "../../src/report/zone-matrix.js";
import type { Statement } from "../../src/store/store.js";
import { FIXTURE_PARAMS, storedRun } from "../helpers/report-fixtures.js";

const results = (cell: ZoneCell | undefined) => {
  if (cell?.kind !== "results") throw new Error(`expected results, got ${cell?.kind}`);
  return cell;
};

describe("zoneMatrix: the disposable host and privileges as rows", () => {
  it("gives zone-1 runs and each placement/privilege its own row after the backend's, statements on the backend's", () => {
    const dh = { ...FIXTURE_PARAMS, host: "disposable" as const };
    const runs = [
      storedRun("container", "contained-limited", { fault: "segfault", zone: 4 }),
      storedRun("container", "escaped-global", { fault: "host-kerncrash", zone: 1, params: dh }),
      storedRun("container", "escaped-global", { params: { ...dh, privileges: "privileged" } }),
      storedRun("container", "not-fired", { params: { ...dh, privileges: "unprivileged" } }),
    ];
    const refused: Statement = { backend: "container", fault: "vmm-sigkill", kind: "refused", reason: "why" };
    const m = zoneMatrix(runs, [refused], ["container", "uml"]);
    expect(m.backends).toEqual([
      "container",
      "container (disposable host)",
      "container (privileged, disposable host)",
      "container (unprivileged, disposable host)",
      "uml",
    ]);
    expect(results(m.cells["container (disposable host)"]?.[1]).counts).toEqual({ "escaped-global": 1 });
    expect(results(m.cells["container (privileged, disposable host)"]?.[3]).counts).toEqual({
      "escaped-global": 1,
    });
    expect(results(m.cells["container (unprivileged, disposable host)"]?.[3]).counts).toEqual({
      "not-fired": 1,
    });
    expect(m.cells.container?.[2]).toEqual({ kind: "refused", reason: "why" });
    expect(m.cells["container (disposable host)"]?.[2]).toEqual({ kind: "empty" });
    expect(renderZoneMatrix(m, { color: false })).toContain("container (privileged, disposable host)");
  });

  it("labels name privileges then the disposable host, and read back to the backend", () => {
    expect(rowLabel("native", {})).toBe("native");
    expect(rowLabel("native", { privileges: "unprivileged" })).toBe("native (unprivileged)");
    expect(rowLabel("native", { host: "disposable", privileges: "privileged" })).toBe(
      "native (privileged, disposable host)",
    );
    expect(rowBackend("native (privileged, disposable host)")).toBe("native");
    expect(rowBackend("qemu-tcg")).toBe("qemu-tcg");
  });
});

describe("zoneMatrix", () => {
  it("counts outcomes per backend and zone, with both one-sided bounds", () => {
    const runs = [
      ...Array.from({ length: 5 }, () => storedRun("qemu-tcg", "contained-limited")),
      storedRun("qemu-tcg", "infra-error"),
    ];
    const m = zoneMatrix(runs, [], ["qemu-tcg"]);
    expect(m.backends).toEqual(["qemu-tcg"]);
    expect(m.zones).toEqual([1, 2, 3, 4]);
    const cell = results(m.cells["qemu-tcg"]?.[3]);
    expect(cell.n).toBe(5);
    expect(cell.infraErrors).toBe(1);
    expect(cell.counts).toEqual({ "contained-limited": 5 });
    expect(cell.hostFailures.x).toBe(0);
    expect(cell.hostFailures.upper95).toBeCloseTo(1 - 0.05 ** (1 / 5), 6);
    expect(cell.contained).toMatchObject({ x: 5, n: 5 });
    expect(cell.contained.lower95).toBeCloseTo(0.05 ** (1 / 5), 6);
    expect(m.cells["qemu-tcg"]?.[1]).toEqual({ kind: "empty" });
  });

  it("contained counts contained-limited, contained-varied and no-effect; escaped-global is a host failure", () => {
    const runs = (
      [
        "contained-limited",
        "contained-varied",
        "no-effect",
        "escaped-global",
        "unknown",
        "not-fired",
      ] as const
    ).map((o) => storedRun("uml", o));
    const cell = results(zoneMatrix(runs, [], ["uml"]).cells.uml?.[3]);
    expect(cell.n).toBe(6);
    expect(cell.contained.x).toBe(3);
    expect(cell.hostFailures.x).toBe(1);
    expect(cell.hostFailures.upper95).toBeGreaterThan(1 / 6);
    expect(cell.contained.lower95).toBeLessThan(3 / 6);
  });

  it("leaves control runs (fault none) out of every cell", () => {
    const m = zoneMatrix([storedRun("qemu-tcg", "no-effect", { fault: "none", zone: 3 })], [], ["qemu-tcg"]);
    expect(m.cells["qemu-tcg"]?.[3]).toEqual({ kind: "empty" });
  });

  it("a backend whose * statement is unavailable is skipped in every zone", () => {
    const st: Statement[] = [
      { backend: "kvm", fault: "*", kind: "unavailable", reason: "no usable /dev/kvm" },
    ];
    const m = zoneMatrix([], st, ["qemu-tcg", "kvm"]);
    expect(m.backends).toEqual(["qemu-tcg", "kvm"]);
    for (const z of m.zones)
      expect(m.cells.kvm?.[z]).toEqual({ kind: "skipped", reason: "no usable /dev/kvm" });
    expect(m.cells["qemu-tcg"]?.[3]).toEqual({ kind: "empty" });
  });

  it("stored runs are never hidden by a later unavailable statement", () => {
    const st: Statement[] = [{ backend: "kvm", fault: "*", kind: "unavailable", reason: "gone" }];
    const m = zoneMatrix([storedRun("kvm", "contained-limited")], st, ["kvm"]);
    expect(m.cells.kvm?.[3]?.kind).toBe("results");
    expect(m.cells.kvm?.[4]).toEqual({ kind: "skipped", reason: "gone" });
  });

  it("a refused statement lands in its fault's zone from the catalogue", () => {
    const st: Statement[] = [
      { backend: "container", fault: "kerncrash", kind: "refused", reason: "is host kernel" },
      { backend: "container", fault: "no-such-fault", kind: "refused", reason: "unknown fault" },
      { backend: "container", fault: "*", kind: "available", reason: "bwrap 0.8" },
    ];
    const m = zoneMatrix([], st, ["container"]);
    expect(m.cells.container?.[3]).toEqual({ kind: "refused", reason: "is host kernel" });
    expect(m.cells.container?.[1]).toEqual({ kind: "empty" });
  });

  it("appends backends that only appear in runs or statements, after the campaign order", () => {
    const m = zoneMatrix(
      [storedRun("exec", "contained-limited")],
      [{ backend: "uml", fault: "*", kind: "unavailable", reason: "x" }],
      ["qemu-tcg"],
    );
    expect(m.backends).toEqual(["qemu-tcg", "exec", "uml"]);
  });

  it("only infra-errors: a results cell with n = 0 and bounds that claim nothing", () => {
    const cell = results(zoneMatrix([storedRun("qemu-tcg", "infra-error")], [], []).cells["qemu-tcg"]?.[3]);
    expect(cell).toMatchObject({ n: 0, infraErrors: 1, counts: {} });
    expect(cell.hostFailures.upper95).toBe(1);
    expect(cell.contained.lower95).toBe(0);
  });
});

describe("renderZoneMatrix", () => {
  const m = zoneMatrix(
    [
      ...Array.from({ length: 5 }, () => storedRun("qemu-tcg", "contained-limited")),
      storedRun("uml", "escaped-global"),
    ],
    [{ backend: "kvm", fault: "*", kind: "unavailable", reason: "hangs\x1b[2J after decompression" }],
    ["qemu-tcg", "kvm", "uml"],
  );

  it("has no escape sequences without colour, and shows the bounds", () => {
    const text = renderZoneMatrix(m, { color: false });
    expect(text).not.toContain("\x1b");
    expect(text).toContain("limited 5/5");
    expect(text).toContain("host failures 0/5, < 45%");
    expect(text).toContain("contained 5/5, ≥ 55%");
    expect(text).toContain("skipped");
    expect(text).toContain("\\x1b[2J");
    const lines = text.split("\n").filter((l) => l.startsWith("|") || l.startsWith("+"));
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });

  it("colours cells only when asked, and never passes a stored escape through", () => {
    const text = renderZoneMatrix(m, { color: true });
    expect(text).toContain("\x1b[32m");
    expect(text).toContain("\x1b[1;31m");
    expect(text).not.toContain("\x1b[2J");
  });

  it("a backend skipped in every zone for one reason gets one cell across the zones", () => {
    const text = renderZoneMatrix(m, { color: false });
    const kvm = text.split("\n").find((l) => l.startsWith("| kvm"));
    expect(kvm).toMatch(/^\| kvm +\| skipped in every zone: hangs\\x1b\[2J after decompression +\|$/);
    expect(skippedEverywhere(m, "kvm")).toBe("hangs\x1b[2J after decompression");
    expect(skippedEverywhere(m, "qemu-tcg")).toBeNull();
  });
});

describe("zoneMatrix: refusals sharing a reason", () => {
  it("names the faults refused for the same reason together", () => {
    const st: Statement[] = [
      { backend: "native", fault: "kerncrash", kind: "refused", reason: "zone 3 ≡ zone 1" },
      { backend: "native", fault: "kpanic", kind: "refused", reason: "zone 3 ≡ zone 1" },
      { backend: "native", fault: "sysrq-c", kind: "refused", reason: "other" },
    ];
    expect(zoneMatrix([], st, ["native"]).cells.native?.[3]).toEqual({
      kind: "refused",
      reason: "kerncrash, kpanic: zone 3 ≡ zone 1; sysrq-c: other",
    });
  });
});
