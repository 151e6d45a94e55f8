/**
 * zod issues in a user's terms: unions reduced to the branch the input was meant for, the keys an object
 * takes (for "did you mean"), and one sentence per issue. Pure functions over a schema and its input.
 */
import type { z } from "zod";
import { closest } from "./did-you-mean.js";
import { escapeControl } from "./escape.js";

export type Issue = z.core.$ZodIssue;
type Path = PropertyKey[];

/** What ezone's schemas are built from, as far as finding an object's keys needs. */
interface WalkedDef {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "nonoptional", "readonly", "catch"]);

/** The keys the object schema(s) at `path` accept (several objects for a union), sorted. */
export function knownKeys(schema: z.core.$ZodType, path: Path): string[] {
  const def = schema._zod.def as unknown as WalkedDef;
  const [head, ...rest] = path;
  if (WRAPPERS.has(def.type) && def.innerType) return knownKeys(def.innerType, path);
  if (def.type === "pipe" && def.in) return knownKeys(def.in, path);
  if (def.type === "union")
    return [...new Set((def.options ?? []).flatMap((o) => knownKeys(o, path)))].sort();
  if (def.type === "array" && def.element)
    return typeof head === "number" ? knownKeys(def.element, rest) : [];
  if (def.type !== "object" || !def.shape) return [];
  if (head === undefined) return Object.keys(def.shape).sort();
  const field = def.shape[String(head)];
  return field ? knownKeys(field, rest) : [];
}

/** The value at `path` in parsed input, or undefined. */
export function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const depth = (branch: Issue[]) =>
  Math.max(...branch.map((i) => i.path.length + (i.code === "unrecognized_keys" ? 1 : 0)));

/** A branch rejected the input for being the wrong kind of value (a string where an object goes). */
const wrongKind = (branch: Issue[]) =>
  branch.length === 1 && branch[0]?.code === "invalid_type" && branch[0].path.length === 0;

/**
 * Union errors (a backend is a name or an object): report the issues of the branch the input was meant
 * for — not one that wanted another kind of value, and of the rest the one that got deepest into the
 * input — at their full path. When every branch wanted another kind, the union's own issue stays.
 */
export function flattenIssue(issue: Issue): Issue[] {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
  const meant = issue.errors.filter((branch) => !wrongKind(branch));
  const deepest = [...meant].sort((a, b) => depth(b) - depth(a))[0];
  if (!deepest) return [issue];
  return deepest.flatMap((sub) => flattenIssue({ ...sub, path: [...issue.path, ...sub.path] } as Issue));
}

/**
 * Leave out "missing" for a key that an unknown key beside it misspells: `inptu: ...` is one mistake,
 * reported once (as the unknown key, with its "did you mean").
 */
export function dropExplained(issues: Issue[], schema: z.core.$ZodType, data: unknown): Issue[] {
  const meant = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const known = knownKeys(schema, issue.path);
    for (const key of issue.keys) {
      const match = closest(key, known);
      if (match) meant.add(JSON.stringify([...issue.path, match]));
    }
  }
  return issues.filter(
    (i) =>
      !(
        i.code === "invalid_type" &&
        valueAt(data, i.path) === undefined &&
        meant.has(JSON.stringify(i.path))
      ),
  );
}

/** A value from the input, quoted and bounded for an error message. */
export function quote(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  return `'${escapeControl(text.length > 60 ? `${text.slice(0, 60)}…` : text)}'`;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) return "binary data";
  if (typeof value === "number") return `number ${value}`;
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${quote(value)}`;
}

function suggestion(value: unknown, candidates: readonly unknown[]): string {
  if (typeof value !== "string") return "";
  const match = closest(
    value,
    candidates.filter((c): c is string => typeof c === "string"),
  );
  return match ? `; did you mean '${match}'?` : "";
}

function oneOf(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(", ");
}

function notOneOf(values: readonly unknown[], value: unknown): string {
  return `expected one of ${oneOf(values)}, got ${kindOf(value)}${suggestion(value, values)}`;
}

/** One sentence for an issue (not a union: see flattenIssue), given the input value it is about. */
export function describeIssue(issue: Issue, value: unknown): string {
  switch (issue.code) {
    case "invalid_value":
      return notOneOf(issue.values, value);
    case "invalid_type":
      return value === undefined
        ? `missing (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${kindOf(value)}`;
    case "invalid_union": {
      // A discriminated union whose discriminator (e.g. a trigger's `mode`) matched no option.
      const options = (issue as { options?: unknown[] }).options;
      if (options && value !== undefined) return notOneOf(options, value);
      if (options) return `missing (expected one of ${oneOf(options)})`;
      const wanted = issue.errors.flatMap((b) => b.map((i) => (i.code === "invalid_type" ? i.expected : [])));
      if (wanted.length > 0) return `expected ${[...new Set(wanted)].join(" or ")}, got ${kindOf(value)}`;
      return issue.message;
    }
    case "too_small":
    case "too_big":
      return typeof value === "number" ? `${issue.message}, got ${value}` : issue.message;
    default:
      return issue.message;
  }
}

/** One sentence for an unknown key, with the likely intended key or else the keys that are allowed. */
export function describeUnknownKey(key: string, known: readonly string[]): string {
  const match = closest(key, known);
  if (match) return `unknown key ${quote(key)}; did you mean '${match}'?`;
  return known.length > 0
    ? `unknown key ${quote(key)} (expected one of: ${known.join(", ")})`
    : `unknown key ${quote(key)}`;
}
