/**
 * A composed cell through `runCampaign`, with a real process as its enclave (an `exec` VMM: a shell loop
 * that says READY and heartbeats, and never fires a fault) and a steady host: the cell's 5 control runs
 * all finish before its fault run starts, the fault run's stored evidence carries their maxima, and a
 * second invocation resumes without running anything again. Peer b runs beside every run (no links, so
 * no requests); the verdict judges it only once the fault's proof is there.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCampaign } from "../../src/campaign/run-campaign.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { Store } from "../../src/store/store.js";
import { NO_IMAGE, steadyHostProbe } from "../helpers/replay.js";

const AGENT = `sh -c 'echo "READY ezone-agent/1 hb=50"; i=0; while [ $i -lt 400 ]; do echo "HB $i $((i*50))"; i=$((i+1)); sleep 0.05; done'`;

describe("a composed cell in a campaign", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs the controls first and judges the fault run against them; a resume repeats nothing", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-composed-"));
    const config = campaignSchema.parse({
      name: "comp",
      repetitions: 1,
      backends: [{ name: "vm", type: "exec", exec: { start: AGENT } }],
      faults: [{ name: "kerncrash", trigger: { mode: "command", delaySeconds: 0 } }],
      guest: { heartbeatMs: 50, boot: "fresh" },
      timeouts: { bootSeconds: 10, observeSeconds: 0.4, controlObserveSeconds: 0.3 },
      cells: [{ name: "pair", victim: "vm", peers: [{ name: "b", backend: "vm" }] }],
    });
    const loaded = { config, resultsDir: dir, text: JSON.stringify(config), file: join(dir, "comp.yaml") };
    const opts = {
      image: NO_IMAGE,
      signal: AbortSignal.timeout(60_000),
      log: () => {},
      jobs: 2,
      hostProbe: steadyHostProbe,
    };
    const summary = await runCampaign(loaded, opts);
    expect(summary.executed).toBe(6);
    {
      using store = Store.open(dir);
      const runs = store.runs({ campaign: "comp" });
      const controls = runs.filter((r) => r.fault === "none");
      const [fault] = runs.filter((r) => r.fault === "kerncrash");
      expect(controls.map((r) => r.outcome)).toEqual(Array(5).fill("no-effect"));
      const lastControl = Math.max(...controls.map((r) => r.finishedAt.getTime()));
      expect(fault?.startedAt.getTime()).toBeGreaterThanOrEqual(lastControl);
      expect(fault?.params.composition?.peers).toEqual([{ name: "b", backend: "vm" }]);
      // Peer b ran beside each control (no links: no requests), heartbeating.
      expect(fault?.evidence.controlMaxima).toEqual({
        runs: 5,
        heartbeatMs: 50,
        parties: { b: { failed: 0, late: 0, maxHeartbeatGapMs: expect.any(Number) } },
        hostDegraded: {},
      });
      // The loop never fires the fault: no proof, so nothing of the peers is judged.
      expect(fault?.outcome).toBe("not-fired");
    }
    const again = await runCampaign(loaded, opts);
    expect(again.executed).toBe(0);
    expect(again.skippedExisting).toBe(6);
  });
});
