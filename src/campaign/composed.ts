import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, Enclave, EnclaveEvent, EnclaveSpec } from "../backends/backend.js";
import { BACKEND_NAMES, type BackendName, createBackend } from "../backends/index.js";
import {
  type CellAddress,
  cellAddresses,
  type DependencyTiming,
  dependencyPlans,
  linkBuildRefusal,
  netCommand,
  VICTIM,
} from "../backends/links/cell-network.js";
import { linkHostFacts, linkHostRefusal } from "../backends/links/link-host.js";
import { PrivateNetwork } from "../backends/links/private-network.js";
import type { CompositionParams, PeerEvidence } from "../model/composition.js";
import { HeartbeatLog, maxHeartbeatGap } from "../monitor/heartbeat-log.js";
import { requestsBetween } from "../monitor/link-lines.js";
import { LinkLog } from "../monitor/link-log.js";
import { RunMonitor, WaitTimeout } from "../monitor/run-monitor.js";
import { InfraError } from "../util/errors.js";
import type { Dress } from "./dress.js";
import { waitAllReady } from "./wait-ready.js";

/** A composed run's cell: the links, each peer's backend, and how the dependents and peers are watched. */
export interface ComposedPlan {
  params: CompositionParams;
  /** Each peer's backend, by peer name. */
  peerBackends: ReadonlyMap<string, Backend>;
  /** How often a dependent asks, and after how long a reply is late. */
  timing: DependencyTiming;
  /**
   * How long the peers are watched after the victim's observation ends: the victim's crash ends its own
   * observation at once, while its dependents go on failing.
   */
  watchMs: number;
  /** Deadline of each step of connecting the cell (NET-OK, SERVING, a first answer). */
  connectMs: number;
}

/** A dependent asks 5 times a second and allows a reply 500 ms (TCG guests on a shared host are slow). */
export const DEFAULT_DEPENDENCY_TIMING: DependencyTiming = { periodMs: 200, lateMs: 500 };
/** Peers are watched this long past the victim's observation (times the victim backend's timeout scale). */
const WATCH_MS = 3000;
/** NET, SERVE and the first answered request take milliseconds; a guest under load, longer (scaled too). */
const CONNECT_MS = 20_000;

/**
 * A cell's plan for a run: each peer's backend (the victim's own when the names match, else a new one of
 * that type). A peer backend ezone does not know is a configuration error (thrown as a RangeError).
 */
export function composedPlan(params: CompositionParams, victim: Backend): ComposedPlan {
  const peerBackends = new Map<string, Backend>();
  for (const p of params.peers) {
    if (p.backend === victim.name) peerBackends.set(p.name, victim);
    else if ((BACKEND_NAMES as readonly string[]).includes(p.backend) && p.backend !== "exec")
      peerBackends.set(p.name, createBackend({ name: p.backend, type: p.backend as BackendName }));
    else throw new RangeError(`peer ${p.name}: backend ${JSON.stringify(p.backend)} cannot be a peer`);
  }
  return {
    params,
    peerBackends,
    timing: DEFAULT_DEPENDENCY_TIMING,
    watchMs: WATCH_MS * victim.timeoutScale,
    connectMs: CONNECT_MS * victim.timeoutScale,
  };
}

/**
 * Why a cell's links cannot be built here, or null: the backends' NICs (pure) and this host's tools and
 * capabilities. Asked before a campaign starts, so nothing is half-built.
 */
export function composedRefusal(plan: ComposedPlan, victim: Backend): string | null {
  const backendOf = (member: string) => {
    const b = member === VICTIM ? victim : plan.peerBackends.get(member);
    return { name: b?.name ?? "(none)", nic: b?.nic === true };
  };
  const refusal = linkBuildRefusal(plan.params, backendOf);
  if (refusal) return refusal;
  return cellAddresses(plan.params).length > 0 ? linkHostRefusal(linkHostFacts()) : null;
}

/**
 * Why the composed cells among `slots` cannot be built here (the first reason, naming the backend), or
 * null: checked once, before a campaign's first run.
 */
export function campaignLinkRefusal(
  slots: readonly { backend: Backend; params: { composition?: CompositionParams } }[],
): string | null {
  for (const { backend, params } of slots) {
    if (!params.composition) continue;
    let refusal: string | null;
    try {
      refusal = composedRefusal(composedPlan(params.composition, backend), backend);
    } catch (e) {
      refusal = (e as Error).message;
    }
    if (refusal) return `${backend.name}: ${refusal}`;
  }
  return null;
}

interface Member {
  name: string;
  backend: Backend;
  monitor: RunMonitor;
  beats: HeartbeatLog;
  links: LinkLog;
  address: CellAddress | undefined;
  enclave: Enclave | null;
}

/**
 * The peers of a composed run beside its victim, and the private network between them: started before
 * the victim, given their addresses, services and dependents once everyone is READY, watched past the
 * victim's end, and stopped (network last) after it. The victim's own monitor stays the run's; this only
 * reads its link lines.
 */
export class ComposedCell implements AsyncDisposable {
  private victimLinks: LinkLog | null = null;
  /** When every dependent had its first answer: requests before it are the set-up's, not the run's. */
  connectedAt: number | null = null;

  private constructor(
    private readonly plan: ComposedPlan,
    private readonly members: Member[],
    private readonly addresses: CellAddress[],
    private network: PrivateNetwork | null,
  ) {}

  /** Build the network and start every peer from `spec` (no fault, no snapshot), each in its own directory. */
  static async start(
    plan: ComposedPlan,
    spec: EnclaveSpec,
    heartbeatLossMs: number,
    signal: AbortSignal,
    dress?: Dress,
  ): Promise<ComposedCell> {
    const addresses = cellAddresses(plan.params);
    const cell = new ComposedCell(plan, [], addresses, null);
    try {
      if (addresses.length > 0) cell.network = await PrivateNetwork.start(addresses, signal);
      for (const p of plan.params.peers) {
        const backend = plan.peerBackends.get(p.name);
        if (!backend) throw new InfraError("spawn.peer", `peer ${p.name}: no backend`);
        const monitor = new RunMonitor(`peer-${p.name}`, heartbeatLossMs);
        const beats = new HeartbeatLog(monitor);
        const links = new LinkLog(beats.sink);
        const address = addresses.find((a) => a.name === p.name);
        const m: Member = { name: p.name, backend, monitor, beats, links, address, enclave: null };
        cell.members.push(m);
        const workDir = join(spec.workDir, `peer-${p.name}`);
        await mkdir(workDir, { recursive: true });
        const peerSpec = cell.withNic(
          { ...spec, arm: null, restoreFrom: undefined, keepSpare: false, workDir },
          address,
        );
        const own = dress
          ? await dress(`peer-${p.name}`, peerSpec, links.sink)
          : { spec: peerSpec, sink: links.sink };
        m.enclave = await backend.start(own.spec, own.sink, signal);
      }
    } catch (e) {
      await cell.stop();
      throw e instanceof InfraError ? e : new InfraError("spawn.peer", (e as Error).message, { cause: e });
    }
    return cell;
  }

  private withNic(spec: EnclaveSpec, a: CellAddress | undefined): EnclaveSpec {
    if (!a || !this.network) return spec;
    return { ...spec, nic: { netns: this.network.netns, tap: a.tap, mac: a.mac } };
  }

  /** The victim's spec with its NIC, when the cell has a network. */
  victimSpec(spec: EnclaveSpec): EnclaveSpec {
    return this.withNic(
      spec,
      this.addresses.find((a) => a.name === VICTIM),
    );
  }

  /** The victim's sink, reading its link lines on the way to the run's own. */
  victimSink(next: (ev: EnclaveEvent) => void): (ev: EnclaveEvent) => void {
    this.victimLinks = new LinkLog(next);
    return this.victimLinks.sink;
  }

  /**
   * Once the victim is READY: wait for the peers' READY, give every NIC its address (each answers NET-OK
   * with what its kernel holds), start the services, then the dependents, and wait until each dependent
   * has had an answer.
   */
  async connect(
    victim: Enclave,
    victimMonitor: RunMonitor,
    readyMs: number,
    signal: AbortSignal,
  ): Promise<void> {
    await waitAllReady(
      this.members.map((m) => ({ label: `peer ${m.name}`, monitor: m.monitor })),
      "wait.peer-ready",
      readyMs,
      signal,
    );
    const all = [
      { name: VICTIM, enclave: victim, monitor: victimMonitor, links: this.victimLinks },
      ...this.members,
    ];
    const party = (name: string) => all.find((m) => m.name === name);
    for (const a of this.addresses) party(a.name)?.enclave?.send(netCommand(a));
    for (const a of this.addresses)
      await this.until(party(a.name), "NET-OK", (l) => l.netOk !== null, signal);
    const deps = dependencyPlans(this.plan.params, this.plan.timing);
    for (const d of deps) party(d.to)?.enclave?.send(d.serve);
    for (const d of deps) await this.until(party(d.to), "SERVING", (l) => l.serving, signal);
    for (const d of deps) party(d.from)?.enclave?.send(d.depend);
    for (const d of deps) await this.until(party(d.from), "a first answer", (l) => l.answered, signal);
    this.connectedAt = performance.now();
  }

  /** Wait until a member's link lines satisfy `done`; its failure line or its end is an InfraError. */
  private async until(
    m: { name: string; monitor: RunMonitor; links: LinkLog | null } | undefined,
    what: string,
    done: (l: LinkLog) => boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const links = m?.links;
    if (!m || !links)
      throw new InfraError("links.connect", `no enclave ${m?.name ?? "?"} to wait for ${what}`);
    try {
      await m.monitor.wait(
        {
          reason: `${m.name}: no ${what} within ${this.plan.connectMs} ms`,
          until: (s) => done(links) || links.failure !== null || s.exit !== null,
          timeoutMs: this.plan.connectMs,
        },
        signal,
      );
    } catch (e) {
      if (e instanceof WaitTimeout) throw new InfraError("links.connect", e.message);
      throw e;
    }
    if (!done(links))
      throw new InfraError("links.connect", `${m.name}: ${links.failure ?? `ended before ${what}`}`);
  }

  /** Watch the peers for the plan's window (an observation period: nothing ends it early). */
  async watch(signal: AbortSignal): Promise<void> {
    const first = this.members[0];
    if (!first) return;
    try {
      await first.monitor.wait(
        { reason: "peers watched", until: () => false, timeoutMs: this.plan.watchMs },
        signal,
      );
    } catch (e) {
      if (!(e instanceof WaitTimeout)) throw e;
    }
  }

  /** What each peer went through within (from, to]: death, longest heartbeat gap, its requests. */
  evidence(from: number, to: number): PeerEvidence[] {
    const dependents = new Set(
      this.plan.params.links.filter((l) => l.kind === "depends-on").map((l) => l.from),
    );
    return this.members.map((m) => {
      const s = m.monitor.state;
      const gap = maxHeartbeatGap(m.beats.arrivals, from, to);
      return {
        name: m.name,
        backend: m.backend.name,
        died: s.exit !== null || s.panicEventAt !== null || (s.crash?.panic ?? false),
        // Whole milliseconds: the verdict's reasons print it.
        maxHeartbeatGapMs: gap === null ? null : Math.round(gap),
        requests: dependents.has(m.name)
          ? (requestsBetween(m.links.depstats, from, to) ?? { ok: 0, failed: 0, late: 0 })
          : null,
      };
    });
  }

  /** Each member's NET answer: the address and MAC its kernel holds (null: none yet). */
  netAnswers(): Record<string, { ip: string; mac: string } | null> {
    return Object.fromEntries([
      [VICTIM, this.victimLinks?.netOk ?? null],
      ...this.members.map((m) => [m.name, m.links.netOk] as const),
    ]);
  }

  /** Stop the peers, then end the network (idempotent). */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.enclave?.stop()));
    for (const m of this.members) m.monitor[Symbol.dispose]();
    await this.network?.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
