/**
 * The parser against the labelled third-party console corpus, read in place (never copied into the
 * repo): `../shared/corpus` next to the checkout, or EZONE_CORPUS_DIR. The logs are parsed in this
 * process; the corpus's own score.py rules (imported, not copied) map the results to its metrics.
 * Under CI=true a missing corpus fails; elsewhere the test is skipped with the reason.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseLogFile } from "../../src/cli/commands/console-parse.js";
import { expectOneFunction } from "./console-contract.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CORPUS = process.env.EZONE_CORPUS_DIR ?? path.resolve(REPO, "../shared/corpus");
const MANIFEST = path.join(CORPUS, "linux-console-dev", "manifest.tsv");
const SCORER = path.join(CORPUS, "score.py");
/** The goals of the dev corpus (README "Crash recognition"). */
const GOALS = { detect: 0.98, type: 0.92, frame: 0.85, falseAlarms: 1 };

const missing = [MANIFEST, SCORER].filter((f) => !existsSync(f));
const reason = missing.length ? `corpus not found: ${missing.join(", ")} (set EZONE_CORPUS_DIR)` : "";

/** Scores results (one JSON object per line, with `expected` rows) with score.py's own mapping rules. */
const DRIVER = `
import json, sys
sys.path.insert(0, sys.argv[1])
import score
n = det = typ = fr = frn = fa = 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    exp, cls = r["expected_title"].strip(), r["expected_class"]
    crashed = r["crashed"]
    got = "none" if not crashed else score.map_class(r["class"] or r["title"])
    if crashed and got == "none":
        got = "other"
    n += 1
    det += crashed == bool(exp)
    typ += got == cls
    fa += (not exp) and crashed
    f = score.expected_frame(exp) if exp else None
    if f:
        frn += 1
        fr += bool(crashed and score.frame_in(f, r["title"] or "", r["frame"] or ""))
print(json.dumps({"n": n, "detect": det / n, "type": typ / n, "frame": fr / frn, "falseAlarms": fa}))
`;

interface Row {
  file: string;
  expected_title: string;
  class: string;
}

function manifest(): Row[] {
  const [head, ...rows] = readFileSync(MANIFEST, "utf8").trimEnd().split("\n");
  const columns = (head ?? "").split("\t");
  return rows.map((row) => {
    const cells = row.split("\t");
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ""])) as unknown as Row;
  });
}

describe("labelled console corpus", () => {
  if (reason && process.env.CI === "true") {
    it("is present under CI", () => {
      throw new Error(`CI=true and the ${reason}`);
    });
    return;
  }

  it.skipIf(reason !== "")(`meets the dev-corpus goals${reason ? ` (skipped: ${reason})` : ""}`, async () => {
    const rows = manifest();
    const dir = mkdtempSync(path.join(tmpdir(), "ezone-corpus-"));
    try {
      const lines: string[] = [];
      for (const row of rows) {
        const r = await parseLogFile(path.join(path.dirname(MANIFEST), row.file));
        expectOneFunction(r);
        lines.push(
          JSON.stringify({
            crashed: r.crashed,
            title: r.title,
            class: r.class,
            frame: r.frame,
            expected_title: row.expected_title,
            expected_class: row.class,
          }),
        );
      }
      const results = path.join(dir, "results.jsonl");
      writeFileSync(results, `${lines.join("\n")}\n`);
      const out = execFileSync("python3", ["-c", DRIVER, CORPUS, results], {
        encoding: "utf8",
        timeout: 60_000,
      });
      const got = JSON.parse(out) as typeof GOALS & { n: number };
      expect(got.n).toBe(rows.length);
      expect(got.detect).toBeGreaterThanOrEqual(GOALS.detect);
      expect(got.type).toBeGreaterThanOrEqual(GOALS.type);
      expect(got.frame).toBeGreaterThanOrEqual(GOALS.frame);
      expect(got.falseAlarms).toBeLessThanOrEqual(GOALS.falseAlarms);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
