import { execFileSync } from "node:child_process";

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

/** PIDs of processes whose command line contains `needle` (excluding this check itself). */
export function processesMatching(needle: string): number[] {
  try {
    return execFileSync("pgrep", ["-f", needle], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}
