/**
 * The one loader for ezone's YAML config files (campaigns, the monitor): read with bounds, parse with
 * positions, validate with a zod schema. Every problem is a ConfigError (exit code 2) naming the file,
 * the line and column of the offending key or value, its key path and what was expected.
 */
import { isUtf8 } from "node:buffer";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isScalar,
  LineCounter,
  type Node,
  parseDocument,
  type Scalar,
  visit,
  type YAMLError,
} from "yaml";
import type { z } from "zod";
import { ConfigError } from "./errors.js";
import { escapeControl, shellQuote } from "./escape.js";
import {
  describeIssue,
  describeUnknownKey,
  dropExplained,
  flattenIssue,
  type Issue,
  knownKeys,
  quote,
  valueAt,
} from "./zod-issues.js";

/** Largest config file accepted: real ones are a few KiB; this bounds what a hostile file can cost. */
export const MAX_CONFIG_BYTES = 256 * 1024;
/** Most YAML nodes (keys and values) accepted: a monitor config of 1000 enclaves needs about 15,000. */
const MAX_NODES = 20_000;
/** Nodes that YAML aliases may copy in: enough for any honest reuse, far too few for an alias bomb. */
const MAX_ALIAS_NODES = 1000;
/** Deepest nesting accepted (ezone's configs need 5 levels): bounds the recursion of every later step. */
const MAX_DEPTH = 32;
/** Problems listed per file; the rest are counted. */
const MAX_ISSUES = 20;
/** Schema issues located and sorted into file order; enough to find the first MAX_ISSUES. */
const MAX_LOCATED = 1000;

/** The kinds of ezone config file, told apart by their top-level keys, and the command that takes each. */
export const CONFIG_KINDS = {
  campaign: { noun: "a campaign", command: "ezone run", keys: ["backends", "faults"] },
  monitor: { noun: "a monitor config", command: "ezone monitor --config", keys: ["syslog", "enclaves"] },
} as const;
export type ConfigKind = keyof typeof CONFIG_KINDS;

type Located = ConfigError["issues"][number];

/** The command line that takes `file` as a config of this kind (the file quoted for a shell if need be). */
export function commandFor(kind: ConfigKind, file: string): string {
  const word = /^[\w./@%+=:,-]+$/.test(file) ? file : shellQuote(file);
  return `${CONFIG_KINDS[kind].command} ${word}`;
}

/** A parsed file: the YAML document with offsets, and their line counter. */
interface Parsed {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

function at(lines: LineCounter, offset: number, path: string): string {
  const { line, col } = lines.linePos(offset);
  return `line ${line}, column ${col}${path ? `: ${path}` : ""}`;
}

/** Line and column of a string index, for checks that run before YAML has parsed anything. */
function textPosition(text: string, index: number): string {
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (const match of text.matchAll(/\n/g)) lines.addNewLine(match.index + 1);
  return at(lines, index, "");
}

/**
 * Characters YAML does not allow in a stream (C0 controls but tab and line breaks, DEL, C1 controls but
 * NEL, non-characters): a file holding them is binary data, not a config.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the purpose
const NOT_YAML = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]/;
/** In a string value (written with an escape such as "\e"): would act on the terminal that prints it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the purpose
const CONTROL_IN_VALUE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/;

/** Read a config file: a missing path, a directory, an oversize file or one that is not UTF-8 is a ConfigError. */
export function readConfigText(file: string): string {
  const fail = (message: string) => new ConfigError(file, [{ path: "(file)", message }]);
  let fd: number;
  try {
    // Non-blocking: a FIFO with no writer would block the open (and the read) for ever.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw fail("no such file");
    if (code === "EISDIR") throw fail("is a directory, expected a YAML file");
    throw fail(`cannot read: ${code ?? String(e)}`);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw fail("is a directory, expected a YAML file");
    // Read at most one byte past the limit, whatever the file claims to be (a FIFO, /dev/zero).
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let size = 0;
    const deadline = Date.now() + PIPE_WAIT_MS;
    for (let n = -1; n !== 0 && size < buffer.length; size += n) {
      n = readPatiently(fd, buffer, size, deadline);
    }
    if (size > MAX_CONFIG_BYTES) throw fail(`larger than ${MAX_CONFIG_BYTES} bytes: not a config file`);
    if (size === 0) throw fail("empty (or a pipe nothing wrote to), expected a YAML file");
    return decode(buffer.subarray(0, size), file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw fail(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  } finally {
    closeSync(fd);
  }
}

/** How long a pipe (`ezone run <(generate)`) may keep its reader waiting for its next bytes. */
const PIPE_WAIT_MS = 10_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * One read of a descriptor opened non-blocking: a pipe whose writer has not written yet says EAGAIN, so
 * wait a little (synchronously: config loading is synchronous) and try again until `deadline`. A FIFO
 * with no writer at all reads as end of file at once, never a hang.
 */
function readPatiently(fd: number, buffer: Buffer, offset: number, deadline: number): number {
  for (;;) {
    try {
      return readSync(fd, buffer, offset, buffer.length - offset, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN" || Date.now() > deadline) throw e;
      Atomics.wait(pause, 0, 0, 20);
    }
  }
}

function decode(bytes: Buffer, file: string): string {
  const text = bytes.toString("utf8");
  if (bytes.includes(0)) {
    throw new ConfigError(file, [
      {
        path: textPosition(text, text.indexOf("\0")),
        message: "binary data (a NUL byte), expected YAML text",
      },
    ]);
  }
  if (!isUtf8(bytes)) {
    // The first replacement character is where decoding failed (unless the file also holds a real one).
    const index = Math.max(0, text.indexOf("\ufffd"));
    throw new ConfigError(file, [{ path: textPosition(text, index), message: "not UTF-8 text" }]);
  }
  return text;
}

function checkText(text: string, file: string): void {
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ConfigError(file, [
      { path: "(file)", message: `larger than ${MAX_CONFIG_BYTES} bytes: not a config file` },
    ]);
  }
  const bad = NOT_YAML.exec(text);
  if (bad) {
    const what = bad[0] === "\0" ? "a NUL byte" : `control character ${escapeControl(bad[0])}`;
    throw new ConfigError(file, [
      { path: textPosition(text, bad.index), message: `binary data (${what}), expected YAML text` },
    ]);
  }
}

function yamlMessage(error: YAMLError, text: string): string {
  // The offending token: a key or tag runs to the next colon, space or line end.
  const source =
    /^("[^"\n]*"|'[^'\n]*'|[^\s:]*)/.exec(text.slice(error.pos[0], error.pos[0] + 200))?.[0] ?? "";
  switch (error.code) {
    case "TAB_AS_INDENT":
      return "YAML syntax: a tab in the indentation (YAML indents with spaces)";
    case "DUPLICATE_KEY":
      return `YAML syntax: duplicate key ${quote(source)}`;
    case "MULTIPLE_DOCS":
      return "several YAML documents (a second one starts here): a config file holds one";
    case "TAG_RESOLVE_FAILED":
      return `YAML: unknown tag ${quote(source)}`;
    default:
      // The parser's own recursion limit, hit by brackets nested thousands deep.
      if (/call stack/i.test(error.message)) return `YAML: nested more than ${MAX_DEPTH} levels deep`;
      return `YAML syntax: ${error.message.split("\n")[0]}`;
  }
}

/**
 * Where the flow collection or quoted string still open at `end` was opened, or undefined. The parser
 * notices an unclosed `[`, `{` or `"` only lines later; the user needs the line it was opened on. A
 * quote opens a string only where a value starts (after `:`, `-`, `[`, `{`, `,` or at a line's start).
 */
function openedAt(text: string, end: number): number | undefined {
  const open: number[] = [];
  let quote: { char: string; at: number } | undefined;
  let valueStart = true;
  for (let i = 0; i < end && i < text.length; i++) {
    const c = text[i] ?? "";
    if (quote) {
      if (c === "\\" && quote.char === '"') i++;
      else if (c === quote.char) quote = undefined;
      continue;
    }
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1] ?? ""))) {
      while (i < end && text[i] !== "\n") i++;
      valueStart = true;
      continue;
    }
    if ((c === '"' || c === "'") && valueStart) quote = { char: c, at: i };
    else if (c === "[" || c === "{") open.push(i);
    else if (c === "]" || c === "}") open.pop();
    if (!/[ \t]/.test(c)) valueStart = /[\n:\-[{,?]/.test(c);
  }
  return quote?.at ?? open.at(-1);
}

/** A syntax error where the user needs it: an unclosed collection or string at its opening. */
function syntaxIssue(error: YAMLError, text: string, lines: LineCounter): Located {
  const unclosed = /end with a [\]}]|closing .*quote/i.test(error.message);
  const opener = unclosed ? openedAt(text, error.pos[0]) : undefined;
  if (opener === undefined) return { path: at(lines, error.pos[0], ""), message: yamlMessage(error, text) };
  return { path: at(lines, opener, ""), message: `YAML syntax: this ${quote(text[opener])} is never closed` };
}

/** Parse YAML text: syntax errors, several documents and unknown tags name their line and column. */
function parse(text: string, file: string): Parsed {
  checkText(text, file);
  const lines = new LineCounter();
  // Keys are checked for uniqueness below, in one pass: the parser's own check is quadratic.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ConfigError(file, bounded(problems.map((e) => syntaxIssue(e, text, lines))));
  }
  return { file, doc, lines };
}

/** The first node (keys included) that `test` holds for, given how many collections enclose it. */
function firstNode(doc: Document, test: (node: Node, depth: number) => boolean): Node | undefined {
  let found: Node | undefined;
  visit(doc, (_key, node, path) => {
    if (isNode(node) && test(node, path.filter(isCollection).length)) {
      found = node;
      return visit.BREAK;
    }
    return undefined;
  });
  return found;
}

function stringWithControl(node: Node): string | undefined {
  return isScalar(node) && typeof node.value === "string"
    ? CONTROL_IN_VALUE.exec(node.value)?.[0]
    : undefined;
}

/** A key written twice in one mapping (also `1` and `"1"`, which become the same key), and its first. */
function firstDuplicateKey(doc: Document): { key: Node; first: Node } | undefined {
  let found: { key: Node; first: Node } | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Map<string, Node>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        const first = seen.get(String(key.value));
        if (first) found = { key, first };
        if (found) return visit.BREAK;
        seen.set(String(key.value), key);
      }
      return undefined;
    },
  });
  return found;
}

function firstComplexKey(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Pair(_key, pair) {
      if (isNode(pair.key) && !isScalar(pair.key)) found = pair.key;
      return found ? visit.BREAK : undefined;
    },
  });
  return found;
}

/**
 * What no schema should have to meet, checked before the document becomes data: more nodes than any
 * config has, a key written twice, nesting that deep recursion would choke on, keys that are lists or
 * mappings (JavaScript would stringify them), and control characters hidden in escaped strings. The
 * first offending node and why, or undefined.
 */
function shapeProblem(doc: Document, lines: LineCounter): { node: Node; message: string } | undefined {
  let count = 0;
  const tooMany = firstNode(doc, () => ++count > MAX_NODES);
  if (tooMany) return { node: tooMany, message: `more than ${MAX_NODES} keys and values: not a config file` };
  const duplicate = firstDuplicateKey(doc);
  if (duplicate) {
    const first = lines.linePos(duplicate.first.range?.[0] ?? 0);
    const name = quote((duplicate.key as Scalar).value);
    return {
      node: duplicate.key,
      message: `YAML syntax: duplicate key ${name} (first at line ${first.line})`,
    };
  }
  const deep = firstNode(doc, (_node, depth) => depth > MAX_DEPTH);
  if (deep) return { node: deep, message: `nested more than ${MAX_DEPTH} levels deep` };
  const key = firstComplexKey(doc);
  if (key) return { node: key, message: "a key must be a plain name, not a list or mapping" };
  const control = firstNode(doc, (node) => stringWithControl(node) !== undefined);
  if (control) {
    const char = stringWithControl(control) ?? "";
    return { node: control, message: `control character ${escapeControl(char)} in a string` };
  }
  return undefined;
}

/** The document as plain data: aliases that expand too far, or point nowhere, are config errors. */
function toData({ file, doc, lines }: Parsed): unknown {
  const problem = shapeProblem(doc, lines);
  if (problem) {
    throw new ConfigError(file, [
      { path: at(lines, problem.node.range?.[0] ?? 0, ""), message: problem.message },
    ]);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_NODES });
  } catch (e) {
    const alias =
      firstNode(doc, (n) => isAlias(n) && n.resolve(doc) === undefined) ?? firstNode(doc, isAlias);
    const message = /alias count/i.test(String((e as Error).message))
      ? `aliases expand to more than ${MAX_ALIAS_NODES} nodes (an alias bomb?)`
      : `YAML: ${escapeControl(String((e as Error).message))}`;
    throw new ConfigError(file, [{ path: at(lines, alias?.range?.[0] ?? 0, ""), message }]);
  }
}

function topKeys(doc: Document): string[] {
  return isMap(doc.contents)
    ? doc.contents.items.flatMap((p) => (isScalar(p.key) ? [String(p.key.value)] : []))
    : [];
}

/**
 * The kind of config the document's top-level keys show most (`prefer` on a tie), or undefined when they
 * show none.
 */
function kindOf(doc: Document, prefer?: ConfigKind): ConfigKind | undefined {
  const keys = topKeys(doc);
  const score = (kind: ConfigKind) =>
    CONFIG_KINDS[kind].keys.filter((k) => keys.includes(k)).length + (kind === prefer ? 0.5 : 0);
  const [best] = (Object.keys(CONFIG_KINDS) as ConfigKind[]).sort((a, b) => score(b) - score(a));
  return best && score(best) >= 1 ? best : undefined;
}

/** Which kind of config file YAML text is (from its top-level keys); a syntax error is a ConfigError. */
export function configKindOf(text: string, file: string): ConfigKind | undefined {
  return kindOf(parse(text, file).doc);
}

function nodeAt(doc: Document, path: PropertyKey[]): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
    if (isNode(node)) return node;
  }
  return undefined;
}

/**
 * Where the value at `path` is written: a scalar at its first character; a list or mapping at its key
 * (a block collection starts on the line after it); a missing value at the nearest enclosing one.
 */
function offsetOf(doc: Document, path: PropertyKey[]): number {
  const node = nodeAt(doc, path);
  const last = path.at(-1);
  const parent = path.length > 0 ? nodeAt(doc, path.slice(0, -1)) : undefined;
  if (isCollection(node) && node === doc.getIn(path as (string | number)[], true) && isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    if (isScalar(pair?.key) && pair.key.range) return pair.key.range[0];
  }
  return node?.range?.[0] ?? 0;
}

function keyPath(path: PropertyKey[]): string {
  const text = path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return text.replace(/^\./, "") || "(root)";
}

/** Each issue at the line and column of its key (unknown keys) or value (the rest), in file order. */
function locate(
  { doc, lines }: Parsed,
  data: unknown,
  schema: z.core.$ZodType,
  issue: Issue,
): (Located & { offset: number })[] {
  if (issue.code === "unrecognized_keys") {
    const parent =
      doc.getIn(issue.path as (string | number)[], true) ??
      (issue.path.length === 0 ? doc.contents : undefined);
    const known = knownKeys(schema, issue.path);
    const keyOffsets = new Map<string, number>();
    for (const p of isMap(parent) ? parent.items : []) {
      if (isScalar(p.key) && p.key.range) keyOffsets.set(String(p.key.value), p.key.range[0]);
    }
    return issue.keys.map((key) => {
      const offset = keyOffsets.get(key) ?? nodeAt(doc, issue.path)?.range?.[0] ?? 0;
      return {
        offset,
        path: at(lines, offset, keyPath([...issue.path, key])),
        message: describeUnknownKey(key, known),
      };
    });
  }
  const offset = offsetOf(doc, issue.path);
  return [
    {
      offset,
      path: at(lines, offset, keyPath(issue.path)),
      message: describeIssue(issue, valueAt(data, issue.path)),
    },
  ];
}

/** The first problems, and how many more of `total` there are. */
function bounded(issues: Located[], total = issues.length): Located[] {
  if (total <= MAX_ISSUES) return issues;
  return [
    ...issues.slice(0, MAX_ISSUES),
    { path: "…", message: `… and ${total - MAX_ISSUES} more problems` },
  ];
}

/**
 * Parse and validate YAML config text against `schema`. `kind` is what the caller takes: a file that is
 * plainly another kind of config is rejected with the command that takes it.
 */
export function parseYamlConfig<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  kind: ConfigKind,
): z.output<S> {
  const parsed = parse(text, file);
  const other = kindOf(parsed.doc, kind);
  if (other && other !== kind) {
    const marker = isMap(parsed.doc.contents)
      ? parsed.doc.contents.items.find(
          (p) => isScalar(p.key) && CONFIG_KINDS[other].keys.some((k) => k === (p.key as Scalar).value),
        )
      : undefined;
    const offset = (isScalar(marker?.key) ? marker.key.range?.[0] : undefined) ?? 0;
    throw new ConfigError(file, [
      {
        path: at(parsed.lines, offset, "(root)"),
        message: `this is ${CONFIG_KINDS[other].noun}, not ${CONFIG_KINDS[kind].noun}: use \`${commandFor(other, file)}\``,
      },
    ]);
  }
  const data = toData(parsed);
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issues = dropExplained(result.error.issues.flatMap(flattenIssue), schema, data);
  const located = issues
    .slice(0, MAX_LOCATED)
    .flatMap((issue) => locate(parsed, data, schema, issue))
    .sort((a, b) => a.offset - b.offset)
    .map(({ path, message }) => ({ path, message }));
  throw new ConfigError(file, bounded(located, located.length + Math.max(0, issues.length - MAX_LOCATED)));
}

/**
 * A ConfigError about the value at `path` in YAML text that its schema accepted, for checks the schema
 * cannot make (the file system's say on a path): at the value's line and column like every other error.
 */
export function configErrorAt(
  text: string,
  file: string,
  path: (string | number)[],
  message: string,
): ConfigError {
  const parsed = parse(text, file);
  const offset = offsetOf(parsed.doc, path);
  return new ConfigError(file, [{ path: at(parsed.lines, offset, keyPath(path)), message }]);
}
