/**
 * The HTML report (DESIGN.md §8): one self-contained file — zone matrix, continuum plot (overhead vs
 * containment with intervals), paper table and per-run evidence — that loads nothing from anywhere.
 * Pure: summaries, run details and the plotting libraries in, a string out.
 *
 * Everything that came from a guest (console, crash titles, reasons) or from a config (backend and
 * campaign names) is hostile: text goes through `text()` (controls made visible, then HTML-escaped), the
 * embedded JSON through `jsonForScript`. A Content-Security-Policy admits only the page's own three
 * scripts by hash and no network at all, so an escaping mistake still could not run or fetch anything.
 */
import { createHash } from "node:crypto";
import { OUTCOMES, type Outcome, type ProbeFinding, type Zone } from "../model/outcome-types.js";
import { escapeControl, escapeHtml } from "../util/escape.js";
import type { PlotAssets } from "./assets.js";
import { type CampaignSummary, pooledCell, type RunDetail } from "./collect.js";
import type { ConsoleEvidence } from "./console-evidence.js";
import { CLIENT_JS } from "./html-client.js";
import { duration, PAPER_COLUMNS, paperCells } from "./paper-table.js";
import {
  type CellTone,
  cellLines,
  cellTone,
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

/** Untrusted text for HTML text or a quoted attribute value. */
function text(value: unknown): string {
  return escapeHtml(escapeControl(String(value)));
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

/** One point of the continuum plot: a backend's containment (in a zone or pooled) and its overhead. */
interface PlotPoint {
  backend: string;
  zone: "all" | `${Zone}`;
  x: number;
  n: number;
  rate: number;
  lower95: number;
  top: 1;
  color: string;
  overhead: { ratio: number; min: number; max: number } | null;
}

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

function matrixTable(s: CampaignSummary): string {
  const head = s.matrix.zones.map((z) => `<th scope="col">zone ${z}<br><small>${ZONE_NAMES[z]}</small></th>`);
  const rows = s.matrix.backends.map((backend) => {
    const skipped = skippedEverywhere(s.matrix, backend);
    if (skipped !== null) {
      return `<tr><th scope="row">${text(backend)}</th><td class="cell skipped" colspan="${s.matrix.zones.length}">skipped in every zone: ${text(skipped)}</td></tr>`;
    }
    const cells = s.matrix.zones.map((zone) => {
      const cell = s.matrix.cells[backend]?.[zone] ?? { kind: "empty" as const };
      const lines = cellLines(cell).map(text).join("<br>");
      const body =
        cell.kind === "results"
          ? `<a class="cell-link" href="#runs" data-campaign="${text(s.campaign)}" data-backend="${text(backend)}" data-zone="${zone}" data-kind="fault">${lines}</a>`
          : lines;
      return `<td class="cell ${cell.kind} tone-${cellTone(cell)}">${body}</td>`;
    });
    return `<tr><th scope="row">${text(backend)}</th>${cells.join("")}</tr>`;
  });
  return `<table class="matrix"><thead><tr><th>backend</th>${head.join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function paperTable(s: CampaignSummary): string {
  const head = PAPER_COLUMNS.map((c) => `<th>${text(c)}</th>`).join("");
  const rows = s.paper.map(
    (r) =>
      `<tr>${paperCells(r)
        .map((c) => `<td>${text(c)}</td>`)
        .join("")}</tr>`,
  );
  return `<table class="paper"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function overheadNote(s: CampaignSummary): string {
  const measured = Object.entries(s.overhead).filter(([, o]) => o !== null);
  if (measured.length === 0) {
    return "Overhead vs native: <strong>not measured</strong> (this results directory has no performance results); backends are shown in campaign order instead.";
  }
  const parts = measured.map(
    ([b, o]) =>
      `${text(b)} ${o?.ratio.toFixed(2)}× (${o?.min.toFixed(2)}–${o?.max.toFixed(2)}, ${o?.benchmarks.length} benchmark(s))`,
  );
  return `Overhead vs native, geometric mean over benchmarks (bar: 95% interval): ${parts.join("; ")}.`;
}

function campaignSection(s: CampaignSummary, index: number, notPlotted: string[]): string {
  const zoneOptions = ["all", ...ZONES]
    .map((z) => `<option value="${z}">${z === "all" ? "all zones" : `zone ${z}`}</option>`)
    .join("");
  return `<section class="campaign" id="campaign-${index}">
<h2>Campaign ${text(s.campaign)}</h2>
<h3>Zone matrix</h3>
${matrixTable(s)}
<p class="note">Fault runs only (control runs left out). contained = contained-limited + contained-varied + no-effect over results; bounds are one-sided 95% Clopper–Pearson (≥ for containment, &lt; for the host-failure rate). Click a cell to list its runs.</p>
<h3>Continuum: overhead vs containment</h3>
<p><label>Containment in <select id="plot-zone-${index}" class="plot-zone">${zoneOptions}</select></label></p>
<div class="plot" id="plot-${index}" role="img" aria-label="containment of each backend against its overhead"></div>
<p class="note">Dot: measured containment; vertical bar: its one-sided 95% interval (lower bound to 100%). ${overheadNote(s)}</p>
${notPlotted.length ? `<p class="note not-plotted">Not plotted: ${notPlotted.map(text).join("; ")}</p>` : ""}
<h3>E-Zone 3 (guest kernel) fault, as in the paper</h3>
${paperTable(s)}
</section>`;
}

function outcomeBadge(outcome: Outcome): string {
  return `<span class="outcome o-${text(outcome)}">${text(outcome)}</span>`;
}

function probesTable(probes: ProbeFinding[]): string {
  if (probes.length === 0) return `<p class="note">No host probe findings were stored for this run.</p>`;
  const rows = probes.map(
    (p) =>
      `<tr class="sev-${text(p.severity)}"><td>${text(p.probe)}</td><td>${text(p.severity)}</td><td>${text(p.before ?? "-")}</td><td>${text(p.after ?? "-")}</td><td>${text(p.threshold)}</td><td>${text(p.detail)}</td></tr>`,
  );
  return `<table class="probes"><thead><tr><th>probe</th><th>severity</th><th>before</th><th>after</th><th>threshold</th><th>detail</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
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
export function timelineSvg(c: ConsoleEvidence): string {
  const times = [...c.heartbeats.map((h) => h.atS), ...c.marks.map((m) => m.atS ?? 0)];
  if (c.heartbeats.length === 0 && c.marks.every((m) => m.atS === null)) {
    return `<p class="note">No heartbeat or timed event on the console.</p>`;
  }
  const width = 640;
  const left = 10;
  const right = 10;
  const min = Math.min(...times);
  const max = Math.max(...times, min + 0.001);
  const span = (max - min) * 1.02;
  const x = (t: number) => (left + ((t - min) / span) * (width - left - right)).toFixed(1);
  const hb = c.heartbeats
    .map(
      (h) =>
        `<line class="hb" x1="${x(h.atS)}" x2="${x(h.atS)}" y1="14" y2="30"><title>HB ${h.seq} at ${h.atS.toFixed(3)} s</title></line>`,
    )
    .join("");
  const marks = c.marks
    .filter((m) => m.atS !== null)
    .map(
      (m) =>
        `<line class="mark" x1="${x(m.atS as number)}" x2="${x(m.atS as number)}" y1="4" y2="40" stroke="${MARK_COLOR[m.kind] ?? "#000"}"${m.approximate ? ' stroke-dasharray="3 2"' : ""}><title>${text(m.label)} at ${m.approximate ? "≈ " : ""}${(m.atS as number).toFixed(3)} s</title></line>`,
    )
    .join("");
  return `<svg class="timeline" viewBox="0 0 ${width} 56" width="${width}" height="56" role="img" aria-label="heartbeat timeline"><line x1="${left}" x2="${width - right}" y1="30" y2="30" stroke="#bbb"/>${hb}${marks}<text x="${left}" y="52">${min.toFixed(2)} s</text><text x="${width - right}" y="52" text-anchor="end">${max.toFixed(2)} s (guest uptime)</text></svg>`;
}

function timelineSection(d: RunDetail): string {
  const c = d.console;
  const parts: string[] = [];
  if (c) {
    const hb = c.heartbeats;
    const last = hb.at(-1);
    parts.push(timelineSvg(c));
    parts.push(
      `<p class="note">${hb.length} heartbeat(s)${last ? `, last HB ${last.seq} at ${last.atS.toFixed(3)} s` : ""}. ` +
        `Blue ticks: heartbeats; lines: ${c.marks
          .map(
            (m) =>
              `${text(m.label)} ${m.atS === null ? "(no time)" : `${m.approximate ? "≈ " : "at "}${m.atS.toFixed(3)} s`}`,
          )
          .join(
            "; ",
          )}${c.marks.length ? "" : "none"}. Dashed: an agent line without a timestamp, placed at the heartbeat before it.</p>`,
    );
  } else parts.push(`<p class="note">No console was stored for this run.</p>`);
  if (d.controlEvents.length) {
    parts.push(
      `<table class="events"><thead><tr><th>control event (QMP)</th><th>host time after run start</th></tr></thead><tbody>${d.controlEvents
        .map((e) => `<tr><td>${text(e.name)}</td><td>${text(duration(e.atMs))}</td></tr>`)
        .join("")}</tbody></table>`,
    );
  }
  return parts.join("\n");
}

function consoleSection(d: RunDetail): string {
  const c = d.console;
  if (!c) return "";
  const heading =
    c.excerptKind === "oops"
      ? "Console excerpt around the oops"
      : c.excerptKind === "tail"
        ? "Console: last lines (no kernel crash report)"
        : "Console: empty";
  const note = `${c.lines} line(s), ${c.bytes} byte(s) stored${c.truncated ? ", cut to the capture cap" : ""}`;
  return `<h4>${heading}</h4><p class="note">${note}</p>${
    c.excerpt.length ? `<pre class="console">${c.excerpt.map(text).join("\n")}</pre>` : ""
  }`;
}

function runDetails(d: RunDetail): string {
  const r = d.run;
  const id = runAnchor(r.id);
  const dl = (k: string, v: string) => `<dt>${k}</dt><dd>${v}</dd>`;
  const fields = [
    dl("run key", `<code>${text(r.runKey)}</code>`),
    dl("reasons", `<ul class="reasons">${r.reasons.map((x) => `<li>${text(x)}</li>`).join("")}</ul>`),
    dl(
      "fault proof",
      r.proof ? "yes" : r.fault === "none" ? "not needed (control run)" : "<strong>no</strong>",
    ),
    dl("oops", r.crashTitle ? `${text(r.crashTitle)} <small>(${text(r.crashClass ?? "?")})</small>` : "none"),
    dl("stop reason", text(r.stopReason)),
    dl(
      "host survived",
      r.hostSurvived === null ? "not judged" : r.hostSurvived ? "yes" : "<strong>no</strong>",
    ),
    r.infraError ? dl("infra error", text(r.infraError)) : "",
    dl(
      "timing",
      `boot ${text(duration(r.bootMs))}, detection ${text(duration(r.detectionMs))}, run ${text(duration(r.runMs))}; started ${text(r.startedAt.toISOString())}`,
    ),
    dl(
      "params",
      `<code>${text(JSON.stringify(r.params))}</code>, seed ${text(r.seed)}, nonce ${text(r.nonce)}`,
    ),
    dl(
      "provenance",
      text(
        [
          `ezone ${r.provenance.ezoneVersion}${r.provenance.ezoneCommit ? ` (${r.provenance.ezoneCommit})` : ""}`,
          r.provenance.backendVersion,
          r.provenance.kernelVersion && `guest ${r.provenance.kernelVersion}`,
          `host ${r.provenance.hostname} ${r.provenance.hostKernel}`,
        ]
          .filter(Boolean)
          .join("; "),
      ),
    ),
    d.problems.length ? dl("unreadable evidence", d.problems.map(text).join("<br>")) : "",
  ].join("");
  return `<details class="run" id="${id}" data-campaign="${text(r.campaign)}" data-backend="${text(r.backend)}" data-zone="${text(r.zone)}" data-outcome="${text(r.outcome)}" data-kind="${r.fault === "none" ? "control" : "fault"}">
<summary>${outcomeBadge(r.outcome)} <span class="what">${text(r.backend)} · ${text(r.fault)} · zone ${r.zone} · rep ${r.repetition}</span> <span class="title">${text(r.crashTitle ?? "")}</span> <a class="permalink" href="#${id}" title="permalink to this run">#${r.id}</a></summary>
<div class="body">
<dl>${fields}</dl>
<h4>Heartbeat timeline</h4>
${timelineSection(d)}
<h4>Host probes, before and after</h4>
${probesTable(d.probes)}
${consoleSection(d)}
</div>
</details>`;
}

function select(name: string, label: string, values: string[], labels?: (v: string) => string): string {
  const options = values.map((v) => `<option value="${text(v)}">${text(labels ? labels(v) : v)}</option>`);
  return `<label>${label} <select name="${name}"><option value="">all</option>${options.join("")}</select></label>`;
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
  const data = {
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
    select("backend", "backend", uniq(runs.map((d) => d.run.backend))),
    select("zone", "zone", ZONES.map(String), (z) => `${z} (${ZONE_NAMES[Number(z) as Zone]})`),
    select("outcome", "outcome", [...OUTCOMES]),
    select("kind", "runs", ["fault", "control"], (k) =>
      k === "fault" ? "fault runs" : "control runs (fault none)",
    ),
  ].join("");
  const scripts = [input.assets.d3, input.assets.plot, CLIENT_JS];
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.map((s) => `'sha256-${sha256Base64(s)}'`).join(" ")}`,
    "style-src 'unsafe-inline'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const nav = input.summaries
    .map((s, i) => `<a href="#campaign-${i}">${text(s.campaign)}</a>`)
    .concat(`<a href="#runs">runs (${runs.length})</a>`)
    .join(" · ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ezone report — ${text(input.summaries.map((s) => s.campaign).join(", "))}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>ezone report</h1>
<p class="note">Results in <code>${text(input.resultsDir)}</code>; written ${text(input.generatedAt.toISOString())} by ezone ${text(input.ezoneVersion)}. Every verdict is taken from stored evidence only.</p>
<nav>${nav}</nav>
</header>
<main>
${input.summaries.map((s, i) => campaignSection(s, i, plots[i]?.notPlotted ?? [])).join("\n")}
<section id="runs">
<h2>Runs</h2>
<form class="filters" id="filters">${filters}<button type="reset">show all</button> <span id="shown">${runs.length} run(s)</span></form>
${runs.map(runDetails).join("\n")}
</section>
</main>
<script type="application/json" id="ezone-data">${jsonForScript(data)}</script>
${scripts.map((s) => `<script>${s}</script>`).join("\n")}
</body>
</html>
`;
}
