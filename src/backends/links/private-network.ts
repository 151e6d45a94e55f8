import { readlinkSync } from "node:fs";
import { type GroupChild, runTool, spawnGroup } from "../../util/child.js";
import { deadline } from "../../util/deadline.js";
import { InfraError } from "../../util/errors.js";

/** The bridge's name inside the namespace (the namespace is the cell's own: no name can clash). */
export const BRIDGE = "br0";

/** The holder answers within milliseconds; `ip` too. */
const HOLDER_READY_MS = 10_000;
const IP_MS = 10_000;

/** One tap to make: a port of the bridge, or left alone (its NIC cut off: a link's toggle). */
export interface TapPlan {
  tap: string;
  bridged: boolean;
}

/**
 * The `ip` commands that build the namespace's network: loopback up, a bridge without STP or forwarding
 * delay (its ports forward at once), and one persistent tap per NIC, on the bridge or not (pure).
 */
export function bridgeCommands(taps: readonly TapPlan[]): string[] {
  for (const t of taps)
    if (!/^[a-z][a-z0-9]{0,14}$/.test(t.tap))
      throw new RangeError(`tap name ${JSON.stringify(t.tap)}: expected [a-z][a-z0-9]{0,14}`);
  return [
    "ip link set lo up",
    `ip link add ${BRIDGE} type bridge stp_state 0 forward_delay 0`,
    `ip link set ${BRIDGE} up`,
    ...taps.flatMap((t) => [
      `ip tuntap add dev ${t.tap} mode tap`,
      ...(t.bridged ? [`ip link set ${t.tap} master ${BRIDGE}`] : []),
      `ip link set ${t.tap} up`,
    ]),
  ];
}

/**
 * A private network namespace, held by one process that dies with ezone (parent-death signal, and its
 * stdin is a pipe from ezone it reads to the end): no `/run/netns` name, nothing to remove. The bridge
 * and taps live in it; VMMs join it with `nsenter --net=<netns>`. When the holder and the VMMs inside are
 * gone, the kernel removes the namespace with its bridge and taps.
 */
export class PrivateNetwork implements AsyncDisposable {
  private constructor(private readonly holder: GroupChild) {}

  /** The namespace as a path VMMs can enter. */
  get netns(): string {
    return `/proc/${this.holder.pid}/ns/net`;
  }

  get pid(): number {
    return this.holder.pid;
  }

  /** The argv prefix that runs a command inside the namespace. */
  enter(): string[] {
    return ["nsenter", `--net=${this.netns}`, "--"];
  }

  /** Make the namespace with its bridge and `taps`; an InfraError names the step that failed. */
  static async start(taps: readonly TapPlan[], signal: AbortSignal): Promise<PrivateNetwork> {
    const commands = bridgeCommands(taps);
    // `echo` once the namespace exists, then read stdin until ezone closes it (or dies).
    const holder = spawnGroup([
      "unshare",
      "--net",
      "--",
      "/bin/sh",
      "-c",
      "echo ready && exec cat >/dev/null",
    ]);
    const net = new PrivateNetwork(holder);
    try {
      await net.waitHolder(deadline(signal, HOLDER_READY_MS));
      const r = await runTool([...net.enter(), "/bin/sh", "-ec", commands.join("\n")], {
        signal,
        timeoutMs: IP_MS,
      });
      if (r.code !== 0)
        throw new InfraError(
          "links.bridge",
          `building the bridge failed (${r.code}): ${r.stderr.trim().slice(0, 300)}`,
        );
    } catch (e) {
      await net.stop();
      throw e;
    }
    return net;
  }

  private async waitHolder(signal: AbortSignal): Promise<void> {
    const said = new Promise<boolean>((resolve) => {
      this.holder.proc.stdout?.once("data", () => resolve(true));
      void this.holder.exited.then(() => resolve(false));
      signal.addEventListener("abort", () => resolve(false), { once: true });
    });
    if (!(await said))
      throw new InfraError(
        "links.netns",
        `the namespace holder (unshare --net) did not start: ${signal.aborted ? "deadline" : "it exited"}`,
      );
    // Its namespace must not be ours: an unshare that silently did nothing would bridge the host's.
    if (readlinkSync(this.netns) === readlinkSync("/proc/self/ns/net"))
      throw new InfraError("links.netns", "unshare --net left the holder in ezone's own namespace");
  }

  /** End the holder (idempotent): the namespace goes once the VMMs inside it are gone too. */
  async stop(): Promise<void> {
    this.holder.proc.stdin?.end();
    await this.holder.kill(500);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
