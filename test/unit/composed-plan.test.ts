import { describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { campaignLinkRefusal, composedPlan } from "../../src/campaign/composed.js";
import type { CompositionParams } from "../../src/model/composition.js";

const qemu = new QemuBackend({ accel: "tcg" });

function cell(peerBackend: string): CompositionParams {
  return {
    peers: [{ name: "b", backend: peerBackend }],
    links: [{ kind: "depends-on", from: "b", to: "victim", enabled: true }],
    limits: false,
  };
}

describe("a composed cell's plan", () => {
  it("runs a peer of the victim's backend on the victim's own backend object", () => {
    const plan = composedPlan(cell("qemu-tcg"), qemu);
    expect(plan.peerBackends.get("b")).toBe(qemu);
    expect(plan.watchMs).toBeGreaterThan(0);
    expect(composedPlan(cell("native"), qemu).peerBackends.get("b")?.name).toBe("native");
  });

  it("refuses a peer backend ezone cannot start as a peer", () => {
    expect(() => composedPlan(cell("palacios"), qemu)).toThrow(/peer b: backend "palacios" cannot be a peer/);
  });

  it("refuses, before a campaign's first run, links a peer's backend cannot have", () => {
    expect(campaignLinkRefusal([{ backend: qemu, params: {} }])).toBeNull();
    expect(campaignLinkRefusal([{ backend: qemu, params: { composition: cell("native") } }])).toBe(
      'qemu-tcg: link depends-on b -> victim: backend native of "b" has no NIC',
    );
    expect(campaignLinkRefusal([{ backend: qemu, params: { composition: cell("palacios") } }])).toMatch(
      /^qemu-tcg: peer b: backend "palacios"/,
    );
  });
});
