import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { type CampaignConfig, campaignSchema } from "./schema.js";

/** A validated campaign and where it came from. */
export interface LoadedCampaign {
  file: string;
  config: CampaignConfig;
  /** The file's text, stored with the campaign. */
  text: string;
  resultsDir: string;
}

function pathString(path: PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown key ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
  if (issue.code === "invalid_value")
    return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  if (issue.code === "invalid_type") return `expected ${issue.expected}`;
  if (issue.code === "invalid_union") {
    // A union of a name and an object: say what each branch expected, the deepest branch first.
    const branches = issue.errors.map((branch) => branch.map(describe).join("; ")).filter(Boolean);
    if (branches.length > 0) return [...new Set(branches)].join(", or ");
  }
  return issue.message;
}

/** Parse and validate campaign YAML text; every error names the file, line and key path. */
export function parseCampaign(text: string, file: string): CampaignConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        return { path: at ? `line ${at.line}` : "", message: `YAML syntax: ${e.message.split("\n")[0]}` };
      }),
    );
  }
  const result = campaignSchema.safeParse(doc.toJS());
  if (result.success) return result.data;
  throw new ConfigError(
    file,
    result.error.issues.map((issue) => {
      // Point at the deepest node that exists: an unknown key's parent, a missing key's map.
      let node: unknown = null;
      for (let n = issue.path.length; n >= 0 && !isNode(node); n--) {
        node = n === 0 ? doc.contents : doc.getIn(issue.path.slice(0, n) as (string | number)[], true);
      }
      const offset = isNode(node) ? node.range?.[0] : undefined;
      const line = offset !== undefined ? `line ${lines.linePos(offset).line}: ` : "";
      return { path: `${line}${pathString(issue.path) || "(root)"}`, message: describe(issue) };
    }),
  );
}

/** Read a campaign file; results default to results/<name> beside the current directory. */
export function loadCampaign(file: string, resultsOverride?: string): LoadedCampaign {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, [
      { path: "", message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? e}` },
    ]);
  }
  const config = parseCampaign(text, file);
  const resultsDir = resultsOverride
    ? resolve(resultsOverride)
    : config.results
      ? resolve(dirname(resolve(file)), config.results)
      : resolve("results", config.name);
  return { file, config, text, resultsDir };
}
