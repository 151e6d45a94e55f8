/** Stored runs of a composed cell (victim qemu-tcg, peer b depending on it), for report tests. No I/O. */
import type { CompositionParams, PeerEvidence } from "../../src/model/composition.js";
import type { Outcome } from "../../src/model/outcome-types.js";
import type { StoredRun } from "../../src/store/store.js";
import { evidenceFor, FIXTURE_PARAMS, storedRun } from "./report-fixtures.js";

/** The cell with its dependency on or off; `peer` names the peer (tests pass hostile names). */
export function composition(dependency: boolean, peer = "b"): CompositionParams {
  return {
    peers: [{ name: peer, backend: "qemu-tcg" }],
    links: [
      { kind: "depends-on", from: peer, to: "victim", enabled: dependency },
      { kind: "network", from: peer, to: "victim", enabled: true },
    ],
    limits: false,
  };
}

/** One stored run of the cell: a control run (fault none) or a kerncrash with its verdict. */
export function composedRun(
  c: CompositionParams,
  fault: "none" | "kerncrash",
  outcome: Outcome,
  reasons: string[],
  peer: Partial<PeerEvidence> = {},
): StoredRun {
  const name = c.peers[0]?.name ?? "b";
  return storedRun("qemu-tcg", outcome, {
    fault,
    params: { ...FIXTURE_PARAMS, composition: c },
    reasons,
    guestCrashed: fault !== "none",
    evidence: evidenceFor(fault, 3, {
      peers: [
        {
          name,
          backend: "qemu-tcg",
          died: false,
          maxHeartbeatGapMs: 300,
          requests: { ok: 40, failed: 0, late: 0 },
          ...peer,
        },
      ],
    }),
  });
}

/**
 * The bridge/dependency comparison as it should come out: with the dependency, every kerncrash makes
 * the peer's requests fail (varied, naming it); without, the peer is unaffected. Five controls each.
 */
export function dependencyComparison(peer = "b"): StoredRun[] {
  const on = composition(true, peer);
  const off = composition(false, peer);
  const controls = [on, off].flatMap((c) =>
    [1, 2, 3, 4, 5].map(() => composedRun(c, "none", "no-effect", ["control run"])),
  );
  const crashesOn = [1, 2, 3, 4].map(() =>
    composedRun(on, "kerncrash", "contained-varied", [`peer ${peer}: 14 failed requests (controls max 0)`], {
      requests: { ok: 2, failed: 14, late: 0 },
    }),
  );
  const peerDied = composedRun(
    on,
    "kerncrash",
    "escaped-global",
    [`peer ${peer} (qemu-tcg) died while the fault ran`],
    {
      died: true,
    },
  );
  const crashesOff = [1, 2, 3, 4, 5].map(() =>
    composedRun(off, "kerncrash", "contained-limited", ["guest kernel crashed: divide error"]),
  );
  return [...controls, ...crashesOn, peerDied, ...crashesOff];
}
