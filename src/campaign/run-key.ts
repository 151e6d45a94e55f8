import { createHash } from "node:crypto";
import type { Outcome } from "../model/outcome-types.js";
import type { RunParams } from "../model/run-params.js";

/** Hex SHA-256 of `text`. */
export function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * A cell's key: `<campaign>/<backend>/<fault>/<first 12 hex of sha256(JSON of params)>`; a run's key is
 * the cell's key, `/`, its repetition. Stored keys were made this way: the JSON (and so the field order
 * `runParams` fixes) must never change, or a resume would run every stored run again.
 */
export function cellKey(campaign: string, backend: string, fault: string, params: RunParams): string {
  return `${campaign}/${backend}/${fault}/${sha(JSON.stringify(params)).slice(0, 12)}`;
}

/** A repetition's seed, from its key: the same on every host and every resume. */
export function seedOf(key: string): string {
  return sha(key).slice(0, 16);
}

/**
 * The key an attempt is stored under: a result under the run's key; an infra-error or boot-error (not a
 * result) under its attempt's own key, so a resume tries the run again.
 */
export function attemptKey(key: string, outcome: Outcome, attempt: number): string {
  if (outcome === "infra-error") return `${key}!infra-${attempt}`;
  if (outcome === "boot-error") return `${key}!boot-${attempt}`;
  return key;
}

/** The repetition of a stored run key under `keyPrefix`, or null when the key is not one of its results. */
export function repetitionOf(keyPrefix: string, storedKey: string): number | null {
  if (!storedKey.startsWith(`${keyPrefix}/`)) return null;
  const rep = Number(storedKey.slice(keyPrefix.length + 1));
  return Number.isInteger(rep) ? rep : null;
}
