import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { eventually, ezoneSync, requireBuiltCli } from "../helpers/cli.js";

let dir: string;

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), "ezone-bitflip-native-"));
});
afterAll(() => {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const CAMPAIGN = `name: flips-native
backends: [native]
faults:
  - { name: bitflip, target: data, flips: 4 }
  - { name: bitflip, target: registers, register: rip, bit: 63, flips: 2 }
  - { name: bitflip, target: registers, flips: 2 }
# A busy shared host may fail a baseline probe: retried, not a result.
infra: { retries: 4, quarantineAfter: 12 }
`;

interface Row {
  run_key: string;
  outcome: string;
  soft_class: string | null;
  infra_error: string | null;
  evidence_json: string;
}

function storedRuns(results: string): Row[] {
  const db = new Database(join(results, "ezone.db"), { readonly: true });
  try {
    return db
      .prepare(
        "SELECT r.run_key, r.outcome, r.soft_class, r.infra_error, e.evidence_json FROM runs r JOIN evidence e ON e.run_id = r.id",
      )
      .all() as Row[];
  } finally {
    db.close();
  }
}

// The flipper is compiled with gcc on first use; ptrace needs nothing else on the host.
describe.runIf(hasBinary("gcc"))("bit flips on native by ptrace against its own golden run", () => {
  it("classifies seeded flips with their read-back proof; a rerun flips the same bit to the same class", () => {
    const file = join(dir, "flips-native.yaml");
    writeFileSync(file, CAMPAIGN);
    const results = join(dir, "results");
    const run = ezoneSync(dir, ["run", file, "--results", results]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stderr).toMatch(/golden run \S+\/native\/soft-workload\/\d+: digest [0-9a-f]{16}/);
    const rows = storedRuns(results);
    // The flip's own steps may not fail (a golden run whose baseline probe found the host busy may).
    const flipFailures = rows.filter(
      (r) => /^(golden|flip)/.test(r.infra_error ?? "") && !/probe\.baseline/.test(r.infra_error ?? ""),
    );
    expect(flipFailures, JSON.stringify(flipFailures.map((r) => r.infra_error))).toEqual([]);
    const runs = rows.filter((r) => r.outcome !== "infra-error");
    expect(runs).toHaveLength(8);
    const flips = runs.map((r) => ({ row: r, soft: JSON.parse(r.evidence_json).softError }));
    for (const { row, soft } of flips) {
      expect(row.soft_class, `${row.run_key}: ${row.outcome} ${JSON.stringify(soft)}`).not.toBeNull();
      expect(soft.flip.fired, JSON.stringify(soft.flip)).toBe(true);
    }
    const classes = (where: RegExp) =>
      flips.filter((f) => where.test(f.soft.flip.where)).map((f) => f.row.soft_class);
    expect(classes(/^virtual 0x[0-9a-f]+ bit [0-7]$/)).toContain("silent-data-corruption");
    expect(classes(/^rip bit 63$/)).toEqual(["detected", "detected"]);
    expect(flips.find((f) => f.soft.flip.target === "registers")?.soft.flip.cpl).toBe(3);

    const sdc = flips.find((f) => f.row.soft_class === "silent-data-corruption")?.row;
    // A rerun is not retried by ezone: a busy host's baseline probe (an infra-error) is retried here.
    let rerun = ezoneSync(dir, ["rerun", sdc?.run_key ?? "", "--results", results]);
    for (let i = 0; i < 4 && /replayed infra-error — probe\./.test(rerun.stdout); i++)
      rerun = ezoneSync(dir, ["rerun", sdc?.run_key ?? "", "--results", results]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(
      /stored +contained-\w+ \[silent-data-corruption\][\s\S]*replayed contained-\w+ \[silent-data-corruption\]/,
    );
    const [, stored, replayed] = /flip +stored (.+), replayed (.+)\n/.exec(rerun.stdout) ?? [];
    expect(stored).toMatch(/^data virtual 0x[0-9a-f]+ bit [0-7]$/);
    expect(replayed).toBe(stored);
  }, 60_000);

  it("leaves no flipper or workload behind", async () => {
    await eventually(
      () => processesMatching("ezone-flipper").length + processesMatching("ezone-agent").length === 0,
      10_000,
      "the flipper and the agents to end",
    );
  });
});
