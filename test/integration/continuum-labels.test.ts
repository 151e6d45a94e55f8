/// <reference lib="dom" />
/**
 * The continuum plot in headless Chromium when backends sit at the same height: every label must be
 * readable (no two overlap) and a label moved off its dot's line gets a leader line. The report is
 * rendered from runs built in memory; no guest is booted.
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
import { storedRun, summaryOf } from "../helpers/report-fixtures.js";

const SHOTS = resolve("test-artifacts");
/** Overheads close together at the low end, where the labels of a 0–30× axis land on each other. */
const MEASURED = { native: 1, container: 1.02, gvisor: 1.15, uml: 1.4, "qemu-tcg": 28 } as const;
const UNMEASURED = ["kvm", "palacios", "firecracker"];

let dir: string;
let ctx: BrowserContext | undefined;

function reportFile(): string {
  const backends = [...Object.keys(MEASURED), ...UNMEASURED];
  const runs = backends.flatMap((b) => [1, 2, 3].map(() => storedRun(b, "contained-limited")));
  const overhead = Object.fromEntries(
    Object.entries(MEASURED).map(([b, ratio]) => [
      b,
      { ratio, min: ratio * 0.98, max: ratio * 1.02, benchmarks: ["cpu"] },
    ]),
  );
  const html = renderHtml({
    resultsDir: "/results",
    generatedAt: new Date("2024-05-01T10:00:00Z"),
    ezoneVersion: "0.1.0",
    summaries: [summaryOf("same-height", runs, [], backends, overhead)],
    details: [],
    assets: loadPlotAssets(),
  });
  const file = join(dir, "report.html");
  writeFileSync(file, html);
  return file;
}

describe.runIf(hasBinary("chromium"))("continuum plot labels", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ezone-labels-"));
    ctx = await launchHeadlessChromium(join(dir, "chromium-profile"));
  }, 120_000);
  afterAll(async () => {
    await ctx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("never overlap when backends sit at the same height", async () => {
    if (!ctx) throw new Error("no browser");
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(pathToFileURL(reportFile()).href);
    await page.waitForLoadState("load");
    const labels = await page.evaluate(() =>
      Array.from(document.querySelectorAll("#plot-0 g.ezone-label text")).map((t) => {
        const r = t.getBoundingClientRect();
        return { text: t.textContent ?? "", left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      }),
    );
    mkdirSync(SHOTS, { recursive: true });
    await page.locator("#plot-0").screenshot({ path: join(SHOTS, "continuum-labels.png") });
    expect(errors).toEqual([]);
    expect(labels.map((l) => l.text).sort()).toEqual(
      [...Object.keys(MEASURED).map((b) => `${b} 3/3`), ...UNMEASURED.map(() => "3/3")].sort(),
    );
    const overlapping = labels.flatMap((a, i) =>
      labels
        .slice(i + 1)
        .filter((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        .map((b) => `${a.text} / ${b.text}`),
    );
    expect(overlapping).toEqual([]);
    // They would have overlapped: some were moved, each tied to its dot.
    expect(await page.locator("#plot-0 line.ezone-leader").count()).toBeGreaterThan(0);
    await page.close();
  });
});
