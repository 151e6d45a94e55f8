import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Enclave, EnclaveSpec } from "../../src/backends/backend.js";
import { PrivateNetwork } from "../../src/backends/links/private-network.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { composedPlan } from "../../src/campaign/composed.js";
import type { RunPlan } from "../../src/campaign/run-one.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import type { CompositionParams } from "../../src/model/composition.js";
import { controlMaximaOf, MIN_CONTROL_RUNS, REQUEST_FLOOR } from "../../src/model/composition-verdict.js";
import { decideOutcome } from "../../src/model/outcome.js";
import type { RunEvidence } from "../../src/model/outcome-types.js";
import { LinkLog } from "../../src/monitor/link-log.js";
import { RunMonitor } from "../../src/monitor/run-monitor.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { requireBuiltCli } from "../helpers/cli.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveTools = ["qemu-system-x86_64", "ip", "unshare", "nsenter"].every((b) => hasBinary(b));
let image: BuiltImage;

/** B depends on the victim's service, over the namespaced bridge; `enabled` is the dependency's toggle. */
function pair(enabled: boolean): CompositionParams {
  return {
    peers: [{ name: "b", backend: "qemu-tcg" }],
    links: [
      { kind: "network", from: "b", to: "victim", enabled: true },
      { kind: "depends-on", from: "b", to: "victim", enabled },
    ],
    limits: false,
  };
}

/**
 * What is checked here is the peers' evidence, not the host's health: other work on this shared machine
 * must not turn the run into an infra-error (a busy baseline), so the runnable-task limit is lifted.
 */
const thresholds = { ...DEFAULT_PROBE_THRESHOLDS, maxRunnablePerCore: 64 };

function plan(composition: CompositionParams, fault: "kerncrash" | "none" = "kerncrash"): RunPlan {
  const backend = new QemuBackend({ accel: "tcg" });
  return testPlan(backend, image, fault, { composition: composedPlan(composition, backend), thresholds });
}

/**
 * Network namespaces other than this process's held by this test session's processes (other work on the
 * machine may hold its own): the test's own must all be gone after each test.
 */
function foreignNetns(): Set<string> {
  const own = readlinkSync("/proc/self/ns/net");
  const found = new Set<string>();
  for (const pid of processesMatching("")) {
    try {
      const ns = readlinkSync(`/proc/${pid}/ns/net`);
      if (ns !== own) found.add(ns);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** The host's own links: a bridge or tap made in the host's namespace by mistake would show here. */
function hostLinks(): string {
  return execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
}

/** Whether process `pid` is gone (or a zombie) within `ms`, checked every 50 ms. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] !== "Z") {
    if (performance.now() > end) return false;
    await delay(50);
  }
  return true;
}

interface Restored {
  enclave: Enclave;
  monitor: RunMonitor;
  links: LinkLog;
}

/** Restore a saved guest and introduce it (RESUME seed=...) until it is READY. */
async function restored(backend: QemuBackend, spec: EnclaveSpec, signal: AbortSignal): Promise<Restored> {
  const monitor = new RunMonitor(spec.nic?.tap ?? "peer", 10_000);
  const links = new LinkLog(monitor.sink);
  const enclave = await backend.start(spec, links.sink, signal);
  await monitor.wait(
    { reason: "RESUME", until: (s) => s.controlEvents.some((e) => e.name === "RESUME"), timeoutMs: 60_000 },
    signal,
  );
  enclave.send(`RESUME seed=${spec.nic?.tap}`);
  await monitor.wait({ reason: "READY", until: (s) => s.readyAt !== null, timeoutMs: 30_000 }, signal);
  return { enclave, monitor, links };
}

async function waitLinks(p: Restored, what: string, done: (l: LinkLog) => boolean, signal: AbortSignal) {
  await p.monitor.wait(
    { reason: what, until: () => done(p.links) || p.links.failure !== null, timeoutMs: 30_000 },
    signal,
  );
  expect(p.links.failure).toBeNull();
}

describe.runIf(haveTools)("composed cell: a QEMU pair on a namespaced bridge", () => {
  let before: Set<string>;

  beforeAll(async () => {
    image = await buildImage();
  }, 600_000);

  afterEach(() => {
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
    expect(processesMatching("unshare --net")).toEqual([]);
    const left = [...foreignNetns()].filter((ns) => !before.has(ns));
    expect(left, "network namespaces left behind").toEqual([]);
    expect(hostLinks()).not.toMatch(/: (br0|ezt\d+)[:@]/);
    expect(existsSync("/run/netns") ? readdirSync("/run/netns") : []).toEqual([]);
  });

  it("kerncrash in the victim while B depends on it: B's requests fail → contained-varied naming B", async () => {
    before = foreignNetns();
    // The cell's control runs first (fault none, same cell and toggle): B's requests all succeed.
    const controls: RunEvidence[] = [];
    for (let i = 0; i < MIN_CONTROL_RUNS; i++) {
      const c = await runChecked(plan(pair(true), "none"));
      expect(c.verdict.outcome, c.verdict.reasons.join("; ")).not.toBe("infra-error");
      const b = c.evidence.peers?.find((p) => p.name === "b");
      expect(b?.died).toBe(false);
      expect(b?.requests?.ok ?? 0).toBeGreaterThan(0);
      // A guest stalled by a busy host may miss a request's period: never as many as the floor of an effect.
      expect(b?.requests?.failed ?? 0).toBeLessThan(REQUEST_FLOOR);
      controls.push(c.evidence);
    }
    const faulty = plan(pair(true));
    const r = await runChecked(faulty);
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    expect(r.evidence.guestCrash?.panic).toBe(true);
    const b = r.evidence.peers?.find((p) => p.name === "b");
    expect(b, JSON.stringify(r.evidence.peers)).toBeDefined();
    expect(b?.died).toBe(false);
    expect(b?.requests?.failed ?? 0).toBeGreaterThanOrEqual(3);

    // Judged as the campaign judges it: against the maxima of the cell's control runs.
    const evidence = { ...r.evidence, controlMaxima: controlMaximaOf(controls, faulty.heartbeatMs) };
    const verdict = decideOutcome(evidence);
    expect(verdict.outcome, verdict.reasons.join("; ")).toBe("contained-varied");
    const controlsMax = Math.max(
      ...controls.map((c) => c.peers?.find((p) => p.name === "b")?.requests?.failed ?? 0),
    );
    expect(verdict.reasons[0]).toBe(
      `peer b: ${b?.requests?.failed} failed requests (controls max ${controlsMax})`,
    );
    console.log(`composition: link on: ${JSON.stringify(b)}: ${verdict.outcome}: ${verdict.reasons[0]}`);
  }, 400_000);

  it("two peers restored from one snapshot get their own MAC and address, and talk over the bridge", async () => {
    before = foreignNetns();
    const signal = AbortSignal.timeout(150_000);
    const backend = new QemuBackend({ accel: "tcg" });
    const scratch = mkdtempSync(join(tmpdir(), "ezone-composition-"));
    const dir = (name: string) => {
      mkdirSync(join(scratch, name));
      return join(scratch, name);
    };
    try {
      const taps = ["ezt0", "ezt1", "ezt2"].map((tap) => ({ tap, bridged: tap !== "ezt2" }));
      await using net = await PrivateNetwork.start(taps, signal);
      const spec = (tap: string, over: Partial<EnclaveSpec> = {}): EnclaveSpec => ({
        image,
        memoryMb: 256,
        heartbeatMs: 250,
        kernelArgs: [],
        arm: null,
        runTag: `composition-snap-${process.pid}`,
        workDir: dir(tap),
        nic: { netns: net.netns, tap, mac: "52:54:00:77:00:99" },
        ...over,
      });
      const saved = dir("snapshot");
      await backend.saveSnapshot(spec("ezt2"), saved, signal);
      const peers = await Promise.all(
        ["ezt0", "ezt1"].map((tap) => restored(backend, spec(tap, { restoreFrom: saved }), signal)),
      );
      await using _a = peers[0]?.enclave;
      await using _b = peers[1]?.enclave;
      const [a, b] = peers as [Restored, Restored];
      using _ma = a.monitor;
      using _mb = b.monitor;
      a.enclave.send("NET 10.77.0.10/24 52:54:00:77:00:0a");
      b.enclave.send("NET 10.77.0.11/24 52:54:00:77:00:0b");
      for (const p of [a, b]) await waitLinks(p, "NET-OK", (l) => l.netOk !== null, signal);
      expect(a.links.netOk).toEqual({ ip: "10.77.0.10", mac: "52:54:00:77:00:0a" });
      expect(b.links.netOk).toEqual({ ip: "10.77.0.11", mac: "52:54:00:77:00:0b" });
      a.enclave.send("SERVE 7077");
      b.enclave.send("DEPEND 10.77.0.10:7077 100 1000 remote");
      await waitLinks(b, "an answer from a over the bridge", (l) => l.answered, signal);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 180_000);

  it("a kill -9 of ezone takes the namespace with it: its holder dies, no process is left in it", async () => {
    before = foreignNetns();
    requireBuiltCli();
    const module = resolve("dist/backends/links/private-network.js");
    const script = `const { PrivateNetwork } = await import(${JSON.stringify(module)});
      const n = await PrivateNetwork.start([{ tap: "ezt0", bridged: true }], AbortSignal.timeout(10000));
      console.log(n.pid); setInterval(() => {}, 1000);`;
    const ezone = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const holder = await new Promise<number>((res, rej) => {
      ezone.stdout.once("data", (b: Buffer) => res(Number(b.toString().trim())));
      ezone.once("exit", () => rej(new Error("the namespace's owner exited before the holder started")));
    });
    const ns = readlinkSync(`/proc/${holder}/ns/net`);
    expect(ns).not.toBe(readlinkSync("/proc/self/ns/net"));
    expect(
      execFileSync("nsenter", [`--net=/proc/${holder}/ns/net`, "--", "ip", "-o", "link"], {
        encoding: "utf8",
      }),
    ).toMatch(/ezt0.*master br0/);
    ezone.kill("SIGKILL");
    expect(await gone(holder, 10_000), `holder ${holder} still alive`).toBe(true);
    expect(foreignNetns().has(ns)).toBe(false);
  }, 60_000);

  it("the dependency toggled off (B uses its local copy): the same crash leaves B's requests alone", async () => {
    before = foreignNetns();
    const r = await runChecked(plan(pair(false)));
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    const b = r.evidence.peers?.find((p) => p.name === "b");
    expect(b?.died).toBe(false);
    expect(b?.requests?.ok ?? 0).toBeGreaterThan(0);
    expect(b?.requests?.failed).toBe(0);
    console.log(`composition: link off: ${JSON.stringify(b)}`);
  }, 180_000);
});
