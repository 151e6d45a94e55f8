import { describe, expect, it } from "vitest";
import { BOOT_TAIL_LINE_CHARS, consoleTail, notReadyFailure } from "../../src/campaign/boot-failure.js";

describe("consoleTail", () => {
  it("keeps the last non-empty lines, control characters made visible", () => {
    const tail = consoleTail(Buffer.from("a\nb\n\nc\r\nd\ne\nf\x1b[2J\n\n"));
    expect(tail).toBe("b | c | d | e | f\\x1b[2J");
  });

  it("is bounded whatever the guest printed", () => {
    const tail = consoleTail(Buffer.from(`${"y".repeat(1_000_000)}\n`.repeat(3)));
    expect(tail.length).toBeLessThanOrEqual(5 * (BOOT_TAIL_LINE_CHARS + 4));
  });

  it("shows bytes that are not UTF-8 instead of dropping them", () => {
    expect(consoleTail(Buffer.from([0x6f, 0x6b, 0xff, 0x0a]))).toBe("ok\\xff");
  });
});

describe("notReadyFailure", () => {
  const base = { exit: null, consoleBytes: 0, tail: "", stderr: "", bootMs: 1500 };
  it.each([
    [
      "silent until the deadline",
      base,
      "boot",
      /^boot timeout: no READY from the agent within 1500 ms; the console stayed silent$/,
    ],
    [
      "printing but never READY until the deadline",
      { ...base, consoleBytes: 9, tail: "Booting" },
      "boot",
      /within 1500 ms; last console lines: Booting$/,
    ],
    [
      "exited after printing",
      { ...base, exit: { kind: "exited", code: 1 } as const, consoleBytes: 5, tail: "panic" },
      "boot",
      /^enclave ended before READY \(exited with status 1\); last console lines: panic$/,
    ],
    [
      "exited having printed nothing (the VMM did not start)",
      { ...base, exit: { kind: "exited", code: 127 } as const, stderr: "no such file\x1b[0m" },
      "infra",
      /printed nothing: no such file\\x1b\[0m$/,
    ],
  ])("%s → %s", (_name, input, kind, message) => {
    const f = notReadyFailure(input);
    expect(f.kind).toBe(kind);
    expect(f.message).toMatch(message);
  });
});
