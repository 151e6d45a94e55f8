import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, expect, it } from "vitest";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/schema.js";
import { DB_FILE, Store } from "../../src/store/store.js";
import { FIXTURE_PARAMS } from "../helpers/report-fixtures.js";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it("a results database from before boot-error keeps its runs and their children, and accepts boot-error", () => {
  dir = mkdtempSync(join(tmpdir(), "ezone-migrate-"));
  const old = new Database(join(dir, DB_FILE));
  old.pragma("foreign_keys = ON");
  for (const step of MIGRATIONS.slice(0, 3)) old.exec(step);
  old.pragma("user_version = 3");
  old.exec(`INSERT INTO campaigns VALUES (1, 'paper', '{}', 'h', 't');
    INSERT INTO runs (id, campaign_id, run_key, backend, fault, zone, params_json, repetition, seed, nonce,
      outcome, reasons_json, started_at, finished_at, run_ms, stop_reason, proof, guest_crashed)
    VALUES (7, 1, 'paper/b/kerncrash/h/1', 'b', 'kerncrash', 3, '${JSON.stringify(FIXTURE_PARAMS)}', 1, 's', 'n',
      'contained-limited', '[]', 't', 't', 1, 'guest-panic', 1, 1);
    INSERT INTO evidence VALUES (7, '{}');`);
  old.close();

  Store.open(dir).close();
  const db = new Database(join(dir, DB_FILE));
  try {
    db.pragma("foreign_keys = ON");
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    expect(
      db.prepare("SELECT run_key, outcome FROM runs JOIN evidence ON evidence.run_id = runs.id").all(),
    ).toEqual([{ run_key: "paper/b/kerncrash/h/1", outcome: "contained-limited" }]);
    expect(db.pragma("foreign_key_check")).toEqual([]);
    const insert = db.prepare(
      `INSERT INTO runs (campaign_id, run_key, backend, fault, zone, params_json, repetition, seed, nonce,
         outcome, reasons_json, started_at, finished_at, run_ms, stop_reason, proof, guest_crashed)
       VALUES (1, ?, 'b', 'kerncrash', 3, '{}', 1, 's', 'n', ?, '[]', 't', 't', 1, 'observe-deadline', 0, 0)`,
    );
    expect(() => insert.run("k/1!boot-0", "boot-error")).not.toThrow();
    expect(() => insert.run("k/2", "crashed")).toThrow(/CHECK constraint failed/);
    expect(() => db.prepare("INSERT INTO evidence VALUES (999, '{}')").run()).toThrow(/FOREIGN KEY/);
  } finally {
    db.close();
  }
});
