import { describe, expect, it } from "vitest";
import { ProbeChain } from "../../src/campaign/probe-chain.js";
import type { HostSnapshot } from "../../src/host/snapshot.js";

const snapshot = { takenAt: "2026-11-26T00:00:00Z" } as HostSnapshot;

describe("probe chain", () => {
  it("hands the last after-probe to the next run once", () => {
    const chain = new ProbeChain();
    expect(chain.take()).toBeNull();
    chain.keep(snapshot);
    expect(chain.take()).toBe(snapshot);
    expect(chain.take()).toBeNull();
  });

  it("does not hand out a snapshot older than its bound", () => {
    const chain = new ProbeChain(-1);
    chain.keep(snapshot);
    expect(chain.take()).toBeNull();
  });
});
