/**
 * The `exec` backend drives any VMM from a command in the campaign: tested here with a wrapper script
 * around qemu-system-x86_64 (no QMP, so a guest panic is seen on the console and by the VMM exiting),
 * and the shipped Firecracker / Cloud Hypervisor examples are checked to be valid campaigns.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecBackend } from "../../src/backends/exec.js";
import { loadCampaign } from "../../src/campaign/load.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectOutcome, runChecked, testPlan } from "../helpers/enclave-runs.js";

/** What a user would write: their VMM's own flags, the console on stdio, positional image arguments. */
const WRAPPER = `#!/bin/sh
# usage: qemu-wrapper KERNEL INITRD CMDLINE MEMORY_MB
exec qemu-system-x86_64 -accel tcg -M q35 -m "$4" -nodefaults -display none -no-reboot \\
  -kernel "$1" -initrd "$2" -append "$3" -serial stdio
`;

describe("exec examples", () => {
  it.each(["examples/campaigns/exec-firecracker.yaml", "examples/campaigns/exec-cloud-hypervisor.yaml"])(
    "%s is a valid campaign, marked untested, with the image placeholders",
    async (file) => {
      const { config, text } = loadCampaign(file);
      expect(text).toMatch(/^# UNTESTED/);
      const backend = config.backends[0];
      expect(typeof backend === "object" && backend.type).toBe("exec");
      const start = typeof backend === "object" ? (backend.exec?.start ?? "") : "";
      for (const p of ["{vmlinux}", "{initrd}", "{cmdline}", "{memory}"]) expect(start).toContain(p);
    },
  );
});

describe.runIf(hasBinary("qemu-system-x86_64"))("exec backend around a qemu wrapper script", () => {
  let image: BuiltImage;
  let dir: string;
  let backend: ExecBackend;
  beforeAll(async () => {
    image = await buildImage();
    dir = await mkdtemp(join(tmpdir(), "ezone-exec-test-"));
    const wrapper = join(dir, "qemu-wrapper");
    await writeFile(wrapper, WRAPPER);
    await chmod(wrapper, 0o755);
    backend = new ExecBackend("qemu-wrapper", { start: `${wrapper} {vmlinux} {initrd} {cmdline} {memory}` });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is available once configured, unavailable (a statement) without a command", async () => {
    expect((await backend.probe(image, AbortSignal.timeout(5000))).available).toBe(true);
    await expect(
      new ExecBackend("unset", null).probe(image, AbortSignal.timeout(5000)),
    ).resolves.toMatchObject({
      available: false,
    });
  });

  it("kerncrash: panic seen on the console and by the VMM's exit → contained-limited", async () => {
    const r = await runChecked(testPlan(backend, image, "kerncrash"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.proof).toBe(true);
    expect(r.evidence.panicEvent).toBe(false); // no QMP through exec
    expect(r.verdict.reasons.join("; ")).toContain("from the console only");
    expect(r.evidence.guestCrash?.crashClass).toBe("divide-error");
  });

  it("SIGKILL to the VMM: the wrapper exec'd QEMU, so QEMU itself is hit → contained-limited", async () => {
    const r = await runChecked(testPlan(backend, image, "vmm-sigkill"));
    expectOutcome(r, "contained-limited");
    expect(r.evidence.exit).toEqual({ kind: "signaled", signal: "SIGKILL" });
  });
});
