import { join } from "node:path";
import type { HostImage } from "../../guest/host-image.js";
import type { BuiltImage } from "../../guest/image-builder.js";
import type { EnclaveSpec } from "../backend.js";
import { commaEscape, type QemuMachine } from "../qemu/qemu.js";

/** The disposable host's size: two vCPUs (a node with a core to spare), 1 GiB. */
export const DH_VCPUS = 2;
export const DH_MEMORY_MB = 1024;
/** Deadline of the host's boot, and again of its enclave's start, before a save. */
const DH_SAVE_BOOT_MS = 300_000;
/** The virtio-serial port hostd opens (found by name under /sys/class/virtio-ports). */
export const HOSTD_PORT = "ezone.hostd";
/** hostd's line on the disposable host's console once it listens. */
export const HOSTD_READY = /(^|\n)hostd: READY/;
/** The disposable host's kernel panics on an oops, as the guests' do: a zone-1 oops is then its death. */
const DH_KERNEL_ARGS = ["oops=panic"];

/** Where QEMU listens for the host's connection to hostd: in the machine's own work dir. */
export function hostdSocket(workDir: string): string {
  return join(workDir, "hostd.sock");
}

/** The disposable host's machine: vCPUs, the virtio-serial port to hostd, booted once hostd listens. */
export function dhMachine(beforeSave?: QemuMachine["beforeSave"]): QemuMachine {
  return {
    smp: DH_VCPUS,
    extraArgs: (spec) => [
      ...["-device", "virtio-serial-pci"],
      ...["-chardev", `socket,id=hostd,path=${commaEscape(hostdSocket(spec.workDir))},server=on,wait=off`],
      ...["-device", `virtserialport,chardev=hostd,name=${HOSTD_PORT}`],
    ],
    savePattern: HOSTD_READY,
    // The enclave boots inside an emulated machine before the save: UML takes ~70 s of it here.
    saveBootMs: DH_SAVE_BOOT_MS,
    beforeSave,
  };
}

/** The disposable host's image in the shape the QEMU backend boots. */
export function dhBuiltImage(image: HostImage): BuiltImage {
  return {
    dir: image.dir,
    vmlinuz: image.kernel,
    vmlinux: null,
    initramfs: image.initramfs,
    manifest: {
      id: image.hash,
      kernel: { source: "debian", package: null, version: image.kernelVersion, release: image.kernelVersion },
      busybox: "",
      gcc: "",
      faultModules: [],
      bootModules: [],
      inputs: {},
      files: { vmlinuz: image.kernel, initramfs: image.initramfs },
      builtAt: "",
      buildMs: 0,
    },
    cached: true,
  };
}

/** The disposable host's VM for an enclave spec: same run tag, work dir and restore directory. */
export function dhSpec(image: HostImage, spec: EnclaveSpec): EnclaveSpec {
  return {
    image: dhBuiltImage(image),
    memoryMb: DH_MEMORY_MB,
    heartbeatMs: spec.heartbeatMs,
    kernelArgs: DH_KERNEL_ARGS,
    arm: null,
    runTag: spec.runTag,
    workDir: spec.workDir,
    restoreFrom: spec.restoreFrom,
  };
}
