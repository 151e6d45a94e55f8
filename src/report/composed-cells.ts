/**
 * Composed cells in the report: per cell, fault and toggle variant, who its fault runs affected (the
 * victim only, a peer, the host) with counts and 95 % intervals, the variants of one cell and fault side
 * by side ("does this link change containment?"). Pure: stored runs in, rows and text out.
 */
import type { CompositionParams } from "../model/composition.js";
import { describeComposition } from "../model/composition-verdict.js";
import { isResult } from "../model/outcome-types.js";
import type { StoredRun } from "../store/store.js";
import { escapeControl } from "../util/escape.js";
import { renderTable } from "../util/format.js";
import { countWithInterval } from "./soft-errors.js";

/** Who a composed fault run affected, from its verdict (whose first reason names the party). */
export type Affected = "victim only" | "peer" | "host" | "undecided";
export const AFFECTED: readonly Affected[] = ["victim only", "peer", "host", "undecided"];

/** One enclave of a cell's diagram, with what the variant's fault runs did to it. */
export interface DiagramNode {
  name: string;
  backend: string;
  /** Runs in which it died (the victim: its guest crashed; a peer: it died). */
  died: number;
  /** Runs whose verdict blamed it as the affected party. */
  affected: number;
}

/** One (cell, fault, variant) row: its fault runs by who was affected, and its finished control runs. */
export interface ComposedRow {
  /** The cell as stored: victim backend and peers ("qemu-tcg + b qemu-tcg"). */
  cell: string;
  fault: string;
  variant: string;
  composition: CompositionParams;
  runs: number;
  controls: number;
  counts: Record<Affected, number>;
  nodes: DiagramNode[];
}

/** Who a composed fault run affected: its verdict's party, or the victim only when nothing else was. */
export function affectedBy(run: Pick<StoredRun, "outcome" | "reasons">): Affected {
  if (run.outcome === "unknown" || run.outcome === "not-fired") return "undecided";
  const first = run.reasons[0] ?? "";
  if (first.startsWith("peer ") || first.startsWith("bystander ")) return "peer";
  if (first.startsWith("host") || run.outcome === "escaped-global") return "host";
  return "victim only";
}

function cellLabel(backend: string, c: CompositionParams): string {
  return [backend, ...c.peers.map((p) => `${p.name} ${p.backend}`)].join(" + ");
}

/** The composed rows of a campaign's runs, cells and faults in the order first seen, variants adjacent. */
export function composedRows(runs: readonly StoredRun[]): ComposedRow[] {
  const rows = new Map<string, ComposedRow>();
  const controls = new Map<string, number>();
  const done = runs.filter((r) => r.params.composition && isResult(r.outcome));
  for (const r of done) {
    const c = r.params.composition as CompositionParams;
    const variantKey = `${r.backend}\u0000${JSON.stringify(c)}`;
    if (r.fault === "none") {
      controls.set(variantKey, (controls.get(variantKey) ?? 0) + 1);
      continue;
    }
    const key = `${cellLabel(r.backend, c)}\u0000${r.fault}\u0000${variantKey}`;
    const row = rows.get(key) ?? newRow(r.backend, r.fault, c);
    rows.set(key, row);
    row.runs++;
    const who = affectedBy(r);
    row.counts[who]++;
    countNodes(row, r, who);
  }
  for (const row of rows.values()) {
    row.controls = controls.get(`${row.nodes[0]?.backend}\u0000${JSON.stringify(row.composition)}`) ?? 0;
  }
  // Variants of one cell and fault next to each other, in the order the cells were first seen.
  const order = [...new Set([...rows.values()].map((r) => `${r.cell}\u0000${r.fault}`))];
  return [...rows.values()].sort(
    (a, b) => order.indexOf(`${a.cell}\u0000${a.fault}`) - order.indexOf(`${b.cell}\u0000${b.fault}`),
  );
}

function newRow(backend: string, fault: string, c: CompositionParams): ComposedRow {
  return {
    cell: cellLabel(backend, c),
    fault,
    variant: describeComposition(c),
    composition: c,
    runs: 0,
    controls: 0,
    counts: { "victim only": 0, peer: 0, host: 0, undecided: 0 },
    nodes: [
      { name: "victim", backend, died: 0, affected: 0 },
      ...c.peers.map((p) => ({ name: p.name, backend: p.backend, died: 0, affected: 0 })),
    ],
  };
}

/** Count what a run did to each enclave of its cell, from its stored evidence and verdict. */
function countNodes(row: ComposedRow, r: StoredRun, who: Affected): void {
  const [victim, ...peers] = row.nodes;
  if (victim && r.guestCrashed) victim.died++;
  if (victim && who === "victim only" && r.outcome === "contained-varied") victim.affected++;
  for (const node of peers) {
    const ev = r.evidence.peers?.find((p) => p.name === node.name);
    if (ev?.died) node.died++;
    if ((r.reasons[0] ?? "").startsWith(`peer ${node.name}:`)) node.affected++;
  }
}

/** The composed cells as a text table; null when the campaign has none. */
export function composedTable(runs: readonly StoredRun[]): string | null {
  const rows = composedRows(runs);
  if (rows.length === 0) return null;
  return renderTable(
    ["cell", "fault", "toggle", "runs", "controls", ...AFFECTED],
    rows.map((r) => [
      escapeControl(r.cell),
      escapeControl(r.fault),
      escapeControl(r.variant),
      String(r.runs),
      String(r.controls),
      ...AFFECTED.map((a) => countWithInterval(r.counts[a], r.runs)),
    ]),
  );
}

/** The heading and note of the composed cells' section (text and HTML). */
export const COMPOSED_HEADING = "Composed cells: who each fault affected, per toggle (count, 95% interval)";
export const COMPOSED_NOTE =
  "Rows of one cell and fault differ only in their toggles: does this link change containment? An effect on a peer or the host counts only 20 % above the cell's control runs' maximum and above a floor.";
