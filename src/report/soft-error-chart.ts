/**
 * Bit flips in the HTML report: per backend and target, the class distribution as a grouped SVG bar
 * chart (bar: the share of flips in a class; whisker: its two-sided 95% Clopper–Pearson interval) and
 * the same counts as a table. Static SVG made on the host (no script); every name in it is escaped by
 * the `html` template. Pure: stored runs in, markup out.
 */
import { SOFT_CLASSES, type SoftClass } from "../model/soft-error.js";
import type { StoredRun } from "../store/store.js";
import { ellipsize } from "../util/format.js";
import { html, type SafeHtml } from "./html-template.js";
import { countWithInterval, interval95, type SoftErrorRow, softErrorRows } from "./soft-errors.js";

const CLASS_COLOR: Readonly<Record<SoftClass, string>> = {
  benign: "#8c8c8c",
  detected: "#1f77b4",
  hang: "#ff7f0e",
  "silent-data-corruption": "#d62728",
};

const BAR = 18;
const BAR_GAP = 4;
const GROUP_GAP = 36;
const LEFT = 44;
const TOP = 34;
const PLOT_H = 180;
const BOTTOM = 44;
const GROUP_W = SOFT_CLASSES.length * (BAR + BAR_GAP) - BAR_GAP;

/** A label cut to its group's width (the bars' titles carry it whole). */
const LABEL_CHARS = Math.floor((GROUP_W + GROUP_GAP) / 6.5);
const clipLabel = (label: string) => ellipsize(label, LABEL_CHARS);
const pct = (f: number) => `${Math.round(f * 100)}%`;
const y = (f: number) => (TOP + (1 - f) * PLOT_H).toFixed(1);

/** One class's bar in its group, with its interval whisker and its count above. */
function bar(row: SoftErrorRow, cls: SoftClass, x: number): SafeHtml {
  const count = row.counts[cls];
  const share = row.runs > 0 ? count / row.runs : 0;
  const { lower, upper } = interval95(count, row.runs);
  const mid = (x + BAR / 2).toFixed(1);
  const cap = (f: number) =>
    html`<line x1="${(x + 4).toFixed(1)}" x2="${(x + BAR - 4).toFixed(1)}" y1="${y(f)}" y2="${y(f)}"/>`;
  const title = `${row.backend} · ${row.target}: ${cls} ${count}/${row.runs} = ${pct(share)} (95% interval ${pct(lower)}–${pct(upper)})`;
  return html`<g class="soft-bar" data-backend="${row.backend}" data-target="${row.target}" data-class="${cls}" data-count="${count}" data-n="${row.runs}"><title>${title}</title><rect x="${x.toFixed(1)}" y="${y(share)}" width="${BAR}" height="${(share * PLOT_H).toFixed(1)}" fill="${CLASS_COLOR[cls]}"/><g class="soft-ci" stroke="#222" stroke-width="1.2"><line x1="${mid}" x2="${mid}" y1="${y(upper)}" y2="${y(lower)}"/>${cap(lower)}${cap(upper)}</g><text x="${mid}" y="${(Number(y(upper)) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${count}</text></g>`;
}

/** The grouped bar chart of `rows` (one group per backend and target, one bar per class). */
export function softErrorChartSvg(rows: SoftErrorRow[]): SafeHtml {
  const width = LEFT + rows.length * (GROUP_W + GROUP_GAP) + 8;
  const height = TOP + PLOT_H + BOTTOM;
  const grid = [0, 0.25, 0.5, 0.75, 1].map(
    (f) =>
      html`<line x1="${LEFT}" x2="${width - 8}" y1="${y(f)}" y2="${y(f)}" stroke="#ddd"/><text x="${LEFT - 6}" y="${(Number(y(f)) + 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#555">${pct(f)}</text>`,
  );
  const groups = rows.map((row, i) => {
    const x0 = LEFT + GROUP_GAP / 2 + i * (GROUP_W + GROUP_GAP);
    const mid = (x0 + GROUP_W / 2).toFixed(1);
    const bars = SOFT_CLASSES.map((cls, j) => bar(row, cls, x0 + j * (BAR + BAR_GAP)));
    const base = TOP + PLOT_H;
    return html`<g class="soft-group">${bars}<text x="${mid}" y="${base + 16}" text-anchor="middle" font-size="11">${clipLabel(row.backend)}</text><text x="${mid}" y="${base + 30}" text-anchor="middle" font-size="11" fill="#555">${clipLabel(`${row.target} (n=${row.runs})`)}</text></g>`;
  });
  let legendX = LEFT;
  const legend = SOFT_CLASSES.map((cls) => {
    const at = legendX;
    legendX += 30 + cls.length * 7;
    return html`<g transform="translate(${at},8)"><rect width="12" height="12" fill="${CLASS_COLOR[cls]}"/><text x="16" y="10" font-size="11">${cls}</text></g>`;
  });
  const svgWidth = Math.max(width, legendX);
  return html`<svg class="soft-chart" viewBox="0 0 ${svgWidth} ${height}" width="${svgWidth}" height="${height}" role="img" aria-label="bit flips: class distribution per backend and target, with 95% intervals">${legend}${grid}${groups}</svg>`;
}

/** The HTML report's soft-error section of a campaign: table and chart; nothing when no flip was run. */
export function softErrorHtml(runs: StoredRun[]): SafeHtml | null {
  const rows = softErrorRows(runs);
  if (rows.length === 0) return null;
  const head = ["backend", "target", "flips", ...SOFT_CLASSES, "no class"].map((h) => html`<th>${h}</th>`);
  const body = rows.map(
    (r) =>
      html`<tr><td>${r.backend}</td><td>${r.target}</td><td>${r.runs}</td>${SOFT_CLASSES.map(
        (c) => html`<td>${countWithInterval(r.counts[c], r.runs)}</td>`,
      )}<td>${r.unclassified}</td></tr>`,
  );
  return html`<h3>Soft errors: class per backend and target</h3>
<table class="soft-errors"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>
${softErrorChartSvg(rows)}
<p class="note">Bar: the share of flips in each class against the golden run; whisker: its two-sided 95% Clopper–Pearson interval; the number above a bar is its count. Flips with no class (not fired, unknown) are counted in the table only.</p>`;
}
