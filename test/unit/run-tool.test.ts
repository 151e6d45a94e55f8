import { describe, expect, it } from "vitest";
import { runTool } from "../../src/util/child.js";

describe("runTool", () => {
  it("returns a short-lived tool's whole output, also when many end at once", async () => {
    // The child's 'exit' can come before its pipes have delivered the output: it must not be lost.
    const line = "old=5c written=54 read=54";
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => runTool(["sh", "-c", `echo '${line}'; echo err >&2`])),
      );
      for (const r of results)
        expect(r).toEqual({ code: 0, signal: null, stdout: `${line}\n`, stderr: "err\n" });
    }
  });

  it("does not wait for a grandchild that keeps the pipes open", async () => {
    const r = await runTool(["sh", "-c", "echo started; sleep 5 & exit 0"]);
    expect(r).toMatchObject({ code: 0, stdout: "started\n" });
  }, 10_000);
});
