/**
 * The guest agent as a process enclave on the host (native), for the monitor's tests and soak: the same
 * C sources as the image's agent, built for this host, sending its syslog channel to a tap's socket.
 */
import { compileAgent } from "../src/guest/image-builder.js";
import { type GroupChild, spawnGroup } from "../src/util/child.js";

/** Build the agent (static, every .c of src/guest/agent, as in the image) at `out`. */
export function buildNativeAgent(out: string, signal?: AbortSignal): Promise<string> {
  return compileAgent(out, signal);
}

/**
 * Start the agent named `name`, heartbeating every `hbMs`, its syslog channel connected to `socket`.
 * Its console (stdout, stderr) is drained and dropped: unread, the pipe fills after a few thousand
 * lines and the agent blocks in write(2) — silent, as a hung enclave is.
 */
export function startNativeAgent(
  bin: string,
  name: string,
  hbMs: number,
  socket: string,
  cwd: string,
): GroupChild {
  const child = spawnGroup([bin, "--cmdline", `ezone.hb=${hbMs} ezone.name=${name} ezone.syslog=${socket}`], {
    cwd,
  });
  child.proc.stdout?.resume();
  child.proc.stderr?.resume();
  return child;
}
