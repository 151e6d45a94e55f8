/**
 * Golden console logs: every `.log` under test/fixtures/console is header lines, a blank line, then the
 * raw console bytes. The headers say what `parseConsoleLog` must find. `derived/` holds recorded captures
 * passed through real-world line formatting (syslog, journald, `dmesg -T`, a serial mux, line numbers,
 * an unknown tag): each must parse to the same report as its source. With EZONE_UPDATE_FIXTURES=1
 * the computed headers are rewritten from the parser instead (review the diff before committing).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXCERPT_MAX_LINES, parseConsoleLog } from "../../src/monitor/console-parser.js";

const ROOT = fileURLToPath(new URL("../fixtures/console/", import.meta.url));
const UPDATE = process.env.EZONE_UPDATE_FIXTURES === "1";
/** Headers computed from the console, in the order they are written. Others (SOURCE) are kept as they are. */
const COMPUTED = ["TITLE", "TYPE", "CORRUPTED", "PANIC", "PROOF", "EVENTS"] as const;
type Computed = Record<(typeof COMPUTED)[number], string>;

function logFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return logFiles(full);
      return entry.name.endsWith(".log") ? [full] : [];
    })
    .sort();
}

interface Fixture {
  headers: [string, string][];
  body: Buffer;
}

function readFixture(file: string): Fixture {
  const bytes = readFileSync(file);
  const split = bytes.indexOf("\n\n");
  if (split === -1) throw new Error(`${file}: no blank line after the headers`);
  const headers = bytes
    .subarray(0, split)
    .toString("utf8")
    .split("\n")
    .map((line): [string, string] => {
      const colon = line.indexOf(": ");
      if (colon === -1) throw new Error(`${file}: header line ${JSON.stringify(line)} is not "KEY: value"`);
      return [line.slice(0, colon), line.slice(colon + 2)];
    });
  return { headers, body: bytes.subarray(split + 2) };
}

function computed(body: Buffer): Computed {
  const { crash, events } = parseConsoleLog(body);
  const proofs = events.flatMap((e) =>
    e.kind === "proof" ? [`${e.fault} nonce=${e.nonce} context=${e.context}`] : [],
  );
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
  const eventList = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([kind, n]) => `${kind}=${n}`);
  return {
    TITLE: crash?.title ?? "none",
    TYPE: crash?.crashClass ?? "none",
    CORRUPTED: crash?.corrupted ? "yes" : "no",
    PANIC: crash?.panic ? "yes" : "no",
    PROOF: proofs.join("; ") || "none",
    EVENTS: eventList.join(" ") || "none",
  };
}

function rewrite(file: string, fixture: Fixture, values: Computed): void {
  const kept = fixture.headers.filter(([key]) => !(COMPUTED as readonly string[]).includes(key));
  const lines = [...COMPUTED.map((key) => `${key}: ${values[key]}`), ...kept.map(([k, v]) => `${k}: ${v}`)];
  writeFileSync(file, Buffer.concat([Buffer.from(`${lines.join("\n")}\n\n`), fixture.body]));
}

const files = logFiles(ROOT);

describe("console fixtures", () => {
  it("has the recorded captures and the synthetic cases", () => {
    const names = files.map((f) => path.relative(ROOT, f));
    expect(names.filter((n) => n.startsWith("qemu-tcg/")).length).toBeGreaterThanOrEqual(3);
    expect(names.filter((n) => n.startsWith("synthetic/")).length).toBeGreaterThanOrEqual(12);
    expect(names.filter((n) => n.startsWith("derived/")).length).toBeGreaterThanOrEqual(6);
  });

  it.each(files.map((f) => [path.relative(ROOT, f), f]))("%s", (name, file) => {
    const fixture = readFixture(file);
    const actual = computed(fixture.body);
    if (UPDATE) {
      rewrite(file, fixture, actual);
      return;
    }
    const headers = Object.fromEntries(fixture.headers);
    const expected = Object.fromEntries(COMPUTED.map((key) => [key, headers[key]]));
    expect(actual).toEqual(expected);

    const source = headers.SOURCE ?? "";
    const derivedFrom = /^derived from (\S+\.log)$/.exec(source)?.[1];
    if (name.startsWith("synthetic/")) expect(source).toBe("synthetic (hand-written)");
    else if (name.startsWith("derived/")) {
      expect(derivedFrom).toBeDefined();
      const original = Object.fromEntries(readFixture(path.join(ROOT, derivedFrom ?? "")).headers);
      for (const key of COMPUTED) expect(actual[key], key).toBe(original[key]);
    } else expect(source).toMatch(/^recorded from ezone /);

    const crash = parseConsoleLog(fixture.body).crash;
    if (crash) {
      expect(crash.excerpt.length).toBeLessThanOrEqual(EXCERPT_MAX_LINES);
      expect(crash.excerpt.some((line) => line.endsWith(crash.header))).toBe(true);
      if (crash.panic) expect(crash.excerpt.at(-1)).toContain("Kernel panic - not syncing");
    }
  });
});
