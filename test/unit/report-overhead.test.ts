import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { overheadFromRows, type PerfRow, readOverhead, readPerfRows } from "../../src/report/overhead.js";
import { DB_FILE } from "../../src/store/store.js";

const row = (backend: string, benchmark: string, value: number, lowerIsBetter = true): PerfRow => ({
  backend,
  benchmark,
  value,
  lowerIsBetter,
});

describe("overheadFromRows", () => {
  it("is the geometric mean of per-benchmark slowdowns against native, with their range", () => {
    const o = overheadFromRows(
      [row("native", "a", 1), row("native", "b", 2), row("kvm", "a", 2), row("kvm", "b", 16)],
      ["native", "kvm"],
    );
    expect(o.native).toMatchObject({ ratio: 1, min: 1, max: 1, benchmarks: ["a", "b"] });
    expect(o.kvm?.ratio).toBeCloseTo(4, 9); // sqrt(2 * 8)
    expect(o.kvm).toMatchObject({ min: 2, max: 8, benchmarks: ["a", "b"] });
  });

  it("takes the median of repeated rows, and inverts throughput (higher is better)", () => {
    const o = overheadFromRows(
      [
        row("native", "lat", 10),
        row("native", "lat", 11),
        row("native", "lat", 12),
        row("uml", "lat", 30),
        row("uml", "lat", 33),
        row("uml", "lat", 1000),
        row("native", "mbps", 100, false),
        row("uml", "mbps", 50, false),
      ],
      ["uml"],
    );
    expect(o.uml?.ratio).toBeCloseTo(Math.sqrt(3 * 2), 9);
  });

  it("is null for a backend without a benchmark in common with native, or without native at all", () => {
    expect(overheadFromRows([row("native", "a", 1), row("kvm", "b", 2)], ["kvm", "uml"])).toEqual({
      kvm: null,
      uml: null,
    });
    expect(overheadFromRows([row("kvm", "a", 2)], ["kvm"])).toEqual({ kvm: null });
  });

  it("ignores values that cannot be a ratio (zero, negative, NaN)", () => {
    const o = overheadFromRows(
      [row("native", "a", 0), row("kvm", "a", 1), row("native", "b", Number.NaN)],
      ["kvm"],
    );
    expect(o.kvm).toBeNull();
  });
});

describe("readPerfRows", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ezone-overhead-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const db = () => new Database(join(dir, DB_FILE));

  it("is null without a database, without the table, or without a required column", () => {
    expect(readPerfRows(dir)).toBeNull();
    const d = db();
    d.exec("CREATE TABLE runs (id INTEGER)");
    d.close();
    expect(readPerfRows(dir)).toBeNull();
    expect(readOverhead(dir, ["qemu-tcg"])).toEqual({ "qemu-tcg": null });
    const e = db();
    e.exec("CREATE TABLE perf_results (backend TEXT, value REAL)");
    e.close();
    expect(readPerfRows(dir)).toBeNull();
  });

  it("reads the minimal table, lower-is-better by default", () => {
    const d = db();
    d.exec("CREATE TABLE perf_results (backend TEXT, benchmark TEXT, value REAL)");
    d.prepare("INSERT INTO perf_results VALUES (?, ?, ?)").run("native", "a", 2);
    d.prepare("INSERT INTO perf_results VALUES (?, ?, ?)").run("kvm", "a", 3);
    d.close();
    expect(readPerfRows(dir)).toEqual([row("native", "a", 2), row("kvm", "a", 3)]);
    expect(readOverhead(dir, ["kvm"]).kvm?.ratio).toBeCloseTo(1.5, 9);
  });

  it("keeps one campaign's rows, from its latest session only", () => {
    const d = db();
    d.exec(
      "CREATE TABLE perf_results (id INTEGER PRIMARY KEY, campaign TEXT, session TEXT, backend TEXT, benchmark TEXT, value REAL, lower_is_better INTEGER)",
    );
    const ins = d.prepare(
      "INSERT INTO perf_results (campaign, session, backend, benchmark, value, lower_is_better) VALUES (?, ?, ?, ?, ?, ?)",
    );
    ins.run("paper", "s1", "native", "a", 1, 1);
    ins.run("paper", "s1", "kvm", "a", 9, 1);
    ins.run("paper", "s2", "native", "a", 1, 1);
    ins.run("paper", "s2", "kvm", "a", 2, 1);
    ins.run("other", "s3", "native", "a", 1, 0);
    ins.run("other", "s3", "kvm", "a", 5, 0);
    d.close();
    expect(readPerfRows(dir, "paper")).toEqual([row("native", "a", 1), row("kvm", "a", 2)]);
    expect(readOverhead(dir, ["kvm"], "other").kvm?.ratio).toBeCloseTo(0.2, 9);
    expect(readPerfRows(dir, "nope")).toEqual([]);
  });
});
