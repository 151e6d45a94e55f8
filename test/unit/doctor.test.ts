import { describe, expect, it } from "vitest";
import { backendRow, TOOLS } from "../../src/cli/commands/doctor.js";

describe("ezone doctor rows", () => {
  it("puts the exec backend's fix in the fix column, not in the why column", () => {
    const row = backendRow("exec", { available: false, reason: "no such VMM installed or configured here" });
    expect(row.reason).toBe("no VMM command configured (exec runs one from YAML)");
    expect(row.install).toMatch(
      /^give a campaign backend of type exec a start command: .*docs\/external-vmm\.md/,
    );
  });

  it("shows no fix for an available backend", () => {
    const row = backendRow("kvm", { available: true, reason: "KVM boots to READY in 900 ms", install: "x" });
    expect(row).toEqual({
      name: "kvm",
      available: true,
      reason: "KVM boots to READY in 900 ms",
      install: "",
    });
  });

  it("keeps the backend's own fix when it is not available", () => {
    const a = {
      available: false,
      reason: "a KVM guest did not reach READY",
      install: "a KVM that boots a standard guest",
    };
    expect(backendRow("kvm", a).install).toBe("a KVM that boots a standard guest");
  });

  it("says what rsyslogd and chromium are used for, and nothing is 'planned'", () => {
    const purpose = (name: string) => TOOLS.find((t) => t.name === name)?.purpose;
    expect(purpose("rsyslogd")).toMatch(/ezone monitor/);
    expect(purpose("sbatch")).toMatch(/ezone slurm submit/);
    expect(purpose("chromium")).toMatch(/HTML report/);
    expect(TOOLS.filter((t) => /planned/.test(t.purpose))).toEqual([]);
  });
});
