import { isResult } from "../model/outcome-types.js";
import { SOFT_CLASSES, type SoftClass } from "../model/soft-error.js";
import { clopperPearsonLower, clopperPearsonUpper } from "../model/stats.js";
import type { StoredRun } from "../store/store.js";
import { escapeControl } from "../util/escape.js";
import { renderTable } from "../util/format.js";

/** One (backend, target) row of the soft-error table: runs judged, and the count of each class. */
export interface SoftErrorRow {
  backend: string;
  target: string;
  runs: number;
  counts: Record<SoftClass, number>;
  /** Flips that were judged but got no class (`unknown`) or did not read back (`not-fired`). */
  unclassified: number;
}

/** Bit-flip runs grouped per backend and target, with their class counts (pure). */
export function softErrorRows(runs: StoredRun[]): SoftErrorRow[] {
  const rows = new Map<string, SoftErrorRow>();
  for (const r of runs) {
    const target = r.params.softError?.target;
    if (!target || !isResult(r.outcome)) continue;
    const key = `${r.backend}\u0000${target}`;
    let row = rows.get(key);
    if (!row) {
      const counts = Object.fromEntries(SOFT_CLASSES.map((c) => [c, 0])) as Record<SoftClass, number>;
      row = { backend: r.backend, target, runs: 0, counts, unclassified: 0 };
      rows.set(key, row);
    }
    row.runs++;
    if (r.softClass) row.counts[r.softClass]++;
    else row.unclassified++;
  }
  return [...rows.values()];
}

/** The two-sided 95% Clopper–Pearson interval of a rate x/n, as fractions. */
export function interval95(x: number, n: number): { lower: number; upper: number } {
  return { lower: clopperPearsonLower(x, n, 0.975), upper: clopperPearsonUpper(x, n, 0.975) };
}

/** "3 (9–76%)": a count with its two-sided 95% Clopper–Pearson interval. */
export function countWithInterval(x: number, n: number): string {
  const { lower, upper } = interval95(x, n);
  return `${x} (${Math.round(lower * 100)}–${Math.round(upper * 100)}%)`;
}

/** The class distribution per backend and target as a text table; null when no bit flip was run. */
export function softErrorTable(runs: StoredRun[]): string | null {
  const rows = softErrorRows(runs);
  if (rows.length === 0) return null;
  return renderTable(
    ["backend", "target", "flips", ...SOFT_CLASSES, "no class"],
    rows.map((r) => [
      escapeControl(r.backend),
      escapeControl(r.target),
      String(r.runs),
      ...SOFT_CLASSES.map((c) => countWithInterval(r.counts[c], r.runs)),
      String(r.unclassified),
    ]),
  );
}
