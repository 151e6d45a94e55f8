import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import { deadline } from "./deadline.js";
import { OWNER_ENV, ownerTag } from "./owner-tag.js";

/** How a child process ended. */
export type ChildExit = { code: number | null; signal: NodeJS.Signals | null };

/** A child started in its own process group, dying with ezone (parent-death signal) and killable as a group. */
export interface GroupChild {
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Resolves once the child has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** Exit status once known, else null. */
  exitStatus(): ChildExit | null;
  /** SIGTERM the whole group, SIGKILL after `graceMs`; resolves when the leader has exited. Idempotent. */
  kill(graceMs?: number): Promise<ChildExit>;
}

export interface SpawnGroupOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Extra file descriptors (index 3...) passed to the child. */
  extraStdio?: ("pipe" | "ignore" | Socket)[];
}

/** util-linux setpriv, by its path: a BusyBox shell (the disposable host's) would run its own applet. */
export const SETPRIV = "/usr/bin/setpriv";
const live = new Set<GroupChild>();

/**
 * Spawn `argv` detached in its own process group. Node cannot set a parent-death signal itself, so the
 * child is started through `setpriv --pdeathsig KILL`: the VMM is SIGKILLed even if ezone is SIGKILLed.
 * Every such child is also killed from ezone's own exit handler.
 */
export function spawnGroup(argv: string[], opts: SpawnGroupOptions = {}): GroupChild {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error("spawnGroup: empty argv");
  const full = existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--", cmd, ...args] : [cmd, ...args];
  const proc = spawn(full[0] as string, full.slice(1), {
    detached: true,
    stdio: ["pipe", "pipe", "pipe", ...(opts.extraStdio ?? [])],
    // Tagged with its owner, so a later ezone can sweep it if this one dies before the pdeathsig is set.
    env: { ...(opts.env ?? process.env), [OWNER_ENV]: ownerTag() },
    cwd: opts.cwd,
  });
  let status: ChildExit | null = null;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once("exit", (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
    proc.once("error", () => {
      status ??= { code: null, signal: null };
      resolve(status);
    });
  });
  // A spawn error (ENOENT of setpriv itself) leaves pid undefined; callers see it as an immediate exit.
  const pid = proc.pid ?? -1;
  let killing: Promise<ChildExit> | null = null;
  const child: GroupChild = {
    pid,
    proc,
    exited,
    exitStatus: () => status,
    kill(graceMs = 2000) {
      killing ??= (async () => {
        signalGroup(pid, "SIGTERM");
        const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), graceMs);
        const result = await exited;
        clearTimeout(timer);
        // The leader is gone; sweep anything left in its group.
        signalGroup(pid, "SIGKILL");
        live.delete(child);
        return result;
      })();
      return killing;
    },
  };
  live.add(child);
  void exited.then(() => {
    // The group may outlive its leader (a forked helper): sweep it, then forget the child.
    signalGroup(pid, "SIGKILL");
    live.delete(child);
  });
  return child;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** SIGKILL every live child group synchronously; used from exit and signal handlers. */
export function killAllChildren(): void {
  for (const child of live) signalGroup(child.pid, "SIGKILL");
  live.clear();
}

process.once("exit", killAllChildren);

/** Run a command to completion and capture its output (bounded), with a deadline. For tools, not VMMs. */
export async function runTool(
  argv: string[],
  opts: {
    signal?: AbortSignal;
    timeoutMs?: number;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    maxBytes?: number;
  } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const signal = deadline(opts.signal, opts.timeoutMs ?? 600_000);
  const child = spawnGroup(argv, { cwd: opts.cwd, env: opts.env });
  child.proc.stdin?.end();
  const max = opts.maxBytes ?? 4 * 1024 * 1024;
  const collect = (stream: NodeJS.ReadableStream | null) => {
    const parts: Buffer[] = [];
    let size = 0;
    stream?.on("data", (b: Buffer) => {
      if (size < max) parts.push(b.subarray(0, max - size));
      size += b.length;
    });
    return () => Buffer.concat(parts).toString("utf8");
  };
  const out = collect(child.proc.stdout);
  const err = collect(child.proc.stderr);
  const onAbort = () => void child.kill(500);
  signal.addEventListener("abort", onAbort, { once: true });
  const exit = await child.exited;
  signal.removeEventListener("abort", onAbort);
  // 'exit' can come before the pipes have delivered the last output: wait for them to close, but not
  // for a grandchild that keeps them open.
  const drained = deadline(null, PIPE_DRAIN_MS);
  await Promise.all([child.proc.stdout, child.proc.stderr].map((s) => closed(s, drained)));
  return { ...exit, stdout: out(), stderr: err() };
}

/** How long `runTool` waits for a finished tool's pipes to close. */
const PIPE_DRAIN_MS = 2000;

/** Resolves once `stream` has closed, or when `signal` aborts. */
function closed(stream: NodeJS.ReadableStream | null, signal: AbortSignal): Promise<void> {
  const s = stream as (NodeJS.ReadableStream & { closed?: boolean }) | null;
  if (!s || s.closed || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener("abort", done);
      resolve();
    };
    s.once("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}
