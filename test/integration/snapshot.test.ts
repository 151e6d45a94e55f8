import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { EnclaveSpec } from "../../src/backends/backend.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { ensureSnapshot, type SnapshotRef } from "../../src/backends/snapshot-cache.js";
import { type RunPlan, runOne } from "../../src/campaign/run-one.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { RunMonitor } from "../../src/monitor/run-monitor.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { testPlan } from "../helpers/enclave-runs.js";

const qemu = new QemuBackend({ accel: "tcg" });
let image: BuiltImage;
let cache: string;
let snapshot: SnapshotRef;

const workDirs: string[] = [];
function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ezone-snap-enclave-"));
  workDirs.push(dir);
  return dir;
}

function spec(over: Partial<EnclaveSpec> = {}): EnclaveSpec {
  return {
    image,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: ["oops=panic"],
    arm: null,
    runTag: "snap-test",
    // Its own work dir: the console FIFOs live there.
    workDir: workDir(),
    ...over,
  };
}

/** Restore the snapshot, introduce the run (RESUME seed=...), send commands, return the console text. */
async function restoredSession(seed: string, commands: string[], until: RegExp): Promise<string> {
  const monitor = new RunMonitor(seed, 10_000);
  const text = () => monitor.console().data.toString("latin1");
  const signal = AbortSignal.timeout(60_000);
  await using enclave = await qemu.start(spec({ restoreFrom: snapshot.dir }), monitor.sink, signal);
  await monitor.wait(
    { reason: "RESUME", until: (s) => s.controlEvents.some((e) => e.name === "RESUME"), timeoutMs: 30_000 },
    signal,
  );
  enclave.send(`RESUME seed=${seed}`);
  await monitor.wait({ reason: "READY", until: (s) => s.readyAt !== null, timeoutMs: 10_000 }, signal);
  for (const c of commands) enclave.send(c);
  await monitor.wait(
    { reason: `console ${until}`, until: () => until.test(text()), timeoutMs: 10_000 },
    signal,
  );
  monitor[Symbol.dispose]();
  return text();
}

function plan(over: Partial<RunPlan>): RunPlan {
  return testPlan(qemu, image, "kerncrash", {
    snapshot: { get: async () => snapshot, invalidate: async () => {} },
    ...over,
  });
}

describe.runIf(hasBinary("qemu-system-x86_64"))("snapshot fast path (qemu-tcg)", () => {
  beforeAll(async () => {
    image = await buildImage();
    cache = mkdtempSync(join(tmpdir(), "ezone-snapcache-"));
    snapshot = await ensureSnapshot(qemu, spec(), AbortSignal.timeout(180_000), cache);
  }, 300_000);
  afterAll(() => {
    for (const dir of [cache, ...workDirs]) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => expect(processesMatching("qemu-system-x86_64")).toEqual([]));

  it("is saved once and reused: a second ensure is a cache hit", async () => {
    expect(snapshot.bytes).toBeGreaterThan(1_000_000);
    const again = await ensureSnapshot(qemu, spec(), AbortSignal.timeout(60_000), cache);
    expect(again).toMatchObject({ key: snapshot.key, dir: snapshot.dir, savedMs: null });
  });

  it("is keyed by the machine: other memory or kernel arguments give another key", async () => {
    const signal = AbortSignal.timeout(10_000);
    expect(await qemu.snapshotKey(spec({ memoryMb: 512 }), signal)).not.toBe(snapshot.key);
    expect(await qemu.snapshotKey(spec({ kernelArgs: ["oops=panic", "panic_on_warn=1"] }), signal)).not.toBe(
      snapshot.key,
    );
    expect(await qemu.snapshotKey(spec({ workDir: "/elsewhere", runTag: "other" }), signal)).toBe(
      snapshot.key,
    );
  });

  it("restored clones diverge: the run's seed reseeds the guest RNG", async () => {
    const a = await restoredSession("seedaaaa", ["RAND"], /RAND [0-9a-f]{32}/);
    const b = await restoredSession("seedbbbb", ["RAND"], /RAND [0-9a-f]{32}/);
    const rand = (t: string) => /RAND ([0-9a-f]{32})/.exec(t)?.[1];
    expect(rand(a)).toBeDefined();
    expect(rand(a)).not.toBe(rand(b));
    expect(a).toMatch(/READY ezone-agent\/1 hb=250 restored=1/);
    expect(a).toMatch(/HB 0 /); // the heartbeat sequence restarts at the restore
  });

  it("independence: run N's marker is not seen by run N+1", async () => {
    const first = await restoredSession("mark1", ["MARK run-n-was-here", "PEEK"], /MARK-SEEN \S+\r?\n/);
    expect(first, first).toContain("MARK-SEEN run-n-was-here");
    const second = await restoredSession("mark2", ["PEEK"], /MARK-SEEN \S+\r?\n/);
    expect(second).toContain("MARK-SEEN none");
  });

  it("independence: run N crashes the kernel, run N+1 is clean; a timed fault counts from the restore", async () => {
    const crash = await runOne(
      plan({ trigger: { mode: "boot-delay", delaySeconds: 1 } }),
      AbortSignal.timeout(150_000),
    );
    expect(crash.verdict.outcome).toBe("contained-limited");
    expect(crash.evidence.heartbeatsAfterFault).toBe(0);
    // Armed after the restore with delay_ms=1000: it fires from the kernel timer, heartbeats go on meanwhile.
    const text = crash.console.data.toString();
    expect(text).toMatch(/firing context=timer/);
    expect(text.indexOf("HB 2 ")).toBeGreaterThan(-1);
    expect(text.indexOf("HB 2 ")).toBeLessThan(text.indexOf("firing context=timer"));
    const clean = await runOne(plan({ fault: "none" }), AbortSignal.timeout(150_000));
    expect(clean.verdict.outcome).toBe("no-effect");
    expect(clean.bootMs).not.toBeNull();
    // A restore's time splits into loading the state (until QMP RESUME) and the agent's answer.
    expect(clean.evidence.phases?.spawnToResume).toBeGreaterThan(0);
    expect(clean.evidence.phases?.spawnToReady).toBeGreaterThanOrEqual(
      clean.evidence.phases?.spawnToResume ?? 0,
    );
  });

  it("a restore claims the VMM started ahead for it; close() kills the spare left", async () => {
    const withSpares = new QemuBackend({ accel: "tcg" });
    const signal = AbortSignal.timeout(60_000);
    const restore = async () => {
      const monitor = new RunMonitor("spare", 10_000);
      const enclave = await withSpares.start(
        spec({ restoreFrom: snapshot.dir, keepSpare: true }),
        monitor.sink,
        signal,
      );
      await monitor.wait(
        {
          reason: "RESUME",
          until: (s) => s.controlEvents.some((e) => e.name === "RESUME"),
          timeoutMs: 30_000,
        },
        signal,
      );
      enclave.send("RESUME seed=spare");
      await monitor.wait({ reason: "READY", until: (s) => s.readyAt !== null, timeoutMs: 10_000 }, signal);
      await enclave.stop();
      monitor[Symbol.dispose]();
      return enclave;
    };
    const first = await restore();
    expect(first.tag).toBe("snap-test"); // nothing to claim yet: started for the run
    const second = await restore();
    expect(second.tag).toMatch(/^spare-\d+-[0-9a-f]{12}$/); // started ahead, during the first run
    expect(processesMatching("qemu-system-x86_64").length).toBe(1); // the spare for a third
    await withSpares.close();
  });

  it("a corrupt snapshot file is detected and saved anew", async () => {
    // One byte flipped inside the kernel's RAM (16 MiB in): the RAM file is the part no load would check.
    const fh = await open(join(snapshot.dir, "ram.bin"), "r+");
    await fh.write(Buffer.from("corrupt!"), 0, 8, 16 << 20);
    await fh.close();
    const rebuilt = await ensureSnapshot(qemu, spec(), AbortSignal.timeout(180_000), cache);
    expect(rebuilt.savedMs).not.toBeNull();
    snapshot = rebuilt;
    const r = await runOne(plan({}), AbortSignal.timeout(150_000));
    expect(r.verdict.outcome).toBe("contained-limited");
  }, 240_000);

  it("a snapshot file that does not load is an infra-error of that run, and is forgotten", async () => {
    const broken = mkdtempSync(join(cache, "broken-"));
    writeFileSync(join(broken, "state.bin"), "not a migration stream");
    let invalidated = false;
    const r = await runOne(
      plan({
        snapshot: {
          get: async () => ({ ...snapshot, dir: broken }),
          invalidate: async () => {
            invalidated = true;
          },
        },
      }),
      AbortSignal.timeout(150_000),
    );
    expect(r.verdict.outcome).toBe("infra-error");
    expect(invalidated).toBe(true);
  });
});
