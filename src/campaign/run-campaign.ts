import { createHash } from "node:crypto";
import { availableParallelism, freemem, hostname, release } from "node:os";
import type { Backend } from "../backends/backend.js";
import { isSnapshotter } from "../backends/backend.js";
import { type BackendRef, createBackend } from "../backends/index.js";
import { ensureSnapshot, invalidateSnapshot } from "../backends/snapshot-cache.js";
import { FAULTS, type FaultName, faultKernelArgs, faultSpec } from "../faults/catalogue.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../host/compare.js";
import { sweepOrphans } from "../host/reaper.js";
import type { Outcome } from "../model/outcome-types.js";
import { duration } from "../report/paper-table.js";
import { ArtifactWriteError } from "../store/artifacts.js";
import { type Provenance, Store, type StoredRun } from "../store/store.js";
import { InfraError } from "../util/errors.js";
import { ezoneCommit, ezoneVersion } from "../util/version.js";
import { Cell } from "./cell.js";
import type { LoadedCampaign } from "./load.js";
import { acquireCampaignLock } from "./lock.js";
import { ProbeChain } from "./probe-chain.js";
import type { ProgressReporter } from "./progress.js";
import { enclaveSpec, type RunPlan, type RunResult, runOne } from "./run-one.js";
import type { CampaignConfig, TriggerConfig } from "./schema.js";
import { type Shard, shardFilter } from "./shard.js";

export interface CampaignOptions {
  image: BuiltImage;
  signal: AbortSignal;
  /** Log lines (per run, per backend); progress goes to `progress` when given. */
  log: (line: string) => void;
  progress?: ProgressReporter;
  /** Concurrent runs; default from the host (cores and memory). */
  jobs?: number;
  /** Boot every run fresh even where the campaign asks for snapshots (`--no-snapshot`). */
  noSnapshot?: boolean;
  /** Tests: override the emulator binary of every built-in backend. */
  binary?: string;
  hooks?: RunPlan["hooks"];
  /** Run only this shard's cells (`--shard I/N`); absent = every cell. */
  shard?: Shard;
}

export interface CampaignSummary {
  resultsDir: string;
  executed: number;
  skippedExisting: number;
  /** Runs started but not finished because the campaign was interrupted: not stored. */
  abandoned: number;
  outcomes: Partial<Record<Outcome, number>>;
  /** Set when the campaign stopped itself: quarantine, disk full. */
  stoppedBecause: string | null;
  wallMs: number;
  jobs: number;
}

/** The campaign's backends as references, in the order the YAML lists them. */
export function backendRefs(config: CampaignConfig): BackendRef[] {
  return config.backends.map((b) =>
    typeof b === "string" ? { name: b, type: b } : { name: b.name, type: b.type, exec: b.exec },
  );
}

/** The campaign's faults with their trigger (the paper's default: armed at boot, 5 s after READY). */
export function faultPlans(config: CampaignConfig): { fault: FaultName; trigger: TriggerConfig }[] {
  return config.faults.map((f) =>
    typeof f === "string"
      ? { fault: f, trigger: { mode: "boot-delay", delaySeconds: 5 } }
      : { fault: f.name, trigger: f.trigger ?? { mode: "boot-delay", delaySeconds: 5 } },
  );
}

/** Kernel command line parameters the campaign sets, stored with each run. */
export function campaignKernelArgs(config: CampaignConfig): string[] {
  return [...(config.guest.oopsPanic ? ["oops=panic"] : []), ...config.guest.kernelArgs];
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Run key = (campaign, backend, fault, params, repetition): stable across resumes and hosts. */
export function runKey(
  campaign: string,
  backend: string,
  fault: string,
  params: object,
  rep: number,
): string {
  return `${cellKey(campaign, backend, fault, params)}/${rep}`;
}

function cellKey(campaign: string, backend: string, fault: string, params: object): string {
  return `${campaign}/${backend}/${fault}/${sha(JSON.stringify(params)).slice(0, 12)}`;
}

/** Default worker count: one per core, and no more than memory allows (guest RAM + QEMU overhead, twice). */
export function defaultJobs(memoryMb: number): number {
  const byMemory = Math.floor(freemem() / ((memoryMb + 256) * 2 * 1024 * 1024));
  return Math.max(1, Math.min(availableParallelism(), byMemory));
}

/** One schedulable (backend, fault) pair of the matrix. */
interface Slot {
  cell: Cell;
  backendName: string;
  backend: Backend;
  backendVersion: string | null;
  fault: FaultName;
  trigger: TriggerConfig;
  params: Record<string, unknown>;
  /** Affects the host (hogs, bystanders): runs with the machine to itself. */
  exclusive: boolean;
}

/** Shared/exclusive gate over the machine: exclusive runs wait for the others and block them. */
class MachineGate {
  private shared = 0;
  private exclusive = false;
  /** Exclusive runs waiting: new shared runs wait behind them, or a busy pool would starve them forever. */
  private exclusiveWaiting = 0;
  private waiters: (() => void)[] = [];
  async acquire(exclusive: boolean): Promise<void> {
    if (exclusive) this.exclusiveWaiting++;
    while (exclusive ? this.shared > 0 || this.exclusive : this.exclusive || this.exclusiveWaiting > 0) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (exclusive) {
      this.exclusiveWaiting--;
      this.exclusive = true;
    } else this.shared++;
  }
  release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.shared--;
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * Run a campaign: probe each backend (a statement of availability, stored), then every backend × fault ×
 * repetition not already stored, `jobs` at a time. Results are written one transaction per run; re-running
 * continues where the last invocation stopped and never counts a run twice. An interrupt stops scheduling
 * and abandons in-flight runs (not stored); N infra-errors in a row quarantine the host; a failed artifact
 * write (disk full) stops the campaign.
 */
export async function runCampaign(loaded: LoadedCampaign, opts: CampaignOptions): Promise<CampaignSummary> {
  const t0 = performance.now();
  const { config } = loaded;
  using _lock = acquireCampaignLock(loaded.resultsDir);
  using store = Store.open(loaded.resultsDir);
  for (const o of sweepOrphans())
    opts.log(`swept a leftover of a dead ezone (${o.owner}): pid ${o.pid} ${o.comm}`);
  store.ensureCampaign(config.name, JSON.stringify(config), sha(loaded.text));
  const jobs = opts.jobs ?? defaultJobs(config.guest.memoryMb);
  const summary: CampaignSummary = {
    resultsDir: loaded.resultsDir,
    executed: 0,
    skippedExisting: 0,
    abandoned: 0,
    outcomes: {},
    stoppedBecause: null,
    wallMs: 0,
    jobs,
  };
  const slots = await planSlots(loaded, store, opts, summary);
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  const gate = new MachineGate();
  let consecutiveInfra = 0;
  let running = 0;
  let wake: (() => void)[] = [];
  const progress = () =>
    opts.progress?.update({
      done: summary.executed,
      remaining: slots.reduce((n, s) => n + s.cell.remaining(), 0),
      running,
      outcomes: summary.outcomes,
      elapsedMs: performance.now() - t0,
    });
  let cursor = 0;
  const pick = (): { slot: Slot; rep: number } | null => {
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(cursor + i) % slots.length] as Slot;
      const rep = slot.cell.next();
      if (rep !== null) {
        cursor = (cursor + i + 1) % slots.length;
        return { slot, rep };
      }
    }
    return null;
  };

  const worker = async () => {
    const probeChain = new ProbeChain();
    while (!signal.aborted) {
      const next = pick();
      if (!next) {
        if (slots.every((s) => s.cell.complete())) return;
        await new Promise<void>((r) => wake.push(r)); // a running repetition may open more work
        continue;
      }
      const { slot, rep } = next;
      running++;
      progress();
      await gate.acquire(slot.exclusive);
      try {
        const outcome = await runWithRetries(store, loaded, slot, rep, { ...opts, probeChain }, signal);
        slot.cell.finished(rep, outcome);
        summary.executed++;
        summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
        consecutiveInfra = outcome === "infra-error" ? consecutiveInfra + 1 : 0;
        if (consecutiveInfra >= config.infra.quarantineAfter) {
          summary.stoppedBecause = `host quarantined: ${consecutiveInfra} runs in a row ended in infra-error (see the runs' reasons); fix the host, then re-run to resume`;
          stop.abort(new Error(summary.stoppedBecause));
        }
      } catch (e) {
        slot.cell.abandoned(rep);
        if (e instanceof ArtifactWriteError) {
          summary.stoppedBecause = `cannot write results (disk full?): ${(e.cause as Error)?.message ?? e.message}; nothing of that run was stored`;
          stop.abort(new Error(summary.stoppedBecause));
        } else if (signal.aborted) {
          summary.abandoned++;
        } else {
          stop.abort(e); // an internal error: stop the other workers, then report it
          throw e;
        }
      } finally {
        gate.release(slot.exclusive);
        running--;
        for (const w of wake.splice(0)) w();
        progress();
      }
    }
  };
  const onAbort = () => {
    for (const w of wake.splice(0)) w();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    signal.removeEventListener("abort", onAbort);
    wake = [];
    opts.progress?.stop();
    // Spare VMMs started ahead for runs that will not come.
    await Promise.all([...new Set(slots.map((s) => s.backend))].map((b) => b.close?.()));
  }
  summary.wallMs = performance.now() - t0;
  return summary;
}

/** Probe backends (stored as statements), refuse unsupported faults, restore stored repetitions. */
async function planSlots(
  loaded: LoadedCampaign,
  store: Store,
  opts: CampaignOptions,
  summary: CampaignSummary,
): Promise<Slot[]> {
  const { config } = loaded;
  const kernelArgs = campaignKernelArgs(config);
  const stored = store.runs({ campaign: config.name });
  const slots: Slot[] = [];
  const inShard = shardFilter(config, opts.shard);
  for (const ref of backendRefs(config)) {
    const backend = createBackend({ ...ref, binary: opts.binary });
    const availability = await backend.probe(opts.image, opts.signal);
    store.recordStatement(config.name, {
      backend: ref.name,
      fault: "*",
      kind: availability.available ? "available" : "unavailable",
      reason: availability.reason,
    });
    opts.log(`${ref.name}: ${availability.available ? "" : "not runnable here — "}${availability.reason}`);
    if (!availability.available) continue;
    for (const [faultIndex, { fault, trigger }] of faultPlans(config).entries()) {
      if (!inShard(ref.name, faultIndex)) continue;
      const support = backend.supports(FAULTS[fault]);
      if (!support.supported) {
        store.recordStatement(config.name, {
          backend: ref.name,
          fault,
          kind: "refused",
          reason: support.reason,
        });
        opts.log(`${ref.name} × ${fault}: refused — ${support.reason}`);
        continue;
      }
      const params = {
        trigger,
        memoryMb: config.guest.memoryMb,
        heartbeatMs: config.guest.heartbeatMs,
        // The fault's own arguments (e.g. softlockup's watchdog_thresh=1) are part of the run's parameters.
        kernelArgs: faultKernelArgs(kernelArgs, fault),
        // Which start each run had: from the saved guest, or a fresh boot (reports show it).
        boot:
          config.guest.boot === "snapshot" && !opts.noSnapshot && isSnapshotter(backend)
            ? "snapshot"
            : "fresh",
        // Only when asked for, so the keys of campaigns without bystanders stay what they were.
        ...(config.bystanders > 0 ? { bystanders: config.bystanders } : {}),
      };
      const cell = new Cell(
        cellKey(config.name, ref.name, fault, params),
        config.repetitions,
        config.until ?? null,
      );
      for (const r of stored) {
        const rep = Number(r.runKey.slice(cell.keyPrefix.length + 1));
        if (
          r.runKey.startsWith(`${cell.keyPrefix}/`) &&
          Number.isInteger(rep) &&
          r.outcome !== "infra-error"
        ) {
          cell.restore(rep, r.outcome);
          summary.skippedExisting++;
        }
      }
      slots.push({
        cell,
        backendName: ref.name,
        backend,
        backendVersion: availability.version ?? null,
        fault,
        trigger,
        params,
        // Hogs load the whole host and bystanders measure it: either has the machine to itself.
        exclusive: faultSpec(fault).runsAlone === true || config.bystanders > 0,
      });
    }
  }
  return slots;
}

/** The run plan of one repetition: every duration scaled for the backend. */
function planRun(
  loaded: LoadedCampaign,
  slot: Slot,
  seed: string,
  attempt: number,
  opts: CampaignOptions,
): RunPlan {
  const { config } = loaded;
  const t = config.timeouts;
  const scale = slot.backend.timeoutScale;
  return {
    backend: slot.backend,
    image: opts.image,
    fault: slot.fault,
    trigger: slot.trigger,
    nonce: `${seed.slice(0, 10)}${attempt}`,
    runTag: `${seed}-${process.pid}-${attempt}`,
    memoryMb: config.guest.memoryMb,
    heartbeatMs: config.guest.heartbeatMs,
    kernelArgs: slot.params.kernelArgs as string[],
    timeouts: {
      runMs: t.runSeconds * 1000 * scale,
      bootMs: t.bootSeconds * 1000 * scale,
      observeMs: t.observeSeconds * 1000 * scale,
      controlObserveMs: t.controlObserveSeconds * 1000,
      heartbeatLossMs: t.heartbeatMissIntervals * config.guest.heartbeatMs * scale,
      graceMs: t.graceSeconds * 1000 * scale,
      probeMs: t.probeSeconds * 1000,
    },
    thresholds: DEFAULT_PROBE_THRESHOLDS,
    hooks: opts.hooks,
    bystanders: typeof slot.params.bystanders === "number" ? slot.params.bystanders : 0,
  };
}

/** One repetition; an infra-error is stored under its attempt's own key and tried again (bounded). */
async function runWithRetries(
  store: Store,
  loaded: LoadedCampaign,
  slot: Slot,
  rep: number,
  opts: CampaignOptions & { probeChain: ProbeChain },
  signal: AbortSignal,
): Promise<Outcome> {
  const { config } = loaded;
  const key = `${slot.cell.keyPrefix}/${rep}`;
  const seed = sha(key).slice(0, 16);
  for (let attempt = 0; ; attempt++) {
    const plan = { ...planRun(loaded, slot, seed, attempt, opts), probeChain: opts.probeChain };
    const backend = slot.backend;
    if (slot.params.boot === "snapshot" && isSnapshotter(backend)) {
      let key: string | null = null;
      plan.snapshot = {
        get: async (s) => {
          const ref = await ensureSnapshot(backend, enclaveSpec(plan, "-"), s);
          key = ref.key;
          return ref;
        },
        invalidate: async () => {
          if (key) await invalidateSnapshot(key);
        },
        keepSpare: true,
      };
    }
    const result = await runOne(plan, signal);
    const infra = result.verdict.outcome === "infra-error";
    await store.recordRun({
      campaign: config.name,
      // An infra-error is not the run's result: it is kept under its attempt's key, so resume retries it.
      runKey: infra ? `${key}!infra-${attempt}` : key,
      backend: slot.backendName,
      fault: slot.fault,
      zone: FAULTS[slot.fault].zone,
      params: slot.params,
      repetition: rep,
      seed,
      nonce: plan.nonce,
      verdict: result.verdict,
      evidence: result.evidence,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      bootMs: result.bootMs,
      detectionMs: result.detectionMs,
      runMs: result.runMs,
      artifacts: artifactsOf(result),
      provenance: provenance(slot.backendVersion, opts.image, plan),
    });
    (opts.progress ? (l: string) => opts.progress?.log(l) : opts.log)(describeRun(key, attempt, result));
    if (!infra || attempt >= config.infra.retries) return result.verdict.outcome;
    if (signal.aborted) throw new InfraError("campaign", "interrupted between attempts");
  }
}

function artifactsOf(r: RunResult) {
  return [
    { kind: "console", data: r.console.data, truncated: r.console.truncated },
    { kind: "control-events", data: Buffer.from(JSON.stringify(r.controlEvents)), truncated: false },
  ];
}

function provenance(backendVersion: string | null, image: BuiltImage, plan: RunPlan): Provenance {
  return {
    ezoneVersion: ezoneVersion(),
    ezoneCommit: ezoneCommit(),
    backendVersion,
    kernelVersion: `${image.manifest.kernel.release} (${image.manifest.kernel.version})`,
    imageHash: image.manifest.id,
    kernelCmdline: plan.kernelArgs.join(" "),
    hostKernel: release(),
    hostname: hostname(),
  };
}

function describeRun(key: string, attempt: number, r: RunResult): string {
  const ms = duration;
  const retry = attempt > 0 ? ` (attempt ${attempt + 1})` : "";
  return `  ${key}${retry}: ${r.verdict.outcome} — ${r.verdict.reasons[0] ?? ""} [boot ${ms(r.bootMs)}, detect ${ms(r.detectionMs)}, run ${ms(r.runMs)}]`;
}

/** Replay a stored run with its seed, nonce and parameters (for `ezone rerun`); nothing is stored. */
export async function replayRun(
  loaded: LoadedCampaign,
  stored: StoredRun,
  image: BuiltImage,
  signal: AbortSignal,
): Promise<RunResult> {
  const ref = backendRefs(loaded.config).find((b) => b.name === stored.backend);
  if (!ref) throw new InfraError("rerun", `backend ${stored.backend} is not in the stored campaign config`);
  const backend = createBackend(ref);
  const params = stored.params as Slot["params"];
  const slot: Slot = {
    cell: new Cell(stored.runKey.replace(/\/\d+(!.*)?$/, ""), 1, null),
    backendName: stored.backend,
    backend,
    backendVersion: null,
    fault: stored.fault as FaultName,
    trigger: params.trigger as TriggerConfig,
    params,
    exclusive: false,
  };
  const opts: CampaignOptions = { image, signal, log: () => {} };
  return runOne({ ...planRun(loaded, slot, stored.seed, 0, opts), nonce: stored.nonce }, signal);
}
