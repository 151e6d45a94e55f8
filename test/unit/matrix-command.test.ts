import { describe, expect, it } from "vitest";
import { BACKEND_NAMES } from "../../src/backends/index.js";
import { parseCampaign } from "../../src/campaign/load.js";
import { MATRIX_CAMPAIGN, matrixCampaignText, matrixFaults, run } from "../../src/cli/commands/matrix.js";
import { FAULT_NAMES } from "../../src/faults/catalogue.js";
import { ConfigError } from "../../src/util/errors.js";

describe("ezone matrix", () => {
  it("is a valid campaign: every backend × every fault but the control, triggered at once", () => {
    const faults = FAULT_NAMES.filter((f) => f !== "none");
    const config = parseCampaign(matrixCampaignText(3, [...BACKEND_NAMES], faults), "(test)");
    expect(config.name).toBe(MATRIX_CAMPAIGN);
    expect(config.repetitions).toBe(3);
    expect(config.backends.map((b) => (typeof b === "string" ? b : b.name))).toEqual([...BACKEND_NAMES]);
    // Each cell where the real host may take it, else in the disposable host; shared kernels both ways.
    expect(config.backends).toContainEqual({
      name: "container",
      type: "container",
      host: "auto",
      privileges: "both",
    });
    expect(config.backends).toContainEqual({ name: "uml", type: "uml", host: "auto" });
    expect(config.faults).toHaveLength(faults.length);
    expect(config.faults[0]).toEqual({ name: faults[0], trigger: { mode: "command", delaySeconds: 0 } });
    expect(config.bystanders).toBe(0);
  });

  it("leaves out the control run and ezone's self-checks unless they are named", () => {
    expect(matrixFaults(undefined)).not.toContain("none");
    expect(matrixFaults("all")).not.toContain("forged-panic");
    expect(matrixFaults(undefined)).not.toContain("cpuhog");
    expect(matrixFaults(undefined)).toContain("host-cpuhog");
    expect(matrixFaults(undefined)).toContain("kerncrash");
    expect(matrixFaults("forged-panic,kerncrash")).toEqual(["forged-panic", "kerncrash"]);
  });

  it.each([
    [{ runs: "0" }, /--runs/],
    [{ runs: "2.5" }, /--runs/],
    [{ backends: "native,warp-drive" }, /--backends/],
    [{ backends: "," }, /--backends/],
    [{ faults: "meltdown" }, /--faults/],
  ])("rejects bad flags before running anything: %o", async (opts, file) => {
    const err = await run(opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toMatch(file);
  });
});
