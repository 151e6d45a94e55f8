/**
 * `guest.syslog: true`: every enclave of a run (victim, bystanders, peers) sends its agent's RFC 5424
 * messages through the host's syslog daemon, and the run is watched as `ezone monitor` watches long-lived
 * enclaves (docs/monitor.md): one tap per enclave, one monitor per run reading only the daemon's output.
 * The violations raised while the run was observed are stored with it.
 *
 *   agent --ttyS1 / fd 3--> tap (run's workDir) --> campaign's rsyslogd --> its output --> run's monitor
 *
 * The daemon is the campaign's own private rsyslogd (the configuration of `ezone monitor setup`), living
 * as long as the campaign and dying with ezone; several runs share it, told apart by HOSTNAME.
 */

import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { EnclaveEvent, SyslogChannelSpec } from "../backends/backend.js";
import { type MonitorConfig, monitorConfigSchema } from "../monitor-daemon/monitor-config.js";
import { type PrivateRsyslogd, startPrivateRsyslogd } from "../monitor-daemon/rsyslogd.js";
import { SyslogMonitor } from "../monitor-daemon/syslog-monitor.js";
import type { Violation } from "../monitor-daemon/violation-detector.js";
import type { ViolationRecord } from "../store/violation-store.js";
import { InfraError } from "../util/errors.js";
import { makeScratchDir } from "../util/scratch-dir.js";

/** A violation of one run, its enclave named by its role in the run ("victim", "bystander-0", a peer). */
export type RunViolation = Omit<ViolationRecord, "monitor">;

/** What the run's syslog saw: its violations, and each enclave's heartbeats that came through syslog. */
export interface RunSyslogReport {
  violations: RunViolation[];
  heartbeats: Record<string, number>;
}

/** How one run's enclaves are watched. */
export interface RunSyslogOptions {
  /** Unique among the campaign's concurrent runs: the HOSTNAME prefix of its enclaves. */
  runId: string;
  /** Roles of the run's enclaves known when it starts (more join with `channel`, e.g. peers). */
  roles: string[];
  heartbeatMs: number;
  /** Heartbeat loss = silence longer than this. */
  heartbeatLossMs: number;
  /** Allowance before an enclave's first heartbeat. */
  bootMs: number;
  /** Where the taps' sockets go (the run's scratch directory). */
  workDir: string;
}

/** How long the end of a run waits for its last messages to come back through syslog. */
const FLUSH_MS = 3000;

/** The campaign's syslog daemon; `forRun` watches one run's enclaves through it. */
export class CampaignSyslog implements AsyncDisposable {
  private constructor(
    private readonly daemon: PrivateRsyslogd,
    private readonly dir: string,
  ) {}

  /** Start the campaign's rsyslogd (a missing or failing rsyslogd is an InfraError with its reason). */
  static async start(): Promise<CampaignSyslog> {
    const dir = await makeScratchDir("run");
    try {
      return new CampaignSyslog(await startPrivateRsyslogd(join(dir, "rsyslog")), dir);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      if (e instanceof InfraError) throw e;
      throw new InfraError("rsyslogd.start", `guest.syslog needs rsyslogd: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Watch one run's enclaves: their taps listen once this resolves. */
  forRun(opts: RunSyslogOptions): Promise<RunSyslog> {
    return RunSyslog.start(this.daemon.paths.socket, this.daemon.paths.output, opts);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.daemon.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One run's taps and monitor. */
export class RunSyslog implements AsyncDisposable {
  readonly #violations: Violation[] = [];
  readonly #roles: Set<string>;
  #report: RunSyslogReport | null = null;

  private constructor(
    private readonly monitor: SyslogMonitor,
    private readonly opts: RunSyslogOptions,
  ) {
    this.#roles = new Set(opts.roles);
    monitor.on((ev) => {
      if (ev.type === "raised") this.#violations.push(ev.violation);
    });
  }

  static async start(socket: string, output: string, opts: RunSyslogOptions): Promise<RunSyslog> {
    const config = monitorConfigSchema.parse({
      name: opts.runId.toLowerCase(),
      syslog: { target: { unix: socket }, input: { file: output, from: "end" } },
      enclaves: opts.roles.map((role) => enclaveOf(opts, role)),
      notify: { stderr: false },
      statsIntervalSeconds: 0,
    });
    return new RunSyslog(await SyslogMonitor.start(config, { store: null, log: () => {} }), opts);
  }

  /** The channel an enclave's agent sends on (EnclaveSpec.syslog); a new role is watched from now on. */
  async channel(role: string): Promise<SyslogChannelSpec> {
    if (!this.#roles.has(role)) {
      this.#roles.add(role);
      await this.monitor.watch(enclaveOf(this.opts, role));
    }
    return { socket: channelPath(this.opts.workDir, role), hostname: hostnameOf(this.opts.runId, role) };
  }

  /** `sink` with the enclave's tap watching its console and exit (the tap reports oops, panic, exit). */
  sink(role: string, sink: (ev: EnclaveEvent) => void): (ev: EnclaveEvent) => void {
    const tap = this.monitor.tap(hostnameOf(this.opts.runId, role));
    if (!tap) return sink;
    return (ev) => {
      tap.consoleSink(ev);
      sink(ev);
    };
  }

  /**
   * End of the observation: wait until what the taps sent has come back through syslog, keep what was
   * raised, and stop watching, so that ezone stopping the enclaves afterwards is not reported as their
   * exit. Idempotent.
   */
  async collect(): Promise<RunSyslogReport> {
    if (this.#report) return this.#report;
    const delivered = await this.monitor.flush(FLUSH_MS);
    const stats = this.monitor.stats();
    await this.monitor.stop();
    const roleOf = (hostname: string) =>
      [...this.#roles].find((r) => hostnameOf(this.opts.runId, r) === hostname);
    const violations: RunViolation[] = this.#violations.map((v) => ({
      ...v,
      enclave: roleOf(v.enclave) ?? v.enclave,
    }));
    if (!delivered)
      violations.push({
        enclave: "ezone-monitor",
        kind: "pipeline-stalled",
        detail: `the monitor's canary did not come back through rsyslogd within ${FLUSH_MS} ms: the run's last messages may be missing`,
        lastHeartbeatAt: null,
        firstMissedHeartbeatAt: null,
        sourceAt: null,
        detectedAt: Date.now(),
        evidence: [],
      });
    const heartbeats: Record<string, number> = {};
    for (const e of stats.enclaves) heartbeats[roleOf(e.name) ?? e.name] = e.heartbeats;
    this.#report = { violations, heartbeats };
    return this.#report;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.monitor.stop();
  }
}

/** The monitor's watch of one enclave of the run. */
function enclaveOf(opts: RunSyslogOptions, role: string): MonitorConfig["enclaves"][number] {
  return {
    name: hostnameOf(opts.runId, role),
    heartbeatMs: opts.heartbeatMs,
    missIntervals: Math.max(2, Math.ceil(opts.heartbeatLossMs / opts.heartbeatMs)),
    bootGraceSeconds: Math.min(3600, opts.bootMs / 1000),
    channel: { socket: channelPath(opts.workDir, role) },
  };
}

/** HOSTNAME of a run's enclave: unique among the runs that share the daemon. */
function hostnameOf(runId: string, role: string): string {
  return `${runId}-${role}`.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 63);
}

function channelPath(workDir: string, role: string): string {
  return join(workDir, `syslog-${role.replace(/[^A-Za-z0-9._-]/g, "_")}.sock`);
}
