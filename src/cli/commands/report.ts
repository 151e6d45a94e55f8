import { existsSync } from "node:fs";
import { join } from "node:path";
import { PAPER_COLUMNS, paperCells, paperRows, renderTable } from "../../report/paper-table.js";
import { Store } from "../../store/store.js";
import { ConfigError } from "../../util/errors.js";

export interface ReportOptions {
  campaign?: string;
  json?: boolean;
}

/** The paper's table for every campaign in a results directory (from stored runs only). */
export function paperReport(
  resultsDir: string,
  campaign?: string,
): { campaign: string; table: string; rows: ReturnType<typeof paperRows> }[] {
  if (!existsSync(join(resultsDir, "ezone.db"))) {
    throw new ConfigError(resultsDir, [
      { path: "", message: "no ezone.db here: expected a results directory" },
    ]);
  }
  using store = Store.open(resultsDir);
  const names = campaign ? [campaign] : store.campaigns();
  return names.map((name) => {
    const runs = store.runs({ campaign: name });
    const statements = store.statements(name);
    const order = [...new Set([...statements.map((s) => s.backend), ...runs.map((r) => r.backend)])];
    const campaignOrder = store.campaignBackends(name) ?? order;
    const rows = paperRows(campaignOrder, runs, statements);
    return { campaign: name, rows, table: renderTable(PAPER_COLUMNS, rows.map(paperCells)) };
  });
}

/** `ezone report <results>`: the paper's table in the terminal (HTML comes later). */
export async function run(resultsDir: string, opts: ReportOptions): Promise<void> {
  const reports = paperReport(resultsDir, opts.campaign);
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify(
        reports.map(({ campaign, rows }) => ({ campaign, rows })),
        null,
        2,
      )}\n`,
    );
    return;
  }
  for (const r of reports)
    process.stdout.write(`Campaign ${r.campaign}: E-Zone 3 (guest kernel) fault\n${r.table}\n\n`);
}
