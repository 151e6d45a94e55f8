/**
 * The report as text: for a terminal (zone matrix coloured on request), as Markdown, or as JSON. Pure.
 * Every string that came from a stored run or statement is escaped for where it goes: control
 * characters made visible for a terminal, HTML and table syntax neutralised for Markdown.
 */
import { escapeControl, escapeHtml } from "../util/escape.js";
import { renderTable } from "../util/format.js";
import type { CampaignSummary } from "./collect.js";
import { COMPOSED_HEADING, COMPOSED_NOTE, composedTable } from "./composed-cells.js";
import type { Overhead } from "./overhead.js";
import { NO_PAPER_ROWS, PAPER_COLUMNS, paperCells } from "./paper-table.js";
import { softErrorTable } from "./soft-errors.js";
import { cellLines, renderZoneMatrix, ZONE_NAMES } from "./zone-matrix.js";

export type ReportFormat = "text" | "md" | "json";
export const REPORT_FORMATS: readonly ReportFormat[] = ["text", "md", "json"];

/** The heading every format uses for a campaign's paper table. */
export function paperHeading(campaign: string): string {
  return `Campaign ${campaign}: E-Zone 3 (guest kernel) fault`;
}

/** The paper's table with each cell made safe for a terminal. */
export function paperTableText(summary: Pick<CampaignSummary, "paper">): string {
  if (summary.paper.length === 0) return NO_PAPER_ROWS;
  return renderTable(
    PAPER_COLUMNS,
    summary.paper.map((r) => paperCells(r).map(escapeControl)),
  );
}

/** "qemu-tcg 1.80× (3 benchmarks)" per backend, or one "not measured" line. */
function overheadLines(overhead: Record<string, Overhead | null>): string[] {
  const entries = Object.entries(overhead);
  if (entries.every(([, o]) => o === null)) {
    return ["Overhead vs native: not measured (no perf_results in this results directory)"];
  }
  return [
    "Overhead vs native (geometric mean over benchmarks):",
    ...entries.map(([backend, o]) =>
      o
        ? `  ${backend}: ${o.ratio.toFixed(2)}× (${o.min.toFixed(2)}–${o.max.toFixed(2)} 95% interval, ${o.benchmarks.length} benchmark(s))`
        : `  ${backend}: not measured`,
    ),
  ];
}

/** Bit flips' classes against the golden run, per backend and target; nothing when none was run. */
function softErrorSection(s: CampaignSummary): string[] {
  const table = softErrorTable(s.runs);
  return table ? [`Soft errors: class per backend and target (count, 95% interval)\n${table}`] : [];
}

/** Composed cells, who each fault affected per toggle; nothing when the campaign has none. */
function composedSection(s: CampaignSummary): string[] {
  const table = composedTable(s.runs);
  return table ? [`${COMPOSED_HEADING}\n${table}\n${COMPOSED_NOTE}`] : [];
}

/** The terminal report: per campaign the paper's table, the zone matrix and the overhead. */
export function renderTextReport(summaries: CampaignSummary[], opts: { color: boolean }): string {
  return summaries
    .map((s) =>
      [
        `${escapeControl(paperHeading(s.campaign))}\n${paperTableText(s)}`,
        `Zone matrix (fault runs; control runs left out)\n${renderZoneMatrix(s.matrix, opts)}`,
        overheadLines(s.overhead).map(escapeControl).join("\n"),
        ...softErrorSection(s),
        ...composedSection(s),
      ].join("\n\n"),
    )
    .join("\n\n\n")
    .concat("\n");
}

/** Text for a Markdown table cell: no controls, no HTML, no pipes, no line breaks. */
export function mdCell(text: string): string {
  return escapeHtml(escapeControl(text))
    .replace(/[\r\n]+/g, " ")
    .replace(/[\\`*_[\]|]/g, (c) => `\\${c}`);
}

function mdTable(header: readonly string[], rows: string[][]): string {
  return [
    `| ${header.map(mdCell).join(" | ")} |`,
    `|${header.map(() => " --- ").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** The report as Markdown (for issues and papers). */
export function renderMarkdownReport(summaries: CampaignSummary[]): string {
  return summaries
    .map((s) => {
      const matrixRows = s.matrix.backends.map((b) => [
        mdCell(b),
        ...s.matrix.zones.map((z) => {
          const cell = s.matrix.cells[b]?.[z];
          return cell ? cellLines(cell).map(mdCell).join("<br>") : "-";
        }),
      ]);
      return [
        `## ${mdCell(paperHeading(s.campaign))}`,
        s.paper.length === 0
          ? NO_PAPER_ROWS
          : mdTable(
              PAPER_COLUMNS,
              s.paper.map((r) => paperCells(r).map(mdCell)),
            ),
        "### Zone matrix",
        mdTable(["backend", ...s.matrix.zones.map((z) => `zone ${z} (${ZONE_NAMES[z]})`)], matrixRows),
        "contained = contained-limited + contained-varied + no-effect; bounds are one-sided 95% Clopper–Pearson. Control runs are left out.",
        overheadLines(s.overhead).map(mdCell).join("<br>\n"),
      ].join("\n\n");
    })
    .join("\n\n")
    .concat("\n");
}

/**
 * The report as JSON: an array with one object per campaign, `rows` being the paper's table rows
 * (kept from the first `report --json`), plus the zone matrix, the overhead and the statements.
 */
export function jsonReport(summaries: CampaignSummary[]): unknown[] {
  return summaries.map((s) => ({
    campaign: s.campaign,
    rows: s.paper,
    matrix: s.matrix,
    overhead: s.overhead,
    statements: s.statements,
  }));
}
