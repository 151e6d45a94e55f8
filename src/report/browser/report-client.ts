/**
 * The script of the HTML report, run in the reader's browser: draws the continuum plots with Plot from
 * the embedded JSON, moves their labels apart, filters the run list, and opens the run a permalink
 * names. It builds text only through Plot (text via textContent), adds only leader lines itself, and
 * never parses stored text as HTML: every run's evidence is already escaped in the page by the server.
 *
 * A module script (`<script type="module">`, so nothing it declares lands in the page's global scope),
 * compiled with the DOM library (tsconfig.client.json) and inlined into the page after the classic
 * scripts of d3 and Plot, which define the globals it uses.
 */
declare const Plot: typeof import("@observablehq/plot");
/** Put before this script by html-client.ts, from label-layout.ts (pure geometry, unit-tested there). */
declare const separateLabels: (
  boxes: { x: number; y: number; width: number; height: number }[],
  top: number,
  bottom: number,
) => number[];

import type { CampaignPlot, PlotData, PlotPoint } from "./plot-data.js";

interface MeasuredPoint extends PlotPoint {
  overhead: NonNullable<PlotPoint["overhead"]>;
}

/** The filters of the run list, named as the data attributes of each run's `<details>`. */
const FILTER_KEYS = ["campaign", "backend", "zone", "outcome", "kind"] as const;
const data = JSON.parse(document.getElementById("ezone-data")?.textContent ?? "{}") as PlotData;

const pct = (p: number) => `${Math.round(p * 100)}%`;
const describe = (p: PlotPoint) =>
  `${p.backend}: contained ${p.x}/${p.n} (${pct(p.rate)}), one-sided 95% lower bound ${pct(p.lower95)}; ` +
  `overhead ${p.overhead ? `${p.overhead.ratio.toFixed(2)}× native` : "not measured"}`;
const y = { domain: [0, 1], label: "↑ contained (share of fault runs)", tickFormat: "%", grid: true };

function measuredPlot(measured: MeasuredPoint[]): Element {
  return Plot.plot({
    width: 560,
    height: 320,
    marginLeft: 56,
    marginRight: 90,
    marginTop: 28,
    color: { type: "identity" },
    x: { label: "overhead vs native (×) →", grid: true, nice: true },
    y,
    marks: [
      // Native speed, so the axis always shows how far from it each backend sits.
      Plot.ruleX([1], { stroke: "#888", strokeDasharray: "4 3" }),
      Plot.text([1], {
        x: (d: number) => d,
        frameAnchor: "bottom",
        dy: -6,
        dx: 4,
        textAnchor: "start",
        text: () => "native",
        fill: "#666",
      }),
      Plot.ruleY(measured, {
        x1: (p: MeasuredPoint) => p.overhead.min,
        x2: (p: MeasuredPoint) => p.overhead.max,
        y: "rate",
        stroke: "#9aa",
      }),
      Plot.ruleX(measured, {
        x: (p: MeasuredPoint) => p.overhead.ratio,
        y1: "lower95",
        y2: "top",
        stroke: "color",
        strokeWidth: 2,
      }),
      Plot.dot(measured, {
        x: (p: MeasuredPoint) => p.overhead.ratio,
        y: "rate",
        fill: "color",
        r: 6,
        stroke: "#222",
        title: describe,
      }),
      Plot.text(measured, {
        x: (p: MeasuredPoint) => p.overhead.ratio,
        y: "rate",
        text: (p: MeasuredPoint) => `${p.backend} ${p.x}/${p.n}`,
        dx: 10,
        textAnchor: "start",
        className: "ezone-label",
      }),
    ],
  });
}

function unmeasuredPlot(unmeasured: PlotPoint[]): Element {
  return Plot.plot({
    width: 140 + 90 * unmeasured.length,
    height: 320,
    marginLeft: 56,
    marginTop: 28,
    color: { type: "identity" },
    x: {
      type: "point",
      domain: unmeasured.map((p) => p.backend),
      label: "overhead not measured",
      padding: 0.6,
    },
    y,
    marks: [
      Plot.ruleX(unmeasured, { x: "backend", y1: "lower95", y2: "top", stroke: "color", strokeWidth: 2 }),
      Plot.dot(unmeasured, {
        x: "backend",
        y: "rate",
        fill: "color",
        r: 6,
        stroke: "#222",
        title: describe,
      }),
      Plot.text(unmeasured, {
        x: "backend",
        y: "rate",
        text: (p: PlotPoint) => `${p.x}/${p.n}`,
        dx: 10,
        textAnchor: "start",
        className: "ezone-label",
      }),
    ],
  });
}

/**
 * Labels of backends at the same height would be drawn over each other: measure them once the plot is in
 * the page, shift them apart (label-layout.ts), and tie a moved label to its dot with a leader line.
 */
function spreadLabels(svg: Element | null): void {
  if (!(svg instanceof SVGSVGElement)) return;
  const texts = Array.from(svg.querySelectorAll<SVGTextElement>("g.ezone-label text"));
  const frame = svg.getBoundingClientRect();
  if (frame.width === 0) return; // not laid out (hidden): nothing to measure
  const scale = frame.width / (svg.viewBox.baseVal.width || frame.width) || 1;
  const boxes = texts.map((t) => {
    const r = t.getBoundingClientRect();
    return {
      x: (r.left - frame.left) / scale,
      y: (r.top - frame.top) / scale,
      width: r.width / scale,
      height: r.height / scale,
    };
  });
  const height = svg.viewBox.baseVal.height || frame.height / scale;
  const shifts = separateLabels(boxes, 0, height);
  texts.forEach((t, i) => {
    const dy = shifts[i] ?? 0;
    const b = boxes[i];
    if (dy === 0 || !b) return;
    t.setAttribute("transform", `${t.getAttribute("transform") ?? ""} translate(0,${dy})`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "ezone-leader");
    line.setAttribute("x1", String(b.x - 6));
    line.setAttribute("y1", String(b.y + b.height / 2));
    line.setAttribute("x2", String(b.x - 1));
    line.setAttribute("y2", String(b.y + dy + b.height / 2));
    line.setAttribute("stroke", "#888");
    svg.append(line);
  });
}

function drawPlot(campaign: CampaignPlot, zone: string): void {
  const host = document.getElementById(`plot-${campaign.index}`);
  if (!host) return;
  host.replaceChildren();
  const points = campaign.points.filter((p) => p.zone === zone);
  if (points.length === 0) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = `No fault run with a result in ${zone === "all" ? "any zone" : `zone ${zone}`}.`;
    host.append(p);
    return;
  }
  const measured = points.filter((p): p is MeasuredPoint => p.overhead !== null);
  const unmeasured = points.filter((p) => p.overhead === null);
  if (measured.length > 0) {
    host.append(measuredPlot(measured));
    spreadLabels(host.lastElementChild);
  }
  if (unmeasured.length > 0) {
    host.append(unmeasuredPlot(unmeasured));
    spreadLabels(host.lastElementChild);
  }
}

for (const campaign of data.campaigns) {
  drawPlot(campaign, "all");
  const select = document.getElementById(`plot-zone-${campaign.index}`);
  if (select instanceof HTMLSelectElement)
    select.addEventListener("change", () => drawPlot(campaign, select.value));
}

const form = document.getElementById("filters") as HTMLFormElement;
const count = document.getElementById("shown") as HTMLElement;
const runs = Array.from(document.querySelectorAll<HTMLDetailsElement>("details.run"));
const field = (key: string) => form.elements.namedItem(key) as HTMLSelectElement;

function applyFilters(): void {
  let shown = 0;
  for (const el of runs) {
    const ok = FILTER_KEYS.every((k) => field(k).value === "" || el.dataset[k] === field(k).value);
    el.hidden = !ok;
    if (ok) shown++;
  }
  count.textContent = `${shown} of ${runs.length} run(s) shown`;
}
form.addEventListener("change", applyFilters);
form.addEventListener("reset", () => setTimeout(applyFilters, 0));

for (const link of document.querySelectorAll<HTMLAnchorElement>("a.cell-link")) {
  link.addEventListener("click", () => {
    for (const k of FILTER_KEYS) field(k).value = link.dataset[k] ?? "";
    applyFilters();
  });
}

function openFromHash(): void {
  let id: string;
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch {
    return;
  }
  const el = id.startsWith("run-") ? document.getElementById(id) : null;
  if (!(el instanceof HTMLDetailsElement) || !el.classList.contains("run")) return;
  if (el.hidden) {
    form.reset();
    applyFilters();
  }
  el.open = true;
  el.scrollIntoView({ block: "start" });
}
window.addEventListener("hashchange", openFromHash);
applyFilters();
openFromHash();
