import { describe, expect, it } from "vitest";
import type { EnclaveSpec } from "../../src/backends/backend.js";
import { createBackend } from "../../src/backends/index.js";
import { UML_NO_MODULES, UmlBackend, umlArgv } from "../../src/backends/uml.js";
import { FAULT_NAMES, FAULTS, faultSpec } from "../../src/faults/catalogue.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";

const spec: EnclaveSpec = {
  image: { initramfs: "/cache/img/initramfs.cpio", vmlinuz: "/cache/img/vmlinuz" } as BuiltImage,
  memoryMb: 256,
  heartbeatMs: 250,
  kernelArgs: ["oops=panic"],
  arm: { fault: "sysrq-c", nonce: "abc", delayMs: 1000 },
  runTag: "r1",
  workDir: "/tmp/ezone-run-x",
};

describe("uml backend", () => {
  it("builds the linux.uml command line: stdio console, no ttyS0, per-run files, no core dump", () => {
    const argv = umlArgv("linux.uml", spec);
    expect(argv.slice(0, 4)).toEqual(["prlimit", "--core=0", "--", "linux.uml"]);
    expect(argv).toEqual(
      expect.arrayContaining([
        "mem=256M",
        "initrd=/cache/img/initramfs.cpio",
        "con=null",
        "con0=fd:0,fd:1",
        "uml_dir=/tmp/ezone-run-x",
        "umid=ezone-r1",
        "panic=-1",
        "oops=panic",
        "ezone.hb=250",
        "ezone.arm=sysrq-c",
        "ezone.nonce=abc",
        "ezone.delay_ms=1000",
      ]),
    );
    expect(argv.filter((a) => a.startsWith("console="))).toEqual([]);
  });

  it("refuses every module fault with the reason, and runs in-kernel and user-space faults", () => {
    const uml = new UmlBackend();
    for (const name of FAULT_NAMES) {
      const fault = FAULTS[name];
      const support = uml.supports(fault);
      if (fault.zone === 1) expect(support.supported, name).toBe(false);
      else if (fault.kernelModule) expect(support).toEqual({ supported: false, reason: UML_NO_MODULES });
      else if (faultSpec(name).flipsBits) expect(support.supported).toBe(false);
      else if (fault.zone === 3 || fault.zone === 4) expect(support).toEqual({ supported: true });
    }
    expect(uml.supports(FAULTS["sysrq-c"])).toEqual({ supported: true });
    expect(uml.supports({ name: "x", zone: 1, kernelModule: false }).supported).toBe(false);
    // A zone-1 module goes into the disposable host's kernel, beside the UML enclave.
    expect(uml.supports({ ...FAULTS["host-kerncrash"], placement: "disposable" })).toEqual({
      supported: true,
    });
  });

  it("is in the backend table", () => {
    expect(createBackend({ name: "uml", type: "uml" }).name).toBe("uml");
  });

  it("reports a missing binary as unavailable, with the package to install", async () => {
    const a = await new UmlBackend({ binary: "/nonexistent/linux.uml" }).probe(
      null,
      AbortSignal.timeout(10_000),
    );
    expect(a.available).toBe(false);
    expect(a.install).toContain("user-mode-linux");
  });
});
