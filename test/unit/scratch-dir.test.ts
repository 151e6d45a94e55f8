import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ownerTag } from "../../src/util/owner-tag.js";
import { makeScratchDir, sweepScratchDirs } from "../../src/util/scratch-dir.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ezone-scratch-test-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("scratch directories", () => {
  it("carry the owner tag of the ezone that made them", async () => {
    const made = await makeScratchDir("run");
    try {
      expect(basename(made)).toMatch(new RegExp(`^ezone-run-${ownerTag().replace(":", "_")}-\\w+$`));
    } finally {
      rmSync(made, { recursive: true, force: true });
    }
  });

  it("of a dead ezone are swept; a live one's and anything else are left", () => {
    const dead = join(dir, "ezone-run-999999999_1-abc123");
    const deadSpare = join(dir, "ezone-spare-999999999_1-def456");
    const live = join(dir, `ezone-run-${ownerTag().replace(":", "_")}-ghi789`);
    const other = join(dir, "ezone-run-not-a-tag");
    for (const d of [dead, deadSpare, live, other]) mkdirSync(join(d, "inside"), { recursive: true });
    expect(sweepScratchDirs(dir).sort()).toEqual([dead, deadSpare].sort());
    expect(readdirSync(dir).sort()).toEqual([basename(other), basename(live)].sort());
    expect(existsSync(join(live, "inside"))).toBe(true);
  });
});
