import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { faultPlans, planSlots, slotParams } from "../../src/campaign/plan-slots.js";
import { attemptKey, cellKey, repetitionOf } from "../../src/campaign/run-key.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import type { Outcome } from "../../src/model/outcome-types.js";
import { Store } from "../../src/store/store.js";
import { NO_IMAGE } from "../helpers/replay.js";
import { evidenceFor, FIXTURE_PARAMS } from "../helpers/report-fixtures.js";

const paper = campaignSchema.parse({
  name: "paper",
  backends: [{ name: "b", type: "exec", exec: { start: "true" } }],
  faults: ["kerncrash", { name: "softlockup", trigger: { mode: "command" } }, "none"],
});
const mix = campaignSchema.parse({
  name: "mix",
  backends: ["uml"],
  faults: [{ name: "segfault", trigger: { delaySeconds: 2, mode: "boot-delay" } }],
  bystanders: 2,
  guest: { memoryMb: 512, kernelArgs: ["quiet2"], oopsPanic: false, boot: "fresh" },
});

/** Cell keys as the untyped `params` object of ezone before RunParams made them (recorded from it). */
const RECORDED: ["paper" | "mix", string, boolean, string][] = [
  ["paper", "kerncrash", true, "paper/b/kerncrash/f0f7afdb2efc"],
  ["paper", "kerncrash", false, "paper/b/kerncrash/aa7638b5685c"],
  ["paper", "softlockup", true, "paper/b/softlockup/741ed4a27fad"],
  ["paper", "softlockup", false, "paper/b/softlockup/cd781447eef6"],
  ["paper", "none", true, "paper/b/none/f0f7afdb2efc"],
  ["paper", "none", false, "paper/b/none/aa7638b5685c"],
  // The campaign asks for fresh boots: a snapshot-capable backend changes nothing.
  ["mix", "segfault", true, "mix/b/segfault/41a054eaa92e"],
  ["mix", "segfault", false, "mix/b/segfault/41a054eaa92e"],
];

describe("run keys", () => {
  it.each(RECORDED)(
    "%s × %s (snapshot-capable backend: %s) keeps its stored key",
    (name, fault, snapshots, key) => {
      const config = name === "paper" ? paper : mix;
      const plan = faultPlans(config).find((f) => f.fault === fault);
      if (!plan) throw new Error(`no fault ${fault}`);
      expect(cellKey(config.name, "b", fault, slotParams(config, plan.fault, plan.trigger, snapshots))).toBe(
        key,
      );
    },
  );

  it.each([
    ["contained-limited", "k/1"],
    ["infra-error", "k/1!infra-2"],
    ["boot-error", "k/1!boot-2"],
  ] as [Outcome, string][])("an attempt ending in %s is stored as %s", (outcome, key) => {
    expect(attemptKey("k/1", outcome, 2)).toBe(key);
  });

  it("reads a repetition back from its key, and nothing from a failed attempt's or another cell's", () => {
    expect(repetitionOf("c/b/f/h", "c/b/f/h/7")).toBe(7);
    expect(repetitionOf("c/b/f/h", "c/b/f/h/7!infra-0")).toBeNull();
    expect(repetitionOf("c/b/f/h", "c/b/f/h2/7")).toBeNull();
  });
});

describe("resume of a results directory written before typed run parameters", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("restores stored results under their old keys and leaves failed attempts to redo", async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-resume-"));
    {
      using store = Store.open(dir);
      store.ensureCampaign("paper", "{}", "h");
      const stored: [string, Outcome][] = [
        ["paper/b/kerncrash/aa7638b5685c/1", "contained-limited"],
        ["paper/b/kerncrash/aa7638b5685c/2!infra-0", "infra-error"],
        ["paper/b/kerncrash/aa7638b5685c/3!boot-0", "boot-error"],
      ];
      for (const [runKey, outcome] of stored) {
        await store.recordRun({
          campaign: "paper",
          runKey,
          backend: "b",
          fault: "kerncrash",
          zone: 3,
          params: FIXTURE_PARAMS,
          repetition: 1,
          seed: "s",
          nonce: "n",
          verdict: { outcome, reasons: ["stored"] },
          evidence: evidenceFor("kerncrash", 3),
          startedAt: new Date(0),
          finishedAt: new Date(1),
          bootMs: null,
          detectionMs: null,
          runMs: 1,
          artifacts: [],
          provenance: {
            ezoneVersion: "0",
            ezoneCommit: null,
            backendVersion: null,
            kernelVersion: null,
            imageHash: null,
            kernelCmdline: null,
            hostKernel: "k",
            hostname: "h",
          },
        });
      }
    }
    using store = Store.open(dir);
    const loaded = { config: paper, resultsDir: dir, text: "", file: join(dir, "paper.yaml") };
    const { slots, restored } = await planSlots(loaded, store, {
      image: NO_IMAGE,
      signal: AbortSignal.timeout(5_000),
      log: () => {},
    });
    expect(restored).toBe(1);
    const kerncrash = slots.find((s) => s.fault === "kerncrash");
    expect(kerncrash?.cell.keyPrefix).toBe("paper/b/kerncrash/aa7638b5685c");
    expect([kerncrash?.cell.next(), kerncrash?.cell.next(), kerncrash?.cell.next()]).toEqual([2, 3, 4]);
  });
});
