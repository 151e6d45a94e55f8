import { separateLabels } from "./label-layout.js";

/**
 * The script of the HTML report, run in the reader's browser: draws the continuum plots with Plot from
 * the embedded JSON, moves their labels apart, filters the run list, and opens the run a permalink
 * names. It builds text only through Plot (text via textContent), adds only leader lines itself, and
 * never parses stored text as HTML: every run's evidence is already escaped in the page by the server.
 */
export const CLIENT_JS = `(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("ezone-data").textContent);
  const separateLabels = ${separateLabels.toString()};

  // Labels of backends at the same height would be drawn over each other: measure them once the plot
  // is in the page, shift them apart (label-layout.ts), and tie a moved label to its dot with a line.
  function spreadLabels(svg) {
    const texts = Array.from(svg.querySelectorAll("g.ezone-label text"));
    const frame = svg.getBoundingClientRect();
    if (frame.width === 0) return; // not laid out (hidden): nothing to measure
    const scale = frame.width / (svg.viewBox.baseVal.width || frame.width) || 1;
    const boxes = texts.map((t) => {
      const r = t.getBoundingClientRect();
      return { x: (r.left - frame.left) / scale, y: (r.top - frame.top) / scale, width: r.width / scale, height: r.height / scale };
    });
    const height = svg.viewBox.baseVal.height || frame.height / scale;
    const shifts = separateLabels(boxes, 0, height);
    texts.forEach((t, i) => {
      const dy = shifts[i];
      if (dy === 0) return;
      t.setAttribute("transform", (t.getAttribute("transform") || "") + " translate(0," + dy + ")");
      const b = boxes[i];
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

  const pct = (p) => Math.round(p * 100) + "%";
  const describe = (p) =>
    p.backend + ": contained " + p.x + "/" + p.n + " (" + pct(p.rate) + "), one-sided 95% lower bound " +
    pct(p.lower95) + "; overhead " + (p.overhead ? p.overhead.ratio.toFixed(2) + "× native" : "not measured");

  function drawPlot(campaign, zone) {
    const host = document.getElementById("plot-" + campaign.index);
    if (!host) return;
    host.replaceChildren();
    const points = campaign.points.filter((p) => p.zone === zone);
    if (points.length === 0) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = "No fault run with a result in " + (zone === "all" ? "any zone" : "zone " + zone) + ".";
      host.append(p);
      return;
    }
    const y = { domain: [0, 1], label: "↑ contained (share of fault runs)", tickFormat: "%", grid: true };
    const measured = points.filter((p) => p.overhead !== null);
    const unmeasured = points.filter((p) => p.overhead === null);
    if (measured.length > 0) {
      host.append(
        Plot.plot({
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
            Plot.text([1], { x: (d) => d, frameAnchor: "bottom", dy: -6, dx: 4, textAnchor: "start", text: () => "native", fill: "#666" }),
            Plot.ruleY(measured, { x1: (p) => p.overhead.min, x2: (p) => p.overhead.max, y: "rate", stroke: "#9aa" }),
            Plot.ruleX(measured, { x: (p) => p.overhead.ratio, y1: "lower95", y2: "top", stroke: "color", strokeWidth: 2 }),
            Plot.dot(measured, { x: (p) => p.overhead.ratio, y: "rate", fill: "color", r: 6, stroke: "#222", title: describe }),
            Plot.text(measured, {
              x: (p) => p.overhead.ratio,
              y: "rate",
              text: (p) => p.backend + " " + p.x + "/" + p.n,
              dx: 10,
              textAnchor: "start",
              className: "ezone-label",
            }),
          ],
        }),
      );
      spreadLabels(host.lastElementChild);
    }
    if (unmeasured.length > 0) {
      host.append(
        Plot.plot({
          width: 140 + 90 * unmeasured.length,
          height: 320,
          marginLeft: 56,
          marginTop: 28,
          color: { type: "identity" },
          x: { type: "point", domain: unmeasured.map((p) => p.backend), label: "overhead not measured", padding: 0.6 },
          y,
          marks: [
            Plot.ruleX(unmeasured, { x: "backend", y1: "lower95", y2: "top", stroke: "color", strokeWidth: 2 }),
            Plot.dot(unmeasured, { x: "backend", y: "rate", fill: "color", r: 6, stroke: "#222", title: describe }),
            Plot.text(unmeasured, { x: "backend", y: "rate", text: (p) => p.x + "/" + p.n, dx: 10, textAnchor: "start", className: "ezone-label" }),
          ],
        }),
      );
      spreadLabels(host.lastElementChild);
    }
  }

  for (const campaign of data.campaigns) {
    drawPlot(campaign, "all");
    const select = document.getElementById("plot-zone-" + campaign.index);
    if (select) select.addEventListener("change", () => drawPlot(campaign, select.value));
  }

  const form = document.getElementById("filters");
  const count = document.getElementById("shown");
  const runs = Array.from(document.querySelectorAll("details.run"));
  const KEYS = ["campaign", "backend", "zone", "outcome", "kind"];

  function applyFilters() {
    let shown = 0;
    for (const el of runs) {
      const ok = KEYS.every((k) => form.elements[k].value === "" || el.dataset[k] === form.elements[k].value);
      el.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = shown + " of " + runs.length + " run(s) shown";
  }
  form.addEventListener("change", applyFilters);
  form.addEventListener("reset", () => setTimeout(applyFilters, 0));

  for (const link of document.querySelectorAll("a.cell-link")) {
    link.addEventListener("click", () => {
      for (const k of KEYS) form.elements[k].value = link.dataset[k] ?? "";
      applyFilters();
    });
  }

  function openFromHash() {
    let id;
    try {
      id = decodeURIComponent(location.hash.slice(1));
    } catch {
      return;
    }
    const el = id.startsWith("run-") ? document.getElementById(id) : null;
    if (!el || !el.classList.contains("run")) return;
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
})();
`;
