import { connect } from "node:net";
import { constants } from "node:os";
import { PassThrough, Writable } from "node:stream";
import type { ChildExit } from "../../util/child.js";
import { InfraError } from "../../util/errors.js";
import type { EnclavePlacement, PlacedProcess } from "../backend.js";
import { raceDeadline } from "../qemu/qmp.js";
import { type HostdChild, HostdClient } from "./hostd-client.js";
import type { HostdExit } from "./hostd-protocol.js";

/** The environment of a process spawned in the disposable host, before the enclave's own variables. */
const BASE_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root" };

/** Output of a child kept while nobody reads it: a flood must not grow without bound. */
const CHILD_BUFFER_BYTES = 1024 * 1024;

/** Connect to hostd through the UNIX socket QEMU listens on for the virtio-serial port. */
export async function connectHostd(path: string, signal: AbortSignal): Promise<HostdClient> {
  const socket = connect(path);
  const opened = new Promise<true | Error>((resolve) => {
    socket.once("connect", () => resolve(true));
    socket.once("error", (e) => resolve(e));
  });
  const r = await raceDeadline(signal, [opened]);
  if (r !== true) {
    socket.destroy();
    throw new InfraError(
      "dh.hello",
      `cannot connect to hostd at ${path}: ${r === "deadline" ? "deadline" : r.message}`,
    );
  }
  return new HostdClient(socket);
}

/** A child's end in the host's terms; a lost channel reads as a kill (its host went away under it). */
function childExit(e: HostdExit | null): ChildExit {
  if (e === null) return { code: null, signal: "SIGKILL" };
  return e.kind === "exited"
    ? { code: e.code, signal: null }
    : { code: null, signal: e.signal as NodeJS.Signals };
}

/** One of a child's output events as a bounded readable stream (a stream nobody drains drops the excess). */
function streamOf(child: HostdChild, event: "stdout" | "stderr"): PassThrough {
  const out = new PassThrough();
  child.on(event, (data) => {
    if (out.writableLength < CHILD_BUFFER_BYTES) out.write(data);
  });
  void child.exited.catch(() => null).then(() => out.end());
  return out;
}

/**
 * A child of hostd as a placed process: stdin goes out as STDIN frames, kill is SIGTERM to its process
 * group then SIGKILL after the grace. `pid` is the disposable host's VM: the local process that holds it.
 */
export function placedChild(child: HostdChild, vmPid: number): PlacedProcess {
  const exited = child.exited.catch(() => null).then(childExit);
  let killing: Promise<ChildExit> | null = null;
  const stdin = new Writable({
    write(chunk: Buffer, _enc, done) {
      child.stdin(chunk);
      done();
    },
  });
  return {
    pid: vmPid,
    stdin,
    stdout: streamOf(child, "stdout"),
    stderr: streamOf(child, "stderr"),
    // No process backend asks for a control channel (only QEMU does, which does not run in the host).
    control: null,
    exited,
    kill(graceMs = 2000) {
      killing ??= (async () => {
        child.kill(constants.signals.SIGTERM);
        const timer = setTimeout(() => child.kill(constants.signals.SIGKILL), graceMs);
        const e = await exited;
        clearTimeout(timer);
        return e;
      })();
      return killing;
    },
  };
}

/** Spawns through hostd as child `id` (one enclave per disposable host). */
export function hostdPlacement(hostd: HostdClient, id: number, vmPid: number): EnclavePlacement {
  return {
    spawn(argv, opts) {
      if (opts.extraStdio)
        throw new InfraError(
          "dh.spawn",
          "fd 3 (a control channel, or guest.syslog's channel) is not offered in the disposable host",
        );
      // The work dir is the run's path on the real host: made here first (the shell then becomes argv).
      const inDir = ["/bin/sh", "-c", 'mkdir -p "$0" && cd "$0" && exec "$@"', opts.cwd, ...argv];
      return placedChild(hostd.spawn(id, inDir, { cwd: "/", env: { ...BASE_ENV, ...opts.env } }), vmPid);
    },
  };
}

/** Re-attaches to child `id`, started before the disposable host was saved; the argv is not run again. */
export function attachedPlacement(hostd: HostdClient, id: number, vmPid: number): EnclavePlacement {
  return { spawn: () => placedChild(hostd.adopt(id), vmPid) };
}
