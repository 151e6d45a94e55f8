import type { Backend, EnclaveSpec } from "../backends/backend.js";
import type { SnapshotRef } from "../backends/snapshot-cache.js";
import { type FaultName, faultKernelArgs } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { ProbeThresholds } from "../host/compare.js";
import type { HostProbes, HostProbesOptions } from "../host/probes.js";
import type { RunEvidence, Verdict } from "../model/outcome-types.js";
import type { EnclavePrivileges, Trigger } from "../model/run-params.js";
import type { Golden, SoftErrorParams } from "../model/soft-error.js";
import type { ComposedPlan } from "./composed.js";
import type { ProbeChain } from "./probe-chain.js";
import type { RunServices } from "./run-services.js";
import type { RunSyslogReport } from "./run-syslog.js";

/** Where a run's saved guest comes from: made on first use, forgotten when it fails to restore. */
export interface SnapshotSource {
  /** The saved guest, made first if there is none yet. */
  get(signal: AbortSignal): Promise<SnapshotRef>;
  /** Forget the saved guest: the next run saves a new one. */
  invalidate(): Promise<void>;
  /** More runs restore it: the backend may start their VMMs ahead (the caller closes the backend). */
  keepSpare?: boolean;
}

/** The fault-free run of the soft-error workload: stored once, measured first when there is none. */
export interface GoldenSource {
  /** The golden run, and whether it was stored already (reused) or measured now. */
  get(signal: AbortSignal): Promise<{ golden: Golden; reused: boolean }>;
}

/** A bit flip's parameters and the run's seed, which fixes where the flip goes. */
export interface SoftErrorPlan extends SoftErrorParams {
  seed: string;
}

/** Every duration of one run, already multiplied by the backend's timeout scale. */
export interface RunTimeouts {
  runMs: number;
  bootMs: number;
  observeMs: number;
  controlObserveMs: number;
  heartbeatLossMs: number;
  graceMs: number;
  probeMs: number;
}

/** Everything one run needs: what to start, what to inject, and every deadline. */
export interface RunPlan {
  /** Start from a saved guest instead of booting (a Snapshotter backend); null or absent: boot. */
  snapshot?: SnapshotSource | null;
  backend: Backend;
  image: BuiltImage;
  fault: FaultName;
  trigger: Trigger;
  nonce: string;
  runTag: string;
  memoryMb: number;
  heartbeatMs: number;
  kernelArgs: string[];
  timeouts: RunTimeouts;
  thresholds: ProbeThresholds;
  /** Test hooks at lifecycle points (e.g. load the host just before the after-probe). */
  hooks?: { beforeAfterProbe?: () => Promise<void> };
  /** Healthy enclaves of the same backend run beside this one, their heartbeats watched (default 0). */
  bystanders?: number;
  /** The worker's previous after-probe, reused as this run's baseline while fresh and healthy. */
  probeChain?: ProbeChain;
  /** Bit flips: where the seeded flip goes; null or absent for the golden run itself (no flip). */
  softError?: SoftErrorPlan | null;
  /** Bit flips: the golden run to judge against (the golden run itself has none). */
  golden?: GoldenSource | null;
  /** The enclave's privileges over the kernel beneath it (native, container); absent: the backend's default. */
  privileges?: EnclavePrivileges;
  /** Campaign-wide services the run's enclaves use: cgroup limits, the host's syslog. */
  services?: RunServices;
  /** A composed cell: peers started beside this enclave and the links between them; absent: alone. */
  composition?: ComposedPlan | null;
  /** Takes the host snapshot before and after the run (default `probeHost`; lifecycle tests replace it). */
  hostProbe?: (opts: HostProbesOptions) => Promise<HostProbes>;
}

/** What one run produced: the verdict, its evidence, timings and the raw console. */
export interface RunResult {
  verdict: Verdict;
  evidence: RunEvidence;
  bootMs: number | null;
  detectionMs: number | null;
  runMs: number;
  console: { data: Buffer; truncated: boolean };
  /** `host: disposable`: the disposable host's own console during the run (capped). */
  hostConsole?: { data: Buffer; truncated: boolean };
  controlEvents: { name: string; atMs: number }[];
  startedAt: Date;
  finishedAt: Date;
  /** `guest.syslog`: what came through the host's syslog while the run was observed. */
  syslog?: RunSyslogReport;
}

/**
 * The agent's syslog channel in a spec before a run dresses it with its own (a snapshot is booted with
 * it: the saved agent has its channel open, and a restored guest sends on the run's socket; the tap
 * rewrites the HOSTNAME). Nothing listens on "-": QEMU's reconnecting socket waits.
 */
const SYSLOG_PLACEHOLDER = { socket: "-", hostname: "snapshot" } as const;

/** The enclave a plan boots (no arming, no restore): also what a snapshot for the plan is made of. */
export function enclaveSpec(plan: RunPlan, workDir: string): EnclaveSpec {
  return {
    ...(plan.services?.syslog ? { syslog: { ...SYSLOG_PLACEHOLDER } } : {}),
    image: plan.image,
    memoryMb: plan.memoryMb,
    heartbeatMs: plan.heartbeatMs,
    kernelArgs: faultKernelArgs(plan.kernelArgs, plan.fault),
    arm: null,
    runTag: plan.runTag,
    workDir,
    ...(plan.privileges ? { privileges: plan.privileges } : {}),
  };
}
