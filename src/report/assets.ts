/**
 * The plotting libraries the HTML report inlines (d3 and Observable Plot, ISC licence), read from
 * node_modules when a report is written: the report file needs no network, and ezone fetches nothing.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, parse } from "node:path";

export interface PlotAssets {
  /** d3's UMD build; defines the global `d3`. */
  d3: string;
  /** Plot's UMD build; needs the global `d3`, defines `Plot`. */
  plot: string;
}

const require = createRequire(import.meta.url);

/** The root folder of installed package `name` (the closest folder above its entry with that package.json). */
function packageRoot(name: string): string {
  let dir = dirname(require.resolve(name));
  while (dir !== parse(dir).root) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === name) return dir;
    } catch {
      // no package.json here: keep climbing
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the folder of package ${name} (is it installed? run npm ci)`);
}

/**
 * Text that may sit inside an inline `<script>`: a `</script` or `<!--` would end or confuse the element.
 * The builds contain neither today; should one appear, refuse rather than guess at an escape.
 */
export function assertInlineable(name: string, js: string): string {
  if (/<\/script|<!--/i.test(js)) throw new Error(`${name} contains "</script" or "<!--": cannot inline it`);
  return js;
}

let cached: PlotAssets | null = null;

/** Read (once per process) the UMD builds of d3 and Plot. */
export function loadPlotAssets(): PlotAssets {
  cached ??= {
    d3: assertInlineable("d3", readFileSync(join(packageRoot("d3"), "dist", "d3.min.js"), "utf8")),
    plot: assertInlineable(
      "@observablehq/plot",
      readFileSync(join(packageRoot("@observablehq/plot"), "dist", "plot.umd.min.js"), "utf8"),
    ),
  };
  return cached;
}
