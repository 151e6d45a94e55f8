import { describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { runOne } from "../../src/campaign/run-one.js";
import { buildImage } from "../../src/guest/image-builder.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { testPlan } from "../helpers/enclave-runs.js";

/**
 * KVM is the one backend that may skip here: these machines' /dev/kvm, when present, is PVM-only. The
 * probe itself always runs: it must say why KVM is unusable, never claim it works without a boot.
 */
describe.runIf(hasBinary("qemu-system-x86_64"))("kvm backend", async () => {
  const image = await buildImage();
  const kvm = new QemuBackend({ accel: "kvm", kvmProbeMs: 20_000 });
  const availability = await kvm.probe(image, AbortSignal.timeout(60_000));

  it("probe answers with a reason, from a real boot when /dev/kvm exists", () => {
    expect(availability.reason.length).toBeGreaterThan(0);
    if (availability.available) expect(availability.reason).toMatch(/READY/);
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
  });

  it.skipIf(!availability.available)(
    `kerncrash under KVM → contained-limited (${availability.reason})`,
    async () => {
      const plan = testPlan(kvm, image, "kerncrash");
      const r = await runOne(plan, AbortSignal.timeout(90_000));
      expect(r.verdict.outcome).toBe("contained-limited");
      expect(processesMatching("qemu-system-x86_64")).toEqual([]);
    },
  );
});
