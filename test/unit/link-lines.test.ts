import { describe, expect, it } from "vitest";
import { parseLinkLine, requestsBetween } from "../../src/monitor/link-lines.js";
import { LinkLog } from "../../src/monitor/link-log.js";

describe("the agent's link lines", () => {
  it("parses a dependent's totals, a NET answer and a service", () => {
    expect(parseLinkLine("DEPSTAT ok=12 failed=3 late=1")).toEqual({
      kind: "depstat",
      counts: { ok: 12, failed: 3, late: 1 },
    });
    expect(parseLinkLine("NET-OK eth0 10.77.0.11/24 mac=52:54:00:77:00:0b")).toEqual({
      kind: "net-ok",
      ip: "10.77.0.11",
      mac: "52:54:00:77:00:0b",
    });
    expect(parseLinkLine("SERVING 7077")).toEqual({ kind: "serving", port: 7077 });
  });

  it("ignores what only looks like them: extra text, huge numbers, other lines", () => {
    expect(parseLinkLine("DEPSTAT ok=1 failed=0 late=0 extra")).toBeNull();
    expect(parseLinkLine(`DEPSTAT ok=${"9".repeat(40)} failed=0 late=0`)).toBeNull();
    expect(parseLinkLine("HB 3 1234")).toBeNull();
    expect(parseLinkLine("NET-OK eth0 10.77.0.11/24 mac=zz")).toBeNull();
  });

  it("keeps a failure's text bounded and escaped", () => {
    const l = parseLinkLine(`NET-FAILED errno=19 \u001b[31m${"x".repeat(1000)}`);
    expect(l?.kind).toBe("failed");
    const text = l?.kind === "failed" ? l.text : "";
    expect(text.length).toBeLessThanOrEqual(260);
    expect(text).not.toContain("\u001b");
    expect(parseLinkLine("ERROR DEPEND needs <10.77.0.x:port>")?.kind).toBe("failed");
  });
});

describe("requests within a window", () => {
  const stats = [
    { at: 100, counts: { ok: 5, failed: 0, late: 0 } },
    { at: 200, counts: { ok: 9, failed: 0, late: 1 } },
    { at: 300, counts: { ok: 9, failed: 4, late: 1 } },
  ];
  it("is the totals at its end minus those at its start", () => {
    expect(requestsBetween(stats, 150, 300)).toEqual({ ok: 4, failed: 4, late: 1 });
    expect(requestsBetween(stats, 200, 250)).toEqual({ ok: 0, failed: 0, late: 0 });
  });
  it("counts from zero before the first report, and is null with none by its end", () => {
    expect(requestsBetween(stats, 50, 100)).toEqual({ ok: 5, failed: 0, late: 0 });
    expect(requestsBetween(stats, 0, 50)).toBeNull();
  });
});

describe("an enclave's link log", () => {
  it("parses lines split across chunks before the monitor sees the event", () => {
    const seen: string[] = [];
    const log = new LinkLog(() => seen.push(`answered=${log.answered}`));
    log.sink({ type: "console", data: Buffer.from("DEPSTAT ok=0 fail"), at: 1 });
    log.sink({ type: "console", data: Buffer.from("ed=2 late=0\nDEPSTAT ok=1 failed=2 late=0\n"), at: 2 });
    expect(seen).toEqual(["answered=false", "answered=true"]);
    expect(log.depstats.map((d) => d.counts.failed)).toEqual([2, 2]);
  });
  it("keeps the first failure", () => {
    const log = new LinkLog(() => {});
    log.sink({
      type: "console",
      data: Buffer.from("SERVE-FAILED port=7077 errno=98 x\nNET-FAILED y\n"),
      at: 1,
    });
    expect(log.failure).toBe("SERVE-FAILED port=7077 errno=98 x");
  });
});
