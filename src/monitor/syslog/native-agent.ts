/**
 * The guest agent as a process enclave on the host (native), for the monitor's tests and soak: the same
 * C sources as the image's agent, built for this host, sending its syslog channel to a tap's socket.
 */
import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type GroupChild, runTool, spawnGroup } from "../../util/child.js";
import { InfraError } from "../../util/errors.js";

const AGENT_SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "src", "guest", "agent");

/** Build the agent (static, every .c of src/guest/agent) at `out`. */
export async function buildNativeAgent(out: string, signal?: AbortSignal): Promise<string> {
  const files = (await readdir(AGENT_SRC)).filter((f) => f.endsWith(".c")).map((f) => join(AGENT_SRC, f));
  const r = await runTool(["gcc", "-static", "-O2", "-o", out, ...files], { timeoutMs: 120_000, signal });
  if (r.code !== 0) throw new InfraError("agent.build", `gcc failed: ${r.stderr.trim().slice(-1000)}`);
  return out;
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
