/// <reference lib="dom" />
/**
 * The composed cells' section of the HTML report in headless Chromium: the bridge/dependency comparison
 * (stored runs built in memory, one peer with a hostile name) rendered by `renderHtml` with the real plot
 * libraries; the page shows one diagram per toggle with the dead peer and the cut link marked, runs no
 * script from the data and asks the network for nothing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlotAssets } from "../../src/report/assets.js";
import { renderHtml } from "../../src/report/html.js";
import { hasBinary } from "../helpers/capabilities.js";
import { launchHeadlessChromium } from "../helpers/chromium.js";
import { dependencyComparison } from "../helpers/composed-runs.js";
import { summaryOf } from "../helpers/report-fixtures.js";

const EVIL = `b<img src=x onerror="window.__xss=1">`;
const SHOTS = resolve("test-artifacts");

describe.runIf(hasBinary("chromium"))("composed cells in the HTML report (headless Chromium)", () => {
  let dir: string;
  let ctx: BrowserContext | undefined;
  let file: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-report-cells-"));
    file = join(dir, "report.html");
    const runs = dependencyComparison(EVIL);
    const page = renderHtml({
      resultsDir: dir,
      generatedAt: new Date("2026-01-01T00:00:00Z"),
      ezoneVersion: "0.1.0",
      summaries: [summaryOf("comp", runs)],
      details: runs.map((run) => ({ run, probes: [], console: null, controlEvents: [], problems: [] })),
      assets: loadPlotAssets(),
    });
    writeFileSync(file, page);
    ctx = await launchHeadlessChromium(join(dir, "profile"));
  }, 60_000);

  afterAll(async () => {
    await ctx?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("draws each toggle's cell with what failed, escaping every name", async () => {
    if (!ctx) throw new Error("no browser");
    const page = await ctx.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (/^(file|data):/.test(url)) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForLoadState("load");
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();

    const diagrams = page.locator("table.composed svg.cell-diagram");
    expect(await diagrams.count()).toBe(2);
    // Dependency on: the victim crashed in every run and the peer died in one; off: the peer unaffected.
    const on = diagrams.nth(0);
    const off = diagrams.nth(1);
    expect(await on.locator("g.enclave.died").count()).toBe(2);
    expect(await on.locator("g.enclave", { hasText: EVIL }).getAttribute("class")).toBe("enclave died");
    expect(await off.locator("g.enclave", { hasText: EVIL }).getAttribute("class")).toBe("enclave ok");
    expect(await off.locator('g.link.off[data-kind="depends-on"]').count()).toBe(1);
    expect(await on.locator("g.link.off").count()).toBe(0);
    const box = await on.boundingBox();
    expect(box?.width).toBeGreaterThan(200);
    mkdirSync(SHOTS, { recursive: true });
    await page.locator("table.composed").screenshot({ path: join(SHOTS, "report-cells.png") });
    const rows = await page.locator("table.composed tbody tr").allInnerTexts();
    expect(rows[0]).toContain("5 (48–100%)");
    expect(rows[1]).toContain("depends-on");
    await page.close();
  });
});
