import { describe, expect, it } from "vitest";
import { BACKEND_NAMES, createBackend } from "../../src/backends/index.js";
import { nativeFlipSupport } from "../../src/backends/native.js";
import { hostPtraceRefusal } from "../../src/backends/ptrace-flipper.js";
import { faultPlans } from "../../src/campaign/plan-slots.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { FAULTS } from "../../src/faults/catalogue.js";

const base = { name: "flips", backends: ["qemu-tcg"] };

describe("bitflip in a campaign", () => {
  it("expands into `flips` runs of one cell with its target in the parameters", () => {
    const config = campaignSchema.parse({
      ...base,
      faults: [{ name: "bitflip", target: "registers", register: "rip", bit: 63, flips: 7 }],
    });
    expect(faultPlans(config)).toEqual([
      {
        fault: "bitflip",
        trigger: { mode: "command", delaySeconds: 0 },
        softError: { target: "registers", register: "rip", bit: 63 },
        repetitions: 7,
      },
    ]);
  });

  it.each([
    ["bitflip without a target", ["bitflip"], /bitflip needs its target and count/],
    [
      "a register with target data",
      [{ name: "bitflip", target: "data", register: "rax", flips: 1 }],
      /target registers only/,
    ],
    [
      "bit 40 of eflags",
      [{ name: "bitflip", target: "registers", register: "eflags", bit: 40, flips: 1 }],
      /eflags has bits 0-31/,
    ],
    ["an unknown register", [{ name: "bitflip", target: "registers", register: "xmm0", flips: 1 }], /rax/],
  ])("refuses %s, naming the field", (_, faults, message) => {
    const r = campaignSchema.safeParse({ ...base, faults });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });

  it("runs on qemu-tcg and native (where Yama lets ezone ptrace); every other backend refuses it with the reason", () => {
    for (const name of BACKEND_NAMES) {
      const support = createBackend({ name, type: name }).supports(FAULTS.bitflip);
      if (name === "qemu-tcg") expect(support).toEqual({ supported: true });
      else if (name === "native") expect(support).toEqual(nativeFlipSupport("data", hostPtraceRefusal()));
      else expect(support.supported === false && support.reason, name).toMatch(/gdbstub .* ptrace/);
    }
  });
});
