/**
 * A guest that never comes up is a `boot-error`: a silent `exec` VMM (a real process that prints
 * nothing) times out at the boot deadline, says so with the time, is retried once, and never
 * quarantines the host however many boot-errors come in a row. The host probes are replaced by a steady
 * host: what is tested is the VMM's boot, not this shared machine's load.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ExecBackend } from "../../src/backends/exec.js";
import { runCampaign } from "../../src/campaign/run-campaign.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { paperCells, paperRows } from "../../src/report/paper-table.js";
import { cellLines, zoneMatrix } from "../../src/report/zone-matrix.js";
import { Store } from "../../src/store/store.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";
import { NO_IMAGE, steadyHostProbe } from "../helpers/replay.js";

describe("boot-error", () => {
  let dir = "";
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("an exec VMM that stays silent: boot-error at the boot deadline, with the time", async () => {
    const silent = new ExecBackend("silent", { start: "sleep 30" });
    const plan = testPlan(silent, NO_IMAGE, "kerncrash");
    const r = await runChecked({
      ...plan,
      hostProbe: steadyHostProbe,
      timeouts: { ...plan.timeouts, bootMs: 500 },
    });
    expect(r.verdict.outcome).toBe("boot-error");
    expect(r.verdict.reasons[0]).toBe(
      "wait.ready: boot timeout: no READY from the agent within 500 ms; the console stayed silent",
    );
    expect(r.evidence.bootError).toBe(r.verdict.reasons[0]);
  });

  it("an exec VMM that prints and exits before READY: boot-error with its exit and last lines", async () => {
    const dies = new ExecBackend("dies", { start: `sh -c "echo 'Kernel panic - no init'; exit 3"` });
    const r = await runChecked({ ...testPlan(dies, NO_IMAGE, "kerncrash"), hostProbe: steadyHostProbe });
    expect(r.verdict.outcome).toBe("boot-error");
    expect(r.verdict.reasons[0]).toBe(
      "wait.ready: enclave ended before READY (exited with status 3); last console lines: Kernel panic - no init",
    );
  });

  it("in a campaign: retried once, shown per backend, and never a quarantine", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-boot-error-"));
    const config = campaignSchema.parse({
      name: "silent",
      repetitions: 3,
      backends: [{ name: "silent", type: "exec", exec: { start: "sleep 30" } }],
      faults: ["kerncrash"],
      timeouts: { bootSeconds: 0.3 },
      infra: { retries: 3, quarantineAfter: 2 },
    });
    const summary = await runCampaign(
      { config, resultsDir: dir, text: JSON.stringify(config), file: join(dir, "silent.yaml") },
      {
        image: NO_IMAGE,
        signal: AbortSignal.timeout(60_000),
        log: () => {},
        jobs: 2,
        hostProbe: steadyHostProbe,
      },
    );
    expect(summary.stoppedBecause).toBeNull();
    expect(summary.outcomes).toEqual({ "boot-error": 3 });
    using store = Store.open(dir);
    const runs = store.runs({ campaign: "silent" });
    expect(runs.map((r) => r.runKey.replace(/^.*\//, "")).sort()).toEqual([
      "1!boot-0",
      "1!boot-1",
      "2!boot-0",
      "2!boot-1",
      "3!boot-0",
      "3!boot-1",
    ]);
    expect(runs.every((r) => r.hostSurvived === null)).toBe(true);
    const [row] = paperRows(["silent"], runs, store.statements("silent"), "silent");
    expect(row && paperCells(row)[1]).toBe("0 (+6 boot-error)");
    const cell = zoneMatrix(runs, store.statements("silent"), ["silent"]).cells.silent?.[3];
    expect(cell && cellLines(cell)).toEqual(["no results (6 boot-error)"]);
  });
});
