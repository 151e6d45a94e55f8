import { describe, expect, it } from "vitest";
import { processStartTicks, procNumber, statComm, statFieldsAfterComm } from "../../src/util/proc.js";

// A stat line whose comm holds spaces and parentheses, as a hostile process may name itself.
const STAT = "4242 (evil) (x y) S 17 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 50";

describe("/proc readers", () => {
  it("split a stat line after the last parenthesis, whatever comm holds", () => {
    const fields = statFieldsAfterComm(STAT);
    expect(fields[0]).toBe("S"); // field 3, state
    expect(fields[1]).toBe("17"); // field 4, ppid
    expect(fields[11]).toBe("7"); // field 14, utime
    expect(fields[19]).toBe("123456"); // field 22, starttime
    expect(statComm(STAT)).toBe("evil) (x y");
  });

  it("read this process's start time, and none for a PID that does not exist", () => {
    expect(processStartTicks(process.pid)).toBeGreaterThan(0);
    expect(processStartTicks(2 ** 30)).toBeNull();
  });

  it("take a non-negative number out of a /proc file's text", () => {
    expect(procNumber("/proc/loadavg", "0.52 0.40 0.31 1/123 4567\n", /^(\d+(?:\.\d+)?)\s/)).toBe(0.52);
    expect(procNumber("/proc/stat", "cpu 1 2\nprocs_running 3\n", /^procs_running\s+(\d+)$/m)).toBe(3);
  });

  it("name the file, the pattern and what it held when the number is missing", () => {
    expect(() => procNumber("/proc/meminfo", "MemTotal: 1 kB\n", /^MemAvailable:\s+(\d+) kB$/m)).toThrow(
      '/proc/meminfo: expected a number matching /^MemAvailable:\\s+(\\d+) kB$/m, got "MemTotal: 1 kB\\n"',
    );
  });
});
