import { rm } from "node:fs/promises";
import type { Enclave } from "../backends/backend.js";
import { faultSpec, type HostAction, runZone } from "../faults/catalogue.js";
import type { HostProbes } from "../host/probes.js";
import type { PeerEvidence } from "../model/composition.js";
import type {
  BystanderEvidence,
  DisposableHostEvidence,
  EnclaveExit,
  ProbeFinding,
  StopReason,
  Zone,
} from "../model/outcome-types.js";
import type { FlipRecord, Golden } from "../model/soft-error.js";
import { HeartbeatLog } from "../monitor/heartbeat-log.js";
import { RunMonitor } from "../monitor/run-monitor.js";
import { deadline } from "../util/deadline.js";
import { clockTicksNow } from "../util/proc.js";
import { makeScratchDir } from "../util/scratch-dir.js";
import { AsyncDisposableStack } from "./async-disposable-stack.js";
import type { Bystanders } from "./bystanders.js";
import type { ComposedCell } from "./composed.js";
import type { EnclaveDressing } from "./enclave-dressing.js";
import type { ActiveHostFault } from "./host-inject.js";
import type { DhWatch } from "./host-watch.js";
import type { HeartbeatWindows, Marks } from "./observation.js";
import type { RunPlan } from "./run-plan.js";
import type { RunSyslogReport } from "./run-syslog.js";

/** One named step of the run lifecycle (DESIGN.md §3); a failure names the step that threw. */
export interface RunStep {
  name: string;
  run(st: RunState): Promise<void>;
}

/** Why a run could not be judged: ezone/the host tooling failed, or the guest never came up. */
export interface RunFailure {
  kind: "infra" | "boot";
  message: string;
}

/**
 * One run as it goes through the lifecycle's steps: what the plan fixed, what each step found, and the
 * stack that releases what the steps started (last first). Each step reads and fills this one object.
 */
export interface RunState {
  readonly plan: RunPlan;
  /** The caller's signal: its abort is rethrown, never turned into evidence. */
  readonly parent: AbortSignal;
  /** The run's own deadline under `parent`: every wait's deadline is under it. */
  readonly signal: AbortSignal;
  readonly monitor: RunMonitor;
  readonly beats: HeartbeatLog;
  readonly zone: Zone;
  /** Zone 2: what ezone does on the host instead of asking the agent; null for guest-side faults. */
  readonly hostAction: HostAction | null;
  readonly t0: number;
  readonly startedAt: Date;
  /** Nothing carrying this run's tag can be older than this (one tick of rounding to spare). */
  readonly startedSince: number;
  readonly workDir: string;
  /** What the steps started, released in reverse order by the stop step. */
  readonly resources: AsyncDisposableStack;
  readonly marks: Marks;
  before: HostProbes | null;
  enclave: Enclave | null;
  bystanders: Bystanders | null;
  /** What the campaign put around each enclave (cgroup, syslog channel). */
  dressing: EnclaveDressing | null;
  /** `guest.syslog`: what came through the host's syslog, collected when the observation ended. */
  syslog: RunSyslogReport | null;
  /** A composed run's peers and network; null when the run is alone. */
  cell: ComposedCell | null;
  hostFault: ActiveHostFault | null;
  injectedAt: number | null;
  windows: HeartbeatWindows | null;
  bystanderEvidence: BystanderEvidence[] | undefined;
  peerEvidence: PeerEvidence[] | undefined;
  stopReason: StopReason;
  exitAtStop: EnclaveExit;
  probes: ProbeFinding[];
  failure: RunFailure | null;
  /** Bit flips: the golden run judged against, and whether it was stored already. */
  golden: { golden: Golden; reused: boolean } | null;
  /** Bit flips: the flip as placed and read back, and when. */
  flip: FlipRecord | null;
  flipAt: number | null;
  /** `host: disposable`: what was seen of the disposable host, and its evidence once probed after. */
  hostWatch: DhWatch | null;
  disposableHost: DisposableHostEvidence | null;
  /** Zone 1: the host kernel's refusal of the fault module (`err <errno> <message>`). */
  hostKernelRefused: string | null;
}

/**
 * A fresh run state: the run's deadline, its monitor and scratch directory, both registered on the
 * resource stack first so they are released last.
 */
export async function createRunState(plan: RunPlan, parent: AbortSignal): Promise<RunState> {
  const spec = faultSpec(plan.fault);
  // A fault its guest's watchdog reports only after heartbeats stop gets that long before "heartbeat lost".
  const heartbeatLossMs = Math.max(
    plan.timeouts.heartbeatLossMs,
    (spec.heartbeatLossMinMs ?? 0) * plan.backend.timeoutScale,
  );
  const monitor = new RunMonitor(plan.nonce, heartbeatLossMs, spec.childEnd ?? null);
  const startedAt = new Date();
  const t0 = performance.now();
  const resources = new AsyncDisposableStack();
  const workDir = await makeScratchDir("run");
  resources.defer(() => rm(workDir, { recursive: true, force: true }));
  resources.use(monitor);
  const marks: Marks = {};
  // Released after the enclave and bystanders, which later steps register above it.
  resources.defer(() => {
    marks.stopped = performance.now();
  });
  return {
    plan,
    parent,
    signal: deadline(parent, plan.timeouts.runMs),
    monitor,
    beats: new HeartbeatLog(monitor),
    zone: runZone(plan.fault, plan.softError),
    hostAction: spec.host ?? null,
    t0,
    startedAt,
    startedSince: clockTicksNow() - 1,
    workDir,
    resources,
    marks,
    before: null,
    enclave: null,
    bystanders: null,
    dressing: null,
    syslog: null,
    cell: null,
    hostFault: null,
    injectedAt: null,
    windows: null,
    bystanderEvidence: undefined,
    peerEvidence: undefined,
    stopReason: "observe-deadline",
    exitAtStop: { kind: "running" },
    probes: [],
    failure: null,
    golden: null,
    flip: null,
    flipAt: null,
    hostWatch: null,
    disposableHost: null,
    hostKernelRefused: null,
  };
}
