import { writeFile } from "node:fs/promises";
import { type LoadedCampaign, parseCampaign } from "../../campaign/load.js";
import { replayRun } from "../../campaign/replay.js";
import { buildImage } from "../../guest/image-builder.js";
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
  const { stored, loaded } = (() => {
    using store = openResults(opts.results);
    const stored = store.runs().find((r) => r.runKey === key);
    if (!stored) throw new ConfigError(opts.results, [{ path: key, message: "no stored run with this key" }]);
    const config = store.campaignConfig(stored.campaign);
    const text = JSON.stringify(config);
    const loaded: LoadedCampaign = {
      file: `${opts.results} (campaign ${stored.campaign})`,
      config: parseCampaign(text, `${opts.results}: stored config of ${stored.campaign}`),
      text,
      resultsDir: opts.results,
    };
    return { stored, loaded };
  })();
  const image = await buildImage({ log: (l) => process.stderr.write(`image: ${l}\n`) });
  const signal = AbortSignal.timeout(loaded.config.timeouts.runSeconds * 1000 * 2 + 60_000);
  const result = await replayRun(loaded, stored, image, signal);
  if (opts.console) await writeFile(opts.console, result.console.data);
  process.stdout.write(
    `run      ${key}\nstored   ${stored.outcome} — ${stored.reasons.join("; ")}\nreplayed ${result.verdict.outcome} — ${result.verdict.reasons.join("; ")}\n` +
      (image.manifest.id !== stored.provenance.imageHash
        ? `note     image differs: stored ${stored.provenance.imageHash}, now ${image.manifest.id}\n`
        : ""),
  );
}
