import { describe, expect, it } from "vitest";
import { nativeFlipSupport } from "../../src/backends/native.js";
import { flipperArgs, parseFlipperReport, ptraceRefusal } from "../../src/model/process-flip.js";
import { workloadProcess } from "../../src/monitor/soft-lines.js";

describe("bit flips by ptrace (native)", () => {
  it("gives the flipper hex addresses and decimal pids and bits", () => {
    expect(flipperArgs({ kind: "memory", pid: 42, address: 0x4d8a43n, bit: 3 })).toEqual([
      "mem",
      "42",
      "4d8a43",
      "3",
    ]);
    const loop = { start: 0x401000n, end: 0x401020n };
    expect(
      flipperArgs({ kind: "register", pid: 7, register: "rip", bit: 63, loop, release: 0x4c0000n }),
    ).toEqual(["reg", "7", "rip", "63", "401000", "401020", "4c0000"]);
  });

  it("reads the flipper's report: bytes for memory, registers with their privilege level", () => {
    expect(parseFlipperReport("old=5c written=54 read=54\n")).toEqual({
      old: "5c",
      written: "54",
      readBack: "54",
    });
    expect(
      parseFlipperReport("old=0x4040ea written=0x80000000004040ea read=0x80000000004040ea cpl=3\n"),
    ).toEqual({ old: "0x4040ea", written: "0x80000000004040ea", readBack: "0x80000000004040ea", cpl: 3 });
  });

  it.each([
    ["nothing", ""],
    ["a second line", "old=5c written=54 read=54\nold=5c written=54 read=54\n"],
    ["a value too long", `old=0x${"f".repeat(17)} written=0x1 read=0x1\n`],
    ["markup", "old=<b> written=54 read=54\n"],
    ["a missing read-back", "old=5c written=54\n"],
  ])("refuses a report with %s", (_what, stdout) => {
    expect(parseFlipperReport(stdout)).toBeNull();
  });

  it.each([
    [null, false, null],
    [0, false, null],
    [1, false, null],
    [2, true, null],
    [2, false, /ptrace_scope is 2 .*CAP_SYS_PTRACE/],
    [3, true, /ptrace_scope is 3 \(no attach at all\)/],
  ])("Yama scope %s (CAP_SYS_PTRACE %s): %s", (scope, cap, refusal) => {
    const r = ptraceRefusal(scope, cap);
    if (refusal === null) expect(r).toBeNull();
    else expect(r).toMatch(refusal);
  });

  it("native flips the workload's data and registers, refuses kernel targets and a Yama refusal", () => {
    expect(nativeFlipSupport("data", null)).toEqual({ supported: true });
    expect(nativeFlipSupport("registers", null)).toEqual({ supported: true });
    expect(nativeFlipSupport("kernel-text", null)).toMatchObject({
      supported: false,
      reason: expect.stringMatching(/host's own: a flip in its text would be a host-kernel fault/),
    });
    expect(nativeFlipSupport("stack", null)).toMatchObject({
      supported: false,
      reason: expect.stringMatching(/data and registers only, not its stack/),
    });
    expect(nativeFlipSupport("data", "kernel.yama.ptrace_scope is 3")).toEqual({
      supported: false,
      reason: "kernel.yama.ptrace_scope is 3",
    });
  });

  it("finds the workload's pid and virtual address in its own complete line only", () => {
    const line = "SOFT-PROCESS nonce=abc pid=1234 input=0x4d8000\n";
    expect(workloadProcess(line, "abc")).toEqual({ pid: 1234, input: 0x4d8000n });
    expect(workloadProcess(line, "abd")).toBeNull();
    expect(workloadProcess(line.trimEnd(), "abc")).toBeNull();
    expect(workloadProcess("SOFT-PROCESS nonce=abc pid=0 input=0x4d8000\n", "abc")).toBeNull();
    expect(workloadProcess(`SOFT-PROCESS nonce=abc pid=1 input=0x${"1".repeat(17)}\n`, "abc")).toBeNull();
  });
});
