import { describe, expect, it } from "vitest";
import { decideOutcome } from "../../src/model/outcome.js";
import type { ProbeFinding, RunEvidence } from "../../src/model/outcome-types.js";
import {
  chooseFlip,
  classifySoftError,
  type FlipRecord,
  type Golden,
  hangWindowMs,
  type SoftErrorEvidence,
} from "../../src/model/soft-error.js";
import { parkedWorkload, spinningWorkload, workloadReport } from "../../src/monitor/soft-lines.js";
import { countWithInterval } from "../../src/report/soft-errors.js";

const golden: Golden = { digest: "e58830d343209cac", durationUs: 1500 };
const parked = { physical: 0x2_1af5_000n, length: 4096 };

describe("chooseFlip", () => {
  it("puts a data flip inside the parked input buffer, the same for the same seed", () => {
    for (const seed of ["0123456789abcdef", "ffffffffffffffff", "0000000000000000", "9a3c"]) {
      const f = chooseFlip(seed, { target: "data" }, parked);
      expect(f.kind).toBe("memory");
      if (f.kind !== "memory") continue;
      expect(f.address >= parked.physical && f.address < parked.physical + 4096n).toBe(true);
      expect(f.bit).toBeGreaterThanOrEqual(0);
      expect(f.bit).toBeLessThan(8);
      expect(chooseFlip(seed, { target: "data" }, parked)).toEqual(f);
    }
  });

  it("keeps a pinned register and bit, and seeds the rest within the register's width", () => {
    expect(chooseFlip("0123456789abcdef", { target: "registers", register: "rip", bit: 63 }, parked)).toEqual(
      {
        kind: "register",
        register: "rip",
        bit: 63,
      },
    );
    const f = chooseFlip("fedcba9876543210", { target: "registers", register: "eflags" }, parked);
    expect(f.kind === "register" && f.bit < 32).toBe(true);
  });
});

describe("hangWindowMs", () => {
  it("is max(3 × golden, golden + 2 s), scaled, plus the floor", () => {
    expect(hangWindowMs({ digest: "", durationUs: 1_000 }, 1, 0)).toBe(2001);
    expect(hangWindowMs({ digest: "", durationUs: 2_000_000 }, 1, 0)).toBe(6000);
    expect(hangWindowMs({ digest: "", durationUs: 1_000 }, 2, 500)).toBe(500 + 4002);
  });
});

describe("classifySoftError", () => {
  const run = (
    end: string | null,
    digest: string | null,
    crash: string | null = null,
    beats: number | null = null,
  ) =>
    classifySoftError(golden, {
      workload: { digest, durationUs: digest ? 1600 : null, end },
      guestCrash: crash,
      heartbeatLost: false,
      beatsAfterFlip: beats,
    }).class;

  it.each([
    ["benign: same digest, exit 0", "exit=0", golden.digest, null, "benign"],
    [
      "silent-data-corruption: other digest, exit 0",
      "exit=0",
      "0000000000000001",
      null,
      "silent-data-corruption",
    ],
    ["detected: killed by a signal", "signal=SIGSEGV", null, null, "detected"],
    ["detected: non-zero exit", "exit=5", null, null, "detected"],
    ["detected: the guest kernel crashed", null, null, "general protection fault", "detected"],
    ["hang: never ended", null, null, null, "hang"],
    ["none: exit 0 without a digest", "exit=0", null, null, null],
  ])("%s", (_, end, digest, crash, expected) => {
    expect(run(end, digest, crash)).toBe(expected);
  });

  it.each([
    ["hang: a kernel flip after which the guest heartbeat fewer than 2 times", 1, "hang"],
    ["benign: a kernel flip the guest heartbeat through", 2, "benign"],
  ])("%s", (_, beats, expected) => {
    expect(run("exit=0", golden.digest, null, beats)).toBe(expected);
  });
});

describe("soft-error lines", () => {
  const console = [
    "HB 3 1200",
    "SOFT-PARKED nonce=other pid=90 phys=0x1000 len=4096",
    "SOFT-PARKED nonce=n1 pid=91 phys=0x21af5000 len=4096",
    "SOFT-DONE nonce=n1 digest=e58830d343209cac us=1650",
    "SOFT-DONE nonce=n1 digest=zz us=1",
    "CHILD bitflip nonce=n1 pid=91 exit=0",
    "",
  ].join("\r\n");

  it("reads the parked workload of the run's nonce only", () => {
    expect(parkedWorkload(console, "n1")).toEqual(parked);
    expect(parkedWorkload(console, "n2")).toBeNull();
    expect(parkedWorkload("SOFT-PARKED nonce=n1 pid=1 phys=0x1000 len=0\n", "n1")).toBeNull();
  });

  it("reads the spinning workload's loop and release flag", () => {
    const spin = "SOFT-SPIN nonce=n1 spin=0x4042a0 release=0x4d6000\r\n";
    expect(spinningWorkload(spin, "n1")).toEqual({ spin: 0x4042a0n, release: 0x4d6000n });
    expect(spinningWorkload(spin, "n2")).toBeNull();
    // Still arriving: the address would be cut short.
    expect(spinningWorkload("SOFT-SPIN nonce=n1 spin=0x4042a0 release=0x4", "n1")).toBeNull();
  });

  it("reads the digest, the time and how the workload ended; a malformed line is ignored", () => {
    expect(workloadReport(console, "n1")).toEqual({ digest: golden.digest, durationUs: 1650, end: "exit=0" });
    expect(workloadReport("SOFT-DONE nonce=n1 digest=e58830d343209cac<b> us=1\n", "n1").digest).toBeNull();
    expect(workloadReport(console, "other")).toEqual({ digest: null, durationUs: null, end: null });
  });
});

describe("soft-error outcome rows", () => {
  const flip: FlipRecord = {
    target: "data",
    where: "physical 0x21af5064 bit 3",
    old: "5a",
    written: "52",
    readBack: "52",
    fired: true,
  };
  const soft = (cls: SoftErrorEvidence["class"], f: FlipRecord | null = flip): SoftErrorEvidence => ({
    flip: f,
    golden,
    workload: { digest: null, durationUs: null, end: null },
    class: cls,
    reason: "why",
  });
  const base: RunEvidence = {
    fault: "bitflip",
    zone: 4,
    infraError: null,
    ready: true,
    agentFired: true,
    injectFailed: null,
    proof: true,
    guestCrash: null,
    panicEvent: false,
    panicChannel: "pvpanic (QMP GUEST_PANICKED)",
    panicEventDelayMs: null,
    faultPanics: false,
    heartbeatsAfterFault: 4,
    heartbeatLost: false,
    exit: { kind: "running" },
    stopReason: "fault-ended",
    probes: [],
  };
  const crash = { title: "general protection fault", crashClass: "gpf", panic: true };
  const degradedProbe: ProbeFinding = {
    probe: "fork-exec",
    severity: "degraded",
    before: 10,
    after: 40,
    threshold: "20 ms",
    detail: "fork+exec 40 ms (threshold 20 ms)",
  };

  it.each<[string, Partial<RunEvidence>, string]>([
    [
      "a flip that did not read back is not-fired",
      { proof: false, softError: soft("benign", { ...flip, readBack: "5a", fired: false }) },
      "not-fired",
    ],
    ["no flip placed is not-fired", { proof: false, softError: soft(null, null) }, "not-fired"],
    ["benign is no-effect", { softError: soft("benign") }, "no-effect"],
    [
      "silent-data-corruption stays in the process",
      { softError: soft("silent-data-corruption") },
      "contained-limited",
    ],
    ["detected by a signal stays in the process", { softError: soft("detected") }, "contained-limited"],
    ["a hang of the workload alone stays in the process", { softError: soft("hang") }, "contained-limited"],
    [
      "a hang that stops the heartbeat goes beyond",
      { heartbeatLost: true, softError: soft("hang") },
      "contained-varied",
    ],
    [
      "a guest kernel crash goes beyond the process",
      { guestCrash: crash, softError: soft("detected") },
      "contained-varied",
    ],
    ["no class is unknown", { softError: soft(null) }, "unknown"],
    [
      "a kernel flip's guest crash stays in the guest (zone 3)",
      { zone: 3, guestCrash: crash, softError: soft("detected") },
      "contained-limited",
    ],
    [
      "a kernel flip that stops the heartbeat stays in the guest (zone 3)",
      { zone: 3, heartbeatLost: true, softError: soft("hang") },
      "contained-limited",
    ],
    [
      "a kernel flip's guest crash with a degraded host probe is varied (zone 3)",
      { zone: 3, guestCrash: crash, softError: soft("detected"), probes: [degradedProbe] },
      "contained-varied",
    ],
  ])("%s", (_, change, outcome) => {
    expect(decideOutcome({ ...base, ...change }).outcome).toBe(outcome);
  });

  it("cites the flip, old and new value, and the class", () => {
    const v = decideOutcome({ ...base, softError: soft("silent-data-corruption") });
    expect(v.reasons[0]).toBe("flipped physical 0x21af5064 bit 3 (5a → 52)");
    expect(v.reasons[1]).toBe("silent-data-corruption: why");
  });
});

describe("countWithInterval", () => {
  it("gives the count with its two-sided 95% interval", () => {
    expect(countWithInterval(0, 10)).toBe("0 (0–31%)");
    expect(countWithInterval(10, 10)).toBe("10 (69–100%)");
  });
});
