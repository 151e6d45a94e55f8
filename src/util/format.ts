/** Numbers and tables for people: how ezone writes durations, rates and tables in its text output. */

/** A duration: milliseconds below a second, else seconds with two decimals; "-" when unknown. */
export function duration(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** A rate in [0, 1] as a whole percentage: 0.447 → "45%". */
export function percent(rate: number): string {
  return `${Math.round(rate * 100)}%`;
}

/** A Markdown-style table that reads well in a terminal and pastes into issues. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

/** `text` cut to at most `max` characters, its last one an ellipsis when it was cut. */
export function ellipsize(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
