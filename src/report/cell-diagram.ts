/**
 * A composed cell's diagram as a static SVG: its enclaves (the victim and its peers) above the host,
 * the links between them as arcs (dashed when the toggle cut them), and what the fault runs did, drawn
 * from the stored evidence: an enclave that died in some run is red, one a verdict blamed is orange.
 * Every name goes through the escaping `html` template; only numbers are formatted in here.
 */

import { ellipsize } from "../util/format.js";
import type { ComposedRow, DiagramNode } from "./composed-cells.js";
import { html, type SafeHtml } from "./html-template.js";

const BOX_W = 120;
const BOX_H = 54;
const GAP = 40;
/** Each link's arc rises this much more than the one before it, so their labels do not overlap. */
const LIFT = 14;
/** Names longer than this are cut in the box (the full name is its tooltip). */
const NAME_CHARS = 16;
const HOST_H = 28;

/** The node's state in the diagram: `died`, `affected` or `ok`. */
export function nodeState(n: DiagramNode): "died" | "affected" | "ok" {
  if (n.died > 0) return "died";
  return n.affected > 0 ? "affected" : "ok";
}

const FILL = { died: "#f4b6b6", affected: "#ffd8a8", ok: "#c8e6c9" } as const;

const cut = (text: string) => ellipsize(text, NAME_CHARS);

function nodeBox(n: DiagramNode, i: number, runs: number, top: number): SafeHtml {
  const x = 10 + i * (BOX_W + GAP);
  const state = nodeState(n);
  const what =
    state === "died"
      ? `died ${n.died}/${runs}`
      : state === "affected"
        ? `affected ${n.affected}/${runs}`
        : "unaffected";
  return html`<g class="enclave ${state}" data-name="${n.name}"><title>${n.name} (${n.backend}): ${what}</title><rect x="${x}" y="${top}" width="${BOX_W}" height="${BOX_H}" rx="6" fill="${FILL[state]}" stroke="#555"/><text x="${x + BOX_W / 2}" y="${top + 18}" text-anchor="middle" font-weight="bold">${cut(n.name)}</text><text x="${x + BOX_W / 2}" y="${top + 32}" text-anchor="middle">${cut(n.backend)}</text><text x="${x + BOX_W / 2}" y="${top + 46}" text-anchor="middle">${what}</text></g>`;
}

/** The cell's diagram for one row (cell, fault, toggle variant). */
export function cellDiagram(row: ComposedRow, id: string): SafeHtml {
  const index = new Map(row.nodes.map((n, i) => [n.name, i]));
  const width = 20 + row.nodes.length * BOX_W + (row.nodes.length - 1) * GAP;
  const top = 24 + LIFT * (row.composition.links.length + 1);
  const hostY = top + BOX_H + 24;
  const centre = (name: string) => 10 + (index.get(name) ?? 0) * (BOX_W + GAP) + BOX_W / 2;
  const links = row.composition.links.map((l, k) => {
    const x1 = centre(l.from);
    const x2 = centre(l.to);
    const lift = LIFT * (k + 1);
    const label = `${l.kind}${l.enabled ? "" : " (off)"}`;
    return html`<g class="link ${l.enabled ? "on" : "off"}" data-kind="${l.kind}"><path d="M ${x1} ${top} Q ${(x1 + x2) / 2} ${top - lift * 2} ${x2} ${top}" fill="none" stroke="${l.enabled ? "#333" : "#999"}"${l.enabled ? "" : html` stroke-dasharray="5 4"`} marker-end="url(#${id})"/><text x="${(x1 + x2) / 2}" y="${top - lift - 3}" text-anchor="middle" font-size="11">${label}</text></g>`;
  });
  const hostHit = row.counts.host > 0;
  const host = html`<g class="host ${hostHit ? "affected" : "ok"}"><rect x="10" y="${hostY}" width="${width - 20}" height="${HOST_H}" fill="${hostHit ? FILL.affected : "#eeeeee"}" stroke="#555"/><text x="${width / 2}" y="${hostY + 18}" text-anchor="middle">host${hostHit ? ` — affected ${row.counts.host}/${row.runs}` : ""}${row.composition.limits ? " (cgroup limits on)" : ""}</text></g>`;
  return html`<svg class="cell-diagram" viewBox="0 0 ${width} ${hostY + HOST_H + 6}" width="${width}" height="${hostY + HOST_H + 6}" role="img" aria-label="enclaves and links of cell ${row.cell}, ${row.variant}"><defs><marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>${links}${row.nodes.map((n, i) => nodeBox(n, i, row.runs, top))}${host}</svg>`;
}
