import { readdir, readFile } from "node:fs/promises";
import { statComm, statFieldsAfterComm } from "../util/proc.js";

/** A host process as /proc shows it. */
export interface HostProcess {
  pid: number;
  ppid: number;
  comm: string;
  /** argv joined by spaces (bounded). */
  cmdline: string;
}

async function readProcess(pid: number): Promise<HostProcess | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const comm = statComm(stat);
    const ppid = Number(statFieldsAfterComm(stat)[1]);
    const raw = await readFile(`/proc/${pid}/cmdline`);
    const cmdline = raw.subarray(0, 4096).toString("utf8").replace(/\0+$/, "").replace(/\0/g, " ");
    return { pid, ppid, comm, cmdline };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every live descendant of `root` (not `root` itself), parents before children. */
export async function descendants(root: number): Promise<HostProcess[]> {
  const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const all = (await Promise.all(pids.map(readProcess))).filter((p): p is HostProcess => p !== null);
  const children = new Map<number, HostProcess[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: HostProcess[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

/**
 * The first descendant of `root` matching `pred`, waiting for it to appear (a sandbox forks its
 * processes after its launcher started) until `signal` aborts; null then.
 */
export async function findDescendant(
  root: number,
  pred: (p: HostProcess) => boolean,
  signal: AbortSignal,
): Promise<HostProcess | null> {
  for (let delayMs = 5; !signal.aborted; delayMs = Math.min(delayMs * 2, 100)) {
    const hit = (await descendants(root)).find(pred);
    if (hit) return hit;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, delayMs);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
  return null;
}
