import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cellVariants } from "../../src/campaign/cell-variants.js";
import { parseCampaign } from "../../src/campaign/load.js";
import { planCellSlots } from "../../src/campaign/plan-cells.js";
import { Store } from "../../src/store/store.js";
import { ConfigError } from "../../src/util/errors.js";
import { NO_IMAGE } from "../helpers/replay.js";
import { evidenceFor, storedRun } from "../helpers/report-fixtures.js";

/** A campaign around one cell: `cell` is the YAML of the cell's fields (indented under `- `). */
const campaign = (cell: string, backends = "[qemu-tcg, native, exec]") =>
  `name: comp\nbackends: ${backends}\nfaults: [kerncrash, none]\ncells:\n  - name: pair\n${cell
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\n`;

/** The problems of a campaign text, as "path: message". */
function problems(text: string): string[] {
  try {
    parseCampaign(text, "comp.yaml");
  } catch (e) {
    if (e instanceof ConfigError)
      return e.issues.map((i) => `${i.path}: ${i.message}`.replace(/^line \d+, column \d+: /, ""));
    throw e;
  }
  return [];
}

const PAIR = `
victim: qemu-tcg
peers: [{ name: b, backend: qemu-tcg }]
links:
  - { kind: depends-on, from: b, to: victim }
  - { kind: network, from: b, to: victim }
toggles: [depends-on]
limits: both
`;

describe("composed cells in campaign YAML", () => {
  it("expands each toggled link and limits: both into variants, all enabled first", () => {
    const config = parseCampaign(campaign(PAIR), "comp.yaml");
    const cell = config.cells?.[0];
    if (!cell) throw new Error("no cell parsed");
    const variants = cellVariants(cell);
    expect(variants.map((v) => [v.links.map((l) => l.enabled), v.limits])).toEqual([
      [[true, true], false],
      [[false, true], false],
      [[true, true], true],
      [[false, true], true],
    ]);
    // Fields in key order: the JSON is hashed into run keys.
    expect(JSON.stringify(variants[1])).toBe(
      '{"peers":[{"name":"b","backend":"qemu-tcg"}],"links":[{"kind":"depends-on","from":"b","to":"victim","enabled":false},{"kind":"network","from":"b","to":"victim","enabled":true}],"limits":false}',
    );
  });

  it.each([
    [
      "an unknown enclave in a link",
      "victim: qemu-tcg\npeers: [{ name: b, backend: qemu-tcg }]\nlinks: [{ kind: network, from: c, to: victim }]",
      "cells[0].links[0].from: 'c' is not an enclave of this cell (enclaves: b, victim)",
    ],
    [
      "two peers of one name",
      "victim: qemu-tcg\npeers: [{ name: b, backend: qemu-tcg }, { name: b, backend: qemu-tcg }]",
      "cells[0].peers[1].name: peer name 'b' is already used by peers[0]",
    ],
    [
      "a peer named victim",
      "victim: qemu-tcg\npeers: [{ name: victim, backend: qemu-tcg }]",
      "cells[0].peers[0].name: 'victim' names the cell's victim itself: give the peer another name",
    ],
    [
      "a peer named host",
      "victim: qemu-tcg\npeers: [{ name: host, backend: qemu-tcg }]",
      "cells[0].peers[0].name: 'host' names the cell's host itself: give the peer another name",
    ],
    [
      "a network link to a backend without a NIC",
      "victim: qemu-tcg\npeers: [{ name: b, backend: native }]\nlinks: [{ kind: network, from: b, to: victim }]",
      "cells[0].links[0].from: a network link cannot reach 'b' (native): a native enclave uses the host's own network stack: it has no NIC of its own to bridge",
    ],
    [
      "a victim that is not a backend of the campaign",
      "victim: uml",
      "cells[0].victim: 'uml' is not a backend of this campaign (backends: qemu-tcg, native, exec)",
    ],
    [
      "a toggle without its link",
      "victim: qemu-tcg\npeers: [{ name: b, backend: qemu-tcg }]\ntoggles: [network]",
      "cells[0].toggles[0]: the cell has no network link to toggle (links: none)",
    ],
  ])("refuses %s, naming the path", (_name, cell, expected) => {
    expect(problems(campaign(cell))).toEqual([expected]);
  });

  it("refuses shared storage (not built yet) at both ends, naming each path", () => {
    const cell =
      "victim: qemu-tcg\npeers: [{ name: b, backend: qemu-tcg }]\nlinks: [{ kind: shared-storage, from: b, to: victim }]";
    expect(problems(campaign(cell))).toEqual([
      "cells[0].links[0].from: a shared-storage link cannot reach 'b' (qemu-tcg): shared storage between enclaves is not built yet",
      "cells[0].links[0].to: a shared-storage link cannot reach 'victim' (qemu-tcg): shared storage between enclaves is not built yet",
    ]);
  });

  it("the example campaign compares its dependency on and off, the bridge on in both", () => {
    const file = "examples/campaigns/composition.yaml";
    const cell = parseCampaign(readFileSync(file, "utf8"), file).cells?.[0];
    if (!cell) throw new Error("the example has no cell");
    expect(cellVariants(cell).map((v) => v.links.map((l) => `${l.kind} ${l.enabled}`))).toEqual([
      ["network true", "depends-on true"],
      ["network true", "depends-on false"],
    ]);
  });

  it("refuses two cells of one name", () => {
    const text = `${campaign("victim: qemu-tcg")}  - name: pair\n    victim: native\n`;
    expect(problems(text)).toEqual(["cells[1].name: cell name 'pair' is already used by cells[0]"]);
  });
});

describe("planning composed cells", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("plans each variant's control runs (at least 5) first and gates its fault runs on them", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-cells-"));
    const text = campaign(
      "victim: vm\npeers: [{ name: b, backend: vm }]\nlimits: both",
      "[{ name: vm, type: exec, exec: { start: 'true' } }]",
    ).replace("name: comp", "name: comp\nrepetitions: 2");
    const config = parseCampaign(text, "comp.yaml");
    using store = Store.open(dir);
    store.ensureCampaign(config.name, JSON.stringify(config), "h");
    const lines: string[] = [];
    const { slots } = await planCellSlots({ config, resultsDir: dir, text, file: "comp.yaml" }, store, {
      image: NO_IMAGE,
      signal: AbortSignal.timeout(5_000),
      log: (l) => lines.push(l),
    });
    // Per variant (limits off, on): its controls, then kerncrash; the listed `none` is the controls.
    expect(slots.map((s) => [s.fault, s.params.composition?.limits, s.cell.remaining()])).toEqual([
      ["none", false, 5],
      ["kerncrash", false, 2],
      ["none", true, 5],
      ["kerncrash", true, 2],
    ]);
    const [control, fault] = slots;
    expect(fault?.after).toEqual({ cell: control?.cell, results: 5 });
    expect(fault?.controls).toBe(control?.cell);
    expect(control?.after).toBeUndefined();
    expect(slots.every((s) => s.exclusive)).toBe(true);
    expect(new Set(slots.map((s) => s.cell.keyPrefix)).size).toBe(4);
    expect(lines).toContain("cell pair (limits off): 5 control runs first");
  });

  it("a resumed campaign restores the controls it stored, and the fault runs need not wait again", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-cells-"));
    const text = campaign(
      "victim: vm\npeers: [{ name: b, backend: vm }]",
      "[{ name: vm, type: exec, exec: { start: 'true' } }]",
    );
    const loaded = { config: parseCampaign(text, "comp.yaml"), resultsDir: dir, text, file: "comp.yaml" };
    using store = Store.open(dir);
    store.ensureCampaign("comp", text, "h");
    const opts = { image: NO_IMAGE, signal: AbortSignal.timeout(5_000), log: () => {} };
    const first = await planCellSlots(loaded, store, opts);
    const controlKey = first.slots[0]?.cell.keyPrefix ?? "";
    for (const rep of [1, 2, 3, 4, 5]) {
      const run = storedRun("vm", "no-effect", {
        campaign: "comp",
        runKey: `${controlKey}/${rep}`,
        fault: "none",
      });
      await store.recordRun({
        ...run,
        evidence: evidenceFor("none", 3),
        verdict: { outcome: "no-effect", reasons: [] },
        artifacts: [],
      });
    }
    const again = await planCellSlots(loaded, store, opts);
    expect(again.restored).toBe(5);
    expect(again.slots[0]?.cell.complete()).toBe(true);
    expect(again.slots[1]?.after?.cell.complete()).toBe(true);
  });
});
