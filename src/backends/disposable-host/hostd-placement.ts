import { constants } from "node:os";
import type { Readable } from "node:stream";
import { Writable } from "node:stream";
import type { ChildExit } from "../../util/child.js";
import { InfraError } from "../../util/errors.js";
import type { EnclavePlacement, PlacedProcess } from "../backend.js";
import type { HostdExit, HostdResult, SpawnRequest } from "./hostd-protocol.js";

/** One child of hostd as the host sees it: its output streams and how it ended. */
export interface HostdChild {
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** How it ended; null when the connection to hostd ended first (the disposable host is gone). */
  readonly exited: Promise<HostdExit | null>;
}

/** What the disposable host's runtime asks of hostd (HostdClient over the virtio-serial port). */
export interface Hostd {
  /** SPAWN child `id`. */
  spawn(id: number, req: SpawnRequest): HostdChild;
  /** The streams of child `id`, spawned before (a restored host's). */
  attach(id: number): HostdChild;
  stdin(id: number, data: Buffer): void;
  kill(id: number, signal: number): void;
  insmod(path: string, params: string, signal: AbortSignal): Promise<HostdResult>;
  probe(signal: AbortSignal): Promise<HostdResult>;
  /** Ends the connection (the children stay with hostd). */
  close(): void;
}

/** The environment of a process spawned in the disposable host, before the enclave's own variables. */
const BASE_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };

/** A child's end in the host's terms; a lost connection reads as a kill (its host went away under it). */
function childExit(e: HostdExit | null): ChildExit {
  if (e === null) return { code: null, signal: "SIGKILL" };
  return e.kind === "exited"
    ? { code: e.code, signal: null }
    : { code: null, signal: e.signal as NodeJS.Signals };
}

/**
 * Child `id` of hostd as a placed process: stdin goes out as STDIN frames, kill is SIGTERM to its process
 * group then SIGKILL after the grace. `pid` is the disposable host's VM: the local process that holds it.
 */
export function placedChild(hostd: Hostd, id: number, child: HostdChild, vmPid: number): PlacedProcess {
  const exited = child.exited.then(childExit);
  let killing: Promise<ChildExit> | null = null;
  const stdin = new Writable({
    write(chunk: Buffer, _enc, done) {
      hostd.stdin(id, chunk);
      done();
    },
  });
  return {
    pid: vmPid,
    stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    // No process backend asks for a control channel (only QEMU does, which does not run in the host).
    control: null,
    exited,
    kill(graceMs = 2000) {
      killing ??= (async () => {
        hostd.kill(id, constants.signals.SIGTERM);
        const timer = setTimeout(() => hostd.kill(id, constants.signals.SIGKILL), graceMs);
        const e = await exited;
        clearTimeout(timer);
        return e;
      })();
      return killing;
    },
  };
}

/** Spawns through hostd as child `id` (one enclave per disposable host). */
export function hostdPlacement(hostd: Hostd, id: number, vmPid: number): EnclavePlacement {
  return {
    spawn(argv, opts) {
      if (opts.extraStdio)
        throw new InfraError("dh.spawn", "a control channel (fd 3) is not offered in the disposable host");
      const env = { ...BASE_ENV, ...opts.env };
      return placedChild(hostd, id, hostd.spawn(id, { argv, cwd: opts.cwd, env }), vmPid);
    },
  };
}

/** Re-attaches to child `id`, started before the disposable host was saved; the argv is not run again. */
export function attachedPlacement(hostd: Hostd, id: number, vmPid: number): EnclavePlacement {
  return { spawn: () => placedChild(hostd, id, hostd.attach(id), vmPid) };
}
