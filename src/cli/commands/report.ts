import { existsSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { warnUnmergedShards } from "../../cluster/shard-store.js";
import { readContinuumPerformance } from "../../perf/continuum.js";
import { loadPlotAssets } from "../../report/assets.js";
import { collectCampaigns, collectRunDetails } from "../../report/collect.js";
import { renderHtml } from "../../report/html.js";
import type { PerfReading } from "../../report/overhead.js";
import type { paperRows } from "../../report/paper-table.js";
import {
  jsonReport,
  paperTableText,
  REPORT_FORMATS,
  type ReportFormat,
  renderMarkdownReport,
  renderTextReport,
} from "../../report/text-report.js";
import { openResults } from "../../store/open-results.js";
import { ConfigError } from "../../util/errors.js";
import { ezoneVersion } from "../../util/version.js";

export interface ReportOptions {
  campaign?: string;
  /** Same as `--format json`. */
  json?: boolean;
  format?: string;
  /** Also write the self-contained HTML report to this file. */
  html?: string;
}

/** The paper's table for every campaign in a results directory (from stored runs only). */
export function paperReport(
  resultsDir: string,
  campaign?: string,
): { campaign: string; table: string; rows: ReturnType<typeof paperRows> }[] {
  using store = openResults(resultsDir);
  return collectCampaigns(store, perfReader(store.resultsDir), campaign).map((s) => ({
    campaign: s.campaign,
    rows: s.paper,
    table: paperTableText(s),
  }));
}

/** The latest perf session of each campaign in `resultsDir`: the report's overhead column. */
function perfReader(resultsDir: string): (campaign: string) => PerfReading | null {
  return (campaign) => readContinuumPerformance(resultsDir, campaign);
}

function parseFormat(opts: ReportOptions): ReportFormat {
  if (opts.json) {
    if (opts.format !== undefined && opts.format !== "json") {
      throw new ConfigError("--format", [{ path: opts.format, message: "--json asks for json already" }]);
    }
    return "json";
  }
  const format = opts.format ?? "text";
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError("--format", [
      { path: format, message: `expected one of ${REPORT_FORMATS.join(", ")}` },
    ]);
  }
  return format as ReportFormat;
}

/** Colour only for a terminal, and never when NO_COLOR is set to anything (https://no-color.org). */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

/**
 * `ezone report <results>`: the paper's table, the zone matrix and the overhead per campaign, as text
 * (coloured on a terminal), Markdown or JSON; with `--html FILE` also the self-contained HTML report.
 */
export async function run(resultsDir: string, opts: ReportOptions): Promise<void> {
  const format = parseFormat(opts);
  warnUnmergedShards(resultsDir);
  using store = openResults(resultsDir);
  if (opts.campaign !== undefined && !store.campaigns().includes(opts.campaign)) {
    throw new ConfigError("--campaign", [
      {
        path: opts.campaign,
        message: `no such campaign here; stored: ${store.campaigns().join(", ") || "none"}`,
      },
    ]);
  }
  const summaries = collectCampaigns(store, perfReader(store.resultsDir), opts.campaign);

  if (opts.html) {
    const out = resolve(opts.html);
    if (!existsSync(dirname(out))) {
      throw new ConfigError("--html", [
        { path: opts.html, message: `folder ${dirname(out)} does not exist` },
      ]);
    }
    const html = renderHtml({
      resultsDir: resolve(resultsDir),
      generatedAt: new Date(),
      ezoneVersion: ezoneVersion(),
      summaries,
      details: await collectRunDetails(
        store,
        summaries.flatMap((s) => s.runs),
      ),
      assets: loadPlotAssets(),
    });
    // Written beside and renamed, so a reader never sees half a report.
    const tmp = join(dirname(out), `.${process.pid}.ezone-report.tmp`);
    await writeFile(tmp, html);
    await rename(tmp, out);
    process.stderr.write(`ezone: HTML report written to ${out}\n`);
  }

  if (format === "json") process.stdout.write(`${JSON.stringify(jsonReport(summaries), null, 2)}\n`);
  else if (format === "md") process.stdout.write(renderMarkdownReport(summaries));
  else process.stdout.write(renderTextReport(summaries, { color: useColor(process.stdout, process.env) }));
}
