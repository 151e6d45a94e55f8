/**
 * Everything a report shows, read from one results directory: per campaign the paper's table, the zone
 * matrix and the measured overhead; per run (for HTML) its evidence, probes, console excerpt and timeline.
 * This is the only report module that reads the store and the artifacts; the renderers are pure.
 */
import type { ProbeFinding, Zone } from "../model/outcome-types.js";
import { readArtifact } from "../store/artifacts.js";
import type { Statement, Store, StoredRun } from "../store/store.js";
import { type ConsoleEvidence, consoleEvidence } from "./console-evidence.js";
import { type Overhead, overheadOf, type PerfReading } from "./overhead.js";
import { type PaperRow, paperRows } from "./paper-table.js";
import { resultsCell, runRow, type ZoneCell, type ZoneMatrix, zoneMatrix } from "./zone-matrix.js";

/** One campaign's tables, from stored runs and statements only. */
export interface CampaignSummary {
  campaign: string;
  /** The campaign's backends in its config order, then any others seen. */
  backends: string[];
  runs: StoredRun[];
  statements: Statement[];
  paper: PaperRow[];
  matrix: ZoneMatrix;
  /** Per backend; null = not measured. */
  overhead: Record<string, Overhead | null>;
}

/** A campaign's summary from its runs and statements (pure); `overhead` maps backends to their overhead. */
export function summarize(
  campaign: string,
  runs: StoredRun[],
  statements: Statement[],
  order: string[],
  overhead: (backends: string[]) => Record<string, Overhead | null>,
): CampaignSummary {
  const matrix = zoneMatrix(runs, statements, order);
  return {
    campaign,
    backends: matrix.backends,
    runs,
    statements,
    paper: paperRows(order, runs, statements, campaign),
    matrix,
    overhead: overhead(matrix.backends),
  };
}

/**
 * Summaries of every campaign in the store (or just `campaign`); `perfOf` reads a campaign's latest perf
 * session (null: none), for the overhead.
 */
export function collectCampaigns(
  store: Store,
  perfOf: (campaign: string) => PerfReading | null,
  campaign?: string,
): CampaignSummary[] {
  const names = campaign ? [campaign] : store.campaigns();
  return names.map((name) => {
    const runs = store.runs({ campaign: name });
    const statements = store.statements(name);
    const seen = [...statements.map((s) => s.backend), ...runs.map((r) => r.backend)];
    const order = store.campaignBackends(name) ?? [...new Set(seen)];
    return summarize(name, runs, statements, order, (backends) => overheadOf(perfOf(name), backends));
  });
}

/** The containment of a backend's fault runs, pooled over zones or in one zone (null when none ran). */
export function pooledCell(summary: CampaignSummary, backend: string, zone: Zone | "all"): ZoneCell | null {
  const runs = summary.runs.filter(
    (r) => runRow(r) === backend && r.fault !== "none" && (zone === "all" || r.zone === zone),
  );
  return runs.length ? resultsCell(runs) : null;
}

/** A stored QMP/control event, host milliseconds after the run started. */
export interface ControlEvent {
  name: string;
  atMs: number;
}

/** A run with the evidence the HTML drill-down shows. */
export interface RunDetail {
  run: StoredRun;
  probes: ProbeFinding[];
  /** Null when no console artifact was stored. */
  console: (ConsoleEvidence & { truncated: boolean; bytes: number }) | null;
  controlEvents: ControlEvent[];
  /** Artifacts that could not be read back (corrupt, missing), with why. */
  problems: string[];
}

function parseControlEvents(text: string): ControlEvent[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error("expected a JSON array");
  return parsed
    .filter((e): e is { name: unknown; atMs: unknown } => typeof e === "object" && e !== null)
    .map((e) => ({ name: String(e.name), atMs: Number(e.atMs) }));
}

/** Read each run's probes and artifacts back. A damaged artifact is reported on its run, not fatal. */
export async function collectRunDetails(store: Store, runs: StoredRun[]): Promise<RunDetail[]> {
  const out: RunDetail[] = [];
  for (const run of runs) {
    const detail: RunDetail = {
      run,
      probes: store.probesFor(run.id),
      console: null,
      controlEvents: [],
      problems: [],
    };
    for (const a of store.artifactsFor(run.id)) {
      try {
        if (a.kind === "console") {
          const data = await readArtifact(store.resultsDir, a.sha256);
          detail.console = { ...consoleEvidence(data), truncated: a.truncated, bytes: a.bytes };
        } else if (a.kind === "control-events") {
          detail.controlEvents = parseControlEvents(
            (await readArtifact(store.resultsDir, a.sha256)).toString("utf8"),
          );
        }
      } catch (err) {
        detail.problems.push(`${a.kind} artifact ${a.sha256.slice(0, 12)}: ${(err as Error).message}`);
      }
    }
    out.push(detail);
  }
  return out;
}
