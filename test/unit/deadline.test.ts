import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { deadline } from "../../src/util/deadline.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Resolve "fired" when `signal` aborts, "lost" if it has not after `ms`, collecting garbage meanwhile. */
async function firesUnderGc(make: () => AbortSignal, ms: number): Promise<"fired" | "lost"> {
  const fired = new Promise<"fired">((resolve) => make().addEventListener("abort", () => resolve("fired")));
  const stop = Date.now() + ms;
  const lost = (async () => {
    while (Date.now() < stop) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    return "lost" as const;
  })();
  return Promise.race([fired, lost]);
}

describe("deadline", () => {
  it("fires after its time even when garbage is collected meanwhile", async () => {
    const parent = new AbortController();
    expect(await firesUnderGc(() => deadline(parent.signal, 200), 2000)).toBe("fired");
  });

  it("aborts with its parent, before its time", async () => {
    const parent = new AbortController();
    const d = deadline(parent.signal, 60_000);
    parent.abort(new Error("stop"));
    expect(d.aborted).toBe(true);
  });

  it("without a parent is a plain timeout", async () => {
    expect(await firesUnderGc(() => deadline(null, 100), 2000)).toBe("fired");
  });
});
