/**
 * One stored run for a terminal (`ezone show`): its verdict and reasons, a summary of the evidence the
 * verdict was decided from, the host probes, and where its artifacts are on disk. Pure: a run in, text
 * out. Every string that came from a guest or a config goes through `escapeControl`.
 */
import type { ControlMaxima, PeerEvidence } from "../model/composition.js";
import { describeExitOf } from "../model/outcome.js";
import type { EnclaveExit, ProbeFinding, RunEvidence } from "../model/outcome-types.js";
import type { StoredArtifact, StoredRun, StoredViolation } from "../store/store.js";
import { escapeControl } from "../util/escape.js";
import { duration } from "../util/format.js";

/** What `ezone show` prints for one run. */
export interface RunShowInput {
  run: StoredRun;
  probes: ProbeFinding[];
  artifacts: StoredArtifact[];
  /** `guest.syslog`: the violations the run's syslog monitor raised; absent when the run had none. */
  violations?: StoredViolation[];
}

/** What each artifact kind holds, for people (an unknown kind is shown by its name). */
const ARTIFACT_LABELS: Readonly<Record<string, string>> = {
  console: "console log",
  "control-events": "QMP / control events (JSON)",
  "host-console": "the disposable host's own console",
};

const yes = (b: boolean) => (b ? "yes" : "no");

function exitText(exit: EnclaveExit): string {
  return exit.kind === "running"
    ? "still running when observation stopped (then stopped by ezone)"
    : describeExitOf(exit);
}

/** The evidence the verdict looked at, one fact per line (label, value). */
export function evidenceLines(ev: RunEvidence): [string, string][] {
  const crash = ev.guestCrash
    ? `${ev.guestCrash.title} (${ev.guestCrash.crashClass}${ev.guestCrash.panic ? ", panic" : ""})`
    : "none on the console";
  const lines: [string, string][] = [
    ["agent READY", yes(ev.ready)],
    ["agent FIRED", ev.agentFired ? "yes (the agent's claim, not proof)" : "no"],
    ["fault proof", ev.fault === "none" ? "not needed (control run)" : yes(ev.proof)],
    ["guest crash", crash],
    ["GUEST_PANICKED", yes(ev.panicEvent)],
    [
      "heartbeats",
      `${ev.heartbeatsAfterFault === null ? "n/a" : `${ev.heartbeatsAfterFault} after the fault`}${ev.heartbeatLost ? ", lost" : ""}`,
    ],
    ["enclave", exitText(ev.exit)],
    ["stopped by", ev.stopReason],
  ];
  if (ev.injectFailed !== null) lines.push(["inject failed", ev.injectFailed]);
  if (ev.infraError !== null) lines.push(["infra error", ev.infraError]);
  if (ev.hostInjection) lines.push(["host injection", ev.hostInjection.detail]);
  for (const b of ev.bystanders ?? []) {
    lines.push([`bystander ${b.index}`, b.died ? "died" : b.stalled ? "stalled" : "healthy"]);
  }
  return lines;
}

function probeSummary(probes: ProbeFinding[]): string[] {
  if (probes.length === 0) return ["no host probe findings stored"];
  const counts = new Map<string, number>();
  for (const p of probes) counts.set(p.severity, (counts.get(p.severity) ?? 0) + 1);
  const head = [...counts].map(([severity, n]) => `${n} ${severity}`).join(", ");
  const notable = probes
    .filter((p) => p.severity === "degraded" || p.severity === "failed")
    .map((p) => `${p.probe} ${p.severity}: ${p.detail} (threshold ${p.threshold})`);
  return [head, ...notable];
}

function artifactLines(artifacts: StoredArtifact[]): string[] {
  if (artifacts.length === 0) return ["none stored"];
  return artifacts.map(
    (a) =>
      `${ARTIFACT_LABELS[a.kind] ?? a.kind}: ${a.path} (${a.bytes} bytes${a.truncated ? ", truncated at the cap" : ""})`,
  );
}

const gapText = (ms: number | null) => (ms === null ? "n/a" : `${Math.round(ms)} ms`);

/** One peer of a composed run: whether it died, its longest heartbeat gap, its requests. */
function peerLine(p: PeerEvidence): string {
  const requests = p.requests
    ? `requests ok=${p.requests.ok} failed=${p.requests.failed} late=${p.requests.late}`
    : "no requests (depends on nothing)";
  return `peer ${p.name} (${p.backend}): ${p.died ? "died" : "alive"} · max heartbeat gap ${gapText(p.maxHeartbeatGapMs)} · ${requests}`;
}

/** The control maxima a composed run was judged against, one party a line. */
function controlLines(c: ControlMaxima): string[] {
  const degraded = Object.entries(c.hostDegraded).filter(([, n]) => n > 0);
  return [
    `control maxima of ${c.runs} control runs (heartbeat ${c.heartbeatMs} ms):`,
    ...Object.entries(c.parties).map(
      ([party, m]) =>
        `  ${party}: max heartbeat gap ${gapText(m.maxHeartbeatGapMs)} · failed ${m.failed} · late ${m.late}`,
    ),
    ...degraded.map(([probe, n]) => `  host probe ${probe} degraded in ${n} of them`),
  ];
}

/** A composed run's peers and the control maxima it was judged against; none for a single enclave. */
function cellLines(ev: RunEvidence): string[] {
  return [...(ev.peers ?? []).map(peerLine), ...(ev.controlMaxima ? controlLines(ev.controlMaxima) : [])];
}

/** One violation of the run's syslog monitor: when, which enclave, what. */
function violationLine(v: StoredViolation): string {
  return `${new Date(v.detectedAt).toISOString()} ${v.enclave}: ${v.kind}: ${v.detail}`;
}

/** Label-aligned block: the first line after the label, the rest indented under it. */
function block(label: string, lines: string[]): string {
  const pad = " ".repeat(11);
  return lines.map((l, i) => `${i === 0 ? label.padEnd(11) : pad}${escapeControl(l)}`).join("\n");
}

/** The text `ezone show` prints for a run (ends with a newline). */
export function renderRunShow({ run, probes, artifacts, violations }: RunShowInput): string {
  const width = Math.max(...evidenceLines(run.evidence).map(([k]) => k.length));
  const host =
    run.hostSurvived === null ? "not judged" : run.hostSurvived ? "survived" : "harmed (see probes)";
  return `${[
    block("run", [run.runKey]),
    block("campaign", [
      `${run.campaign} · backend ${run.backend} · fault ${run.fault} (zone ${run.zone}) · repetition ${run.repetition} · seed ${run.seed}`,
      ...(Object.keys(run.params).length ? [`parameters ${JSON.stringify(run.params)}`] : []),
    ]),
    block("verdict", [run.outcome]),
    block("reasons", run.reasons.length ? run.reasons.map((r) => `- ${r}`) : ["(none stored)"]),
    block(
      "evidence",
      evidenceLines(run.evidence).map(([k, v]) => `${k.padEnd(width)}  ${v}`),
    ),
    ...(cellLines(run.evidence).length ? [block("cell", cellLines(run.evidence))] : []),
    block("host", [host, ...probeSummary(probes)]),
    ...(violations?.length ? [block("syslog", violations.map(violationLine))] : []),
    block("timing", [
      `started ${run.startedAt.toISOString()} · boot ${duration(run.bootMs)} · detection ${duration(run.detectionMs)} · run ${duration(run.runMs)}`,
    ]),
    block("ezone", [
      `${run.provenance.ezoneVersion}${run.provenance.ezoneCommit ? ` (${run.provenance.ezoneCommit.slice(0, 12)})` : ""} on ${run.provenance.hostname}, host kernel ${run.provenance.hostKernel}`,
    ]),
    block("artifacts", artifactLines(artifacts)),
  ].join("\n")}\n`;
}
