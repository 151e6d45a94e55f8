import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { RunDetail } from "../../src/report/collect.js";
import { consoleEvidence } from "../../src/report/console-evidence.js";
import { jsonForScript, renderHtml, runAnchor, timelineSvg } from "../../src/report/html.js";
import { clientScript } from "../../src/report/html-client.js";
import { storedRun, summaryOf } from "../helpers/report-fixtures.js";

const EVIL = `<img src=x onerror="alert(1)">`;
const assets = { d3: "/* d3 */", plot: "/* plot */" };

function detail(overrides: Partial<RunDetail> = {}): RunDetail {
  const run = storedRun(`qemu${EVIL}`, "contained-limited", {
    crashTitle: `divide error in <script>alert(2)</script>`,
    reasons: [`guest said ${EVIL}`],
  });
  return {
    run,
    probes: [
      {
        probe: "host.taint",
        severity: "failed",
        before: "0",
        after: "<b>1</b>",
        threshold: "= 0",
        detail: "\x1b[2J",
      },
    ],
    console: {
      ...consoleEvidence(Buffer.from(`HB 1 1000\n[    1.1] <script>alert(3)</script>\x1b[31m\n`)),
      truncated: false,
      bytes: 40,
    },
    controlEvents: [{ name: `GUEST_PANICKED${EVIL}`, atMs: 12 }],
    problems: [],
    ...overrides,
  };
}

function page(details: RunDetail[] = [detail()]) {
  const runs = details.map((d) => d.run);
  return renderHtml({
    resultsDir: `/tmp/${EVIL}`,
    generatedAt: new Date("2024-05-01T00:00:00Z"),
    ezoneVersion: "0.1.0",
    summaries: [
      summaryOf(
        `camp${EVIL}`,
        runs,
        [{ backend: "kvm", fault: "*", kind: "unavailable", reason: `no /dev/kvm ${EVIL}` }],
        [runs[0]?.backend ?? "x", "kvm"],
      ),
    ],
    details,
    assets,
  });
}

describe("renderHtml", () => {
  it("escapes every stored string: no tag from the data survives as markup", () => {
    const html = page();
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>1</b>");
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("\x1b");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
    expect(html).toContain("&lt;script&gt;alert(3)&lt;/script&gt;");
    expect(html).toContain("\\x1b[2J");
  });

  it("admits exactly its own scripts by hash and nothing from the network", () => {
    const html = page();
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? "";
    const client = clientScript();
    for (const js of [assets.d3, assets.plot, client]) {
      expect(csp).toContain(`'sha256-${createHash("sha256").update(js).digest("base64")}'`);
    }
    expect(html).toContain(`<script>${assets.d3}</script>\n<script>${assets.plot}</script>`);
    // A module: nothing it declares becomes a global of the page.
    expect(html).toContain(`<script type="module">${client}</script>`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(html.match(/<script[\s>]/g)).toHaveLength(4);
  });

  it("gives each run a permalink anchor, filter attributes, and its evidence", () => {
    const d = detail();
    const html = page([d]);
    const id = runAnchor(d.run.id);
    expect(html).toContain(`<details class="run" id="${id}"`);
    expect(html).toContain(`href="#${id}"`);
    expect(html).toContain('data-zone="3" data-outcome="contained-limited" data-kind="fault"');
    expect(html).toContain("Console: last lines (no kernel crash report)");
    expect(html).toContain("Host probes, before and after");
    expect(html).toContain('<tr class="sev-failed">');
  });

  it("shows a backend skipped everywhere once across the zones, and says what is not plotted", () => {
    const html = page();
    expect(html).toContain('<td class="cell skipped" colspan="4">skipped in every zone: no /dev/kvm &lt;img');
    expect(html).toContain("Not plotted: kvm (skipped: no /dev/kvm &lt;img");
  });

  it("embeds plot data as JSON that cannot close its script element", () => {
    expect(jsonForScript({ a: "</script><script>alert(1)</script>\u2028" })).toBe(
      '{"a":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\\u2028"}',
    );
    const html = page();
    const data = /<script type="application\/json" id="ezone-data">(.*?)<\/script>/s.exec(html)?.[1] ?? "";
    const parsed = JSON.parse(data) as {
      campaigns: { campaign: string; points: { backend: string; zone: string }[] }[];
    };
    expect(parsed.campaigns[0]?.campaign).toBe(`camp${EVIL}`);
    expect(parsed.campaigns[0]?.points.map((p) => p.zone)).toEqual(["all", "3"]);
  });

  it("a run without stored console or events says so", () => {
    const html = page([
      detail({ console: null, controlEvents: [], problems: ["console artifact abc: corrupt"] }),
    ]);
    expect(html).toContain("No console was stored for this run.");
    expect(html).toContain("console artifact abc: corrupt");
  });
});

describe("timelineSvg", () => {
  it("draws one tick per heartbeat and one line per timed mark, dashed when approximate", () => {
    const c = consoleEvidence(
      Buffer.from(
        "HB 1 1000\nHB 2 1250\nFIRED kerncrash nonce=n\n[    1.300000] ezone-fault: kerncrash nonce=n firing context=timer\n",
      ),
    );
    const svg = timelineSvg(c).toString();
    expect(svg.match(/class="hb"/g)).toHaveLength(2);
    expect(svg.match(/class="mark"/g)).toHaveLength(2);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(1);
  });
  it("says when there is nothing to draw", () => {
    expect(timelineSvg(consoleEvidence(Buffer.from("hello\n"))).toString()).toContain("No heartbeat");
  });
});
