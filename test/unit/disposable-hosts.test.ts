import { describe, expect, it } from "vitest";
import { DisposableHostBackend } from "../../src/backends/disposable-host/disposable-host.js";
import { NativeBackend } from "../../src/backends/native.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { hostedBackend } from "../../src/campaign/disposable-hosts.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";

const guest = { manifest: { id: "img" } } as BuiltImage;

describe("the backend a run starts its enclave with", () => {
  it("is the backend itself on the real host", () => {
    const native = new NativeBackend();
    expect(hostedBackend(native, undefined, guest)).toBe(native);
  });

  it("is one disposable-host wrapper per backend with host: disposable, named and ranked as the backend", () => {
    const native = new NativeBackend();
    const hosted = hostedBackend(native, "disposable", guest);
    expect(hosted).toBeInstanceOf(DisposableHostBackend);
    expect(hostedBackend(native, "disposable", guest)).toBe(hosted);
    expect(hosted).toMatchObject({ name: "native", continuumRank: native.continuumRank });
    expect(hosted.timeoutScale).toBeGreaterThan(native.timeoutScale);
  });

  it("offers zone 1 and a shared-kernel enclave's zone 3; refuses zone 2 and QEMU inside", async () => {
    const hosted = hostedBackend(new NativeBackend(), "disposable", guest);
    expect(hosted.supports({ name: "host-kpanic", zone: 1, kernelModule: true })).toEqual({
      supported: true,
    });
    expect(hosted.supports({ name: "kerncrash", zone: 3, kernelModule: true })).toEqual({ supported: true });
    expect(
      hosted.supports({
        name: "vmm-sigkill",
        zone: 2,
        kernelModule: false,
        host: { kind: "signal", signal: "SIGKILL", target: "enclave" },
      }).supported,
    ).toBe(false);
    const nested = hostedBackend(new QemuBackend({ accel: "tcg" }), "disposable", guest);
    const a = await nested.probe(null, AbortSignal.timeout(5_000));
    expect(a.available).toBe(false);
    expect(a.reason).toMatch(/not offered/);
  });
});
