import type { Statement, StoredRun } from "../store/store.js";
import { escapeControl } from "../util/escape.js";

/** The flat view of a run that every export format shares. */
export function exportRecord(r: StoredRun) {
  return {
    campaign: r.campaign,
    runKey: r.runKey,
    backend: r.backend,
    fault: r.fault,
    zone: r.zone,
    repetition: r.repetition,
    outcome: r.outcome,
    reasons: r.reasons,
    proof: r.proof,
    guestCrashed: r.guestCrashed,
    hostSurvived: r.hostSurvived,
    crashTitle: r.crashTitle,
    crashClass: r.crashClass,
    stopReason: r.stopReason,
    bootMs: r.bootMs,
    detectionMs: r.detectionMs,
    runMs: r.runMs,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    seed: r.seed,
    nonce: r.nonce,
    params: r.params,
    backendVersion: r.provenance.backendVersion,
    kernelVersion: r.provenance.kernelVersion,
    imageHash: r.provenance.imageHash,
    ezoneVersion: r.provenance.ezoneVersion,
    ezoneCommit: r.provenance.ezoneCommit,
  };
}

/** One JSON object per line. */
export function toJsonl(runs: StoredRun[]): string {
  return runs.map((r) => `${JSON.stringify(exportRecord(r))}\n`).join("");
}

const CSV_COLUMNS = [
  "campaign",
  "runKey",
  "backend",
  "fault",
  "zone",
  "repetition",
  "outcome",
  "proof",
  "guestCrashed",
  "hostSurvived",
  "crashTitle",
  "crashClass",
  "stopReason",
  "bootMs",
  "detectionMs",
  "runMs",
  "startedAt",
  "reasons",
] as const;

function csvCell(v: unknown): string {
  const text = v === null || v === undefined ? "" : Array.isArray(v) ? v.join("; ") : String(v);
  // RFC 4180 quoting; a leading =,+,-,@ is prefixed so spreadsheets never evaluate guest text as a formula.
  const safe = /^[=+\-@]/.test(text) && typeof v === "string" ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** RFC 4180 CSV with a header row. */
export function toCsv(runs: StoredRun[]): string {
  const rows = runs.map((r) => {
    const rec = exportRecord(r) as Record<string, unknown>;
    return CSV_COLUMNS.map((c) => csvCell(rec[c])).join(",");
  });
  return `${[CSV_COLUMNS.join(","), ...rows].join("\r\n")}\r\n`;
}

function xml(text: string): string {
  // XML 1.0 forbids most control characters even escaped: make them visible first.
  return escapeControl(text).replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JUnit XML for CI dashboards: one test suite per backend, one test case per run. A host failure
 * (escaped-global) is a failure; unknown, infra-error and boot-error are errors; refused and unavailable cells are
 * skipped test cases carrying the reason.
 */
export function toJunit(runs: StoredRun[], statements: Statement[]): string {
  const backends = [...new Set([...runs.map((r) => r.backend), ...statements.map((s) => s.backend)])];
  const suites = backends.map((backend) => {
    const mine = runs.filter((r) => r.backend === backend);
    const skipped = statements.filter((s) => s.backend === backend && s.kind !== "available");
    const cases = mine.map((r) => {
      const name = xml(`${r.fault} #${r.repetition} (zone ${r.zone}) → ${r.outcome}`);
      const why = xml(r.reasons.join("; "));
      const body =
        r.outcome === "escaped-global"
          ? `<failure message="${why}" type="escaped-global"/>`
          : isJunitError(r.outcome)
            ? `<error message="${why}" type="${r.outcome}"/>`
            : "";
      return `    <testcase classname="${xml(`${r.campaign}.${backend}`)}" name="${name}" time="${(r.runMs / 1000).toFixed(3)}">${body}</testcase>`;
    });
    for (const s of skipped) {
      cases.push(
        `    <testcase classname="${xml(backend)}" name="${xml(s.fault === "*" ? "backend" : s.fault)}"><skipped message="${xml(`${s.kind}: ${s.reason}`)}"/></testcase>`,
      );
    }
    const failures = mine.filter((r) => r.outcome === "escaped-global").length;
    const errors = mine.filter((r) => isJunitError(r.outcome)).length;
    return `  <testsuite name="${xml(backend)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped.length}">\n${cases.join("\n")}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="ezone">\n${suites.join("\n")}\n</testsuites>\n`;
}

/** Outcomes JUnit reports as errors: the run could not say whether the fault stayed in its zone. */
function isJunitError(outcome: StoredRun["outcome"]): boolean {
  return outcome === "unknown" || outcome === "infra-error" || outcome === "boot-error";
}
