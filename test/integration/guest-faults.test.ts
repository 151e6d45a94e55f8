/**
 * The zone-3 and zone-4 fault catalogue on real guests: one test per fault family, several faults in
 * sequence, each a full run (boot, READY, INJECT, observe, host probes, verdict) on QEMU-TCG; and UML
 * booting the same initramfs, crashed from inside by sysrq-c, and containing a segfault.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { UmlBackend } from "../../src/backends/uml.js";
import { type RunPlan, runOne } from "../../src/campaign/run-one.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { testPlan } from "../helpers/enclave-runs.js";

const haveQemu = hasBinary("qemu-system-x86_64");
const haveUml = hasBinary("linux.uml");
let image: BuiltImage;

function plan(backend: Backend, fault: FaultName): RunPlan {
  const p = testPlan(backend, image, fault);
  return { ...p, timeouts: { ...p.timeouts, runMs: 170_000, observeMs: 30_000 } };
}

/** Run the faults one after another; every verdict is collected before any is asserted. */
async function runAll(backend: Backend, faults: FaultName[]) {
  const results = [];
  for (const fault of faults) {
    const r = await runOne(plan(backend, fault), AbortSignal.timeout(200_000));
    results.push({ fault, r, summary: `${fault}: ${r.verdict.outcome} — ${r.verdict.reasons.join("; ")}` });
  }
  return results;
}

beforeAll(async () => {
  if (haveQemu || haveUml) image = await buildImage();
}, 600_000);

describe.runIf(haveQemu)("zone-3 and zone-4 faults on qemu-tcg", () => {
  const tcg = new QemuBackend({ accel: "tcg" });
  afterEach(() => {
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
  });

  it("zone 3: an oops, a watchdog panic, a silent hang and sysrq-c each stay in the guest", async () => {
    const [nullderef, softlockup, hang, sysrq] = await runAll(tcg, [
      "nullderef",
      "softlockup",
      "hang",
      "sysrq-c",
    ]);
    for (const x of [nullderef, softlockup, hang, sysrq]) {
      expect(x?.summary).toMatch(/: contained-limited — /);
      expect(x?.r.evidence.proof).toBe(true);
    }
    expect(nullderef?.r.evidence.guestCrash?.title).toBe(
      "BUG: kernel NULL pointer dereference in nullderef_fire [nullderef]",
    );
    // The fault's own kernel arguments reached the guest: without softlockup_panic=1 there is no panic.
    expect(softlockup?.r.evidence.guestCrash).toMatchObject({ crashClass: "lockup", panic: true });
    expect(softlockup?.r.console.data.toString()).toContain("Kernel panic - not syncing: softlockup");
    expect(hang?.r.evidence).toMatchObject({
      guestCrash: null,
      heartbeatLost: true,
      stopReason: "heartbeat-loss",
    });
    expect(sysrq?.r.evidence.guestCrash?.title).toBe("kernel panic: sysrq triggered crash");
  }, 600_000);

  it("zone 4: segfault, OOM hog and fork bomb end in their own process; the agent keeps heartbeating", async () => {
    const results = await runAll(tcg, ["segfault", "oomhog", "forkbomb"]);
    for (const x of results) {
      expect(x.summary).toMatch(/: contained-limited — /);
      expect(x.r.evidence).toMatchObject({ proof: true, guestCrash: null, stopReason: "fault-ended" });
      expect(x.r.evidence.heartbeatsAfterFault).toBeGreaterThanOrEqual(2);
    }
    const console = results.map((x) => x.r.console.data.toString()).join("\n");
    expect(console).toMatch(/^CHILD segfault nonce=\S+ pid=\d+ signal=SIGSEGV$/m);
    expect(console).toMatch(/Out of memory: Killed process \d+/);
    expect(console).toMatch(/^CHILD forkbomb nonce=\S+ pid=\d+ exit=0$/m);
  }, 400_000);
});

describe.runIf(haveUml)("uml: the same initramfs under User-mode Linux", () => {
  const uml = new UmlBackend();
  afterEach(() => {
    expect(processesMatching("linux.uml")).toEqual([]);
  });

  it("boots to READY, sysrq-c panics the guest kernel and ends the UML process; a segfault stays in its process", async () => {
    const [sysrq, segfault] = await runAll(uml, ["sysrq-c", "segfault"]);
    expect(sysrq?.summary).toMatch(/^sysrq-c: contained-limited — /);
    expect(sysrq?.r.evidence).toMatchObject({
      proof: true,
      guestCrash: { title: "kernel panic: sysrq triggered crash", panic: true },
      exit: { kind: "signaled", signal: "SIGABRT" },
      stopReason: "guest-panic",
    });
    expect(sysrq?.r.bootMs).toBeGreaterThan(0);
    expect(segfault?.summary).toMatch(/^segfault: contained-limited — /);
    expect(uml.supports({ name: "kerncrash", zone: 3, kernelModule: true }).supported).toBe(false);
  }, 400_000);
});
