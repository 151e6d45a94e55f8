/**
 * The report's browser script (`browser/report-client.ts`), as the JavaScript the page inlines. The build
 * compiles it with the DOM library (tsconfig.client.json) next to this module; run from the TypeScript
 * sources (the tests), the same file is transpiled here with the compiler, a development dependency.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { assertInlineable } from "./assets.js";
import { separateLabels } from "./label-layout.js";

const COMPILED = new URL("./browser/report-client.js", import.meta.url);
const SOURCE = new URL("./browser/report-client.ts", import.meta.url);

let cached: string | null = null;

function transpile(source: string): string {
  const ts = createRequire(import.meta.url)("typescript") as typeof import("typescript");
  const options = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, alwaysStrict: true };
  return ts.transpileModule(source, { compilerOptions: options }).outputText;
}

/**
 * The browser script of the report (read once per process), after the label layout it calls: that
 * function runs in the page through its own text (`Function.prototype.toString`), in the module's scope.
 */
export function clientScript(): string {
  cached ??= assertInlineable(
    "the report's browser script",
    `const separateLabels = ${separateLabels.toString()};\n${compiledClient()}`,
  );
  return cached;
}

/** The build's output, or the source transpiled here when run from TypeScript (the tests). */
function compiledClient(): string {
  return existsSync(COMPILED) ? readFileSync(COMPILED, "utf8") : transpile(readFileSync(SOURCE, "utf8"));
}
