import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { evictSnapshots } from "../../src/backends/snapshot-cache.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A cache with one 64 KiB snapshot per key, saved at the given times. */
function cache(saved: Record<string, string | null>): string {
  const dir = mkdtempSync(join(tmpdir(), "ezone-evict-"));
  dirs.push(dir);
  for (const [key, savedAt] of Object.entries(saved)) {
    const snap = join(dir, "snapshots", key);
    mkdirSync(snap, { recursive: true });
    writeFileSync(join(snap, "ram.bin"), Buffer.alloc(64 * 1024, 1));
    writeFileSync(join(snap, "meta.json"), savedAt === null ? "{not json" : JSON.stringify({ key, savedAt }));
  }
  return dir;
}

describe("snapshot cache eviction", () => {
  it("removes the oldest snapshots until the cache fits, never the one kept", async () => {
    const dir = cache({ a: "2026-01-01T00:00:00Z", b: "2026-01-02T00:00:00Z", c: "2026-01-03T00:00:00Z" });
    const evicted = await evictSnapshots(dir, "a", 2 * 70 * 1024);
    expect(evicted).toEqual(["b"]);
    expect(readdirSync(join(dir, "snapshots")).sort()).toEqual(["a", "c"]);
  });

  it("leaves a cache under its bound alone, and takes an unreadable snapshot first", async () => {
    const dir = cache({ a: "2026-01-01T00:00:00Z", broken: null });
    expect(await evictSnapshots(dir, "a", 10 * 1024 * 1024)).toEqual([]);
    expect(await evictSnapshots(dir, "a", 100 * 1024)).toEqual(["broken"]);
  });
});
