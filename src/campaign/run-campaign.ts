import type { BuiltImage } from "../guest/image-builder.js";
import { sweepOrphans } from "../host/reaper.js";
import type { Outcome } from "../model/outcome-types.js";
import { ArtifactWriteError } from "../store/artifacts.js";
import { Store } from "../store/store.js";
import { UsageError } from "../util/errors.js";
import { sweepScratchDirs } from "../util/scratch-dir.js";
import { type AttemptContext, runRepetition } from "./attempts.js";
import { campaignLinkRefusal } from "./composed.js";
import { GoldenRuns } from "./golden.js";
import type { LoadedCampaign } from "./load.js";
import { acquireCampaignLock } from "./lock.js";
import { planCellSlots } from "./plan-cells.js";
import { planSlots, type Slot } from "./plan-slots.js";
import { ProbeChain } from "./probe-chain.js";
import type { ProgressReporter } from "./progress.js";
import { sha } from "./run-key.js";
import type { RunPlan } from "./run-plan.js";
import { checkSyslogBackends, openRunServices } from "./run-services.js";
import { defaultJobs, infraStreak, readiness, type ScheduleWork, schedule } from "./scheduler.js";
import type { Shard } from "./shard.js";

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
  /** Tests: take host snapshots this way instead of probing the host. */
  hostProbe?: RunPlan["hostProbe"];
  /** Run only this shard's cells (`--shard I/N`); absent = every cell. */
  shard?: Shard;
}

export interface CampaignRunTally {
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

/**
 * Run a campaign: probe each backend (a statement of availability, stored), then every backend × fault ×
 * repetition not already stored, `jobs` at a time. Results are written one transaction per run; re-running
 * continues where the last invocation stopped and never counts a run twice. An interrupt stops scheduling
 * and abandons in-flight runs (not stored); N infra-errors in a row quarantine the host (boot-errors do
 * not count); a failed artifact write (disk full) stops the campaign.
 */
export async function runCampaign(loaded: LoadedCampaign, opts: CampaignOptions): Promise<CampaignRunTally> {
  const t0 = performance.now();
  const { config } = loaded;
  checkSyslogBackends(config);
  using _lock = acquireCampaignLock(loaded.resultsDir);
  using store = Store.open(loaded.resultsDir);
  for (const o of sweepOrphans())
    opts.log(`swept a leftover of a dead ezone (${o.owner}): pid ${o.pid} ${o.comm}`);
  for (const dir of sweepScratchDirs()) opts.log(`swept a dead ezone's scratch directory: ${dir}`);
  store.ensureCampaign(config.name, JSON.stringify(config), sha(loaded.text));
  const jobs = opts.jobs ?? defaultJobs(config.guest.memoryMb);
  const { slots, restored } = await (config.cells ? planCellSlots : planSlots)(loaded, store, opts);
  const unbuildable = campaignLinkRefusal(slots);
  if (unbuildable) throw new UsageError(`this host cannot build the campaign's links: ${unbuildable}`);
  await using services = await openRunServices(
    { limits: slots.some((s) => s.params.composition?.limits), syslog: config.guest.syslog },
    opts.log,
  );
  const summary: CampaignRunTally = {
    resultsDir: loaded.resultsDir,
    executed: 0,
    skippedExisting: restored,
    abandoned: 0,
    outcomes: {},
    stoppedBecause: null,
    wallMs: 0,
    jobs,
  };
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  const progress = (running: number) =>
    opts.progress?.update({
      done: summary.executed,
      remaining: slots.reduce((n, s) => n + s.cell.remaining(), 0),
      running,
      outcomes: summary.outcomes,
      elapsedMs: performance.now() - t0,
    });
  const log = opts.progress ? (l: string) => opts.progress?.log(l) : opts.log;
  // One context per worker: its probe chain hands each after-probe to that worker's next run.
  const goldens = new GoldenRuns(store, log);
  const contexts: AttemptContext[] = Array.from({ length: jobs }, () => ({
    goldens,
    config,
    store,
    image: opts.image,
    probeChain: new ProbeChain(),
    hooks: opts.hooks,
    hostProbe: opts.hostProbe,
    log,
    services,
  }));
  try {
    await schedule<Slot>(slots, jobs, signal, {
      onChange: progress,
      run: tallied(summary, config.infra.quarantineAfter, stop, signal, (slot, rep, worker) =>
        runRepetition(contexts[worker] as AttemptContext, slot, rep, signal),
      ),
    });
  } finally {
    opts.progress?.stop();
    // Spare VMMs started ahead for runs that will not come.
    await Promise.all([...new Set(slots.map((s) => s.backend))].map((b) => b.close?.()));
  }
  for (const s of slots.filter((x) => readiness(x) === "starved"))
    log(
      `${s.cell.keyPrefix}: not run — only ${s.after?.cell.resultCount()} of its control runs ended in a result (${s.after?.results} needed); run the campaign again to finish them`,
    );
  summary.wallMs = performance.now() - t0;
  return summary;
}

/**
 * The scheduler's run: one repetition counted in the summary. N infra-errors in a row (boot-errors do
 * not count), a failed artifact write and an internal error stop the campaign (`stop`, under `signal`);
 * an interrupted repetition is abandoned.
 */
function tallied(
  summary: CampaignRunTally,
  quarantineAfter: number,
  stop: AbortController,
  signal: AbortSignal,
  run: (slot: Slot, rep: number, worker: number) => Promise<Outcome>,
): ScheduleWork<Slot>["run"] {
  const stopBecause = (why: string) => {
    summary.stoppedBecause = why;
    stop.abort(new Error(why));
  };
  let streak = 0;
  return async (slot, rep, worker) => {
    try {
      const outcome = await run(slot, rep, worker);
      summary.executed++;
      summary.outcomes[outcome] = (summary.outcomes[outcome] ?? 0) + 1;
      streak = infraStreak(streak, outcome);
      if (streak >= quarantineAfter)
        stopBecause(
          `host quarantined: ${streak} runs in a row ended in infra-error (see the runs' reasons); fix the host, then re-run to resume`,
        );
      return outcome;
    } catch (e) {
      if (e instanceof ArtifactWriteError) {
        stopBecause(
          `cannot write results (disk full?): ${(e.cause as Error)?.message ?? e.message}; nothing of that run was stored`,
        );
        return null;
      }
      if (signal.aborted) {
        summary.abandoned++;
        return null;
      }
      stop.abort(e); // an internal error: abandon the runs in flight, then report it
      throw e;
    }
  };
}
