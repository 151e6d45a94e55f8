import { describe, expect, it } from "vitest";
import { ProbeChain } from "../../src/campaign/probe-chain.js";
import type { HostProbes } from "../../src/host/probes.js";

const probes = { takenAt: "2026-11-26T00:00:00Z" } as HostProbes;

describe("probe chain", () => {
  it("hands the last after-probe to the next run once", () => {
    const chain = new ProbeChain();
    expect(chain.take()).toBeNull();
    chain.keep(probes);
    expect(chain.take()).toBe(probes);
    expect(chain.take()).toBeNull();
  });

  it("does not hand out probes older than its bound", () => {
    const chain = new ProbeChain(-1);
    chain.keep(probes);
    expect(chain.take()).toBeNull();
  });
});
