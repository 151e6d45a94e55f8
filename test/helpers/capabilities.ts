import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Every process a test starts (and everything those start) carries this tag in its environment, so
 * leftover checks see only this test run's processes, not another run's on the same machine.
 */
process.env.EZONE_TEST_SESSION ??= randomUUID();
const TAG = `EZONE_TEST_SESSION=${process.env.EZONE_TEST_SESSION}`;

/**
 * Whether a tool this machine is expected to have is present. Under CI=true a missing tool is a
 * failure, not a skip (only KVM may skip); elsewhere the test is skipped with the reason.
 */
export function hasBinary(bin: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI === "true") throw new Error(`CI=true and ${bin} is missing: install it (make setup)`);
    return false;
  }
}

/** PIDs of this test session's processes whose command line contains `needle` (not this process). */
export function processesMatching(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(TAG)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1").replace(/\0/g, " ");
      if (cmdline.includes(needle)) found.push(pid);
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}
