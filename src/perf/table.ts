/** The overhead table of a perf session, for the terminal (pure). */
import { renderTable } from "../util/format.js";
import type { ContinuumPoint, NoteRange, PerfSessionSummary } from "./continuum.js";
import type { RatioInterval } from "./stats.js";

/** `12.3× [10.1–14.9]`; the interval is left out when there is none (one round). */
export function formatRatio(r: RatioInterval | null): string {
  if (!r) return "-";
  const x = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  return r.lower === null || r.upper === null
    ? `${x(r.ratio)}×`
    : `${x(r.ratio)}× [${x(r.lower)}–${x(r.upper)}]`;
}

function formatValue(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

function formatRange(r: NoteRange, digits: number): string {
  if (!r) return "n/a";
  return r.min.toFixed(digits) === r.max.toFixed(digits)
    ? r.min.toFixed(digits)
    : `${r.min.toFixed(digits)}–${r.max.toFixed(digits)}`;
}

/** The cell of a backend that was not measured: why. */
function notMeasured(p: ContinuumPoint): string {
  return p.status === "unavailable" ? "not run" : "failed";
}

/**
 * Rows: one per benchmark (native's median cost with its unit, every other backend's ratio to native with
 * its 95% interval), the overall geometric mean, then the host notes per backend. Below the table: the
 * backends not run and why, failures, and the continuum order check.
 */
export function renderPerfTable(s: PerfSessionSummary): string {
  const shown = s.points.filter((p) => p.status !== "unavailable");
  const native = shown[0];
  const header = ["benchmark", ...shown.map((p) => (p === native ? `${p.backend} (cost)` : p.backend))];
  const cell = (p: ContinuumPoint, bench: string): string => {
    const b = p.benchmarks.find((x) => x.benchmark === bench);
    if (!b) return p.failures[bench] ? "failed" : "-";
    return p === native ? formatValue(b.value) : formatRatio(b);
  };
  const rows = Object.entries(s.units).map(([bench, unit]) => [
    `${bench} (${unit})`,
    ...shown.map((p) => cell(p, bench)),
  ]);
  rows.push([
    "overall (geomean)",
    ...shown.map((p) => (p.overall ? formatRatio(p.overall) : notMeasured(p))),
  ]);
  rows.push(["rounds ok", ...shown.map((p) => String(p.rounds))]);
  rows.push(["host steal %", ...shown.map((p) => formatRange(p.host.stealPct, 1))]);
  rows.push(["host cpu MHz", ...shown.map((p) => formatRange(p.host.cpuMhz, 0))]);
  rows.push(["host load (1 min)", ...shown.map((p) => formatRange(p.host.load1, 2))]);
  rows.push(["file-io fs", ...shown.map((p) => p.fileSystems.join(",") || "-")]);

  const notes: string[] = [
    `Session ${s.session} (campaign ${s.campaign}): per round native first, then each backend, one boot each; ` +
      `${s.warmup} warm-up + ${s.samples} measured repetition(s) per benchmark per boot.`,
    "native column: median cost (lower is better); others: cost / native cost in the same round, geometric " +
      "mean over rounds with a 95% t interval on the log ratios (none with one round); > 1× is slower.",
  ];
  for (const p of s.points.filter((x) => x.status !== "measured"))
    notes.push(
      `${p.backend}: ${p.status === "unavailable" ? "not run" : "failed"} — ${p.reason ?? "no reason recorded"}`,
    );
  for (const p of s.points.filter((x) => x.status === "measured" && x.failedRounds > 0))
    notes.push(`${p.backend}: ${p.failedRounds} boot(s) failed — ${p.reason ?? "no reason recorded"}`);
  for (const p of shown)
    for (const [bench, why] of Object.entries(p.failures))
      notes.push(`${p.backend}: ${bench} failed — ${why}`);
  const measured = shown
    .filter((p) => p.overall)
    .sort((a, b) => (a.overall?.ratio ?? 0) - (b.overall?.ratio ?? 0));
  if (measured.length > 1) {
    notes.push(
      `measured order: ${measured.map((p) => `${p.backend} ${formatRatio(p.overall)}`).join(" < ")}`,
    );
    const intervals = measured.every((p) => p.overall?.lower !== null);
    notes.push(
      !intervals
        ? "continuum order not tested: one round gives no interval"
        : s.violations.length === 0
          ? "no backend is measured slower than a higher-ranked one beyond the 95% intervals"
          : `against the continuum ranks: ${s.violations.map((v) => `${v.expectedFaster} slower than ${v.slower}`).join("; ")}`,
    );
  }
  return `${renderTable(header, rows)}\n${notes.map((n) => `  ${n}`).join("\n")}`;
}
