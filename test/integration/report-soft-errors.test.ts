/// <reference lib="dom" />
/**
 * The bit-flip chart of the HTML report in headless Chromium. The flips are recorded through
 * `Store.recordRun` (synthetic: the flips themselves are tested in bitflip*.test.ts), one backend with a
 * hostile name that tries to inject markup.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SoftClass, SoftTarget } from "../../src/model/soft-error.js";
import { Store } from "../../src/store/store.js";
import { hasBinary } from "../helpers/capabilities.js";
import { launchHeadlessChromium } from "../helpers/chromium.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";
import { evidenceFor, FIXTURE_PARAMS, storedRun } from "../helpers/report-fixtures.js";

const SHOTS = resolve("test-artifacts");
const HOSTILE = `evil<img src=x onerror="window.__xss=1">`;
/** backend, target, class, how many. */
const FLIPS: [string, SoftTarget, SoftClass, number][] = [
  ["qemu-tcg", "data", "silent-data-corruption", 5],
  ["qemu-tcg", "registers", "benign", 2],
  ["qemu-tcg", "registers", "detected", 2],
  ["native", "data", "silent-data-corruption", 3],
  ["native", "data", "benign", 1],
  [HOSTILE, "registers", "hang", 1],
];

let dir: string;
let htmlFile: string;
let ctx: BrowserContext | undefined;

async function recordFlips(results: string): Promise<void> {
  using store = Store.open(results);
  store.ensureCampaign("flips", JSON.stringify({ name: "flips", backends: ["qemu-tcg", "native"] }), "f");
  let i = 0;
  for (const [backend, target, cls, n] of FLIPS) {
    for (let k = 0; k < n; k++, i++) {
      const run = storedRun(backend, cls === "benign" ? "no-effect" : "contained-limited", {
        fault: "bitflip",
      });
      const softError = {
        flip: { target, where: "rax bit 1", old: "0x0", written: "0x2", readBack: "0x2", fired: true },
        golden: { digest: "e58830d343209cac", durationUs: 850 },
        workload: { digest: null, durationUs: null, end: "exit=0" },
        class: cls,
        reason: cls,
      };
      await store.recordRun({
        ...run,
        campaign: "flips",
        runKey: `flips/${backend}/bitflip/${target}/${i}`,
        zone: 4,
        params: { ...FIXTURE_PARAMS, softError: { target } },
        evidence: evidenceFor("bitflip", 4, { softError }),
        verdict: { outcome: run.outcome, reasons: run.reasons },
        artifacts: [],
      });
    }
  }
}

describe.runIf(hasBinary("chromium"))("the bit-flip chart in headless Chromium", () => {
  beforeAll(async () => {
    requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), "ezone-flip-chart-"));
    mkdirSync(SHOTS, { recursive: true });
    const results = join(dir, "results");
    await recordFlips(results);
    htmlFile = join(dir, "report.html");
    const report = ezoneSync(dir, ["report", results, "--html", htmlFile]);
    if (report.code !== 0) throw new Error(`ezone report failed (${report.code}): ${report.stderr}`);
    ctx = await launchHeadlessChromium(join(dir, "chromium-profile"));
  }, 120_000);

  afterAll(async () => {
    await ctx?.close();
    if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  });

  it("draws each class's share per backend and target with its interval, hostile names as text", async () => {
    if (!ctx) throw new Error("no browser");
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(htmlFile).href);
    await page.waitForLoadState("load");
    await page.locator("svg.soft-chart").screenshot({ path: join(SHOTS, "report-soft-errors.png") });

    // Groups: qemu-tcg data and registers, native data, the hostile backend's registers.
    const bars = await page.locator("svg.soft-chart g.soft-bar").evaluateAll((gs) =>
      gs.map((g) => ({
        backend: g.getAttribute("data-backend"),
        target: g.getAttribute("data-target"),
        cls: g.getAttribute("data-class"),
        count: Number(g.getAttribute("data-count")),
        n: Number(g.getAttribute("data-n")),
        height: (g.querySelector("rect") as SVGRectElement).getBBox().height,
        whisker: (g.querySelector(".soft-ci line") as SVGLineElement).getBBox().height,
      })),
    );
    expect(bars).toHaveLength(16);
    expect(new Set(bars.map((b) => b.backend))).toEqual(new Set(["qemu-tcg", "native", HOSTILE]));
    for (const b of bars) {
      expect(b.height, JSON.stringify(b)).toBeCloseTo((b.count / b.n) * 180, 0);
      expect(b.whisker, JSON.stringify(b)).toBeGreaterThan(0);
    }
    const total = (cls: string, target: string) =>
      bars.filter((b) => b.cls === cls && b.target === target).reduce((s, b) => s + b.count, 0);
    expect(total("silent-data-corruption", "data")).toBe(8);
    expect(total("detected", "registers")).toBe(2);
    expect(bars.find((b) => b.backend === HOSTILE && b.cls === "hang")).toMatchObject({ count: 1, n: 1 });

    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("svg.soft-chart img, table.soft-errors img").count()).toBe(0);
    expect(await page.locator("svg.soft-chart").textContent()).toContain(HOSTILE);
    expect(await page.locator("table.soft-errors").textContent()).toContain(HOSTILE);
    expect(errors).toEqual([]);
    await page.close();
  });
});
