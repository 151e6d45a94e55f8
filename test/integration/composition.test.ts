import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { composedPlan } from "../../src/campaign/composed.js";
import type { RunPlan } from "../../src/campaign/run-one.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import type { CompositionParams } from "../../src/model/composition.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveTools = ["qemu-system-x86_64", "ip", "unshare", "nsenter"].every((b) => hasBinary(b));
let image: BuiltImage;

/** B depends on the victim's service, over the namespaced bridge; `enabled` is the dependency's toggle. */
function pair(enabled: boolean): CompositionParams {
  return {
    peers: [{ name: "b", backend: "qemu-tcg" }],
    links: [
      { kind: "network", from: "b", to: "victim", enabled: true },
      { kind: "depends-on", from: "b", to: "victim", enabled },
    ],
    limits: false,
  };
}

/**
 * What is checked here is the peers' evidence, not the host's health: other work on this shared machine
 * must not turn the run into an infra-error (a busy baseline), so the runnable-task limit is lifted.
 */
const thresholds = { ...DEFAULT_PROBE_THRESHOLDS, maxRunnablePerCore: 64 };

function plan(composition: CompositionParams, fault: "kerncrash" | "none" = "kerncrash"): RunPlan {
  const backend = new QemuBackend({ accel: "tcg" });
  return testPlan(backend, image, fault, { composition: composedPlan(composition, backend), thresholds });
}

/** Network namespaces other than this process's, held by any process: the test's own must all be gone. */
function foreignNetns(): Set<string> {
  const own = readlinkSync("/proc/self/ns/net");
  const found = new Set<string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ns = readlinkSync(`/proc/${entry}/ns/net`);
      if (ns !== own) found.add(ns);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** The host's own links: a bridge or tap made in the host's namespace by mistake would show here. */
function hostLinks(): string {
  return execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
}

describe.runIf(haveTools)("composed cell: a QEMU pair on a namespaced bridge", () => {
  let before: Set<string>;

  beforeAll(async () => {
    image = await buildImage();
  }, 600_000);

  afterEach(() => {
    expect(processesMatching("qemu-system-x86_64")).toEqual([]);
    expect(processesMatching("unshare --net")).toEqual([]);
    const left = [...foreignNetns()].filter((ns) => !before.has(ns));
    expect(left, "network namespaces left behind").toEqual([]);
    expect(hostLinks()).not.toMatch(/: (br0|ezt\d+)[:@]/);
    expect(existsSync("/run/netns") ? readdirSync("/run/netns") : []).toEqual([]);
  });

  it("kerncrash in the victim: B's requests to its service fail, B itself lives on", async () => {
    before = foreignNetns();
    const r = await runChecked(plan(pair(true)));
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    expect(r.evidence.guestCrash?.panic).toBe(true);
    const b = r.evidence.peers?.find((p) => p.name === "b");
    expect(b, JSON.stringify(r.evidence.peers)).toBeDefined();
    expect(b?.died).toBe(false);
    expect(b?.requests?.failed ?? 0).toBeGreaterThan(0);
    console.log(`composition: link on: ${JSON.stringify(b)}`);
  }, 180_000);

  it("a control run (no fault): B's requests to the victim's service all succeed", async () => {
    before = foreignNetns();
    const r = await runChecked(plan(pair(true), "none"));
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).not.toBe("infra-error");
    const b = r.evidence.peers?.find((p) => p.name === "b");
    expect(b?.died).toBe(false);
    expect(b?.requests?.ok ?? 0).toBeGreaterThan(0);
    expect(b?.requests?.failed).toBe(0);
  }, 180_000);

  it("the dependency toggled off (B uses its local copy): the same crash leaves B's requests alone", async () => {
    before = foreignNetns();
    const r = await runChecked(plan(pair(false)));
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    const b = r.evidence.peers?.find((p) => p.name === "b");
    expect(b?.died).toBe(false);
    expect(b?.requests?.ok ?? 0).toBeGreaterThan(0);
    expect(b?.requests?.failed).toBe(0);
    console.log(`composition: link off: ${JSON.stringify(b)}`);
  }, 180_000);
});
