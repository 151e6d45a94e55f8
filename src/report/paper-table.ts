import { FAULTS, type FaultName, faultSpec } from "../faults/catalogue.js";
import { hasProof } from "../model/outcome.js";
import { isResult, type Outcome } from "../model/outcome-types.js";
import { clopperPearsonUpper, median } from "../model/stats.js";
import type { Statement, StoredRun } from "../store/store.js";
import { duration, percent } from "../util/format.js";

/** One row of the paper's Section 4 table, built from stored runs only. */
export interface PaperRow {
  vmm: string;
  backend: string;
  /** Set when the backend did not run here: the statement's reason. */
  skipped: string | null;
  runs: number;
  infraErrors: number;
  /** Runs whose guest never came up under this backend (not results either). */
  bootErrors: number;
  guestCrashed: number;
  proof: number;
  hostSurvived: number;
  verdict: string;
  medianBootMs: number | null;
  medianDetectionMs: number | null;
}

export const PAPER_COLUMNS = [
  "VMM",
  "runs",
  "guest kernel crashed",
  "fault proof",
  "host survived",
  "E-Zone 3 verdict",
  "median boot",
  "median detection",
] as const;

const LABELS: Record<string, string> = { "qemu-tcg": "QEMU (TCG)", kvm: "KVM" };

export function vmmLabel(backend: string): string {
  return LABELS[backend] ?? backend.charAt(0).toUpperCase() + backend.slice(1);
}

/** Summarise the outcome distribution of a cell, e.g. "contained-limited 5/5; host failure < 45% (95%)". */
export function zoneVerdict(outcomes: Outcome[]): string {
  const n = outcomes.length;
  if (n === 0) return "no results";
  const counts = new Map<Outcome, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([o, c]) => `${o} ${c}/${n}`);
  const hostFailures = counts.get("escaped-global") ?? 0;
  const ub = clopperPearsonUpper(hostFailures, n);
  return `${parts.join(", ")}; host failure rate ${hostFailures}/${n} < ${percent(ub)} (95% one-sided)`;
}

/** The campaign of the paper's experiment: its table lists every backend it names, run or not. */
export const PAPER_CAMPAIGN = "paper";

/** What a report says instead of an empty paper table. */
export const NO_PAPER_ROWS = "No E-Zone 3 (guest kernel) fault run in this campaign.";

/**
 * A run of the paper's experiment: a zone-3 fault that crashes the guest kernel. A bit flip placed in the
 * kernel is zone 3 too, but it is judged against a golden run and may be benign: its own report shows it.
 */
function isPaperRun(r: StoredRun): boolean {
  return (
    r.zone === 3 && r.fault !== "none" && !(r.fault in FAULTS && faultSpec(r.fault as FaultName).flipsBits)
  );
}

/**
 * The table for the backends in `order` (the campaign's order), zone-3 fault runs only. The paper's own
 * campaign keeps a row for every backend (KVM and Palacios "skipped" are part of its story); any other
 * campaign leaves out backends with no zone-3 fault run, whose reasons the zone matrix shows.
 */
export function paperRows(
  order: string[],
  runs: StoredRun[],
  statements: Statement[],
  campaign: string,
): PaperRow[] {
  const rows = order.map((backend): PaperRow => {
    const mine = runs.filter((r) => r.backend === backend && isPaperRun(r));
    const results = mine.filter((r) => isResult(r.outcome));
    const statement = statements.find((s) => s.backend === backend && s.fault === "*");
    const skipped = statement?.kind === "unavailable" && results.length === 0 ? statement.reason : null;
    return {
      vmm: vmmLabel(backend),
      backend,
      skipped,
      runs: results.length,
      infraErrors: mine.filter((r) => r.outcome === "infra-error").length,
      bootErrors: mine.filter((r) => r.outcome === "boot-error").length,
      guestCrashed: results.filter((r) => r.guestCrashed).length,
      proof: results.filter((r) => hasProof(r.evidence)).length,
      hostSurvived: results.filter(hostSurvived).length,
      verdict: skipped ? `not run: ${skipped}` : zoneVerdict(results.map((r) => r.outcome)),
      medianBootMs: median(results.map((r) => r.bootMs)),
      medianDetectionMs: median(results.map((r) => r.detectionMs)),
    };
  });
  return campaign === PAPER_CAMPAIGN ? rows : rows.filter((r) => r.runs + r.infraErrors + r.bootErrors > 0);
}

/**
 * The host survived the run: the real host's probes passed and, for an enclave in a disposable host, that
 * host (the node its enclave ran on, whose kernel a shared-kernel enclave's zone-3 fault hits) is alive.
 */
function hostSurvived(r: StoredRun): boolean {
  return r.hostSurvived === true && r.evidence.disposableHost?.alive !== false;
}

/** Cells of a row as strings, in PAPER_COLUMNS order. */
export function paperCells(r: PaperRow): string[] {
  if (r.skipped) return [r.vmm, "skipped", "-", "-", "-", r.verdict, "-", "-"];
  const of = (x: number) => `${x}/${r.runs}`;
  const extra = [
    ...(r.infraErrors > 0 ? [`+${r.infraErrors} infra-error`] : []),
    ...(r.bootErrors > 0 ? [`+${r.bootErrors} boot-error`] : []),
  ];
  const runs = extra.length > 0 ? `${r.runs} (${extra.join(", ")})` : String(r.runs);
  return [
    r.vmm,
    runs,
    of(r.guestCrashed),
    of(r.proof),
    of(r.hostSurvived),
    r.verdict,
    duration(r.medianBootMs),
    duration(r.medianDetectionMs),
  ];
}
