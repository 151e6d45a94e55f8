/**
 * The agent's link lines (src/guest/agent/links.c), parsed from hostile guest output: bounded numbers,
 * bounded and escaped text, anything else ignored.
 */
import type { RequestCounts } from "../model/composition.js";
import { escapeControl } from "../util/escape.js";

/** One parsed link line. */
export type LinkLine =
  | { kind: "depstat"; counts: RequestCounts }
  | { kind: "net-ok"; ip: string; mac: string }
  | { kind: "serving"; port: number }
  /** A link command the agent refused or could not do: its text, escaped and cut. */
  | { kind: "failed"; text: string };

/** Longest failure text kept. */
const TEXT_MAX = 200;

const DEPSTAT = /^DEPSTAT ok=(\d{1,12}) failed=(\d{1,12}) late=(\d{1,12})$/;
const NET_OK = /^NET-OK eth0 (\d{1,3}(?:\.\d{1,3}){3})\/24 mac=([0-9a-f]{2}(?::[0-9a-f]{2}){5})$/;
const SERVING = /^SERVING (\d{1,5})$/;
const FAILED = /^(?:NET|SERVE|DEPEND|FLOOD)-FAILED |^ERROR (?:NET|SERVE|DEPEND|FLOOD) /;

/** Parse one console line (without its newline); null when it is no link line. */
export function parseLinkLine(line: string): LinkLine | null {
  const d = DEPSTAT.exec(line);
  if (d) return { kind: "depstat", counts: { ok: Number(d[1]), failed: Number(d[2]), late: Number(d[3]) } };
  const n = NET_OK.exec(line);
  if (n) return { kind: "net-ok", ip: n[1] as string, mac: n[2] as string };
  const s = SERVING.exec(line);
  if (s) return { kind: "serving", port: Number(s[1]) };
  if (FAILED.test(line)) return { kind: "failed", text: escapeControl(line.slice(0, TEXT_MAX)) };
  return null;
}

/** A dependent's running totals, as the agent reported them at host time `at`. */
export interface DepStat {
  at: number;
  counts: RequestCounts;
}

/**
 * The requests made within (from, to]: the last totals reported by `to` minus the last reported by
 * `from` (zero before the first report). Null when nothing was reported by `to`.
 */
export function requestsBetween(stats: readonly DepStat[], from: number, to: number): RequestCounts | null {
  const upTo = (t: number) => stats.filter((s) => s.at <= t).at(-1)?.counts;
  const end = upTo(to);
  if (!end) return null;
  const start = upTo(from) ?? { ok: 0, failed: 0, late: 0 };
  return { ok: end.ok - start.ok, failed: end.failed - start.failed, late: end.late - start.late };
}
