import type { LoadedCampaign } from "../campaign/load.js";
import { ProgressReporter } from "../campaign/progress.js";
import { type CampaignRunTally, runCampaign } from "../campaign/run-campaign.js";
import type { Shard } from "../campaign/shard.js";
import { buildImage } from "../guest/image-builder.js";
import { ExitError } from "../util/errors.js";
import { handleInterrupts } from "./interrupt.js";

export interface SessionOptions {
  jobs?: number;
  noSnapshot?: boolean;
  /** Run only this shard's cells. */
  shard?: Shard;
  /** Prints the results (tables) once the campaign has ended, interrupted or not. */
  report: (summary: CampaignRunTally) => void;
  /** Exit-code rules of the command, checked after the common ones (stopped itself: 3, interrupted: 130). */
  check?: (summary: CampaignRunTally) => void;
}

/**
 * Run a campaign from the command line: build or reuse the image, show progress, and handle Ctrl-C (the
 * first stops scheduling and abandons the running runs, which are not stored; a second one kills at once,
 * the exit handler taking every child process group with it). The handlers stay until ezone exits.
 */
export async function runCampaignSession(loaded: LoadedCampaign, opts: SessionOptions): Promise<void> {
  // Not disposed: a late second Ctrl-C while the tables print still kills at once.
  const interrupt = handleInterrupts({
    first: (sig) =>
      `ezone: ${sig}: no new runs; abandoning the running ones (not stored). Again to kill at once.`,
  });
  const progress = new ProgressReporter(process.stderr);
  try {
    const image = await buildImage({ log: (l) => progress.log(`image: ${l}`), signal: interrupt.signal });
    progress.log(
      `campaign ${loaded.config.name}: image ${image.manifest.id}, results in ${loaded.resultsDir}`,
    );
    const summary = await runCampaign(loaded, {
      image,
      signal: interrupt.signal,
      log: (l) => progress.log(l),
      progress,
      jobs: opts.jobs,
      noSnapshot: opts.noSnapshot,
      shard: opts.shard,
    });
    progress.stop();
    opts.report(summary);
    if (summary.stoppedBecause) {
      process.stderr.write(`ezone: campaign stopped: ${summary.stoppedBecause}\n`);
      throw new ExitError(3);
    }
    if (interrupt.signal.aborted) throw new ExitError(130);
    opts.check?.(summary);
  } catch (e) {
    if (interrupt.signal.aborted && !(e instanceof ExitError)) throw new ExitError(130);
    throw e;
  } finally {
    progress.stop();
  }
}

/** "12 run(s) executed, 3 already stored, 1 abandoned (not stored) in 40.2 s with 2 job(s)" */
export function summaryLine(s: CampaignRunTally): string {
  return (
    `${s.executed} run(s) executed, ${s.skippedExisting} already stored` +
    `${s.abandoned ? `, ${s.abandoned} abandoned (not stored)` : ""}` +
    ` in ${(s.wallMs / 1000).toFixed(1)} s with ${s.jobs} job(s); results in ${s.resultsDir}`
  );
}
