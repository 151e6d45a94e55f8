import { describe, expect, it } from "vitest";
import { parseCampaign } from "../../src/campaign/load.js";
import {
  declaredCells,
  parseShard,
  selectShard,
  shardFilter,
  shardOfPosition,
} from "../../src/campaign/shard.js";
import { ConfigError } from "../../src/util/errors.js";

const config = parseCampaign(
  [
    "name: sharded",
    "repetitions: 3",
    "until: { maxFailureRate: 0.5, maxRuns: 9 }",
    "backends: [qemu-tcg, uml, { name: fc, type: exec }]",
    "faults: [kerncrash, none, segfault, { name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }]",
  ].join("\n"),
  "sharded.yaml",
);

describe("parseShard", () => {
  it.each([
    ["0/1", { index: 0, count: 1 }],
    ["2/3", { index: 2, count: 3 }],
    [" 9999/10000 ", { index: 9999, count: 10000 }],
  ])("%s", (text, shard) => expect(parseShard(text)).toEqual(shard));

  it.each(["3/3", "0/0", "-1/3", "1/", "a/b", "1/3/4", "0/10001", ""])(
    "rejects %j naming the flag",
    (text) => {
      expect(() => parseShard(text)).toThrow(ConfigError);
      expect(() => parseShard(text)).toThrow(/^--shard: .*expected I\/N/);
    },
  );
});

describe("cells are dealt to shards", () => {
  it("declares every backend × fault in YAML order, a fault listed twice being two cells", () => {
    const cells = declaredCells(config);
    expect(cells).toHaveLength(12);
    expect(cells.slice(0, 5)).toEqual([
      { backend: "qemu-tcg", faultIndex: 0 },
      { backend: "qemu-tcg", faultIndex: 1 },
      { backend: "qemu-tcg", faultIndex: 2 },
      { backend: "qemu-tcg", faultIndex: 3 },
      { backend: "uml", faultIndex: 0 },
    ]);
  });

  it("every cell lands in exactly one shard, and shards differ in size by at most one", () => {
    for (const count of [1, 2, 3, 5, 12, 13]) {
      const shards = Array.from({ length: count }, (_, index) =>
        selectShard(declaredCells(config), { index, count }),
      );
      const all = shards.flat().map((c) => `${c.backend}#${c.faultIndex}`);
      expect(new Set(all).size).toBe(12);
      expect(all).toHaveLength(12);
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it("the same cell always lands in the same shard, whatever else the node can run", () => {
    const a = shardFilter(config, { index: 1, count: 3 });
    const b = shardFilter(parseCampaign(JSON.stringify(config), "again.yaml"), { index: 1, count: 3 });
    for (const { backend, faultIndex } of declaredCells(config)) {
      expect(a(backend, faultIndex)).toBe(b(backend, faultIndex));
    }
    expect(a("qemu-tcg", 1)).toBe(true);
    expect(a("qemu-tcg", 0)).toBe(false);
    expect(a("uml", 0)).toBe(true); // position 4
    expect(a("fc", 1)).toBe(false); // position 9
    expect(a("unknown-backend", 0)).toBe(false);
  });

  it("without a shard every cell is selected", () => {
    const all = shardFilter(config, undefined);
    expect(declaredCells(config).every((c) => all(c.backend, c.faultIndex))).toBe(true);
    expect(selectShard([1, 2, 3], undefined)).toEqual([1, 2, 3]);
  });

  it("round-robin by position", () => {
    expect([0, 1, 2, 3, 4].map((p) => shardOfPosition(p, 3))).toEqual([0, 1, 2, 0, 1]);
  });
});
