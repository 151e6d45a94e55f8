/**
 * A composed cell's network as data: which enclave gets which address, MAC and tap, which taps sit on the
 * bridge, and what the agents are told to do. Pure: the namespace and the agents are driven elsewhere.
 */
import type { CompositionParams, LinkParams } from "../../model/composition.js";

/** The victim's name in a cell's links. */
export const VICTIM = "victim";

/** The cell's own network inside its namespace; traffic goes nowhere else (the agent enforces it too). */
export const CELL_SUBNET = "10.77.0.0/24";

/** The TCP port of a `depends-on` link's service. */
export const SERVICE_PORT = 7077;

/** One enclave's place on the cell's network. */
export interface CellAddress {
  /** "victim" or the peer's name. */
  name: string;
  /** Its address, 10.77.0.<10 + index>. */
  ip: string;
  /** Locally administered, unique in the cell. */
  mac: string;
  /** The tap its NIC is attached to, in the cell's namespace. */
  tap: string;
  /** Its tap is a port of the bridge (a link it is part of is on); off, the NIC is cut off. */
  bridged: boolean;
}

/** What a `depends-on` link asks of the two agents. */
export interface DependencyPlan {
  /** The dependent (runs DEPEND) and the enclave whose service it uses (runs SERVE). */
  from: string;
  to: string;
  /** `DEPEND` command line for `from`: `local` when the link is off (same load, no link). */
  depend: string;
  /** `SERVE` command line for `to`. */
  serve: string;
}

/** Request period and lateness bound of a dependency, in ms (the agent counts a reply after `lateMs` as late). */
export interface DependencyTiming {
  periodMs: number;
  lateMs: number;
}

/** The cell's enclaves in a fixed order: the victim first, then its peers as listed. */
export function cellMembers(c: CompositionParams): string[] {
  return [VICTIM, ...c.peers.map((p) => p.name)];
}

/** Whether the cell needs NICs at all: a `network` or `depends-on` link, on or off (off keeps the load). */
export function needsNetwork(c: CompositionParams): boolean {
  return c.links.some((l) => l.kind === "network" || l.kind === "depends-on");
}

function touches(l: LinkParams, name: string): boolean {
  return l.from === name || l.to === name;
}

/**
 * Every member's address, MAC and tap. A tap is bridged when its enclave is part of an enabled `network`
 * link or of any `depends-on` link (a dependency's toggle keeps the bridge and moves the service).
 */
export function cellAddresses(c: CompositionParams): CellAddress[] {
  if (!needsNetwork(c)) return [];
  return cellMembers(c).map((name, i) => {
    const host = 10 + i;
    return {
      name,
      ip: `10.77.0.${host}`,
      mac: `52:54:00:77:00:${host.toString(16).padStart(2, "0")}`,
      tap: `ezt${i}`,
      bridged: c.links.some(
        (l) => touches(l, name) && (l.kind === "depends-on" || (l.kind === "network" && l.enabled)),
      ),
    };
  });
}

/** The agent's NET command for one member. */
export function netCommand(a: CellAddress): string {
  return `NET ${a.ip}/24 ${a.mac}`;
}

/** Each `depends-on` link's SERVE and DEPEND commands. */
export function dependencyPlans(c: CompositionParams, timing: DependencyTiming): DependencyPlan[] {
  const ipOf = new Map(cellAddresses(c).map((a) => [a.name, a.ip]));
  return c.links
    .filter((l) => l.kind === "depends-on")
    .map((l) => ({
      from: l.from,
      to: l.to,
      serve: `SERVE ${SERVICE_PORT}`,
      depend: `DEPEND ${ipOf.get(l.to)}:${SERVICE_PORT} ${timing.periodMs} ${timing.lateMs} ${l.enabled ? "remote" : "local"}`,
    }));
}

/**
 * Why the cell's links cannot be built with these backends, or null when they can. `backendOf` maps a
 * member name to its backend's name and whether ezone gives it a NIC (`Backend.nic`); the host's own checks (tools, CAP_NET_ADMIN) are
 * the adapter's (`link-host.ts`).
 */
export function linkBuildRefusal(
  c: CompositionParams,
  backendOf: (member: string) => { name: string; nic: boolean },
): string | null {
  const members = new Set(cellMembers(c));
  for (const l of c.links) {
    for (const end of [l.from, l.to])
      if (!members.has(end))
        return `link ${l.kind} ${l.from} -> ${l.to}: no enclave named "${end}" in the cell`;
    if (l.from === l.to) return `link ${l.kind} ${l.from} -> ${l.to}: an enclave cannot link to itself`;
    if (l.kind === "shared-storage") return `link shared-storage ${l.from} -> ${l.to}: not built yet`;
    for (const end of [l.from, l.to]) {
      const b = backendOf(end);
      if (!b.nic) return `link ${l.kind} ${l.from} -> ${l.to}: backend ${b.name} of "${end}" has no NIC`;
    }
  }
  return null;
}

/** The UDP port a netflood aims at: nothing listens there, so the datagrams cost the receiver and end. */
export const FLOOD_PORT = 7078;

/**
 * The netflood fault's rate and length: enough datagrams to load a TCG peer's virtio-net on a 2-core
 * host, well inside the agent's bounds (20 000/s, 60 s).
 */
export const NETFLOOD = { pps: 8000, seconds: 8 } as const;

/**
 * Where the victim's netflood goes: the first peer it shares an enabled `network` link with, else its own
 * loopback (the link's toggle, or no cell at all): the same datagrams at the same rate, kept local.
 */
export function floodTarget(c: CompositionParams | undefined): string {
  const link = c?.links.find((l) => l.kind === "network" && l.enabled && touches(l, VICTIM));
  const peer = link && (link.from === VICTIM ? link.to : link.from);
  const ip = c && peer ? cellAddresses(c).find((a) => a.name === peer)?.ip : undefined;
  return `${ip ?? "127.0.0.1"}:${FLOOD_PORT}`;
}

/** What a fault's INJECT line carries beyond its name, nonce and delay: the netflood's target and rate. */
export function injectArgs(fault: string, c: CompositionParams | undefined): string {
  return fault === "netflood" ? ` to=${floodTarget(c)} pps=${NETFLOOD.pps} seconds=${NETFLOOD.seconds}` : "";
}
