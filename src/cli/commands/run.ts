import { loadCampaign } from "../../campaign/load.js";
import { runCampaign } from "../../campaign/run-campaign.js";
import { buildImage } from "../../guest/image-builder.js";
import { ExitError } from "../../util/errors.js";
import { paperReport } from "./report.js";

export interface RunCliOptions {
  results?: string;
  resume?: boolean;
  binary?: string;
}

/**
 * `ezone run <campaign.yaml>`: build (or reuse) the image, run every backend × fault × repetition not
 * yet stored, then print the paper's table from the stored runs. Re-running resumes (`--resume` is the
 * default behaviour and is accepted for clarity). Exit 0 when done, 3 when only infra-errors came out,
 * 130 when interrupted.
 */
export async function run(file: string, opts: RunCliOptions): Promise<void> {
  const loaded = loadCampaign(file, opts.results);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    process.stderr.write(
      interrupts === 1 ? "\nezone: interrupted, stopping the current run...\n" : "\nezone: killing now\n",
    );
    if (interrupts === 1) controller.abort(new Error("interrupted (SIGINT)"));
    else process.exit(130);
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  try {
    const image = await buildImage({ log: (l) => log(`image: ${l}`), signal: controller.signal });
    log(`campaign ${loaded.config.name}: image ${image.manifest.id}, results in ${loaded.resultsDir}`);
    const summary = await runCampaign(loaded, { image, signal: controller.signal, log, binary: opts.binary });
    for (const r of paperReport(loaded.resultsDir, loaded.config.name)) {
      process.stdout.write(
        `\nCampaign ${r.campaign}: E-Zone 3 (guest kernel) fault, as in Naughton et al. §4\n${r.table}\n`,
      );
    }
    const results = Object.entries(summary.outcomes).filter(([o]) => o !== "infra-error");
    process.stdout.write(
      `\n${summary.executed} run(s) executed, ${summary.skippedExisting} already stored; results in ${summary.resultsDir}\n`,
    );
    if (controller.signal.aborted) throw new ExitError(130);
    if (summary.executed > 0 && results.length === 0) throw new ExitError(3);
  } catch (e) {
    if (controller.signal.aborted && !(e instanceof ExitError)) throw new ExitError(130);
    throw e;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}
