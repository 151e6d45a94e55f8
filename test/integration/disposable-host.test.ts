/**
 * Enclaves inside a disposable host (a QEMU-TCG VM that plays the node), restored from a snapshot taken
 * with the enclave already READY: a native enclave heartbeats and its segfault stays its own; a zone-1
 * module loaded into the host's kernel kills the host, with its proof line on the host's console.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EnclaveEvent, EnclaveSpec } from "../../src/backends/backend.js";
import { compareDhProbes } from "../../src/backends/disposable-host/dh-probes.js";
import { DisposableHostBackend } from "../../src/backends/disposable-host/disposable-host.js";
import { NativeBackend } from "../../src/backends/native.js";
import { ensureSnapshot, type SnapshotRef } from "../../src/backends/snapshot-cache.js";
import { DhWatch, dhEvidence } from "../../src/campaign/host-watch.js";
import { buildHostImage, type HostImage } from "../../src/guest/host-image.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import { deadline } from "../../src/util/deadline.js";
import { sweepScratchDirs } from "../../src/util/scratch-dir.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { eventually, requireBuiltCli } from "../helpers/cli.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";

let image: BuiltImage;
let hostImage: HostImage;
let cache: string;
let snapshot: SnapshotRef;
let backend: DisposableHostBackend;

function spec(over: Partial<EnclaveSpec> = {}): EnclaveSpec {
  return {
    image,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: ["oops=panic"],
    arm: null,
    runTag: "dh-test",
    workDir: mkdtempSync(join(tmpdir(), "ezone-run-dhtest-")),
    ...over,
  };
}

/** Resolves when the console text of `events` matches `re`; rejects after `ms`. */
function consoleMatch(events: { text: string; on: Set<() => void> }, re: RegExp, ms: number): Promise<void> {
  const signal = deadline(null, ms);
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!re.test(events.text)) return;
      events.on.delete(check);
      resolve();
    };
    events.on.add(check);
    signal.addEventListener("abort", () => {
      events.on.delete(check);
      reject(new Error(`no ${re} within ${ms} ms: ${events.text.slice(-500)}`));
    });
    check();
  });
}

describe.runIf(hasBinary("qemu-system-x86_64"))("a disposable host (QEMU-TCG) with a native enclave", () => {
  beforeAll(async () => {
    image = await buildImage();
    hostImage = await buildHostImage({ guest: image });
    cache = mkdtempSync(join(tmpdir(), "ezone-dh-cache-"));
    backend = new DisposableHostBackend({ inner: new NativeBackend(), image: async () => hostImage });
    snapshot = await ensureSnapshot(backend, spec(), AbortSignal.timeout(240_000), cache);
  }, 300_000);

  afterAll(async () => {
    await backend?.close();
    if (cache) rmSync(cache, { recursive: true, force: true });
  });

  it("restores with the enclave READY: it answers RESUME and heartbeats", async () => {
    const seen = { text: "", on: new Set<() => void>() };
    const sink = (ev: EnclaveEvent) => {
      if (ev.type !== "console") return;
      seen.text += ev.data.toString();
      for (const f of [...seen.on]) f();
    };
    const s = spec({ restoreFrom: snapshot.dir });
    await using enclave = await backend.start(s, sink, AbortSignal.timeout(120_000));
    enclave.send("RESUME seed=abc");
    await consoleMatch(seen, /READY ezone-agent[^\n]*\n[\s\S]*HB 2 /, 60_000);
    expect(enclave.hostBefore.answered).toBe(true);
  }, 180_000);

  it("a segfault in the enclave stays its own: contained-limited, the host alive and clean", async () => {
    const r = await runChecked(
      testPlan(backend, image, "segfault", {
        snapshot: { get: async () => snapshot, invalidate: async () => {} },
      }),
    );
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe("contained-limited");
    expect(r.evidence.disposableHost).toMatchObject({ alive: true, panicked: false, heartbeatLost: false });
    expect(r.evidence.disposableHost?.probes.every((p) => p.severity === "ok")).toBe(true);
    // The host's console is kept apart from the enclave's: the agent's lines are only in the run's console.
    expect(r.hostConsole).toBeDefined();
    expect(r.hostConsole?.data.toString()).not.toMatch(/READY ezone-agent/);
    expect(r.console.data.toString()).toMatch(/READY ezone-agent/);
  }, 180_000);

  it("a zone-1 module that panics the host kills it: its proof line and pvpanic witness it", async () => {
    const watch = new DhWatch();
    watch.expectProof("dhkp1");
    const signal = AbortSignal.timeout(120_000);
    await using enclave = await backend.start(spec({ restoreFrom: snapshot.dir }), () => {}, signal);
    enclave.watchHost((ev) => watch.onEvent(ev));
    expect(
      await enclave.injectHostKernel(
        "kpanic",
        "nonce=dhkp1 delay_ms=0",
        ["kernel.softlockup_panic=1"],
        signal,
      ),
    ).toBeNull();
    await enclave.exited;
    const after = await enclave.probeHost(signal);
    await watch.ended;
    watch.endBeats(performance.now());
    const ev = dhEvidence(
      watch.seen,
      after.answered,
      2_000,
      compareDhProbes(enclave.hostBefore, after, DEFAULT_PROBE_THRESHOLDS),
    );
    expect(ev).toMatchObject({ alive: false, panicked: true, proof: true, heartbeatLost: true });
    expect(ev.exit).not.toEqual({ kind: "running" });
    expect(ev.probes.some((p) => p.severity === "failed")).toBe(true);
  }, 180_000);

  it("kill -9 of ezone leaves no disposable host VM, and the next ezone sweeps its run dir", async () => {
    requireBuiltCli();
    const tmp = mkdtempSync(join(tmpdir(), "ezone-dh-kill-"));
    try {
      const child = spawn(process.execPath, ["--input-type=module", "-e", KILLED_EZONE], {
        env: { ...process.env, TMPDIR: tmp, DH_SNAPSHOT: snapshot.dir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
      });
      child.stderr.on("data", (b: Buffer) => {
        out += b.toString();
      });
      await eventually(() => /^UP /m.test(out), 120_000, `the disposable host up: ${out}`);
      const workDir = /^UP (\S+)/m.exec(out)?.[1] as string;
      expect(processesMatching(workDir).length).toBeGreaterThan(0);
      // Reaped before the sweep: a zombie still counts as a live owner of its dirs.
      const reaped = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await reaped;
      await eventually(() => processesMatching(workDir).length === 0, 10_000, "the VM to die with ezone");
      sweepScratchDirs(tmp);
      expect(readdirSync(tmp).filter((n) => n.startsWith("ezone-"))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});

/** An ezone (the built one) that starts a restored disposable host with a native enclave, then waits. */
const KILLED_EZONE = `
const dist = ${JSON.stringify(resolve("dist"))};
const { buildImage } = await import(dist + "/guest/image-builder.js");
const { buildHostImage } = await import(dist + "/guest/host-image.js");
const { NativeBackend } = await import(dist + "/backends/native.js");
const { DisposableHostBackend } = await import(dist + "/backends/disposable-host/disposable-host.js");
const { makeScratchDir } = await import(dist + "/util/scratch-dir.js");
const image = await buildImage();
const hostImage = await buildHostImage({ guest: image });
const backend = new DisposableHostBackend({ inner: new NativeBackend(), image: async () => hostImage });
const workDir = await makeScratchDir("run");
const spec = { image, memoryMb: 256, heartbeatMs: 250, kernelArgs: ["oops=panic"], arm: null,
  runTag: "dh-kill", workDir, restoreFrom: process.env.DH_SNAPSHOT };
await backend.start(spec, () => {}, new AbortController().signal);
console.log("UP " + workDir);
setInterval(() => {}, 1000);
`;
