import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../util/errors.js";
import { processStartTicks } from "../util/proc.js";

/** Who holds a campaign's results directory. */
interface LockOwner {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22): a reused PID differs. */
  startTicks: number;
  host: string;
}

export class CampaignLockedError extends UsageError {
  override name = "CampaignLockedError";
}

function isLive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // another host's lock (shared file system): never steal it
  return processStartTicks(owner.pid) === owner.startTicks;
}

/**
 * Take the results directory's lock so that two ezone processes never run one campaign at once. A lock
 * left by a dead ezone (killed with -9) is reclaimed; "dead" means no process with that PID *and* start
 * time, so a reused PID does not keep a stale lock alive.
 */
export function acquireCampaignLock(resultsDir: string): Disposable {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, "ezone.lock");
  const me: LockOwner = {
    pid: process.pid,
    startTicks: processStartTicks(process.pid) ?? -1,
    host: hostname(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      return {
        [Symbol.dispose]() {
          try {
            const owner = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
            if (owner.pid === me.pid && owner.startTicks === me.startTicks) rmSync(path, { force: true });
          } catch {
            // Already gone.
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner: LockOwner | null = null;
    try {
      owner = JSON.parse(readFileSync(path, "utf8")) as LockOwner;
    } catch {
      owner = null; // half-written or unreadable: treat as stale
    }
    if (owner && isLive(owner)) {
      throw new CampaignLockedError(
        `${resultsDir} is in use by ezone pid ${owner.pid} on ${owner.host}; wait for it or stop it first`,
      );
    }
    rmSync(path, { force: true });
  }
  throw new CampaignLockedError(`${resultsDir}: could not take the lock ${path}`);
}
