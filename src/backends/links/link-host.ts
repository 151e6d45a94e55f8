import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

/** The tools a cell's network needs on the host. */
export const LINK_TOOLS = ["ip", "unshare", "nsenter"] as const;

/** Capability bits (linux/capability.h) a private namespace with a bridge and taps needs. */
const CAP_NET_ADMIN = 12n;
const CAP_SYS_ADMIN = 21n;

/** What the host offers the links, as read by `linkHostFacts`. */
export interface LinkHostFacts {
  /** The tools found on PATH. */
  tools: Record<(typeof LINK_TOOLS)[number], boolean>;
  /** CapEff of this process, hex as in /proc/self/status; null when unreadable. */
  capEff: string | null;
  /** /dev/net/tun exists. */
  tun: boolean;
}

/** Why this host cannot build a cell's network, or null when it can (pure). */
export function linkHostRefusal(f: LinkHostFacts): string | null {
  const missing = LINK_TOOLS.filter((t) => !f.tools[t]);
  if (missing.length > 0)
    return `links need ${missing.join(", ")} on PATH (apt-get install -y iproute2 util-linux)`;
  const caps = f.capEff !== null && /^[0-9a-fA-F]+$/.test(f.capEff) ? BigInt(`0x${f.capEff}`) : 0n;
  for (const [bit, name] of [
    [CAP_NET_ADMIN, "CAP_NET_ADMIN"],
    [CAP_SYS_ADMIN, "CAP_SYS_ADMIN (unshare --net)"],
  ] as const)
    if (((caps >> bit) & 1n) === 0n)
      return `links need ${name}: run ezone as root (CapEff ${f.capEff ?? "unknown"})`;
  if (!f.tun) return "links need /dev/net/tun (modprobe tun) for the NICs' taps";
  return null;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(delimiter)
    .some((dir) => dir !== "" && existsSync(join(dir, tool)));
}

/** Read the host's facts for `linkHostRefusal`. */
export function linkHostFacts(): LinkHostFacts {
  let capEff: string | null = null;
  try {
    capEff = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? null;
  } catch {
    capEff = null;
  }
  return {
    tools: { ip: onPath("ip"), unshare: onPath("unshare"), nsenter: onPath("nsenter") },
    capEff,
    tun: existsSync("/dev/net/tun"),
  };
}
