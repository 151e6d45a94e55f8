/// <reference lib="dom" />
/**
 * The HTML report, rendered in headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is ever downloaded). The results come from a real tiny campaign (qemu-tcg: kerncrash and a
 * control run, plus Palacios, which is skipped here) and one synthetic hostile run written through
 * `Store.recordRun`, whose console and crash title try to inject markup and terminal escapes.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OUTCOMES } from "../../src/model/outcome-types.js";
import { Store } from "../../src/store/store.js";
import { hasBinary } from "../helpers/capabilities.js";
import { launchHeadlessChromium } from "../helpers/chromium.js";
import { evidenceFor, FIXTURE_PARAMS } from "../helpers/report-fixtures.js";

const CLI = resolve("dist/cli/main.js");
const OUTCOMES_FOR_TEST: readonly string[] = OUTCOMES;
const SHOTS = resolve("test-artifacts");
const HOSTILE_BACKEND = `evil<img src=x onerror="window.__xss=1">`;
const HOSTILE_TITLE = `divide error in <script>window.__xss=2</script>`;
const HOSTILE_CONSOLE = [
  "READY ezone-agent/1 hb=250",
  "HB 1 1000",
  "HB 2 1250",
  `FIRED kerncrash nonce=n-evil`,
  "[    1.300000] ezone-fault: kerncrash nonce=n-evil firing context=process",
  "[    1.301000] divide error: 0000 [#1] PREEMPT SMP NOPTI",
  `[    1.302000] <script>window.__xss=3</script> \x1b[31mRED\x1b[0m \x1b]0;title\x07 <img src=x onerror="window.__xss=4">`,
  "[    1.303000] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]",
  "[    1.310000] Kernel panic - not syncing: Fatal exception",
  "",
].join("\n");

let dir: string;
let results: string;
let htmlFile: string;
let ctx: BrowserContext | undefined;
let hostileRunId: number;

function ezone(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    cwd: dir,
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function recordHostileRun(): Promise<number> {
  using store = Store.open(results);
  store.ensureCampaign("hostile", JSON.stringify({ name: "hostile", backends: [HOSTILE_BACKEND] }), "h");
  const evidence = evidenceFor("kerncrash", 3, {
    guestCrash: { title: HOSTILE_TITLE, crashClass: "divide-error", panic: true },
    probes: [
      {
        probe: "host.kmsg",
        severity: "ok",
        before: 1,
        after: 1,
        threshold: "<b>none</b>",
        detail: "\x1b[2J<iframe src=x>",
      },
    ],
  });
  await store.recordRun({
    campaign: "hostile",
    runKey: "hostile/evil/kerncrash/{}/0",
    backend: HOSTILE_BACKEND,
    fault: "kerncrash",
    zone: 3,
    params: { ...FIXTURE_PARAMS, kernelArgs: ["<b>arg</b>", "</script><script>window.__xss=5</script>"] },
    repetition: 0,
    seed: "1",
    nonce: "n-evil",
    verdict: { outcome: "contained-limited", reasons: ["guest said <script>window.__xss=6</script>"] },
    evidence,
    startedAt: new Date("2024-05-01T10:00:00Z"),
    finishedAt: new Date("2024-05-01T10:00:02Z"),
    bootMs: 900,
    detectionMs: 10,
    runMs: 2000,
    artifacts: [
      { kind: "console", data: Buffer.from(HOSTILE_CONSOLE), truncated: false },
      {
        kind: "control-events",
        data: Buffer.from(JSON.stringify([{ name: "GUEST_PANICKED<svg onload=alert(1)>", atMs: 1310 }])),
        truncated: false,
      },
    ],
    provenance: {
      ezoneVersion: "0.1.0",
      ezoneCommit: null,
      backendVersion: "<u>vmm</u>",
      kernelVersion: null,
      imageHash: null,
      kernelCmdline: null,
      hostKernel: "6.1",
      hostname: "h",
    },
  });
  const run = store.runs({ campaign: "hostile" })[0];
  if (!run) throw new Error("hostile run was not stored");
  return run.id;
}

/**
 * Measured overhead for the hostile campaign only, so both plot panels (measured, not measured) render:
 * one perf round stored the way `ezone perf` stores it (native and the hostile backend, two benchmarks).
 */
function addPerfResults(): void {
  using store = Store.open(results);
  const rows = {
    native: { syscall: 1, fork: 2 },
    [HOSTILE_BACKEND]: { syscall: 3, fork: 8 },
  } as Record<string, Record<string, number>>;
  for (const [seq, [backend, values]] of Object.entries(rows).entries()) {
    store.recordPerfBlock(
      {
        session: "s1",
        campaign: "hostile",
        round: 1,
        seq,
        backend,
        status: "ok",
        reason: null,
        backendVersion: null,
        bootMs: 1,
        warmup: 0,
        stealPct: null,
        cpuMhz: null,
        load1: null,
        failures: {},
        imageHash: null,
        hostKernel: "test",
        hostname: "test",
        startedAt: new Date(),
        finishedAt: new Date(),
      },
      Object.entries(values).map(([benchmark, value]) => ({
        benchmark,
        sample: 0,
        value,
        unit: "us",
        ops: null,
        elapsedNs: null,
        detail: {},
      })),
    );
  }
}

const runIt = hasBinary("qemu-system-x86_64") && hasBinary("chromium");

describe.runIf(runIt)("HTML report in headless Chromium", () => {
  let jsonReport: {
    campaign: string;
    matrix: { backends: string[]; cells: Record<string, Record<string, { kind: string; n?: number }>> };
  }[];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (make test does)`);
    dir = mkdtempSync(join(tmpdir(), "ezone-report-"));
    results = join(dir, "results");
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(
      join(dir, "tiny.yaml"),
      [
        "name: tiny",
        "repetitions: 1",
        "backends: [qemu-tcg, { name: palacios, type: exec }]",
        "faults:",
        "  - { name: kerncrash, trigger: { mode: command, delaySeconds: 0 } }",
        "  - none",
      ].join("\n"),
    );
    // One run at a time: the baseline probe refuses a host that is already busy.
    const run = ezone(["run", "tiny.yaml", "--results", results, "--jobs", "1"]);
    if (run.code !== 0) throw new Error(`ezone run failed (${run.code}): ${run.stderr}`);
    hostileRunId = await recordHostileRun();
    addPerfResults();

    htmlFile = join(dir, "report.html");
    const report = ezone(["report", results, "--html", htmlFile, "--format", "json"]);
    if (report.code !== 0) throw new Error(`ezone report failed (${report.code}): ${report.stderr}`);
    jsonReport = JSON.parse(report.stdout);

    ctx = await launchHeadlessChromium(join(dir, "chromium-profile"));
  }, 600_000);

  afterAll(async () => {
    await ctx?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Open the report, recording console errors and every request that is not the file itself or data:. */
  async function open(hash = "") {
    if (!ctx) throw new Error("no browser");
    const page = await ctx.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => {
      if (!/^(file|data):/.test(r.url())) requests.push(r.url());
    });
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (/^(file|data):/.test(url)) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(pathToFileURL(htmlFile).href + hash);
    await page.waitForLoadState("load");
    return { page, errors, requests };
  }

  const visibleRuns = (page: Page) => page.locator("details.run:visible").count();
  const textOf = async (page: Page, selector: string) =>
    (await page.locator(selector).allInnerTexts()).join("\n");
  const isOpen = (page: Page, id: string) =>
    page.evaluate((i) => (document.getElementById(i) as HTMLDetailsElement | null)?.open === true, id);
  const inViewport = (page: Page, id: string) =>
    page.evaluate((i) => {
      const r = document.getElementById(i)?.getBoundingClientRect();
      return r !== undefined && r.top > -2 && r.top < window.innerHeight; // fractional pixels after scrolling
    }, id);

  it("renders with no console error and no network request, one plot mark per backend with results", async () => {
    const { page, errors, requests } = await open();
    await page.screenshot({ path: join(SHOTS, "report-overview.png"), fullPage: true });
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);

    expect(jsonReport.map((c) => c.campaign)).toEqual(["tiny", "hostile"]);
    for (const [index, c] of jsonReport.entries()) {
      const withResults = c.matrix.backends.filter((b) =>
        Object.values(c.matrix.cells[b] ?? {}).some((cell) => cell.kind === "results" && (cell.n ?? 0) > 0),
      );
      expect(withResults.length).toBeGreaterThan(0);
      expect(await page.locator(`#plot-${index} g[aria-label="dot"] circle`).count()).toBe(
        withResults.length,
      );
    }
    // The tiny campaign has no performance results, the hostile one has.
    expect(await textOf(page, "#campaign-0")).toContain("not measured");
    expect(await textOf(page, "#campaign-0 .not-plotted")).toContain("palacios (skipped:");
    expect(await textOf(page, "#campaign-1")).toContain("3.46× (3.46–3.46, 2 benchmark(s))");
    await page.close();
  });

  it("filters by backend, zone and outcome change the visible runs", async () => {
    const { page, errors } = await open();
    const total = await page.locator("details.run").count();
    expect(total).toBe(3); // kerncrash + control on qemu-tcg, and the hostile run
    expect(await visibleRuns(page)).toBe(total);

    // The control run's outcome depends on how loaded this host is: take it from the page.
    const control = page.locator("details.run", { hasText: "qemu-tcg · none" });
    const controlOutcome = (await control.getAttribute("data-outcome")) ?? "";
    const sameOutcome = await page.locator(`details.run[data-outcome="${controlOutcome}"]`).count();
    await page.selectOption('select[name="outcome"]', controlOutcome);
    expect(await visibleRuns(page)).toBe(sameOutcome);
    expect(await control.isVisible()).toBe(true);
    expect(await textOf(page, "#shown")).toBe(`${sameOutcome} of ${total} run(s) shown`);
    const other = OUTCOMES_FOR_TEST.find((o) => o !== controlOutcome && o !== "infra-error") ?? "";
    await page.selectOption('select[name="outcome"]', other);
    expect(await visibleRuns(page)).toBe(await page.locator(`details.run[data-outcome="${other}"]`).count());
    expect(await control.isVisible()).toBe(false);

    await page.selectOption('select[name="outcome"]', "");
    await page.selectOption('select[name="backend"]', HOSTILE_BACKEND);
    expect(await visibleRuns(page)).toBe(1);
    await page.selectOption('select[name="zone"]', "4");
    expect(await visibleRuns(page)).toBe(0);
    await page.locator("#runs").screenshot({ path: join(SHOTS, "report-filtered.png") });

    await page.click('form.filters button[type="reset"]');
    await expect.poll(() => visibleRuns(page)).toBe(total);

    await page.selectOption('select[name="kind"]', "control");
    expect(await visibleRuns(page)).toBe(1);
    expect(await control.isVisible()).toBe(true);
    await page.click('form.filters button[type="reset"]');

    // A zone-matrix cell lists its runs: fault runs only, as the cell counts them.
    await page.click('#campaign-0 a.cell-link[data-backend="qemu-tcg"][data-zone="3"]');
    expect(await visibleRuns(page)).toBe(1);
    expect(await textOf(page, "details.run:visible summary")).toContain("qemu-tcg · kerncrash");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a run's permalink opens it and scrolls to it", async () => {
    const id = `run-${hostileRunId}`;
    const { page, errors } = await open(`#${id}`);
    expect(await isOpen(page, id)).toBe(true);
    expect(await inViewport(page, id)).toBe(true);
    expect(await page.locator(`#${id} pre.console`).isVisible()).toBe(true);
    await page.screenshot({ path: join(SHOTS, "report-run-hostile.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("following a permalink to a run a filter hid clears the filters and opens it", async () => {
    const id = `run-${hostileRunId}`;
    const { page, errors } = await open();
    await page.selectOption('select[name="zone"]', "4");
    expect(await page.locator(`#${id}`).isHidden()).toBe(true);
    await page.evaluate((i) => {
      location.hash = i;
    }, id);
    await expect.poll(() => isOpen(page, id)).toBe(true);
    expect(await page.locator(`#${id}`).isVisible()).toBe(true);
    expect(await visibleRuns(page)).toBe(3);
    expect(await inViewport(page, id)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("hostile guest text shows as text: no script runs, no markup is injected, no escape byte survives", async () => {
    const id = `run-${hostileRunId}`;
    const { page, errors, requests } = await open(`#${id}`);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("img, iframe, main svg[onload]").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(4); // data + d3 + Plot + the report's own
    const consoleText = await textOf(page, `#${id} pre.console`);
    expect(consoleText).toContain("<script>window.__xss=3</script>");
    expect(consoleText).toContain(" RED ");
    expect(await textOf(page, `#${id} summary`)).toContain(HOSTILE_BACKEND);
    const runText = await textOf(page, `#${id}`);
    expect(runText).toContain("guest said <script>window.__xss=6</script>");
    expect(runText).toContain("GUEST_PANICKED<svg onload=alert(1)>");
    expect(runText).toContain("\\x1b[2J<iframe src=x>");
    expect(runText).toContain(HOSTILE_TITLE);
    // innerText, not textContent: what a reader sees, without the scripts' source.
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is checked
    const bodyText = await page.evaluate(() => document.body.innerText);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
    expect(bodyText).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    // Plot sets its labels as text: the hostile backend name shows verbatim.
    expect(await page.locator("#plot-1").textContent()).toContain(HOSTILE_BACKEND);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it("terminal, Markdown and JSON formats render the same results, escaped for where they go", () => {
    const text = ezone(["report", results], { NO_COLOR: "1" });
    expect(text.code).toBe(0);
    expect(text.stdout).not.toContain("\x1b");
    expect(text.stdout).toMatch(/\| qemu-tcg +\| - +\| - +\| (limited|varied|ESCAPED|unknown) 1\/1/);
    expect(text.stdout).toContain("skipped in every zone: no such VMM installed or configured here");

    const md = ezone(["report", results, "--format", "md"]);
    expect(md.code).toBe(0);
    expect(md.stdout).toContain("## Campaign tiny: E-Zone 3 (guest kernel) fault");
    expect(md.stdout).not.toContain("<script>");
    expect(md.stdout).not.toContain("<img");
    expect(md.stdout).toContain("evil&lt;img src=x onerror=&quot;window.\\_\\_xss=1&quot;&gt;");

    const json = ezone(["report", results, "--json", "--campaign", "tiny"]);
    expect(JSON.parse(json.stdout)[0].rows[0]).toMatchObject({ backend: "qemu-tcg", runs: 1, proof: 1 });

    const bad = ezone(["report", results, "--format", "yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format\s+yaml: expected one of text, md, json/);
    expect(readFileSync(htmlFile, "utf8")).toContain("Content-Security-Policy");

    const nowhere = ezone(["report", results, "--html", join(dir, "missing", "r.html")]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/--html.*does not exist/s);
  });
});
