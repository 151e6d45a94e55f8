/**
 * The zone matrix (DESIGN.md §2 "zone verdict"): one row per backend, one column per error zone, each cell
 * the outcome distribution of that backend's fault runs in that zone with one-sided 95% Clopper–Pearson
 * bounds, or the reason there are none. Pure: stored runs and statements in, data or text out.
 *
 * Rules, in the order a cell is decided:
 * - A cell with stored runs shows them (`results`), even when a statement says the backend or a fault is
 *   unavailable or refused now: evidence already gathered is never hidden.
 * - Control runs (fault `none`) are not fault runs: they are left out of every cell, so a clean control
 *   run never counts as "contained".
 * - `infra-error` and `boot-error` runs are not results: they are counted in `infraErrors` and
 *   `bootErrors`, never in `n`.
 * - A backend whose `*` statement is `unavailable` is `skipped` in every zone without runs.
 * - A `refused` statement names a fault; its zone comes from FAULTS. Several refusals in one zone are joined,
 *   the faults refused for the same reason named together.
 *   A refusal naming a fault ezone does not know has no zone and is not shown.
 * - Otherwise the cell is `empty` (nothing was asked of that backend in that zone).
 * - Runs of an enclave inside a disposable host, or with privileges set, get a row of their own right
 *   after their backend's (`container (privileged, disposable host)`); statements name the backend's row.
 */
import { FAULTS, type FaultSpec } from "../faults/catalogue.js";
import { OUTCOMES, type Outcome, type Zone } from "../model/outcome-types.js";
import type { RunParams } from "../model/run-params.js";
import { clopperPearsonLower, clopperPearsonUpper } from "../model/stats.js";
import type { Statement, StoredRun } from "../store/store.js";
import { escapeControl } from "../util/escape.js";
import { percent } from "../util/format.js";

export type ZoneCell =
  | {
      kind: "results";
      /** Runs that are results (everything but `infra-error` and `boot-error`). */
      n: number;
      /** Result outcomes only; `infra-error` is in `infraErrors`, `boot-error` in `bootErrors`. */
      counts: Partial<Record<Outcome, number>>;
      infraErrors: number;
      /** Runs whose guest never came up under this backend. */
      bootErrors: number;
      /** `escaped-global` runs over results, with the one-sided 95% upper bound on that rate. */
      hostFailures: { x: number; n: number; upper95: number };
      /** contained-limited + contained-varied + no-effect over results, with the one-sided 95% lower bound. */
      contained: { x: number; n: number; lower95: number };
    }
  | { kind: "refused"; reason: string }
  | { kind: "skipped"; reason: string }
  | { kind: "empty" };

export interface ZoneMatrix {
  backends: string[];
  zones: Zone[];
  cells: Record<string, Record<Zone, ZoneCell>>;
}

/** The four error zones of Naughton et al., host kernel first. */
export const ZONES: readonly Zone[] = [1, 2, 3, 4];

export const ZONE_NAMES: Readonly<Record<Zone, string>> = {
  1: "host kernel",
  2: "host user space",
  3: "guest kernel",
  4: "guest user space",
};

/** Outcomes that count as the fault staying inside its zone (or doing nothing) for `contained`. */
export const CONTAINED_OUTCOMES: readonly Outcome[] = ["contained-limited", "contained-varied", "no-effect"];

/** The zone of a known fault, or null. */
export function faultZone(fault: string): Zone | null {
  const spec = (FAULTS as Record<string, FaultSpec>)[fault];
  return spec ? spec.zone : null;
}

/** The cell for a set of fault runs (all of one backend and zone). */
export function resultsCell(runs: readonly Pick<StoredRun, "outcome">[]): ZoneCell & { kind: "results" } {
  const counts: Partial<Record<Outcome, number>> = {};
  let infraErrors = 0;
  let bootErrors = 0;
  for (const r of runs) {
    if (r.outcome === "infra-error") infraErrors++;
    else if (r.outcome === "boot-error") bootErrors++;
    else counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  }
  const n = runs.length - infraErrors - bootErrors;
  const escaped = counts["escaped-global"] ?? 0;
  const contained = CONTAINED_OUTCOMES.reduce((sum, o) => sum + (counts[o] ?? 0), 0);
  return {
    kind: "results",
    n,
    counts,
    infraErrors,
    bootErrors,
    hostFailures: { x: escaped, n, upper95: clopperPearsonUpper(escaped, n) },
    contained: { x: contained, n, lower95: clopperPearsonLower(contained, n) },
  };
}

/**
 * A matrix row's label: the backend, then the enclave's privileges and its disposable host when the run
 * had them, e.g. `container (privileged, disposable host)`. Backend names have no spaces or parentheses.
 */
export function rowLabel(backend: string, params?: Partial<Pick<RunParams, "host" | "privileges">>): string {
  const parts = [params?.privileges, params?.host === "disposable" ? "disposable host" : undefined];
  const shown = parts.filter((p): p is string => p !== undefined);
  return shown.length > 0 ? `${backend} (${shown.join(", ")})` : backend;
}

/** The backend a row label names. */
export function rowBackend(label: string): string {
  return label.replace(/ \(.*\)$/, "");
}

/** The row a run belongs to. */
export function runRow(r: Pick<StoredRun, "backend" | "params">): string {
  return rowLabel(r.backend, r.params);
}

/**
 * Build the matrix. Backends come in `backendOrder` (the campaign's order); a backend that appears only in
 * runs or statements is appended in order of first appearance, each followed by its runs' other rows
 * (disposable host, privileges). Zones are always 1–4.
 */
export function zoneMatrix(runs: StoredRun[], statements: Statement[], backendOrder: string[]): ZoneMatrix {
  const bases = [
    ...new Set([...backendOrder, ...runs.map((r) => r.backend), ...statements.map((s) => s.backend)]),
  ];
  const labels = [...new Set(runs.map(runRow))];
  const backends = bases.flatMap((b) => [b, ...labels.filter((l) => l !== b && rowBackend(l) === b)]);
  const cells: Record<string, Record<Zone, ZoneCell>> = {};
  for (const backend of backends) {
    const unavailable = statements.find(
      (s) => s.backend === backend && s.fault === "*" && s.kind === "unavailable",
    );
    const row = {} as Record<Zone, ZoneCell>;
    for (const zone of ZONES) {
      const mine = runs.filter((r) => runRow(r) === backend && r.zone === zone && r.fault !== "none");
      if (mine.length > 0) {
        row[zone] = resultsCell(mine);
        continue;
      }
      if (unavailable) {
        row[zone] = { kind: "skipped", reason: unavailable.reason };
        continue;
      }
      const refused = statements.filter(
        (s) =>
          s.backend === backend && s.kind === "refused" && s.fault !== "*" && faultZone(s.fault) === zone,
      );
      // Faults refused for the same reason are named together: "a, b, c: reason".
      const byReason = new Map<string, string[]>();
      for (const s of refused) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.fault]);
      row[zone] =
        refused.length > 0
          ? {
              kind: "refused",
              reason: [...byReason]
                .map(([reason, faults]) => (refused.length > 1 ? `${faults.join(", ")}: ${reason}` : reason))
                .join("; "),
            }
          : { kind: "empty" };
    }
    cells[backend] = row;
  }
  return { backends, zones: [...ZONES], cells };
}

/** Short names for outcomes in a narrow cell. */
const SHORT: Readonly<Record<Outcome, string>> = {
  "boot-error": "boot",
  "contained-limited": "limited",
  "contained-varied": "varied",
  "escaped-global": "ESCAPED",
  "infra-error": "infra",
  "no-effect": "no-effect",
  "not-fired": "not-fired",
  unknown: "unknown",
};

/** The lines of one cell as plain text (no colour), e.g. ["limited 5/5", "contained ≥ 55%", "host fail < 45%"]. */
export function cellLines(cell: ZoneCell): string[] {
  switch (cell.kind) {
    case "empty":
      return ["-"];
    case "skipped":
      return ["skipped", escapeControl(cell.reason)];
    case "refused":
      return ["refused", escapeControl(cell.reason)];
    case "results": {
      const notResults = [
        ...(cell.infraErrors > 0 || cell.bootErrors === 0 ? [`${cell.infraErrors} infra-error`] : []),
        ...(cell.bootErrors > 0 ? [`${cell.bootErrors} boot-error`] : []),
      ];
      if (cell.n === 0) return [`no results (${notResults.join(", ")})`];
      const parts = OUTCOMES.filter((o) => (cell.counts[o] ?? 0) > 0).map(
        (o) => `${SHORT[o]} ${cell.counts[o]}/${cell.n}`,
      );
      const lines = [
        parts.join(", "),
        `contained ${cell.contained.x}/${cell.n}, ≥ ${percent(cell.contained.lower95)}`,
        `host failures ${cell.hostFailures.x}/${cell.n}, < ${percent(cell.hostFailures.upper95)}`,
      ];
      if (cell.infraErrors > 0) lines.push(`+${cell.infraErrors} infra-error`);
      if (cell.bootErrors > 0) lines.push(`+${cell.bootErrors} boot-error`);
      return lines;
    }
  }
}

/** How a cell reads at a glance; drives colour in the terminal and CSS classes in HTML. */
export type CellTone = "good" | "bad" | "mixed" | "none";

export function cellTone(cell: ZoneCell): CellTone {
  if (cell.kind !== "results" || cell.n === 0) return "none";
  if (cell.hostFailures.x > 0) return "bad";
  return cell.contained.x === cell.n ? "good" : "mixed";
}

const SGR: Readonly<Record<CellTone | "bold", string>> = {
  good: "\x1b[32m",
  bad: "\x1b[1;31m",
  mixed: "\x1b[33m",
  none: "\x1b[2m",
  bold: "\x1b[1m",
};
const RESET = "\x1b[0m";

/** Wrap text to `width` columns at spaces (a word longer than the width gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out;
}

/** The reason when a backend is skipped in every zone for one reason (shown once across the row), else null. */
export function skippedEverywhere(m: ZoneMatrix, backend: string): string | null {
  const cells = m.zones.map((z) => m.cells[backend]?.[z]);
  const first = cells[0];
  if (first?.kind !== "skipped") return null;
  return cells.every((c) => c?.kind === "skipped" && c.reason === first.reason) ? first.reason : null;
}

/**
 * The matrix as a terminal table: a row per backend, a column per zone, cells over several lines; a
 * backend skipped everywhere for one reason gets one cell across the zones. Every string from stored
 * data is passed through `escapeControl`; colour (ANSI SGR) only when asked.
 */
export function renderZoneMatrix(m: ZoneMatrix, opts: { color: boolean }): string {
  const maxCell = 34;
  const header = ["backend", ...m.zones.map((z) => `zone ${z} (${ZONE_NAMES[z]})`)];
  const rows = m.backends.map((backend) => {
    const skipped = skippedEverywhere(m, backend);
    const cells = m.zones.map((z) => m.cells[backend]?.[z] ?? ({ kind: "empty" } as const));
    return {
      backend: escapeControl(backend),
      spanning: skipped === null ? null : `skipped in every zone: ${escapeControl(skipped)}`,
      lines: cells.map((c) => cellLines(c).flatMap((l) => wrap(l, maxCell))),
      tones: cells.map(cellTone),
    };
  });
  const widths = header.map((h, i) =>
    Math.max(
      h.length,
      ...rows.flatMap((r) =>
        i === 0 ? [r.backend.length] : r.spanning ? [] : (r.lines[i - 1] ?? []).map((l) => l.length),
      ),
    ),
  );
  const span = widths.slice(1).reduce((a, w) => a + w, 0) + 3 * (widths.length - 2);
  const paint = (text: string, tone: CellTone | "bold") =>
    opts.color && text.trim() !== "" ? `${SGR[tone]}${text}${RESET}` : text;
  const rule = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`;
  const out = [
    rule,
    `| ${header.map((h, i) => paint(h.padEnd(widths[i] ?? 0), "bold")).join(" | ")} |`,
    rule,
  ];
  for (const r of rows) {
    const body: { lines: string[]; width: number; tone: CellTone }[] = r.spanning
      ? [{ lines: wrap(r.spanning, span), width: span, tone: "none" }]
      : r.lines.map((lines, i) => ({ lines, width: widths[i + 1] ?? 0, tone: r.tones[i] ?? "none" }));
    const height = Math.max(1, ...body.map((c) => c.lines.length));
    for (let k = 0; k < height; k++) {
      const name = paint((k === 0 ? r.backend : "").padEnd(widths[0] ?? 0), "bold");
      const cells = body.map((c) => paint((c.lines[k] ?? "").padEnd(c.width), c.tone));
      out.push(`| ${[name, ...cells].join(" | ")} |`);
    }
    out.push(rule);
  }
  out.push(
    "contained = contained-limited + contained-varied + no-effect; bounds are one-sided 95% Clopper–Pearson.",
  );
  return out.join("\n");
}
