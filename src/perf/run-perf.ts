/**
 * `ezone perf`: the performance axis (DESIGN.md §9). Each round boots every backend's enclave once
 * (native first) and keeps them up; each benchmark then runs on native and right after on every other
 * backend (perfSchedule()), warm-ups first and discarded. Every enclave of a round is one stored block,
 * written in one transaction with the host's steal, frequency and load while it ran.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { hostname, release, tmpdir } from "node:os";
import { join } from "node:path";
import type { Availability, Backend, Enclave, EnclaveEvent } from "../backends/backend.js";
import type { BuiltImage } from "../guest/image-builder.js";
import { type AgentEvent, ConsoleParser } from "../monitor/console-parser.js";
import { RunMonitor, type Wait, WaitTimeout } from "../monitor/run-monitor.js";
import type { PerfBlock, PerfResult, Store } from "../store/store.js";
import { deadline } from "../util/deadline.js";
import { InfraError } from "../util/errors.js";
import { type BenchmarkName, type BenchParams, benchCommand } from "./benchmarks.js";
import {
  addCpuDelta,
  type CpuTimes,
  readCpuTimes,
  readFrequencyAndLoad,
  stealPercent,
} from "./host-notes.js";
import { perfSchedule } from "./schedule.js";

/** The backend every ratio is taken against. */
export const REFERENCE = "native";

export interface PerfPlan {
  image: BuiltImage;
  /** Candidates, the reference among them; each is probed once. */
  backends: Backend[];
  rounds: number;
  /** Measured repetitions per benchmark per enclave (the round's value is their median). */
  samples: number;
  /** Repetitions run first and discarded, per benchmark per enclave. */
  warmup: number;
  benchmarks: readonly BenchmarkName[];
  params: BenchParams;
  memoryMb: number;
  store: Store;
  session: string;
  campaign: string;
  signal: AbortSignal;
  log: (line: string) => void;
}

/** Boot deadline before the backend's timeout scale; generous because other jobs load the host. */
const BOOT_MS = 120_000;
/** Heartbeat interval in the enclave: long, so idle enclaves disturb the one benchmarking as little as possible. */
const HEARTBEAT_MS = 5000;
/** RunMonitor's heartbeat-loss timer must not fire during a perf round (below setTimeout's 2^31 ms). */
const NO_HEARTBEAT_LOSS_MS = 86_400_000;
/** Bench-result lines kept per enclave: far above what a round asks for, a bound against a chatty guest. */
const MAX_RESULTS = 10_000;

type BenchEvent = Extract<AgentEvent, { kind: "bench-result" }>;

/** What every block of a round shares. */
type BlockBase = Pick<
  PerfBlock,
  | "session"
  | "campaign"
  | "warmup"
  | "imageHash"
  | "hostKernel"
  | "hostname"
  | "round"
  | "seq"
  | "backendVersion"
>;

function mean(values: number[]): number | null {
  return values.length ? values.reduce((s, x) => s + x, 0) / values.length : null;
}

/** A bench command's deadline: setup (the memory kernels touch 3 buffers first) plus every repetition. */
function benchDeadlineMs(reps: number, p: BenchParams, scale: number): number {
  return (30_000 + reps * (5 * p.ms + 10_000)) * scale;
}

/**
 * The agent's BENCH-RESULT lines of one enclave. The RunMonitor keeps only what a fault run needs, so
 * this parses the same console a second time: perf consoles are a few hundred lines.
 */
class BenchCollector {
  readonly results: BenchEvent[] = [];
  readonly errors: string[] = [];
  private readonly parser = new ConsoleParser();

  /** Feed an enclave event, before the monitor sees it, so waits over the monitor see these results. */
  feed(ev: EnclaveEvent): void {
    if (ev.type === "console") this.take(this.parser.push(ev.data, ev.at).events);
    else if (ev.type === "exit") this.take(this.parser.end(ev.at).events);
  }

  private take(events: AgentEvent[]): void {
    for (const e of events) {
      if (e.kind === "bench-result" && this.results.length < MAX_RESULTS) this.results.push(e);
      if (e.kind === "agent-error" && this.errors.length < 16) this.errors.push(e.text);
    }
  }

  /** Results of `bench`, the first line per repetition, by repetition. */
  of(bench: string): Map<number, BenchEvent> {
    const out = new Map<number, BenchEvent>();
    for (const r of this.results) if (r.bench === bench && !out.has(r.rep)) out.set(r.rep, r);
    return out;
  }
}

function measured(benchmark: string, sample: number, r: BenchEvent & { value: number }): PerfResult {
  const { ops, ns, ...detail } = r.fields;
  const int = (x: string | undefined) => (x !== undefined && /^\d{1,15}$/.test(x) ? Number(x) : null);
  return {
    benchmark,
    sample,
    value: r.value,
    unit: r.unit ?? "?",
    ops: int(ops),
    elapsedNs: int(ns),
    detail,
  };
}

/**
 * One backend's enclave in one round: booted once, benchmarked in turn with the others, stopped at the
 * round's end. A failure makes the block `failed` with the step and reason; it is never thrown, except
 * the session's own abort.
 */
class PerfEnclave {
  status: "ok" | "failed" = "ok";
  reason: string | null = null;
  bootMs: number | null = null;
  readonly results: PerfResult[] = [];
  readonly failures: Record<string, string> = {};
  readonly startedAt = new Date();
  /** CPU ticks (and stolen ticks), frequency and load of the host while this enclave ran its benchmarks. */
  private readonly ticks: CpuTimes = { total: 0, steal: 0 };
  private readonly mhz: number[] = [];
  private readonly load: number[] = [];
  private readonly monitor: RunMonitor;
  private readonly bench = new BenchCollector();
  private enclave: Enclave | null = null;
  private workDir: string | null = null;

  constructor(
    private readonly plan: PerfPlan,
    readonly backend: Backend,
    private readonly runTag: string,
    /** The round's deadline under the session's signal: an enclave lives as long as its round. */
    private readonly signal: AbortSignal,
  ) {
    this.monitor = new RunMonitor(runTag, NO_HEARTBEAT_LOSS_MS);
  }

  private get reps(): number {
    return this.plan.warmup + this.plan.samples;
  }

  /** Start the enclave and wait for the agent's READY. */
  async boot(): Promise<void> {
    await this.guard(async () => {
      this.workDir = await mkdtemp(join(tmpdir(), "ezone-perf-"));
      const sink = (ev: EnclaveEvent) => {
        this.bench.feed(ev);
        this.monitor.sink(ev);
      };
      const spec = {
        image: this.plan.image,
        memoryMb: this.plan.memoryMb,
        heartbeatMs: HEARTBEAT_MS,
        kernelArgs: [],
        arm: null,
        runTag: this.runTag,
        workDir: this.workDir,
      };
      this.enclave = await this.backend.start(spec, sink, this.signal);
      const bootMs = BOOT_MS * this.backend.timeoutScale;
      await this.wait("wait.ready", {
        reason: `no READY from the agent within ${bootMs} ms`,
        until: (s) => s.readyAt !== null || s.exit !== null,
        timeoutMs: bootMs,
      });
      const s = this.monitor.state;
      if (s.readyAt === null) {
        const stderr = s.stderr.trim().slice(0, 300) || "no stderr";
        throw new InfraError(
          "wait.ready",
          `enclave ended before READY (${JSON.stringify(s.exit)}): ${stderr}`,
        );
      }
      this.bootMs = s.readyAt - s.startedAt;
    });
  }

  /** Run one benchmark (warm-ups + samples) and keep its measured repetitions. */
  async run(name: BenchmarkName): Promise<void> {
    if (this.status !== "ok" || !this.enclave) return;
    const enclave = this.enclave;
    await this.guard(async () => {
      const errorsBefore = this.bench.errors.length;
      const timeoutMs = benchDeadlineMs(this.reps, this.plan.params, this.backend.timeoutScale);
      const before = await readCpuTimes();
      enclave.send(benchCommand(name, this.reps, this.plan.params));
      await this.wait(`bench.${name}`, {
        reason: `not all ${this.reps} results within ${timeoutMs} ms`,
        until: (s) =>
          this.bench.of(name).size >= this.reps || this.bench.errors.length > errorsBefore || s.exit !== null,
        timeoutMs,
      });
      addCpuDelta(this.ticks, before, await readCpuTimes());
      const { cpuMhz, load1 } = await readFrequencyAndLoad();
      if (cpuMhz !== null) this.mhz.push(cpuMhz);
      if (load1 !== null) this.load.push(load1);
      if (this.bench.errors.length > errorsBefore)
        throw new InfraError(`bench.${name}`, `the agent refused: ${this.bench.errors.at(-1)}`);
      if (this.monitor.state.exit !== null)
        throw new InfraError(`bench.${name}`, `enclave ended (${JSON.stringify(this.monitor.state.exit)})`);
      for (const [rep, r] of this.bench.of(name)) {
        if (r.value === null) this.failures[name] ??= r.failure ?? "failed";
        else if (rep >= this.plan.warmup && rep < this.reps)
          this.results.push(measured(name, rep - this.plan.warmup + 1, { ...r, value: r.value }));
      }
    });
  }

  /** Stop the enclave (idempotent) and remove its scratch directory. */
  async stop(): Promise<void> {
    await this.enclave?.stop();
    this.monitor[Symbol.dispose]();
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true });
    this.workDir = null;
  }

  /** The block as stored; host notes are those of the time this enclave ran its benchmarks. */
  block(base: BlockBase): PerfBlock {
    return {
      ...base,
      backend: this.backend.name,
      status: this.status,
      reason: this.reason,
      bootMs: this.bootMs,
      stealPct: stealPercent(this.ticks),
      cpuMhz: mean(this.mhz),
      load1: mean(this.load),
      failures: this.failures,
      startedAt: this.startedAt,
      finishedAt: new Date(),
    };
  }

  private async wait(step: string, w: Wait): Promise<void> {
    try {
      await this.monitor.wait(w, this.signal);
    } catch (e) {
      if (e instanceof WaitTimeout) throw new InfraError(step, w.reason);
      throw e;
    }
  }

  private async guard(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (e) {
      if (this.plan.signal.aborted) throw e;
      this.status = "failed";
      this.reason = this.signal.aborted
        ? `round deadline passed: ${(e as Error).message}`
        : (e as Error).message;
      await this.stop();
    }
  }
}

type Runnable = { backend: Backend; availability: Availability };

/** A session's blocks as they are stored, in schedule order. */
class SessionRecorder {
  readonly blocks: PerfBlock[] = [];

  constructor(
    private readonly plan: PerfPlan,
    /** What every block of the session shares. */
    readonly base: Omit<BlockBase, "round" | "seq" | "backendVersion">,
  ) {}

  record(block: PerfBlock, results: PerfResult[]): void {
    this.plan.store.recordPerfBlock(block, results);
    this.blocks.push(block);
  }

  /** A backend the session cannot run, stored as a block without a round. */
  unavailable(backend: Backend, availability: Availability): void {
    const now = new Date();
    this.record(
      {
        ...this.base,
        round: null,
        seq: this.blocks.length,
        backend: backend.name,
        status: "unavailable",
        reason: availability.reason,
        backendVersion: availability.version ?? null,
        bootMs: null,
        stealPct: null,
        cpuMhz: null,
        load1: null,
        failures: {},
        startedAt: now,
        finishedAt: now,
      },
      [],
    );
  }
}

/** Probe every backend once; the ones that cannot run here are stored as unavailable. */
async function probeBackends(plan: PerfPlan, recorder: SessionRecorder): Promise<Map<string, Runnable>> {
  const available = new Map<string, Runnable>();
  for (const backend of plan.backends) {
    const availability = await backend.probe(plan.image, plan.signal);
    plan.log(
      `${backend.name}: ${availability.available ? "" : "not runnable here — "}${availability.reason}`,
    );
    if (availability.available) available.set(backend.name, { backend, availability });
    else recorder.unavailable(backend, availability);
  }
  if (!available.has(REFERENCE)) {
    throw new InfraError("perf.reference", `the reference backend ${REFERENCE} cannot run here`);
  }
  return available;
}

type Round = ReturnType<typeof perfSchedule>[number];

/** Boot the round's enclaves one at a time, run its steps, stop them all, and store one block each. */
async function runRound(
  plan: PerfPlan,
  round: Round,
  available: Map<string, Runnable>,
  recorder: SessionRecorder,
): Promise<void> {
  const t0 = performance.now();
  const entries = round.backends.map((name) => available.get(name) as Runnable);
  const reps = plan.warmup + plan.samples;
  const roundMs = entries.reduce(
    (sum, { backend }) =>
      sum + (BOOT_MS + plan.benchmarks.length * benchDeadlineMs(reps, plan.params, 1)) * backend.timeoutScale,
    0,
  );
  const signal = deadline(plan.signal, roundMs);
  const enclaves = new Map(
    entries.map(({ backend }) => [
      backend.name,
      new PerfEnclave(plan, backend, `perf-${process.pid}-${round.round}-${backend.name}`, signal),
    ]),
  );
  try {
    // One boot at a time: a booting VM must not compete with another's boot, nor with a benchmark.
    for (const e of enclaves.values()) await e.boot();
    for (const step of round.steps) await enclaves.get(step.backend)?.run(step.benchmark as BenchmarkName);
  } finally {
    await Promise.all([...enclaves.values()].map((e) => e.stop()));
  }
  for (const e of enclaves.values()) {
    const backendVersion = available.get(e.backend.name)?.availability.version ?? null;
    const seq = recorder.blocks.length;
    const block = e.block({ ...recorder.base, round: round.round, seq, backendVersion });
    recorder.record(block, e.results);
    plan.log(describeBlock(block, plan.rounds, e.results.length));
  }
  plan.log(`  round ${round.round}/${plan.rounds} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Run a perf session: probe every candidate, record the ones this host cannot run, then the rounds.
 * Throws InfraError when the reference (native) cannot run: without it there is no ratio.
 */
export async function runPerfSession(plan: PerfPlan): Promise<PerfBlock[]> {
  const recorder = new SessionRecorder(plan, {
    session: plan.session,
    campaign: plan.campaign,
    warmup: plan.warmup,
    imageHash: plan.image.manifest.id,
    hostKernel: release(),
    hostname: hostname(),
  });
  const available = await probeBackends(plan, recorder);
  for (const round of perfSchedule([...available.keys()], plan.benchmarks, plan.rounds, REFERENCE)) {
    if (plan.signal.aborted) break;
    await runRound(plan, round, available, recorder);
  }
  return recorder.blocks;
}

function describeBlock(b: PerfBlock, rounds: number, results: number): string {
  const failed = Object.keys(b.failures);
  const parts = [
    b.status === "ok" ? `${results} results` : `FAILED: ${b.reason}`,
    b.bootMs === null ? null : `boot ${(b.bootMs / 1000).toFixed(1)} s`,
    b.stealPct === null ? null : `steal ${b.stealPct.toFixed(1)}%`,
    b.load1 === null ? null : `load ${b.load1.toFixed(2)}`,
    failed.length ? `failed: ${failed.map((f) => `${f} (${b.failures[f]})`).join(", ")}` : null,
  ];
  return `  round ${b.round}/${rounds} ${b.backend}: ${parts.filter(Boolean).join(", ")}`;
}
