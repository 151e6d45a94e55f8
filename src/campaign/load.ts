import { dirname, resolve } from "node:path";
import { resultsDirProblem } from "../store/results-dir.js";
import { ConfigError } from "../util/errors.js";
import { configErrorAt, parseYamlConfig, readConfigText } from "../util/yaml-config.js";
import { type CampaignConfig, campaignSchema } from "./schema.js";

/** A validated campaign and where it came from. */
export interface LoadedCampaign {
  file: string;
  config: CampaignConfig;
  /** The file's text, stored with the campaign. */
  text: string;
  resultsDir: string;
}

/** Parse and validate campaign YAML text; every error names the file, line, column and key path. */
export function parseCampaign(text: string, file: string): CampaignConfig {
  return parseYamlConfig(text, file, campaignSchema, "campaign");
}

/** Read a campaign file; results default to results/<name> beside the current directory. */
export function loadCampaign(file: string, resultsOverride?: string): LoadedCampaign {
  const text = readConfigText(file);
  const config = parseCampaign(text, file);
  const resultsDir = resultsOverride
    ? resolve(resultsOverride)
    : config.results
      ? resolve(dirname(resolve(file)), config.results)
      : resolve("results", config.name);
  const problem = resultsDirProblem(resultsDir);
  if (problem) {
    const message = `results directory ${resultsDir}: ${problem}`;
    if (resultsOverride) throw new ConfigError("--results", [{ path: resultsOverride, message }]);
    throw configErrorAt(text, file, [config.results ? "results" : "name"], message);
  }
  return { file, config, text, resultsDir };
}
