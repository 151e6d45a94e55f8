import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Cell } from "../../src/campaign/cell.js";
import { acquireCampaignLock, CampaignLockedError } from "../../src/campaign/lock.js";
import { progressLine } from "../../src/campaign/progress.js";
import { processStartTicks } from "../../src/util/proc.js";

describe("Cell scheduling", () => {
  it("hands out each repetition once and is complete when all finished", () => {
    const c = new Cell("k", 3, null);
    expect([c.next(), c.next(), c.next(), c.next()]).toEqual([1, 2, 3, null]);
    expect(c.complete()).toBe(false);
    for (const r of [1, 2, 3]) c.finished(r, "contained-limited");
    expect(c.complete()).toBe(true);
    expect(c.remaining()).toBe(0);
  });

  it("skips repetitions restored from the store (resume) and redoes abandoned ones", () => {
    const c = new Cell("k", 3, null);
    c.restore(2, "no-effect");
    expect(c.next()).toBe(1);
    c.abandoned(1);
    expect(c.next()).toBe(1);
    expect(c.next()).toBe(3);
    expect(c.next()).toBeNull();
  });

  it("an infra-error after retries is given up for this invocation, not redone forever", () => {
    const c = new Cell("k", 2, null);
    expect(c.next()).toBe(1);
    c.finished(1, "infra-error");
    expect(c.next()).toBe(2);
    c.finished(2, "contained-limited");
    expect(c.next()).toBeNull();
    expect(c.complete()).toBe(true);
  });

  it("adaptive stopping: 29 clean runs bound the host-failure rate below 10%", () => {
    const c = new Cell("k", 5, { maxFailureRate: 0.1, confidence: 0.95, maxRuns: 60 });
    let runs = 0;
    for (let rep = c.next(); rep !== null; rep = c.next()) {
      c.finished(rep, "contained-limited");
      runs++;
    }
    expect(runs).toBe(29);
    expect(c.failureBound()).toBeLessThan(0.1);
  });

  it("adaptive stopping gives up at maxRuns when failures keep the bound high", () => {
    const c = new Cell("k", 5, { maxFailureRate: 0.1, confidence: 0.95, maxRuns: 12 });
    let runs = 0;
    for (let rep = c.next(); rep !== null; rep = c.next()) {
      c.finished(rep, runs % 3 === 0 ? "escaped-global" : "contained-limited");
      runs++;
    }
    expect(runs).toBe(12);
  });
});

describe("progress line", () => {
  it("counts, running runs and an ETA", () => {
    const line = progressLine({
      done: 2,
      remaining: 2,
      running: 1,
      outcomes: { "contained-limited": 2 },
      elapsedMs: 20_000,
    });
    expect(line).toBe("2/4 done, 1 running | contained-limited 2 | ETA 20s");
  });
});

describe("campaign lock", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a second holder while the first lives, and frees on dispose", () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-lock-"));
    const lock = acquireCampaignLock(dir);
    expect(() => acquireCampaignLock(dir)).toThrow(CampaignLockedError);
    lock[Symbol.dispose]();
    acquireCampaignLock(dir)[Symbol.dispose]();
  });

  it("reclaims a lock whose process is dead", () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-lock-"));
    writeFileSync(
      join(dir, "ezone.lock"),
      JSON.stringify({ pid: 2 ** 22 + 7, startTicks: 1, host: hostname() }),
    );
    acquireCampaignLock(dir)[Symbol.dispose]();
  });

  it("reclaims a lock whose PID was reused by another process (start time differs)", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-lock-"));
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const pid = child.pid as number;
      const ticks = processStartTicks(pid) as number;
      writeFileSync(
        join(dir, "ezone.lock"),
        JSON.stringify({ pid, startTicks: ticks - 1, host: hostname() }),
      );
      const lock = acquireCampaignLock(dir);
      expect(JSON.parse(readFileSync(join(dir, "ezone.lock"), "utf8")).pid).toBe(process.pid);
      lock[Symbol.dispose]();
      writeFileSync(join(dir, "ezone.lock"), JSON.stringify({ pid, startTicks: ticks, host: hostname() }));
      expect(() => acquireCampaignLock(dir)).toThrow(/in use by ezone pid/);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
