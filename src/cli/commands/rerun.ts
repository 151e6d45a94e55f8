import { writeFile } from "node:fs/promises";
import { GoldenRuns } from "../../campaign/golden.js";
import { type LoadedCampaign, parseCampaign } from "../../campaign/load.js";
import { replayRun } from "../../campaign/replay.js";
import { buildImage } from "../../guest/image-builder.js";
import type { SoftErrorEvidence } from "../../model/soft-error.js";
import { openResults } from "../../store/open-results.js";
import { ConfigError } from "../../util/errors.js";

export interface RerunOptions {
  results: string;
  console?: string;
}

/**
 * `ezone rerun <run-key> --results DIR`: replay one stored run with the same seed, nonce and parameters,
 * and print both verdicts. The replay is not stored (the stored run stays the result of record).
 */
export async function run(key: string, opts: RerunOptions): Promise<void> {
  // Open through the replay: a bit flip reads its golden run from here (and stores one for a new image).
  using store = openResults(opts.results);
  const stored = store.runs().find((r) => r.runKey === key);
  if (!stored) throw new ConfigError(opts.results, [{ path: key, message: "no stored run with this key" }]);
  const text = JSON.stringify(store.campaignConfig(stored.campaign));
  const loaded: LoadedCampaign = {
    file: `${opts.results} (campaign ${stored.campaign})`,
    config: parseCampaign(text, `${opts.results}: stored config of ${stored.campaign}`),
    text,
    resultsDir: opts.results,
  };
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const image = await buildImage({ log: (l) => log(`image: ${l}`) });
  const signal = AbortSignal.timeout(loaded.config.timeouts.runSeconds * 1000 * 2 + 60_000);
  const result = await replayRun(loaded, stored, image, new GoldenRuns(store, log), signal);
  if (opts.console) await writeFile(opts.console, result.console.data);
  const soft = (c: string | null | undefined) => (c ? ` [${c}]` : "");
  process.stdout.write(
    `run      ${key}\nstored   ${stored.outcome}${soft(stored.softClass)} — ${stored.reasons.join("; ")}\nreplayed ${result.verdict.outcome}${soft(result.evidence.softError?.class)} — ${result.verdict.reasons.join("; ")}\n` +
      (stored.evidence.softError
        ? `flip     stored ${flipWhere(stored.evidence.softError)}, replayed ${flipWhere(result.evidence.softError)}\n`
        : "") +
      (image.manifest.id !== stored.provenance.imageHash
        ? `note     image differs: stored ${stored.provenance.imageHash}, now ${image.manifest.id}\n`
        : ""),
  );
}

function flipWhere(soft: SoftErrorEvidence | undefined): string {
  return soft?.flip ? `${soft.flip.target} ${soft.flip.where}` : "no flip";
}
