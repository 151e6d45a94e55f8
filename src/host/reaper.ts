import { readdirSync, readFileSync } from "node:fs";
import { OWNER_ENV, ownerAlive } from "../util/owner-tag.js";

/**
 * Kill what a dead ezone left behind: processes whose EZONE_OWNER names an ezone that no longer runs
 * (killed with -9 in the instant between spawning a VMM and its parent-death signal taking effect).
 * Returns what was killed, for the log. Processes whose environment cannot be read are left alone.
 */
export function sweepOrphans(): { pid: number; comm: string; owner: string }[] {
  const swept: { pid: number; comm: string; owner: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue;
    }
    const owner = env
      .split("\0")
      .find((kv) => kv.startsWith(`${OWNER_ENV}=`))
      ?.slice(OWNER_ENV.length + 1);
    if (!owner || ownerAlive(owner)) continue;
    let comm = "?";
    try {
      comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      process.kill(pid, "SIGKILL");
      swept.push({ pid, comm, owner });
    } catch {
      // Gone meanwhile.
    }
  }
  return swept;
}
