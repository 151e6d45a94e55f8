/**
 * Zone 2 for real: ezone signals the enclave's host process (QEMU, the sandboxed agent, gVisor's Sentry)
 * or runs a hog beside it, with a bystander enclave watched. Fast backends carry most cases; one QEMU run
 * shows a VMM crash.
 */
import { describe, expect, it } from "vitest";
import { createBackend } from "../../src/backends/index.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectOutcome, leftovers, runChecked, testPlan } from "../helpers/enclave-runs.js";

const image: BuiltImage = await buildImage();
const native = createBackend({ name: "native", type: "native" });

describe("zone 2: faults injected by ezone on the host", () => {
  it("SIGKILL to a native enclave's process: it dies alone → contained-limited", async () => {
    const r = await runChecked(testPlan(native, image, "vmm-sigkill"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.proof).toBe(true);
    expect(r.evidence.hostInjection).toMatchObject({ kind: "signal", scope: "enclave", delivered: true });
    expect(r.evidence.hostInjection?.detail).toMatch(/SIGKILL delivered to ezone-agent .*\(pid \d+\)/);
    expect(r.evidence.exit).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });

  it("SIGSTOP: the enclave hangs (heartbeat lost) and teardown still kills the stopped process", async () => {
    const r = await runChecked(testPlan(native, image, "vmm-sigstop"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.heartbeatLost).toBe(true);
    expect(r.evidence.stopReason).toBe("heartbeat-loss");
  });

  it("a CPU hog beside the enclave, with a bystander: proof of the hog, both heartbeats measured", async () => {
    const p = testPlan(native, image, "host-cpu-hog", { bystanders: 1 });
    const r = await runChecked(p);
    expect(r.evidence.hostInjection).toMatchObject({ kind: "cpu-hog", scope: "beside", delivered: true });
    expect(r.evidence.hostInjection?.detail).toMatch(
      /busy loops .* used \d+ ms CPU; at its end: .* used \d+ ms CPU/,
    );
    expect(r.evidence.heartbeatTiming?.faultWindowMs).toBeGreaterThanOrEqual(4000);
    expect(r.evidence.bystanders).toHaveLength(1);
    expect(r.evidence.bystanders?.[0]?.heartbeatsDuringFault).toBeGreaterThan(0);
    // Whether the heartbeat degraded is the measurement; either way the verdict says which and why.
    expect(["no-effect", "contained-varied"]).toContain(r.verdict.outcome);
    expect(leftovers(p.runTag)).toEqual([]);
  });

  it.runIf(hasBinary("bwrap"))("SIGKILL to the agent inside bubblewrap: the container ends", async () => {
    const container = createBackend({ name: "container", type: "container" });
    const r = await runChecked(testPlan(container, image, "vmm-sigkill"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.hostInjection?.detail).toMatch(/ezone-agent in bwrap/);
    expect(r.evidence.exit.kind).not.toBe("running");
  });

  it.runIf(hasBinary("runsc"))("gVisor: SIGUSR2 panics the Sentry; its panic is on the console", async () => {
    const gvisor = createBackend({ name: "gvisor", type: "gvisor" });
    const r = await runChecked(testPlan(gvisor, image, "sentry-panic"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.panicEvent).toBe(true);
    expect(r.evidence.hostInjection?.detail).toMatch(/SIGUSR2 delivered to runsc-sandbox, the Sentry/);
    expect(r.console.data.toString()).toContain("panic: Signal-induced panic");
  });

  it.runIf(hasBinary("qemu-system-x86_64"))(
    "SIGSEGV to QEMU: the VMM crashes, the host does not",
    async () => {
      const qemu = createBackend({ name: "qemu-tcg", type: "qemu-tcg" });
      const r = await runChecked(testPlan(qemu, image, "vmm-sigsegv"));
      expectOutcome(r, "contained-limited");
      expect(r.evidence.exit).toEqual({ kind: "signaled", signal: "SIGSEGV" });
    },
  );
});
