import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, Enclave, EnclaveSpec } from "../backends/backend.js";
import type { BystanderEvidence } from "../model/outcome-types.js";
import { HeartbeatLog, heartbeatTiming } from "../monitor/heartbeat-log.js";
import { RunMonitor } from "../monitor/run-monitor.js";
import { InfraError } from "../util/errors.js";
import type { Dress } from "./dress.js";
import { waitAllReady } from "./wait-ready.js";

interface Bystander {
  index: number;
  monitor: RunMonitor;
  log: HeartbeatLog;
  enclave: Enclave | null;
}

/**
 * Healthy enclaves of the same backend beside the faulty one (`bystanders: N`), each with its own
 * monitor: a bystander that dies or stalls while the fault runs is the evidence of a "varied" or "global"
 * effect that the faulty enclave alone cannot show. Started before the fault, stopped before the host's
 * after-probe; they carry the run's tag, so a leaked one is found by the leak probe.
 */
export class Bystanders implements AsyncDisposable {
  private constructor(private readonly members: Bystander[]) {}

  /**
   * Start `n` enclaves (no fault armed), each in its own scratch directory under `spec.workDir`, each
   * dressed by `dress` (its role `bystander-<i>`) when given.
   */
  static async start(
    n: number,
    backend: Backend,
    spec: EnclaveSpec,
    heartbeatLossMs: number,
    signal: AbortSignal,
    dress?: Dress,
  ): Promise<Bystanders> {
    const members: Bystander[] = [];
    const set = new Bystanders(members);
    try {
      for (let index = 0; index < n; index++) {
        const monitor = new RunMonitor(`bystander-${index}`, heartbeatLossMs);
        const log = new HeartbeatLog(monitor);
        const member: Bystander = { index, monitor, log, enclave: null };
        members.push(member);
        const workDir = join(spec.workDir, `bystander-${index}`);
        await mkdir(workDir, { recursive: true });
        const plain = { spec: { ...spec, arm: null, workDir }, sink: log.sink };
        const own = dress ? await dress(`bystander-${index}`, plain.spec, plain.sink) : plain;
        member.enclave = await backend.start(own.spec, own.sink, signal);
      }
    } catch (e) {
      await set.stop();
      throw e instanceof InfraError
        ? e
        : new InfraError("spawn.bystander", (e as Error).message, { cause: e });
    }
    return set;
  }

  get count(): number {
    return this.members.length;
  }

  /** Every bystander heartbeating; an InfraError names the first that is not, after `timeoutMs`. */
  async waitReady(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const members = this.members.map((m) => ({ label: `bystander ${m.index}`, monitor: m.monitor }));
    await waitAllReady(members, "wait.bystander-ready", timeoutMs, signal);
  }

  /** What each bystander went through: `baseline` before the fault, `fault` while it ran (host times). */
  evidence(intervalMs: number, baseline: [number, number], fault: [number, number]): BystanderEvidence[] {
    return this.members.map((m) => {
      const s = m.monitor.state;
      const died = s.exit !== null || s.panicEventAt !== null || (s.crash?.panic ?? false);
      return {
        index: m.index,
        died,
        stalled: !died && s.heartbeatLostAt !== null,
        exit: s.exit ?? { kind: "running" },
        heartbeatsDuringFault: m.log.countBetween(...fault),
        timing: heartbeatTiming(m.log.arrivals, intervalMs, baseline, fault),
      };
    });
  }

  /** Stop every bystander (idempotent). */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.enclave?.stop()));
    for (const m of this.members) m.monitor[Symbol.dispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
