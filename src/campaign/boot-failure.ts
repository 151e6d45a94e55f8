import { describeExitOf } from "../model/outcome.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { decodeUtf8Visible, escapeControl } from "../util/escape.js";

/**
 * The guest never came up under this backend (kept apart from `InfraError`, as syzkaller keeps BootError
 * apart from InfraError): a boot timeout, or an enclave that ended before READY after printing something.
 */
export class BootError extends Error {
  override name = "BootError";
  constructor(
    /** The lifecycle step that failed, e.g. `wait.ready`. */
    readonly step: string,
    message: string,
  ) {
    super(`${step}: ${message}`);
  }
}

/** How many of the console's last lines a boot-error quotes, and how long each may be. */
export const BOOT_TAIL_LINES = 5;
export const BOOT_TAIL_LINE_CHARS = 160;
/** Bytes of the console's end read for those lines: bounded whatever the guest printed. */
const TAIL_BYTES = 4096;

/**
 * The last non-empty lines of a console, each with control characters made visible and cut to a bound,
 * joined with " | ". Hostile guest output cannot grow it or reach the terminal raw.
 */
export function consoleTail(
  console: Buffer,
  lines = BOOT_TAIL_LINES,
  lineChars = BOOT_TAIL_LINE_CHARS,
): string {
  const text = decodeUtf8Visible(console.subarray(Math.max(0, console.length - TAIL_BYTES)));
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/\r/g, "").trim())
    .filter((l) => l.length > 0)
    .slice(-lines)
    .map((l) => {
      const safe = escapeControl(l);
      return safe.length > lineChars ? `${safe.slice(0, lineChars)}…` : safe;
    })
    .join(" | ");
}

/** What the monitor knew when the boot wait ended without READY. */
export interface NotReadyInput {
  /** The enclave's exit, or null when it was still running at the boot deadline. */
  exit: EnclaveExit | null;
  /** Console bytes seen from the enclave. */
  consoleBytes: number;
  /** `consoleTail` of what was seen. */
  tail: string;
  /** The VMM's stderr (bounded by the backend). */
  stderr: string;
  bootMs: number;
}

/**
 * Why a guest never reported READY. Still running at the deadline: a boot timeout (a boot-error, with
 * the time). Ended after printing something: a boot-error with its exit and last console lines. Ended
 * having printed nothing: the VMM itself did not start (a bad binary, a refused flag), an infra-error.
 */
export function notReadyFailure(i: NotReadyInput): { kind: "boot" | "infra"; message: string } {
  const stderr = escapeControl(i.stderr.trim().slice(0, 500)) || "no stderr";
  if (i.exit === null) {
    const seen = i.tail ? `last console lines: ${i.tail}` : "the console stayed silent";
    return { kind: "boot", message: `boot timeout: no READY from the agent within ${i.bootMs} ms; ${seen}` };
  }
  const how = describeExitOf(i.exit);
  if (i.consoleBytes === 0) {
    return { kind: "infra", message: `enclave ended before READY (${how}) and printed nothing: ${stderr}` };
  }
  return { kind: "boot", message: `enclave ended before READY (${how}); last console lines: ${i.tail}` };
}
