/**
 * "Did you mean" for misspelt keys and values: the closest candidate by edit distance, if it is close
 * enough to be a likely typo. Pure functions.
 */

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two adjacent
 * characters each cost 1 (a swap is the commonest typo: `qemu-tgc`).
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const up = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((up[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (up[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/**
 * The candidate `input` most likely misspells, or undefined: case is ignored, and at most one edit is
 * allowed per three characters (at least one), so `repetitons` finds `repetitions` but `x` finds nothing.
 * Failing that, a candidate the input begins (at least 4 characters): `quarantine` finds `quarantineAfter`.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const typed = input.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(Math.min(typed.length, candidate.length) / 3));
    if (distance <= allowed && distance < candidate.length && (!best || distance < best.distance)) {
      best = { candidate, distance };
    }
  }
  if (best || typed.length < 4) return best?.candidate;
  const begun = candidates.filter((c) => c.toLowerCase().startsWith(typed));
  return begun.length === 1 ? begun[0] : undefined;
}
