/**
 * The HTML report (DESIGN.md §8): one self-contained file — zone matrix, continuum plot (overhead vs
 * containment with intervals), paper table and per-run evidence — that loads nothing from anywhere.
 * Pure: summaries, run details and the plotting libraries in, a string out.
 *
 * Everything that came from a guest (console, crash titles, reasons) or from a config (backend and
 * campaign names) is hostile: markup is built with the `html` tagged template, which escapes every
 * interpolated value unless it is markup already (`raw` marks ezone's own SVG, JSON and scripts); the
 * embedded JSON goes through `jsonForScript`. A Content-Security-Policy admits only the page's own three
 * scripts by hash and no network at all, so an escaping mistake still could not run or fetch anything.
 */
import { createHash } from "node:crypto";
import { OUTCOMES, type Outcome, type ProbeFinding, type Zone } from "../model/outcome-types.js";
import { duration } from "../util/format.js";
import type { PlotAssets } from "./assets.js";
import type { PlotData, PlotPoint } from "./browser/plot-data.js";
import { cellDiagram } from "./cell-diagram.js";
import { type CampaignSummary, pooledCell, type RunDetail } from "./collect.js";
import { AFFECTED, COMPOSED_HEADING, COMPOSED_NOTE, composedRows } from "./composed-cells.js";
import type { ConsoleEvidence } from "./console-evidence.js";
import { clientScript } from "./html-client.js";
import { type HtmlValue, html, joinHtml, raw, type SafeHtml } from "./html-template.js";
import { NO_PAPER_ROWS, PAPER_COLUMNS, paperCells } from "./paper-table.js";
import { softErrorHtml } from "./soft-error-chart.js";
import { countWithInterval } from "./soft-errors.js";
import {
  type CellTone,
  cellLines,
  cellTone,
  runRow,
  skippedEverywhere,
  ZONE_NAMES,
  ZONES,
  type ZoneCell,
} from "./zone-matrix.js";

export interface HtmlReportInput {
  resultsDir: string;
  generatedAt: Date;
  ezoneVersion: string;
  summaries: CampaignSummary[];
  details: RunDetail[];
  assets: PlotAssets;
}

/** JSON that can sit inside `<script type="application/json">`: nothing in it can close the element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** The permalink anchor of a run: stable for as long as the database is. */
export function runAnchor(runId: number): string {
  return `run-${runId}`;
}

const TONE_COLOR: Readonly<Record<CellTone, string>> = {
  good: "#2e9e4f",
  mixed: "#d9a400",
  bad: "#d62728",
  none: "#999999",
};

function plotPoints(s: CampaignSummary): { points: PlotPoint[]; notPlotted: string[] } {
  const points: PlotPoint[] = [];
  const notPlotted: string[] = [];
  for (const backend of s.backends) {
    const overhead = s.overhead[backend] ?? null;
    for (const zone of ["all", ...ZONES] as const) {
      const cell = pooledCell(s, backend, zone);
      if (cell?.kind !== "results" || cell.n === 0) continue;
      points.push({
        backend,
        zone: zone === "all" ? "all" : `${zone}`,
        x: cell.contained.x,
        n: cell.n,
        rate: cell.contained.x / cell.n,
        lower95: cell.contained.lower95,
        top: 1,
        color: TONE_COLOR[cellTone(cell)],
        overhead: overhead && { ratio: overhead.ratio, min: overhead.min, max: overhead.max },
      });
    }
    if (!points.some((p) => p.backend === backend && p.zone === "all")) {
      const why = Object.values(s.matrix.cells[backend] ?? {}).find(
        (c): c is ZoneCell & { reason: string } => c.kind === "skipped" || c.kind === "refused",
      );
      notPlotted.push(why ? `${backend} (${why.kind}: ${why.reason})` : `${backend} (no fault run results)`);
    }
  }
  return { points, notPlotted };
}

function matrixTable(s: CampaignSummary): SafeHtml {
  const head = s.matrix.zones.map(
    (z) => html`<th scope="col">zone ${z}<br><small>${ZONE_NAMES[z]}</small></th>`,
  );
  const rows = s.matrix.backends.map((backend) => {
    const skipped = skippedEverywhere(s.matrix, backend);
    if (skipped !== null) {
      return html`<tr><th scope="row">${backend}</th><td class="cell skipped" colspan="${s.matrix.zones.length}">skipped in every zone: ${skipped}</td></tr>`;
    }
    const cells = s.matrix.zones.map((zone) => {
      const cell = s.matrix.cells[backend]?.[zone] ?? { kind: "empty" as const };
      const lines = joinHtml(cellLines(cell), html`<br>`);
      const body =
        cell.kind === "results"
          ? html`<a class="cell-link" href="#runs" data-campaign="${s.campaign}" data-backend="${backend}" data-zone="${zone}" data-kind="fault">${lines}</a>`
          : lines;
      return html`<td class="cell ${cell.kind} tone-${cellTone(cell)}">${body}</td>`;
    });
    return html`<tr><th scope="row">${backend}</th>${cells}</tr>`;
  });
  return html`<table class="matrix"><thead><tr><th>backend</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function paperTable(s: CampaignSummary): SafeHtml {
  if (s.paper.length === 0) return html`<p class="note">${NO_PAPER_ROWS}</p>`;
  const head = PAPER_COLUMNS.map((c) => html`<th>${c}</th>`);
  const rows = s.paper.map((r) => html`<tr>${paperCells(r).map((c) => html`<td>${c}</td>`)}</tr>`);
  return html`<table class="paper"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function overheadNote(s: CampaignSummary): SafeHtml {
  const measured = Object.entries(s.overhead).filter(([, o]) => o !== null);
  if (measured.length === 0) {
    return html`Overhead vs native: <strong>not measured</strong> (this results directory has no performance results); backends are shown in campaign order instead.`;
  }
  const parts = measured.map(
    ([b, o]) =>
      `${b} ${o?.ratio.toFixed(2)}× (${o?.min.toFixed(2)}–${o?.max.toFixed(2)}, ${o?.benchmarks.length} benchmark(s))`,
  );
  return html`Overhead vs native, geometric mean over benchmarks (bar: 95% interval): ${parts.join("; ")}.`;
}

function campaignSection(s: CampaignSummary, index: number, notPlotted: string[]): SafeHtml {
  const zoneOptions = ["all", ...ZONES].map(
    (z) => html`<option value="${z}">${z === "all" ? "all zones" : `zone ${z}`}</option>`,
  );
  return html`<section class="campaign" id="campaign-${index}">
<h2>Campaign ${s.campaign}</h2>
<h3>Zone matrix</h3>
${matrixTable(s)}
<p class="note">Fault runs only (control runs left out). contained = contained-limited + contained-varied + no-effect over results; bounds are one-sided 95% Clopper–Pearson (≥ for containment, &lt; for the host-failure rate). Click a cell to list its runs.</p>
<h3>Continuum: overhead vs containment</h3>
<p><label>Containment in <select id="plot-zone-${index}" class="plot-zone">${zoneOptions}</select></label></p>
<div class="plot" id="plot-${index}" role="img" aria-label="containment of each backend against its overhead"></div>
<p class="note">Dot: measured containment; vertical bar: its one-sided 95% interval (lower bound to 100%). ${overheadNote(s)}</p>
${notPlotted.length > 0 && html`<p class="note not-plotted">Not plotted: ${notPlotted.join("; ")}</p>`}
<h3>E-Zone 3 (guest kernel) fault, as in the paper</h3>
${paperTable(s)}
${composedSection(s, index)}
${softErrorHtml(s.runs)}
</section>`;
}

/** Composed cells: who each fault affected per toggle, each row with its cell's diagram; nothing without cells. */
function composedSection(s: CampaignSummary, index: number): SafeHtml | null {
  const rows = composedRows(s.runs);
  if (rows.length === 0) return null;
  const body = rows.map(
    (r, i) =>
      html`<tr><td>${r.cell}</td><td>${r.fault}</td><td>${r.variant}</td><td>${r.runs}</td><td>${r.controls}</td>${AFFECTED.map((a) => html`<td>${countWithInterval(r.counts[a], r.runs)}</td>`)}<td>${cellDiagram(r, `arrow-${index}-${i}`)}</td></tr>`,
  );
  return html`<h3>${COMPOSED_HEADING}</h3>
<table class="composed"><thead><tr><th>cell</th><th>fault</th><th>toggle</th><th>runs</th><th>controls</th>${AFFECTED.map((a) => html`<th>${a}</th>`)}<th>diagram</th></tr></thead><tbody>${body}</tbody></table>
<p class="note">${COMPOSED_NOTE} Diagram: red = died in some run, orange = affected (named by a verdict), dashed = link cut by the toggle.</p>`;
}

function outcomeBadge(outcome: Outcome): SafeHtml {
  return html`<span class="outcome o-${outcome}">${outcome}</span>`;
}

function probesTable(probes: ProbeFinding[]): SafeHtml {
  if (probes.length === 0) return html`<p class="note">No host probe findings were stored for this run.</p>`;
  const rows = probes.map(
    (p) =>
      html`<tr class="sev-${p.severity}"><td>${p.probe}</td><td>${p.severity}</td><td>${p.before ?? "-"}</td><td>${p.after ?? "-"}</td><td>${p.threshold}</td><td>${p.detail}</td></tr>`,
  );
  return html`<table class="probes"><thead><tr><th>probe</th><th>severity</th><th>before</th><th>after</th><th>threshold</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table>`;
}

const MARK_COLOR: Readonly<Record<string, string>> = {
  ready: "#1f77b4",
  fired: "#ff7f0e",
  "inject-failed": "#8c564b",
  proof: "#9467bd",
  crash: "#d62728",
  panic: "#000000",
};

/** Heartbeats and milestones on the guest clock, as a static SVG strip (no script needed). */
export function timelineSvg(c: ConsoleEvidence): SafeHtml {
  const times = [...c.heartbeats.map((h) => h.atS), ...c.marks.map((m) => m.atS ?? 0)];
  if (c.heartbeats.length === 0 && c.marks.every((m) => m.atS === null)) {
    return html`<p class="note">No heartbeat or timed event on the console.</p>`;
  }
  const width = 640;
  const left = 10;
  const right = 10;
  const min = Math.min(...times);
  const max = Math.max(...times, min + 0.001);
  const span = (max - min) * 1.02;
  const x = (t: number) => (left + ((t - min) / span) * (width - left - right)).toFixed(1);
  const hb = c.heartbeats.map(
    (h) =>
      html`<line class="hb" x1="${x(h.atS)}" x2="${x(h.atS)}" y1="14" y2="30"><title>HB ${h.seq} at ${h.atS.toFixed(3)} s</title></line>`,
  );
  const marks = c.marks.flatMap((m) =>
    m.atS === null
      ? []
      : html`<line class="mark" x1="${x(m.atS)}" x2="${x(m.atS)}" y1="4" y2="40" stroke="${MARK_COLOR[m.kind] ?? "#000"}"${m.approximate && raw(' stroke-dasharray="3 2"')}><title>${m.label} at ${m.approximate ? "≈ " : ""}${m.atS.toFixed(3)} s</title></line>`,
  );
  return html`<svg class="timeline" viewBox="0 0 ${width} 56" width="${width}" height="56" role="img" aria-label="heartbeat timeline"><line x1="${left}" x2="${width - right}" y1="30" y2="30" stroke="#bbb"/>${hb}${marks}<text x="${left}" y="52">${min.toFixed(2)} s</text><text x="${width - right}" y="52" text-anchor="end">${max.toFixed(2)} s (guest uptime)</text></svg>`;
}

function markTime(m: ConsoleEvidence["marks"][number]): string {
  return m.atS === null ? "(no time)" : `${m.approximate ? "≈ " : "at "}${m.atS.toFixed(3)} s`;
}

function timelineSection(d: RunDetail): SafeHtml {
  const c = d.console;
  const events =
    d.controlEvents.length > 0 &&
    html`\n<table class="events"><thead><tr><th>control event (QMP)</th><th>host time after run start</th></tr></thead><tbody>${d.controlEvents.map(
      (e) => html`<tr><td>${e.name}</td><td>${duration(e.atMs)}</td></tr>`,
    )}</tbody></table>`;
  if (!c) return html`<p class="note">No console was stored for this run.</p>${events}`;
  const last = c.heartbeats.at(-1);
  const marks = c.marks.map((m) => `${m.label} ${markTime(m)}`).join("; ");
  return html`${timelineSvg(c)}
<p class="note">${c.heartbeats.length} heartbeat(s)${last && `, last HB ${last.seq} at ${last.atS.toFixed(3)} s`}. Blue ticks: heartbeats; lines: ${marks}${c.marks.length === 0 && "none"}. Dashed: an agent line without a timestamp, placed at the heartbeat before it.</p>${events}`;
}

function consoleSection(d: RunDetail): SafeHtml {
  const c = d.console;
  if (!c) return html``;
  const heading =
    c.excerptKind === "oops"
      ? "Console excerpt around the oops"
      : c.excerptKind === "tail"
        ? "Console: last lines (no kernel crash report)"
        : "Console: empty";
  const note = `${c.lines} line(s), ${c.bytes} byte(s) stored${c.truncated ? ", cut to the capture cap" : ""}`;
  return html`<h4>${heading}</h4><p class="note">${note}</p>${
    c.excerpt.length > 0 && html`<pre class="console">${c.excerpt.join("\n")}</pre>`
  }`;
}

function provenance(r: RunDetail["run"]): string {
  const pv = r.provenance;
  return [
    `ezone ${pv.ezoneVersion}${pv.ezoneCommit ? ` (${pv.ezoneCommit})` : ""}`,
    pv.backendVersion,
    pv.kernelVersion && `guest ${pv.kernelVersion}`,
    `host ${pv.hostname} ${pv.hostKernel}`,
  ]
    .filter(Boolean)
    .join("; ");
}

function runFields(d: RunDetail): SafeHtml[] {
  const r = d.run;
  const dl = (k: string, v: HtmlValue) => html`<dt>${k}</dt><dd>${v}</dd>`;
  const strong = (s: string) => html`<strong>${s}</strong>`;
  return [
    dl("run key", html`<code>${r.runKey}</code>`),
    dl("reasons", html`<ul class="reasons">${r.reasons.map((x) => html`<li>${x}</li>`)}</ul>`),
    dl("fault proof", r.proof ? "yes" : r.fault === "none" ? "not needed (control run)" : strong("no")),
    dl("oops", r.crashTitle ? html`${r.crashTitle} <small>(${r.crashClass ?? "?"})</small>` : "none"),
    dl("stop reason", r.stopReason),
    dl("host survived", r.hostSurvived === null ? "not judged" : r.hostSurvived ? "yes" : strong("no")),
    r.infraError ? dl("infra error", r.infraError) : html``,
    dl(
      "timing",
      `boot ${duration(r.bootMs)}, detection ${duration(r.detectionMs)}, run ${duration(r.runMs)}; started ${r.startedAt.toISOString()}`,
    ),
    dl("params", html`<code>${JSON.stringify(r.params)}</code>, seed ${r.seed}, nonce ${r.nonce}`),
    dl("provenance", provenance(r)),
    d.problems.length > 0 ? dl("unreadable evidence", joinHtml(d.problems, html`<br>`)) : html``,
  ];
}

function runDetails(d: RunDetail): SafeHtml {
  const r = d.run;
  const id = runAnchor(r.id);
  return html`<details class="run" id="${id}" data-campaign="${r.campaign}" data-backend="${runRow(r)}" data-zone="${r.zone}" data-outcome="${r.outcome}" data-kind="${r.fault === "none" ? "control" : "fault"}">
<summary>${outcomeBadge(r.outcome)} <span class="what">${r.backend} · ${r.fault} · zone ${r.zone} · rep ${r.repetition}</span> <span class="title">${r.crashTitle ?? ""}</span> <a class="permalink" href="#${id}" title="permalink to this run">#${r.id}</a></summary>
<div class="body">
<dl>${runFields(d)}</dl>
<h4>Heartbeat timeline</h4>
${timelineSection(d)}
<h4>Host probes, before and after</h4>
${probesTable(d.probes)}
${consoleSection(d)}
</div>
</details>`;
}

function select(name: string, label: string, values: string[], labels?: (v: string) => string): SafeHtml {
  const options = values.map((v) => html`<option value="${v}">${labels ? labels(v) : v}</option>`);
  return html`<label>${label} <select name="${name}"><option value="">all</option>${options}</select></label>`;
}

const CSS = `
:root { font-family: system-ui, sans-serif; color: #222; background: #fff; }
body { margin: 0 auto; max-width: 1200px; padding: 0 1.5rem 4rem; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2.5rem; }
.note { color: #555; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; }
td.cell { min-width: 12rem; } td.cell a { color: inherit; text-decoration: none; display: block; }
td.tone-good { background: #e7f6ea; } td.tone-mixed { background: #fff6d6; } td.tone-bad { background: #fde2e2; }
td.skipped, td.refused, td.empty { color: #777; background: #fafafa; }
.plot { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-end; min-height: 2rem; }
.outcome { display: inline-block; min-width: 9.5rem; padding: .1rem .4rem; border-radius: .3rem; font-size: .85rem; color: #fff; text-align: center; }
.o-contained-limited { background: #2e9e4f; } .o-contained-varied { background: #17becf; }
.o-escaped-global { background: #d62728; } .o-no-effect { background: #7f7f7f; }
.o-not-fired { background: #d9a400; } .o-unknown { background: #9467bd; } .o-infra-error { background: #444; } .o-boot-error { background: #7f7f7f; }
form.filters { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; margin: .5rem 0 1rem; padding: .5rem; background: #f6f6f6; }
details.run { border: 1px solid #ddd; border-radius: .3rem; margin: .3rem 0; }
details.run[open] { border-color: #888; }
details.run > summary { cursor: pointer; padding: .4rem .6rem; list-style-position: inside; }
details.run:target { outline: 3px solid #1f77b4; }
.permalink { float: right; color: #888; text-decoration: none; }
.title { color: #a33; }
.body { padding: 0 1rem 1rem; }
dl { display: grid; grid-template-columns: 10rem 1fr; gap: .2rem 1rem; } dt { font-weight: 600; } dd { margin: 0; }
ul.reasons { margin: 0; padding-left: 1.2rem; }
pre.console { background: #111; color: #ddd; padding: .6rem; overflow-x: auto; font-size: .8rem; max-height: 30rem; }
svg.timeline line.hb { stroke: #1f77b4; } svg.timeline text { font-size: 10px; fill: #555; }
tr.sev-failed td { background: #fde2e2; } tr.sev-degraded td { background: #fff6d6; }
[hidden] { display: none !important; }
`;

function sha256Base64(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("base64");
}

/** The whole report page. */
export function renderHtml(input: HtmlReportInput): string {
  const plots = input.summaries.map((s) => plotPoints(s));
  const data: PlotData = {
    campaigns: input.summaries.map((s, index) => ({
      index,
      campaign: s.campaign,
      points: plots[index]?.points ?? [],
    })),
  };
  const runs = input.details;
  const uniq = (xs: string[]) => [...new Set(xs)];
  const filters = [
    select("campaign", "campaign", uniq(runs.map((d) => d.run.campaign))),
    select("backend", "backend", uniq(runs.map((d) => runRow(d.run)))),
    select("zone", "zone", ZONES.map(String), (z) => `${z} (${ZONE_NAMES[Number(z) as Zone]})`),
    select("outcome", "outcome", [...OUTCOMES]),
    select("kind", "runs", ["fault", "control"], (k) =>
      k === "fault" ? "fault runs" : "control runs (fault none)",
    ),
  ];
  const client = clientScript();
  const scripts = [input.assets.d3, input.assets.plot, client];
  // ezone's own policy, hashes and keywords only: raw keeps its quotes readable in the page source.
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.map((s) => `'sha256-${sha256Base64(s)}'`).join(" ")}`,
    "style-src 'unsafe-inline'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const nav = joinHtml(
    [
      ...input.summaries.map((s, i) => html`<a href="#campaign-${i}">${s.campaign}</a>`),
      html`<a href="#runs">runs (${runs.length})</a>`,
    ],
    html` · `,
  );
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${raw(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ezone report — ${input.summaries.map((s) => s.campaign).join(", ")}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header>
<h1>ezone report</h1>
<p class="note">Results in <code>${input.resultsDir}</code>; written ${input.generatedAt.toISOString()} by ezone ${input.ezoneVersion}. Every verdict is taken from stored evidence only.</p>
<nav>${nav}</nav>
</header>
<main>
${joinHtml(
  input.summaries.map((s, i) => campaignSection(s, i, plots[i]?.notPlotted ?? [])),
  html`\n`,
)}
<section id="runs">
<h2>Runs</h2>
<form class="filters" id="filters">${filters}<button type="reset">show all</button> <span id="shown">${runs.length} run(s)</span></form>
${joinHtml(runs.map(runDetails), html`\n`)}
</section>
</main>
<script type="application/json" id="ezone-data">${raw(jsonForScript(data))}</script>
<script>${raw(input.assets.d3)}</script>
<script>${raw(input.assets.plot)}</script>
<script type="module">${raw(client)}</script>
</body>
</html>
`;
  return page.toString();
}
