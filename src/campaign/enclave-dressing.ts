/**
 * What the campaign adds to every enclave of a run before it starts, and takes away after: a cgroup with
 * CPU and memory limits (a composed cell's `limits` toggle) and the agent's syslog channel with its tap
 * (`guest.syslog`). The victim, its bystanders and a composed cell's peers are dressed alike, by role.
 */
import type { EnclaveEvent, EnclaveSpec } from "../backends/backend.js";
import type { EnclaveCgroupHandle } from "../host/cgroup.js";
import { enclaveLimits } from "../host/cgroup-layout.js";
import type { RunPlan } from "./run-plan.js";
import type { RunServices } from "./run-services.js";
import type { RunSyslog, RunSyslogReport } from "./run-syslog.js";

/** How a run's enclaves are dressed (from the run's plan and state). */
export interface DressingOptions {
  services: RunServices;
  /** Unique among concurrent runs (the run's nonce). */
  runId: string;
  /** Every enclave of the run, by role. */
  roles: string[];
  memoryMb: number;
  heartbeatMs: number;
  heartbeatLossMs: number;
  bootMs: number;
  workDir: string;
}

type Sink = (ev: EnclaveEvent) => void;

/** One run's dressing: `dress` each enclave before it starts, dispose after the enclaves stopped. */
export class EnclaveDressing implements AsyncDisposable {
  readonly #cgroups: EnclaveCgroupHandle[] = [];

  private constructor(
    private readonly opts: DressingOptions,
    readonly syslog: RunSyslog | null,
  ) {}

  /** Start what the run's enclaves share (the run's syslog monitor and its taps). */
  static async open(opts: DressingOptions): Promise<EnclaveDressing> {
    const s = opts.services.syslog;
    const syslog = s
      ? await s.forRun({
          runId: opts.runId,
          roles: opts.roles,
          heartbeatMs: opts.heartbeatMs,
          heartbeatLossMs: opts.heartbeatLossMs,
          bootMs: opts.bootMs,
          workDir: opts.workDir,
        })
      : null;
    return new EnclaveDressing(opts, syslog);
  }

  /** The spec and sink enclave `role` starts with (a peer's role too: it is watched from now on). */
  async dress(role: string, spec: EnclaveSpec, sink: Sink): Promise<{ spec: EnclaveSpec; sink: Sink }> {
    const cgroups = this.opts.services.cgroups;
    let cgroup: EnclaveCgroupHandle | undefined;
    if (cgroups) {
      cgroup = cgroups.create(role, enclaveLimits(this.opts.memoryMb));
      this.#cgroups.push(cgroup);
    }
    return {
      spec: {
        ...spec,
        ...(cgroup ? { cgroup: cgroup.join } : {}),
        ...(this.syslog ? { syslog: await this.syslog.channel(role) } : {}),
      },
      sink: this.syslog ? this.syslog.sink(role, sink) : sink,
    };
  }

  /** The end of the observation: what the run's syslog saw (null without syslog). */
  async collect(): Promise<RunSyslogReport | null> {
    return this.syslog ? await this.syslog.collect() : null;
  }

  /** Stop watching and remove the cgroups (the enclaves have stopped: registered before them). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.syslog?.[Symbol.asyncDispose]();
    await Promise.all(this.#cgroups.map((c) => c.remove()));
  }
}

/** The dressing of a run from its plan: its victim and bystanders by role. */
export function openDressing(plan: RunPlan, workDir: string): Promise<EnclaveDressing> {
  const bystanders = Array.from({ length: plan.bystanders ?? 0 }, (_, i) => `bystander-${i}`);
  return EnclaveDressing.open({
    services: plan.services ?? {},
    runId: `r${plan.nonce}`,
    roles: ["victim", ...bystanders],
    memoryMb: plan.memoryMb,
    heartbeatMs: plan.heartbeatMs,
    heartbeatLossMs: plan.timeouts.heartbeatLossMs,
    bootMs: plan.timeouts.bootMs,
    workDir,
  });
}
