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
    const branches = issue.errors.map((branch) => branch.map(describe).join("; ")).filter(Boolean);
    if (branches.length > 0) return [...new Set(branches)].join(", or ");
  }
  return issue.message;
}

/**
 * Union errors (a fault is a name or an object): when one branch got past the top level (the input was
 * an object with a bad field), report that branch's issues at their full path instead of every branch.
 */
function flatten(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
  const depth = (branch: z.core.$ZodIssue[]) =>
    Math.max(...branch.map((i) => i.path.length + (i.code === "unrecognized_keys" ? 1 : 0)));
  const deepest = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] ?? [];
  if (depth(deepest) === 0) return [issue];
  return deepest.flatMap((sub) =>
    flatten({ ...sub, path: [...issue.path, ...sub.path] } as z.core.$ZodIssue),
  );
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
    result.error.issues.flatMap(flatten).map((issue) => {
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
