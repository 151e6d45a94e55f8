/**
 * Zone-3 faults from inside a shared-kernel enclave (native, container) run unprivileged on the REAL host:
 * the kernel must refuse them (nothing happens) and the verdict is `not-fired` citing the refusal. Before
 * any fault is sent, the same privilege wrapper is checked to leave no capability (and, for ezone as
 * root, another user): a wrapper that did not drop them would fail here instead of reaching the kernel.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { bwrapArgv, ContainerBackend } from "../../src/backends/container.js";
import { NativeBackend, nativeArgv } from "../../src/backends/native.js";
import type { RunPlan } from "../../src/campaign/run-one.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import { enclaveRootfs } from "../../src/guest/enclave-rootfs.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectOutcome, runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveBwrap = hasBinary("bwrap");
let image: BuiltImage;

beforeAll(async () => {
  image = await buildImage();
}, 600_000);

/** Effective and bounding capabilities and the real uid, as /proc/self/status shows them under `argv`. */
function statusUnder(argv: string[]): { capEff: bigint; capBnd: bigint; uid: number } {
  const [cmd, ...args] = argv;
  const out = execFileSync(cmd as string, args, { encoding: "utf8", timeout: 10_000 });
  const field = (name: string) =>
    /^(\w+):\s+(\S+)/m.exec(out.split("\n").find((l) => l.startsWith(`${name}:`)) ?? "")?.[2] ?? "";
  return {
    capEff: BigInt(`0x${field("CapEff")}`),
    capBnd: BigInt(`0x${field("CapBnd")}`),
    uid: Number(field("Uid")),
  };
}

/** What the kernel says when it refuses: the facility is missing on this kernel, or the enclave may not use it. */
function refusals(fault: "kerncrash" | "sysrq-c"): number[] {
  if (fault === "kerncrash") return existsSync("/proc/modules") ? [1] : [38]; // EPERM, or ENOSYS (no modules)
  return existsSync("/proc/sysrq-trigger") ? [1, 13, 30] : [2]; // EPERM/EACCES/EROFS, or ENOENT (no sysrq)
}

/** An unprivileged run; it looks at the enclave, not at the host's load (a busy machine may run it). */
function unprivilegedPlan(backend: Backend, fault: FaultName): RunPlan {
  const thresholds = { ...DEFAULT_PROBE_THRESHOLDS, maxRunnablePerCore: 64 };
  return testPlan(backend, image, fault, { privileges: "unprivileged", thresholds });
}

async function refused(backend: Backend, fault: "kerncrash" | "sysrq-c") {
  const r = await runChecked(unprivilegedPlan(backend, fault));
  const summary = `${r.verdict.outcome}: ${r.verdict.reasons.join("; ")}`;
  expect(r.verdict.outcome, summary).toBe("not-fired");
  const errno = Number(/errno (\d+)/.exec(r.evidence.injectFailed ?? "")?.[1]);
  expect(refusals(fault), summary).toContain(errno);
  expect(r.verdict.reasons.join(" "), summary).toContain(`errno ${errno}`);
  expect(r.evidence).toMatchObject({ proof: false, guestCrash: null, exit: { kind: "running" } });
  expect(r.evidence.probes.filter((f) => f.severity === "failed")).toEqual([]);
}

async function segfaultContained(backend: Backend): Promise<void> {
  const r = await runChecked(unprivilegedPlan(backend, "segfault"));
  expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
  expectOutcome(r, "contained-limited");
}

/** The native wrapper leaves no capability and, for ezone as root, no root: checked before any fault is sent. */
function expectNativeDropped(): void {
  const uid = process.getuid?.() ?? 0;
  const wrapper = nativeArgv("/x", "", "unprivileged", uid).slice(0, -3);
  const s = statusUnder([...wrapper, "cat", "/proc/self/status"]);
  expect(s.capEff).toBe(0n);
  if (uid === 0) expect(s).toMatchObject({ capBnd: 0n, uid: 65534 });
}

/** The container's sandbox leaves no capability: checked before any fault is sent. */
async function expectContainerDropped(): Promise<void> {
  const { dir } = await enclaveRootfs(image);
  const argv = bwrapArgv(dir, "privileges-check", ["/bin/cat", "/proc/self/status"], "unprivileged");
  expect(statusUnder(argv).capEff).toBe(0n);
}

describe("native, unprivileged, on the real host", () => {
  it("leaves no capability, and kerncrash and sysrq-c are refused by the kernel: not-fired with the errno", async () => {
    // Should the wrapper keep a capability, this throws here, before a fault could reach this kernel.
    expectNativeDropped();
    await refused(new NativeBackend(), "kerncrash");
    await refused(new NativeBackend(), "sysrq-c");
  }, 120_000);

  it("still runs its guest: a segfault stays in its process", async () => {
    await segfaultContained(new NativeBackend());
  }, 60_000);
});

describe.runIf(haveBwrap)("container, unprivileged, on the real host", () => {
  it("leaves no capability, and kerncrash and sysrq-c are refused by the kernel: not-fired with the errno", async () => {
    await expectContainerDropped();
    await refused(new ContainerBackend(), "kerncrash");
    await refused(new ContainerBackend(), "sysrq-c");
  }, 120_000);

  it("still runs its guest: a segfault stays in its process", async () => {
    await segfaultContained(new ContainerBackend());
  }, 60_000);
});
