/**
 * The two fault modules a kernel survives (cpuhog.ko, memleak.ko, loaded into the disposable host's
 * kernel by host-cpuhog and host-memleak), tried for real through their zone-3 twins inside a QEMU-TCG
 * guest: the guest keeps heartbeating, and each module's proof line and its end line appear.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveQemu = hasBinary("qemu-system-x86_64");
let image: BuiltImage;

beforeAll(async () => {
  if (haveQemu) image = await buildImage();
}, 600_000);

describe.runIf(haveQemu)("fault modules the kernel survives, in a qemu-tcg guest", () => {
  const tcg = new QemuBackend({ accel: "tcg" });
  afterEach(() => {
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
  });

  async function run(fault: FaultName) {
    const p = testPlan(tcg, image, fault);
    const r = await runChecked({
      ...p,
      timeouts: { ...p.timeouts, observeMs: 10_000, heartbeatLossMs: 8_000 },
      // These tests look at the guest, not at the host: a machine busy with other work may still run them.
      thresholds: { ...DEFAULT_PROBE_THRESHOLDS, maxRunnablePerCore: 64 },
    });
    return {
      r,
      console: r.console.data.toString(),
      summary: `${r.verdict.outcome}: ${r.verdict.reasons.join("; ")}`,
    };
  }

  it("cpuhog takes the guest's one vCPU for 3 s with preemption off; the guest goes on heartbeating", async () => {
    const { r, console, summary } = await run("cpuhog");
    expect(r.evidence, summary).toMatchObject({ proof: true, guestCrash: null, heartbeatLost: false });
    expect(r.evidence.exit).toEqual({ kind: "running" });
    expect(r.evidence.heartbeatsAfterFault).toBeGreaterThanOrEqual(2);
    expect(console).toMatch(/ezone-fault: cpuhog nonce=\S+ firing context=process/);
    expect(console).toMatch(/ezone-fault: cpuhog nonce=\S+ stopped after 3000 ms on cpu 0/);
    expect(r.verdict.outcome, summary).toMatch(/^(no-effect|contained-varied)$/);
  }, 300_000);

  it("memleak takes the guest's memory, holds it, frees it all; the guest goes on heartbeating", async () => {
    const { r, console, summary } = await run("memleak");
    expect(r.evidence, summary).toMatchObject({ proof: true, guestCrash: null, heartbeatLost: false });
    expect(r.evidence.exit).toEqual({ kind: "running" });
    const leaked = /ezone-fault: memleak nonce=\S+ leaked (\d+) MiB \(([^)]+)\)/.exec(console);
    expect(leaked, console.slice(-2000)).not.toBeNull();
    // A 256 MiB guest: most of its memory went before the leak stopped.
    expect(Number(leaked?.[1])).toBeGreaterThan(100);
    expect(console).toMatch(new RegExp(`ezone-fault: memleak nonce=\\S+ freed ${leaked?.[1]} MiB`));
    expect(r.evidence.heartbeatsAfterFault).toBeGreaterThanOrEqual(2);
    expect(r.verdict.outcome, summary).toMatch(/^(no-effect|contained-varied)$/);
  }, 300_000);
});
