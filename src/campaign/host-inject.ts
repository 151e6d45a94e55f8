/**
 * Zone-2 injection: ezone itself acts on the host, beside or into the enclave's host process. The proof
 * that such a fault fired is ezone's own record (the kill(2) that succeeded, the hog seen consuming CPU
 * or holding memory), kept in the run's evidence as `hostInjection`.
 */
import { availableParallelism } from "node:os";
import type { Enclave, EnclaveHostProcess } from "../backends/backend.js";
import { descendants } from "../backends/host-process.js";
import type { HostAction } from "../faults/catalogue.js";
import type { HostInjectionEvidence } from "../model/outcome-types.js";
import { type GroupChild, spawnGroup } from "../util/child.js";
import { cpuTimeMs, readMemAvailableKb, residentKb } from "../util/proc.js";

/** A memory hog counts as running once it holds this much. */
const MEMORY_HOG_PROOF_MIB = 64;

/** A host-side fault in progress. */
export interface ActiveHostFault {
  readonly evidence: HostInjectionEvidence;
  /** Host time (performance.now()) the fault took effect: signal delivered, hog seen running. */
  readonly at: number | null;
  /** Host time the fault window began (a hog's spawn), for heartbeat timing. */
  readonly startedAt: number;
  /** For a hog: how long it is held once it runs. 0 for signals. */
  readonly holdMs: number;
  /** End a hog and complete its evidence with what it consumed (idempotent; no-op for a signal). */
  stop(): Promise<void>;
}

export interface HostInjectOptions {
  /** Put in every hog's environment (EZONE_RUN), so a leaked hog is found by the leak probe. */
  runTag: string;
  /** Deadline for finding the target and for a hog to start. */
  signal: AbortSignal;
}

/** Inject `action` on the host. Never throws for a fault that could not be delivered: that is evidence. */
export async function injectHostFault(
  action: HostAction,
  enclave: Enclave,
  opts: HostInjectOptions,
): Promise<ActiveHostFault> {
  switch (action.kind) {
    case "signal":
      return sendSignal(action, enclave, opts.signal);
    case "cpu-hog":
      return startHog("cpu-hog", action.holdMs, cpuHogArgv(availableParallelism()), opts, async (child) => {
        const ms = await groupCpuMs(child.pid);
        return ms > 0 ? `${availableParallelism()} busy loops (pgid ${child.pid}) used ${ms} ms CPU` : null;
      });
    case "memory-hog": {
      const availableKb = await readMemAvailableKb();
      const bytes = Math.floor(
        Math.min(availableKb * 1024 * action.fractionOfAvailable, action.maxMb * 2 ** 20),
      );
      const mib = (kb: number) => Math.round(kb / 1024);
      // Touching memory runs at the host's page-fault speed (~100 MB/s on some VMs): the hog counts as
      // running once it holds MEMORY_HOG_PROOF_MIB, and keeps growing towards its target while held.
      return startHog("memory-hog", action.holdMs, memoryHogArgv(bytes), opts, async (child, out) => {
        const rss = await residentKb(child.pid);
        if (rss === null || mib(rss) < MEMORY_HOG_PROOF_MIB) return null;
        const reached = /TOUCHED (\d+)/.test(out) ? "reached its target" : "still growing";
        return `hog pid ${child.pid} resident ${mib(rss)} MiB of a ${Math.round(bytes / 2 ** 20)} MiB target (${reached}; ${mib(availableKb)} MiB were available)`;
      });
    }
  }
}

async function sendSignal(
  action: Extract<HostAction, { kind: "signal" }>,
  enclave: Enclave,
  signal: AbortSignal,
): Promise<ActiveHostFault> {
  const startedAt = performance.now();
  const base = { kind: "signal" as const, scope: "enclave" as const };
  const done = (delivered: boolean, detail: string, at: number | null): ActiveHostFault => ({
    evidence: { ...base, delivered, detail },
    at,
    startedAt,
    holdMs: 0,
    stop: async () => {},
  });
  const target: EnclaveHostProcess | null = enclave.hostProcess
    ? await enclave.hostProcess(signal)
    : { pid: enclave.pid, role: "vmm", describe: "the VMM process" };
  if (!target) return done(false, "the enclave's host process was not found before the deadline", null);
  if (action.target === "sentry" && target.role !== "sentry") {
    return done(false, `no gVisor Sentry in this enclave (its host process is ${target.describe})`, null);
  }
  try {
    process.kill(target.pid, action.signal);
  } catch (e) {
    return done(
      false,
      `kill(${target.pid}, ${action.signal}) failed: ${(e as NodeJS.ErrnoException).code}`,
      null,
    );
  }
  return done(
    true,
    `${action.signal} delivered to ${target.describe} (pid ${target.pid})`,
    performance.now(),
  );
}

/**
 * Start a hog in its own process group and wait (bounded by `opts.signal`) until `proof` can say it runs.
 * `proof` gets the hog's stdout so far; a null answer means "not yet".
 */
async function startHog(
  kind: "cpu-hog" | "memory-hog",
  holdMs: number,
  argv: string[],
  opts: HostInjectOptions,
  proof: (child: GroupChild, stdout: string) => Promise<string | null>,
): Promise<ActiveHostFault> {
  const startedAt = performance.now();
  const child = spawnGroup(argv, { env: { ...process.env, EZONE_RUN: opts.runTag } });
  child.proc.stdin?.end();
  let out = "";
  child.proc.stdout?.on("data", (b: Buffer) => {
    if (out.length < 4096) out += b.toString("utf8");
  });
  const evidence: HostInjectionEvidence = { kind, scope: "beside", delivered: false, detail: "" };
  let at: number | null = null;
  // Poll the hog's own account until it runs; the deadline is the caller's.
  for (
    let delayMs = 10;
    !opts.signal.aborted && child.exitStatus() === null;
    delayMs = Math.min(delayMs * 2, 200)
  ) {
    const said = await proof(child, out);
    if (said) {
      evidence.delivered = true;
      evidence.detail = `started: ${said}`;
      at = performance.now();
      break;
    }
    await new Promise((r) => setTimeout(r, delayMs));
  }
  if (!evidence.delivered) {
    const st = child.exitStatus();
    evidence.detail = st
      ? `the hog ended before it ran (${st.signal ?? `exit ${st.code}`})`
      : "the hog was not seen running before the deadline";
  }
  let stopping: Promise<void> | null = null;
  return {
    evidence,
    at,
    startedAt,
    holdMs,
    stop() {
      stopping ??= (async () => {
        const final = child.exitStatus() === null ? await proof(child, out) : null;
        await child.kill(200);
        if (evidence.delivered && final) evidence.detail += `; at its end: ${final}`;
      })();
      return stopping;
    },
  };
}

/** One busy loop per host core, all in one process group (POSIX sh, no extra tool). */
export function cpuHogArgv(loops: number): string[] {
  return ["sh", "-c", `i=0; while [ $i -lt ${loops} ]; do (while :; do :; done) & i=$((i+1)); done; wait`];
}

/**
 * A Node process that makes itself the OOM killer's first choice, touches `bytes` of memory in 64 MiB
 * chunks, prints `TOUCHED <bytes>` and holds it until killed.
 */
export function memoryHogArgv(bytes: number): string[] {
  const script = [
    "try { require('fs').writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}",
    `const target = ${bytes}, chunk = 64 * 2 ** 20, keep = []; let done = 0;`,
    "while (done < target) { const b = Buffer.allocUnsafeSlow(Math.min(chunk, target - done)); b.fill(1); keep.push(b); done += b.length; }",
    "process.stdout.write('TOUCHED ' + done + '\\n'); setInterval(() => keep.length, 60000);",
  ].join("\n");
  return [process.execPath, "-e", script];
}

async function groupCpuMs(leader: number): Promise<number> {
  const pids = [leader, ...(await descendants(leader)).map((p) => p.pid)];
  const times = await Promise.all(pids.map(cpuTimeMs));
  return times.reduce<number>((sum, t) => sum + (t ?? 0), 0);
}
