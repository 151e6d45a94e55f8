import { toCsv, toJsonl, toJunit } from "../../report/export-formats.js";
import { openResults } from "../../store/open-results.js";
import { ConfigError } from "../../util/errors.js";

export interface ExportOptions {
  format: string;
  campaign?: string;
}

const FORMATS = ["jsonl", "csv", "junit"] as const;

/** `ezone export <results> --format jsonl|csv|junit`: stored runs for spreadsheets, notebooks and CI. */
export async function run(resultsDir: string, opts: ExportOptions): Promise<void> {
  if (!(FORMATS as readonly string[]).includes(opts.format)) {
    throw new ConfigError("--format", [
      { path: opts.format, message: `expected one of ${FORMATS.join(", ")}` },
    ]);
  }
  using store = openResults(resultsDir);
  const runs = store.runs({ campaign: opts.campaign });
  if (opts.format === "jsonl") process.stdout.write(toJsonl(runs));
  else if (opts.format === "csv") process.stdout.write(toCsv(runs));
  else {
    const names = opts.campaign ? [opts.campaign] : store.campaigns();
    process.stdout.write(
      toJunit(
        runs,
        names.flatMap((n) => store.statements(n)),
      ),
    );
  }
}
