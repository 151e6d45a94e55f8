import { afterEach, describe, expect, it, vi } from "vitest";
import { handleInterrupts } from "../../src/cli/interrupt.js";

afterEach(() => vi.restoreAllMocks());

describe("double Ctrl-C", () => {
  it("aborts on the first signal, exits 130 on the second, and lets go of the signals when disposed", () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const exit = vi.spyOn(process, "exit").mockImplementation(() => {
      throw new Error("exited");
    });
    const before = process.listenerCount("SIGINT");
    const beforeTerm = process.listenerCount("SIGTERM");
    {
      using interrupt = handleInterrupts({ first: (sig) => `stopping on ${sig}`, second: "now" });
      expect(process.listenerCount("SIGINT")).toBe(before + 1);
      process.emit("SIGTERM", "SIGTERM");
      expect(interrupt.signal.aborted).toBe(true);
      expect(String(interrupt.signal.reason)).toContain("interrupted (SIGTERM)");
      expect(exit).not.toHaveBeenCalled();
      expect(() => process.emit("SIGINT", "SIGINT")).toThrow("exited");
      expect(exit).toHaveBeenCalledWith(130);
      expect(stderr.mock.calls.map(([s]) => String(s))).toEqual(["\nstopping on SIGTERM\n", "\nnow\n"]);
    }
    expect(process.listenerCount("SIGINT")).toBe(before);
    expect(process.listenerCount("SIGTERM")).toBe(beforeTerm);
  });
});
