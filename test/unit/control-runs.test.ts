import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Cell } from "../../src/campaign/cell.js";
import { judgeAgainstControls } from "../../src/campaign/control-runs.js";
import type { RunResult } from "../../src/campaign/run-plan.js";
import { schedule } from "../../src/campaign/scheduler.js";
import type { PeerEvidence } from "../../src/model/composition.js";
import type { Outcome } from "../../src/model/outcome-types.js";
import { Store } from "../../src/store/store.js";
import { evidenceFor, storedRun } from "../helpers/report-fixtures.js";

const peer = (failed: number): PeerEvidence => ({
  name: "b",
  backend: "qemu-tcg",
  died: false,
  maxHeartbeatGapMs: 300,
  requests: { ok: 40, failed, late: 0 },
});

describe("a composed cell's fault runs wait for its control runs", () => {
  it("no fault repetition starts before every control repetition has finished", async () => {
    const controls = new Cell("c/v/none/x", 5, null);
    const faults = new Cell("c/v/kerncrash/x", 3, null);
    const order: string[] = [];
    await schedule(
      [
        { cell: faults, exclusive: false, after: { cell: controls, results: 5 } },
        { cell: controls, exclusive: false },
      ],
      2,
      AbortSignal.timeout(5_000),
      {
        run: async (slot, rep) => {
          order.push(`${slot.cell === controls ? "control" : "fault"}:${rep}:start`);
          await new Promise((r) => setImmediate(r));
          order.push(`${slot.cell === controls ? "control" : "fault"}:${rep}:end`);
          return "no-effect" as Outcome;
        },
      },
    );
    const lastControlEnd = order.lastIndexOf(
      order.filter((o) => o.startsWith("control") && o.endsWith("end")).at(-1) ?? "",
    );
    const firstFaultStart = order.findIndex((o) => o.startsWith("fault"));
    expect(order.filter((o) => o.endsWith("end"))).toHaveLength(8);
    expect(firstFaultStart).toBeGreaterThan(lastControlEnd);
  });

  it("fault runs are left for a resume when fewer control runs than needed ended in a result", async () => {
    const controls = new Cell("c/v/none/x", 5, null);
    const faults = new Cell("c/v/kerncrash/x", 3, null);
    const ran: string[] = [];
    await schedule(
      [
        { cell: controls, exclusive: false },
        { cell: faults, exclusive: false, after: { cell: controls, results: 5 } },
      ],
      1,
      AbortSignal.timeout(5_000),
      {
        run: async (slot, rep) => {
          ran.push(`${slot.cell === controls ? "control" : "fault"}:${rep}`);
          return (rep === 2 ? "infra-error" : "no-effect") as Outcome;
        },
      },
    );
    expect(ran).toEqual(["control:1", "control:2", "control:3", "control:4", "control:5"]);
    expect(faults.remaining()).toBe(3);
  });
});

describe("judging a fault run against the stored control runs", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function storeControls(
    store: Store,
    failed: number[],
    extra: [string, Outcome][] = [],
  ): Promise<void> {
    store.ensureCampaign("comp", "{}", "h");
    const runs: [string, Outcome, number][] = [
      ...failed.map((f, i): [string, Outcome, number] => [`comp/v/none/abc/${i + 1}`, "no-effect", f]),
      ...extra.map(([k, o]): [string, Outcome, number] => [k, o, 99]),
    ];
    for (const [runKey, outcome, f] of runs) {
      const run = storedRun("v", outcome, {
        campaign: "comp",
        runKey,
        fault: "none",
        evidence: evidenceFor("none", 3, { peers: [peer(f)] }),
      });
      await store.recordRun({ ...run, verdict: { outcome, reasons: run.reasons }, artifacts: [] });
    }
  }

  const faultRun = (failed: number): RunResult =>
    ({
      verdict: { outcome: "contained-limited", reasons: ["before the controls were seen"] },
      evidence: evidenceFor("kerncrash", 3, { panicChannel: null, peers: [peer(failed)] }),
    }) as RunResult;

  it("puts the controls' maxima in the evidence and names the peer and the figure", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-controls-"));
    using store = Store.open(dir);
    // A failed attempt and another cell's run are not this cell's finished controls.
    await storeControls(
      store,
      [0, 1, 0, 2, 0],
      [
        ["comp/v/none/abc/6!infra-0", "infra-error"],
        ["comp/v/none/abd/1", "no-effect"],
      ],
    );
    const judged = judgeAgainstControls(store, new Cell("comp/v/none/abc", 5, null), 250, faultRun(14));
    expect(judged.evidence.controlMaxima).toEqual({
      runs: 5,
      heartbeatMs: 250,
      parties: { b: { maxHeartbeatGapMs: 300, failed: 2, late: 0 } },
      hostDegraded: {},
    });
    expect(judged.verdict).toMatchObject({
      outcome: "contained-varied",
      reasons: ["peer b: 14 failed requests (controls max 2)"],
    });
  });

  it("with fewer than 5 finished control runs the fault run is unknown", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-controls-"));
    using store = Store.open(dir);
    await storeControls(store, [0, 0, 0, 0]);
    const judged = judgeAgainstControls(store, new Cell("comp/v/none/abc", 5, null), 250, faultRun(14));
    expect(judged.verdict.outcome).toBe("unknown");
    expect(judged.verdict.reasons[0]).toMatch(/only 4 finished control runs/);
  });
});
