import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { afterEach, describe, expect, it } from "vitest";

// The layer check of `make test` proves only what its rules catch: these cases run the project's own
// dependency-cruiser config over small made-up trees, each with one import the rules must (or must not) flag.

const CONFIG = resolve(import.meta.dirname, "../../.dependency-cruiser.mjs");
const TSCONFIG = JSON.stringify({
  compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true },
  include: ["src/**/*.ts"],
});

let tree: string | null = null;
afterEach(() => {
  if (tree) rmSync(tree, { recursive: true, force: true });
  tree = null;
});

/** `rule: from → to` for every violation the config finds in a tree of `files` (path → source). */
async function violations(files: Record<string, string>): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), "ezone-layers-"));
  tree = root;
  writeFileSync(join(root, "tsconfig.json"), TSCONFIG);
  for (const [path, source] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), source);
  }
  const options = await extractDepcruiseOptions(CONFIG);
  const { output } = await cruise(
    ["src"],
    { ...options, baseDir: root, validate: true },
    {},
    { tsConfig: extractTSConfig(join(root, "tsconfig.json")) },
  );
  return (output as ICruiseResult).summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

const exported = "export const value = 1;\nexport type Value = number;\n";

/** A case: a tree of files (path → source) and the violations the rules must find in it. */
type Case = [name: string, files: Record<string, string>, expected: string[]];

const CASES: Case[] = [
  [
    "let a folder import the layers below it",
    {
      "src/model/a.ts": exported,
      "src/util/b.ts": 'import { value } from "../model/a.js";\nexport const b = value;\n',
      "src/cli/c.ts": 'import { b } from "../util/b.js";\nexport const c = b;\n',
    },
    [],
  ],
  [
    "catch a value import against the direction",
    {
      "src/host/reaper.ts": exported,
      "src/util/child.ts": 'import { value } from "../host/reaper.js";\nexport const child = value;\n',
    },
    ["layer-util: src/util/child.ts → src/host/reaper.ts"],
  ],
  [
    "catch a type-only import against the direction",
    {
      "src/backends/backend.ts": exported,
      "src/faults/inject.ts":
        'import type { Value } from "../backends/backend.js";\nexport const v: Value = 2;\n',
    },
    ["layer-faults: src/faults/inject.ts → src/backends/backend.ts"],
  ],
  [
    "catch an import either way between report and perf",
    {
      "src/report/table.ts": exported,
      "src/perf/table.ts": 'import { value } from "../report/table.js";\nexport const t = value;\n',
      "src/perf/continuum.ts": exported,
      "src/report/overhead.ts": 'import { value } from "../perf/continuum.js";\nexport const o = value;\n',
    },
    [
      "layer-perf: src/perf/table.ts → src/report/table.ts",
      "layer-report: src/report/overhead.ts → src/perf/continuum.ts",
    ],
  ],
  [
    "catch a cycle inside one folder, through a type-only import",
    {
      "src/store/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/store/b.ts": 'import type { a } from "./a.js";\nexport const b = (f: typeof a) => f;\n',
    },
    ["no-cycle: src/store/a.ts → src/store/b.ts"],
  ],
  [
    "catch a folder that has no place in the layers",
    {
      "src/model/a.ts": exported,
      "src/scratch/b.ts": 'import { value } from "../model/a.js";\nexport const b = value;\n',
    },
    ["layer-unknown: src/scratch/b.ts → src/model/a.ts"],
  ],
  [
    "catch an import it cannot resolve, which could hide a forbidden one",
    { "src/util/a.ts": 'export { x } from "../campain/lock.js";\n' },
    ["no-unresolvable: src/util/a.ts → ../campain/lock.js"],
  ],
];

describe("the layer rules of make test", () => {
  it.each(CASES)("%s", async (_name, files, expected) => {
    expect(await violations(files)).toEqual(expected);
  });
});
