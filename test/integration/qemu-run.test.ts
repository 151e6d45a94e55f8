import { spawn } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { type RunPlan, runOne } from "../../src/campaign/run-one.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { testPlan } from "../helpers/enclave-runs.js";
import {
  BUSY_LOOP,
  BUSY_LOOPS,
  LOADED_RUNNABLE,
  loadedThresholds,
  waitForRunnable,
} from "../helpers/host-load.js";

const haveQemu = hasBinary("qemu-system-x86_64");
let image: BuiltImage;

function plan(over: Partial<RunPlan> = {}): RunPlan {
  return testPlan(new QemuBackend({ accel: "tcg" }), image, "kerncrash", over);
}

describe.runIf(haveQemu)("qemu-tcg runs, real guest", () => {
  beforeAll(async () => {
    image = await buildImage();
  }, 600_000);

  afterEach(() => {
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
  });

  it("kerncrash: guest panics, proof present, host probes pass → contained-limited", async () => {
    const r = await runOne(plan(), AbortSignal.timeout(150_000));
    expect(r.verdict.reasons.join("; ")).toContain("kerncrash_fire");
    expect(r.verdict.outcome).toBe("contained-limited");
    expect(r.evidence.proof).toBe(true);
    expect(r.evidence.guestCrash?.crashClass).toBe("divide-error");
    expect(r.evidence.guestCrash?.title).toBe("divide error in kerncrash_fire [kerncrash]");
    expect(r.evidence.panicEvent).toBe(true);
    expect(r.evidence.panicEventDelayMs).not.toBeNull();
    expect(r.evidence.panicEventDelayMs ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(1000);
    expect(r.evidence.probes.every((p) => p.severity === "ok")).toBe(true);
    expect(r.bootMs).toBeGreaterThan(0);
    expect(r.detectionMs).not.toBeNull();
    expect(r.console.data.toString()).toContain("READY ezone-agent");
    const phases = r.evidence.phases ?? {};
    expect(phases.spawnToReady).toBeGreaterThan(0);
    expect(phases.baselineProbe).toBeGreaterThanOrEqual(0);
    expect(phases.afterProbe).toBeGreaterThanOrEqual(0);
  });

  it("a lying guest (proof and panic lines forged by its user space) → unknown: pvpanic saw no panic", async () => {
    const r = await runOne(plan({ fault: "forged-panic" }), AbortSignal.timeout(150_000));
    expect(r.evidence.proof).toBe(true);
    expect(r.evidence.guestCrash?.panic).toBe(true);
    expect(r.evidence.panicEvent).toBe(false);
    expect(r.verdict.outcome).toBe("unknown");
    const why = r.verdict.reasons.join("; ");
    expect(why).toContain("the console shows the fault's proof and a kernel panic");
    expect(why).toContain("pvpanic (QMP GUEST_PANICKED) reported no panic");
  });

  it("the paper's mode: armed at boot, fires from a timer after the delay", async () => {
    const r = await runOne(
      plan({ trigger: { mode: "boot-delay", delaySeconds: 1 } }),
      AbortSignal.timeout(150_000),
    );
    expect(r.verdict.outcome).toBe("contained-limited");
    expect(r.console.data.toString()).toContain("firing context=timer");
    expect(r.evidence.heartbeatsAfterFault).toBe(0);
  });

  it("control run (fault none) stays healthy → no-effect", async () => {
    const r = await runOne(plan({ fault: "none" }), AbortSignal.timeout(150_000));
    expect(r.verdict.outcome).toBe("no-effect");
    expect(r.evidence.guestCrash).toBeNull();
    expect(r.evidence.exit).toEqual({ kind: "running" });
  });

  it("module refused by the kernel (module.sig_enforce=1) → not-fired", async () => {
    const r = await runOne(
      plan({ kernelArgs: ["oops=panic", "module.sig_enforce=1"] }),
      AbortSignal.timeout(150_000),
    );
    expect(r.verdict.outcome).toBe("not-fired");
    expect(r.evidence.injectFailed).toMatch(/errno 129/);
    expect(r.evidence.proof).toBe(false);
  });

  it("QEMU that cannot start (bad binary path) → infra-error, not a result", async () => {
    const r = await runOne(
      plan({ backend: new QemuBackend({ accel: "tcg", binary: "/nonexistent/qemu-system-x86_64" }) }),
      AbortSignal.timeout(60_000),
    );
    expect(r.verdict.outcome).toBe("infra-error");
    expect(r.verdict.reasons[0]).toMatch(/wait\.ready: enclave ended before READY/);
  });

  it("host loaded during the after-probe → a failing probe, not contained-limited", async () => {
    const hogs: ReturnType<typeof spawn>[] = [];
    try {
      const r = await runOne(
        plan({
          // The busy loops are load on this host whatever its core count (the limit is derived from it).
          thresholds: loadedThresholds(),
          hooks: {
            beforeAfterProbe: async () => {
              for (let i = 0; i < BUSY_LOOPS; i++) {
                hogs.push(spawn(BUSY_LOOP.command, BUSY_LOOP.args, { stdio: "ignore" }));
              }
              const running = await waitForRunnable(LOADED_RUNNABLE, 10_000);
              if (running < LOADED_RUNNABLE)
                throw new Error(`host never reached ${LOADED_RUNNABLE} runnable tasks`);
            },
          },
        }),
        AbortSignal.timeout(150_000),
      );
      expect(r.evidence.probes.some((p) => p.severity === "degraded" || p.severity === "failed")).toBe(true);
      expect(r.verdict.outcome).not.toBe("contained-limited");
      expect(r.verdict.outcome).toBe("contained-varied");
    } finally {
      for (const h of hogs) h.kill("SIGKILL");
    }
  });
});
