import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { TestScript } from "../../src/backends/test.js";
import { GoldenRuns } from "../../src/campaign/golden.js";
import { runOne } from "../../src/campaign/run-one.js";
import { Store } from "../../src/store/store.js";
import { BOOTS, replayPlan } from "../helpers/replay.js";

const DIGEST = "e58830d343209cac";

/** An agent whose workload parks, then computes the golden digest on SOFT-GO. */
function workload(parks = true): TestScript {
  return {
    start: BOOTS,
    reactions: [
      {
        input: /^INJECT bitflip /,
        events: [
          { atMs: 1, console: "FIRED bitflip nonce={nonce}\n" },
          ...(parks
            ? [
                {
                  atMs: 2,
                  console: "SOFT-PARKED nonce={nonce} pid=90 phys=0x21af5000 len=4096\n",
                },
              ]
            : []),
        ],
      },
      {
        input: /^SOFT-GO /,
        events: [
          { atMs: 3, console: `SOFT-DONE nonce={nonce} digest=${DIGEST} us=1500\n` },
          { atMs: 4, console: "CHILD bitflip nonce={nonce} pid=90 exit=0\n" },
        ],
      },
    ],
  };
}

const FLIP = { target: "data" as const, seed: "0123456789abcdef" };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("bit-flip steps on the replaying backend", () => {
  it("measures the golden run once, stores it, and reads it back after that", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ezone-golden-"));
    dirs.push(dir);
    using store = Store.open(dir);
    const logged: string[] = [];
    const plan = replayPlan(workload(), "bitflip", { softError: FLIP });
    const source = new GoldenRuns(store, (l) => logged.push(l)).source(plan, "qemu-tcg");
    const signal = AbortSignal.timeout(5_000);
    expect(await source.get(signal)).toEqual({ golden: { digest: DIGEST, durationUs: 1500 }, reused: false });
    expect(logged).toEqual([`  golden run replay/qemu-tcg/soft-workload/1: digest ${DIGEST}, 1500 µs`]);
    // A second campaign invocation (resume) on the same store: no run, the stored golden run.
    const resumed = new GoldenRuns(store, (l) => logged.push(l)).source(plan, "qemu-tcg");
    expect(await resumed.get(signal)).toEqual({ golden: { digest: DIGEST, durationUs: 1500 }, reused: true });
    expect(logged).toHaveLength(1);
  });

  it("refuses a golden run whose workload printed no digest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ezone-golden-"));
    dirs.push(dir);
    using store = Store.open(dir);
    const plan = replayPlan(workload(false), "bitflip", { softError: FLIP });
    const source = new GoldenRuns(store, () => {}).source(plan, "qemu-tcg");
    await expect(source.get(AbortSignal.timeout(5_000))).rejects.toThrow(/^golden: .*gave no digest/);
    expect(store.golden("replay/qemu-tcg/soft-workload/1")).toBeNull();
  });

  it.each([
    ["no golden run to judge against", workload(), null, /^golden: a bit flip needs a golden run/],
    [
      "a backend without a debug stub",
      workload(),
      { get: async () => ({ golden: { digest: DIGEST, durationUs: 1500 }, reused: true }) },
      /^flip\.gdbstub: test has no debug stub/,
    ],
    [
      "a workload that never parks",
      workload(false),
      { get: async () => ({ golden: { digest: DIGEST, durationUs: 1500 }, reused: true }) },
      /^flip\.parked: the workload never printed SOFT-PARKED/,
    ],
  ])("%s is an infra-error naming the step", async (_, script, golden, reason) => {
    const r = await runOne(
      replayPlan(script, "bitflip", { softError: FLIP, golden }),
      AbortSignal.timeout(5_000),
    );
    expect(r.verdict.outcome).toBe("infra-error");
    expect(r.verdict.reasons.join("; ")).toMatch(reason);
  });
});
