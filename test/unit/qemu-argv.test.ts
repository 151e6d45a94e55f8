import { describe, expect, it } from "vitest";
import type { EnclaveSpec } from "../../src/backends/backend.js";
import { qemuArgv } from "../../src/backends/qemu/qemu.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";

const spec: EnclaveSpec = {
  image: { vmlinuz: "/img/vmlinuz", vmlinux: "/img/vmlinux", initramfs: "/img/initramfs.cpio" } as BuiltImage,
  memoryMb: 256,
  heartbeatMs: 250,
  kernelArgs: ["oops=panic"],
  arm: null,
  runTag: "t",
  workDir: "/tmp",
};
/** The value after the `nth` (from 0) occurrence of `flag`. */
const optionValue = (argv: string[], flag: string, nth = 0) =>
  argv[argv.findIndex((a, i) => a === flag && argv.slice(0, i).filter((x) => x === flag).length === nth) + 1];

describe("qemu command line", () => {
  it("boots the uncompressed PVH kernel when the image has one, else the bzImage", () => {
    expect(optionValue(qemuArgv("qemu", "tcg", spec), "-kernel")).toBe("/img/vmlinux");
    const old = { ...spec, image: { ...spec.image, vmlinux: null } };
    expect(optionValue(qemuArgv("qemu", "tcg", old), "-kernel")).toBe("/img/vmlinuz");
  });

  it("puts the console on the FIFO pair in the run's work dir", () => {
    const argv = qemuArgv("qemu", "tcg", { ...spec, workDir: "/run/a,b" });
    expect(argv).toContain("pipe,id=con,path=/run/a,,b/console");
  });

  it("a fresh boot has QEMU's own RAM and no incoming migration", () => {
    const argv = qemuArgv("qemu", "tcg", spec);
    expect(optionValue(argv, "-M")).toBe("q35");
    expect(argv).not.toContain("-incoming");
    expect(argv.join(" ")).not.toMatch(/memory-backend/);
  });

  it("a restore maps the snapshot's RAM file privately and waits for the device state", () => {
    const argv = qemuArgv(
      "qemu",
      "tcg",
      { ...spec, restoreFrom: "/snap/a,b" },
      { path: "/snap/a,b/ram.bin", shared: false },
    );
    expect(optionValue(argv, "-M")).toBe("q35,memory-backend=ram");
    expect(optionValue(argv, "-object")).toBe(
      "memory-backend-file,id=ram,size=256M,mem-path=/snap/a,,b/ram.bin,share=off",
    );
    expect(optionValue(argv, "-incoming")).toBe("defer");
  });

  it("the guest to be saved writes its RAM through to the file", () => {
    const argv = qemuArgv("qemu", "tcg", spec, { path: "/save/ram.bin", shared: true });
    expect(optionValue(argv, "-object")).toMatch(/mem-path=\/save\/ram\.bin,share=on$/);
    expect(argv).not.toContain("-incoming");
  });

  it("a NIC: QEMU runs inside the cell's namespace with virtio-net on its tap", () => {
    const nic = { netns: "/proc/42/ns/net", tap: "ezt1", mac: "52:54:00:77:00:0b" };
    const argv = qemuArgv("qemu", "tcg", { ...spec, nic });
    expect(argv.slice(0, 4)).toEqual(["nsenter", "--net=/proc/42/ns/net", "--", "qemu"]);
    expect(optionValue(argv, "-netdev")).toBe("tap,id=n0,ifname=ezt1,script=no,downscript=no");
    expect(optionValue(argv, "-device", 1)).toBe("virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0b,romfile=");
    expect(qemuArgv("qemu", "tcg", spec).join(" ")).not.toMatch(/nsenter|netdev|virtio-net/);
  });
});
