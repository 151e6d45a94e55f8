import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { judgeBaseline } from "../../src/host/baseline-health.js";
import { compareProbes, DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import { type HostProbes, type KmsgCursor, kmsgCursorOf, probeHost } from "../../src/host/probes.js";
import {
  BUSY_LOOP,
  BUSY_LOOPS,
  LOADED_RUNNABLE,
  loadedThresholds,
  waitForRunnable,
} from "../helpers/host-load.js";

/** Every process a test starts, each in its own process group; all are killed after each test. */
const started = new Set<ChildProcess>();

async function start(command: string, args: string[], options: SpawnOptions = {}): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: "ignore", detached: true, ...options });
  started.add(child);
  await once(child, "spawn");
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
    await exited;
  }
  started.delete(child);
}

async function killAll(): Promise<void> {
  await Promise.all([...started].map(kill));
}

afterEach(killAll);

function probe(runTag: string | null, kmsgCursor: KmsgCursor | null = null): Promise<HostProbes> {
  return probeHost({ runTag, signal: AbortSignal.timeout(30_000), kmsgCursor });
}

function value<T>(probed: { kind: string; value?: T }): T {
  expect(probed.kind).toBe("ok");
  return probed.value as T;
}

function can(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

const neverOops = (): boolean => false;

describe("probeHost on this host", () => {
  it("reports plausible values", async () => {
    const probes = await probe(null);
    expect(value(probes.forkExecMs)).toBeGreaterThan(0);
    expect(value(probes.forkExecMs)).toBeLessThan(1000);
    expect(value(probes.loadavg1)).toBeGreaterThanOrEqual(0);
    expect(value(probes.procsRunning)).toBeGreaterThanOrEqual(1);
    expect(probes.cores).toBe(availableParallelism());
    const memTotalKb = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    expect(value(probes.memAvailableKb)).toBeGreaterThan(0);
    expect(value(probes.memAvailableKb)).toBeLessThanOrEqual(memTotalKb);
    expect(value(probes.taint)).toBe(Number(readFileSync("/proc/sys/kernel/tainted", "utf8")));
    expect(probes.leakedPids).toMatchObject({
      kind: "unavailable",
      reason: expect.stringMatching(/no run tag/),
    });
    expect(Date.parse(probes.takenAt)).not.toBeNaN();
  });

  it.runIf(can("/dev/kmsg", constants.R_OK))("takes a kmsg baseline as a cursor with no lines", async () => {
    const read = value((await probe(null)).kmsg);
    expect(read.since).toBeNull();
    expect(read.lines).toEqual([]);
    expect(read.cursor.seq).toBeGreaterThanOrEqual(0);
  });

  it.runIf(can("/dev/kmsg", constants.W_OK))("reports a new host kernel log line once", async () => {
    const before = await probe(null);
    const cursor = value(before.kmsg).cursor;
    const marker = `ezone host-probes test marker ${randomUUID()}`;
    writeFileSync("/dev/kmsg", `<6>${marker}\n`);

    const after = await probe(null, cursor);
    const read = value(after.kmsg);
    expect(read.since).toEqual(cursor);
    expect(read.lines).toContain(marker);
    expect(read.lostRecords).toBe(0);
    expect(read.cursor.seq).toBeGreaterThan(cursor.seq);

    const isMarker = (line: string): boolean => line === marker;
    const kmsgFinding = (isOops: (line: string) => boolean) =>
      compareProbes(before, after, DEFAULT_PROBE_THRESHOLDS, isOops).find((f) => f.probe === "host.kmsg");
    expect(kmsgFinding(isMarker)).toMatchObject({
      severity: "failed",
      detail: expect.stringContaining(marker),
    });
    expect(kmsgFinding(neverOops)?.severity).toBe("ok");

    const later = value((await probe(null, read.cursor)).kmsg);
    expect(later.lines).not.toContain(marker);
  });

  it("finds a process carrying the run tag until it is killed", async () => {
    const tag = `test-${randomUUID()}`;
    const sleeper = await start("sleep", ["30"], { env: { ...process.env, EZONE_RUN: tag } });

    const leaking = await probe(tag);
    expect(value(leaking.leakedPids).processes).toEqual([{ pid: sleeper.pid, comm: "sleep" }]);
    expect(value((await probe(`${tag}x`)).leakedPids).processes).toEqual([]);
    expect(value((await probe(tag.slice(0, -1))).leakedPids).processes).toEqual([]);
    const leakFinding = compareProbes(leaking, leaking, DEFAULT_PROBE_THRESHOLDS, neverOops).find(
      (f) => f.probe === "host.leakedPids",
    );
    expect(leakFinding).toMatchObject({ severity: "failed", after: 1 });

    await kill(sleeper);
    expect(value((await probe(tag)).leakedPids).processes).toEqual([]);
  });

  it("rejects when the caller aborts instead of reporting a probe result", async () => {
    const gone = AbortSignal.abort(new Error("caller gave up"));
    await expect(probeHost({ runTag: null, signal: gone })).rejects.toThrow("caller gave up");
    const controller = new AbortController();
    const taking = probeHost({ runTag: null, signal: controller.signal });
    controller.abort(new Error("aborted mid-probing"));
    await expect(taking).rejects.toThrow("aborted mid-probing");
  });

  it("sees busy loops as too many runnable tasks", async () => {
    const before = await probe(null);
    const busy: ChildProcess[] = [];
    try {
      for (let i = 0; i < BUSY_LOOPS; i++) busy.push(await start(BUSY_LOOP.command, BUSY_LOOP.args));
      expect(await waitForRunnable(LOADED_RUNNABLE, 10_000)).toBeGreaterThanOrEqual(LOADED_RUNNABLE);
      const after = await probe(null, kmsgCursorOf(before));
      const thresholds = loadedThresholds();
      const finding = compareProbes(before, after, thresholds, neverOops).find(
        (f) => f.probe === "host.procsRunning",
      );
      expect(finding?.severity).toBe("degraded");
      expect(finding?.after).toBeGreaterThanOrEqual(LOADED_RUNNABLE);
      expect(judgeBaseline(after, thresholds)).toMatch(/runnable tasks/);
    } finally {
      await Promise.all(busy.map(kill));
    }
  });
});
