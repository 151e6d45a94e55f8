/**
 * A long-running enclave wired to the host's syslog: the process behind `ezone enclave start`. It
 * boots the guest, keeps its console in a capped file, and — with a syslog socket — is the enclave's
 * tap: the agent's heartbeats (its ttyS1) and the host's reports about it (oops, panic, the VMM's exit,
 * seen on the console) go to syslog under the enclave's name, where `ezone monitor` reads them.
 *
 * It is a service by design, so it never outlives its purpose unnoticed: a record (PID, start time,
 * phase) in the runtime directory, a stop by SIGTERM (`ezone enclave stop`), an end when the enclave
 * ends, an optional lifetime; the VMM dies with it (parent-death signal) even if it is SIGKILLed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import type { Enclave, EnclaveEvent } from "../backends/backend.js";
import { createBackend } from "../backends/index.js";
import { FAULT_NAMES, type FaultName, faultSpec } from "../faults/catalogue.js";
import { buildImage } from "../guest/image-builder.js";
import { describeExitOf } from "../model/outcome.js";
import type { EnclaveExit } from "../model/outcome-types.js";
import { ConsoleParser } from "../monitor/console-parser.js";
import { deadline } from "../util/deadline.js";
import { InfraError, UsageError } from "../util/errors.js";
import { CappedFile } from "./capped-file.js";
import { listenControl } from "./enclave-control.js";
import { EnclaveTap } from "./enclave-tap.js";
import { type EnclavePaths, enclavePaths, makeDir } from "./runtime-dir.js";
import { isAlive, readRecord, recordOf, type ServiceRecord, writeRecord } from "./service-record.js";
import { SyslogSender } from "./syslog-sender.js";

/** The backends whose enclaves carry the agent's syslog channel (QEMU's ttyS1). */
export const SERVICE_BACKENDS = ["qemu-tcg", "kvm"] as const;
export type ServiceBackend = (typeof SERVICE_BACKENDS)[number];

/** Console bytes kept per enclave; the rest is counted, not stored (a guest can print forever). */
const CONSOLE_CAP_BYTES = 8 * 1024 * 1024;
/** Building the guest image on first use: Debian's kernel download and the modules. */
export const IMAGE_BUILD_MS = 900_000;
/** How long the host's last reports (the exit) may take to reach syslog before the tap closes. */
const DRAIN_MS = 2000;

/** How `ezone enclave start` asks for an enclave (every flag resolved). */
export interface EnclaveServiceOptions {
  runDir: string;
  name: string;
  backend: ServiceBackend;
  memoryMb: number;
  heartbeatMs: number;
  /** The host's syslog socket (imuxsock) the enclave's messages go to; null: console only. */
  syslogSocket: string | null;
  /** End the enclave after this long; null: until stopped or it ends. */
  lifetimeMs: number | null;
  bootTimeoutMs: number;
  log: (line: string) => void;
}

/** booting: until the agent's READY; running: until it ends or is stopped; ended: the record says why. */
export type EnclavePhase = "booting" | "running" | "ended";

/** What `ezone enclave list` shows: the supervisor's record and the enclave's state. */
export interface EnclaveRecord extends ServiceRecord {
  name: string;
  backend: ServiceBackend;
  phase: EnclavePhase;
  /** Epoch milliseconds. */
  startedAt: number;
  readyAt: number | null;
  vmmPid: number | null;
  syslog: string | null;
  console: string;
  ended: { at: number; why: string } | null;
}

/** The faults `ezone enclave inject` accepts: those the agent fires inside the guest. */
export function guestFaults(): FaultName[] {
  return FAULT_NAMES.filter((f) => f !== "none" && !faultSpec(f).host);
}

/** The enclave's record, if it has one. */
export function readEnclaveRecord(paths: EnclavePaths): EnclaveRecord | null {
  return readRecord<EnclaveRecord>(paths.record);
}

/**
 * Run the enclave until it ends, is stopped (SIGTERM, SIGINT) or its lifetime is over; `onRunning`
 * is called once its agent is READY. Resolves with the final record.
 */
export async function serveEnclave(
  opts: EnclaveServiceOptions,
  onRunning: (r: EnclaveRecord) => void,
): Promise<EnclaveRecord> {
  const paths = enclavePaths(opts.runDir, opts.name);
  const self = recordOf(process.pid);
  if (!self) throw new Error("cannot read this process's own start time from /proc");
  let record = claim(paths, opts, self);
  const cleanups: (() => unknown)[] = [];
  const stop = stopTrigger(opts.lifetimeMs);
  cleanups.push(stop.dispose);
  let why = "boot failed";
  try {
    const enclave = await boot(opts, paths, stop.signal, cleanups);
    record = save(paths, { ...record, phase: "running", readyAt: Date.now(), vmmPid: enclave.pid });
    onRunning(record);
    const control = await listenControl(paths.control, { inject: (fault) => inject(enclave, fault) });
    cleanups.push(() => control.close());
    why = await Promise.race([
      aborted(stop.signal),
      enclave.exited.then((e) => `the enclave ${describeExitOf(e)}`),
    ]);
    opts.log(`${opts.name}: ${why}`);
  } catch (e) {
    why = (e as Error).message;
    throw e;
  } finally {
    for (const undo of cleanups.reverse()) {
      // One failing undo must not keep the others (and the final record) from running.
      await Promise.resolve()
        .then(undo)
        .catch((e: unknown) => opts.log(`${opts.name}: teardown: ${(e as Error).message}`));
    }
    rmSync(paths.work, { recursive: true, force: true });
    record = save(paths, { ...record, phase: "ended", ended: { at: Date.now(), why } });
  }
  return record;
}

/** Take the enclave's name: refused while another supervisor holds it; stale files are cleared. */
function claim(paths: EnclavePaths, opts: EnclaveServiceOptions, self: ServiceRecord): EnclaveRecord {
  makeDir(paths.dir);
  const other = readEnclaveRecord(paths);
  if (other && other.pid !== self.pid && isAlive(other) && other.phase !== "ended")
    throw new UsageError(
      `enclave ${opts.name} is already running (pid ${other.pid}); stop it first: ezone enclave stop ${opts.name}`,
    );
  for (const stale of [paths.channel, paths.control, paths.work])
    rmSync(stale, { recursive: true, force: true });
  return save(paths, {
    ...self,
    name: opts.name,
    backend: opts.backend,
    phase: "booting",
    startedAt: Date.now(),
    readyAt: null,
    vmmPid: null,
    syslog: opts.syslogSocket,
    console: paths.console,
    ended: null,
  });
}

function save(paths: EnclavePaths, r: EnclaveRecord): EnclaveRecord {
  writeRecord(paths.record, r);
  return r;
}

/** Start the VMM with its console, tap and syslog sender; resolves once the agent is READY. */
async function boot(
  opts: EnclaveServiceOptions,
  paths: EnclavePaths,
  stop: AbortSignal,
  cleanups: (() => unknown)[],
): Promise<Enclave> {
  // The image (cached; built on first use) has a deadline of its own: the boot's starts after it.
  const image = await buildImage({ signal: deadline(stop, IMAGE_BUILD_MS), log: opts.log });
  const signal = deadline(stop, opts.bootTimeoutMs);
  const console = new CappedFile(paths.console, CONSOLE_CAP_BYTES);
  cleanups.push(() => console.close());
  const tap = opts.syslogSocket ? await listenTap(opts, paths, cleanups) : null;
  const parser = new ConsoleParser();
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const sink = (ev: EnclaveEvent) => {
    if (ev.type === "console") {
      console.write(ev.data);
      if (parser.push(ev.data, ev.at).events.some((e) => e.kind === "ready")) onReady();
    }
    tap?.consoleSink(ev);
  };
  mkdirSync(paths.work, { recursive: true });
  const backend = createBackend({ name: opts.backend, type: opts.backend });
  const enclave = await backend.start(
    {
      image,
      memoryMb: opts.memoryMb,
      heartbeatMs: opts.heartbeatMs,
      kernelArgs: ["oops=panic"],
      arm: null,
      runTag: `enclave-${opts.name}-${process.pid}`,
      workDir: paths.work,
      syslog: tap ? { socket: paths.channel, hostname: opts.name } : undefined,
    },
    sink,
    signal,
  );
  cleanups.push(() => enclave.stop());
  await waitReady(ready, enclave.exited, signal, stop, opts.bootTimeoutMs);
  return enclave;
}

/** The tap listening on the enclave's channel socket, sending to the host's syslog. */
async function listenTap(
  opts: EnclaveServiceOptions,
  paths: EnclavePaths,
  cleanups: (() => unknown)[],
): Promise<EnclaveTap> {
  const sender = new SyslogSender({ kind: "unix", path: opts.syslogSocket as string });
  cleanups.push(() => sender.close());
  const tap = await EnclaveTap.listen(paths.channel, { name: opts.name, sender });
  // Runs before the sender closes (cleanups unwind in reverse): the exit report gets its chance.
  cleanups.push(async () => {
    await sender.drained(DRAIN_MS);
    await tap.close();
  });
  return tap;
}

async function waitReady(
  ready: Promise<void>,
  exited: Promise<EnclaveExit>,
  signal: AbortSignal,
  stop: AbortSignal,
  bootTimeoutMs: number,
): Promise<void> {
  const outcome = await Promise.race([
    ready.then(() => null),
    exited.then((e) => `the enclave ${describeExitOf(e)} before its agent was READY`),
    aborted(signal).then((why) =>
      stop.aborted ? `${why} while booting` : `no READY from the agent within ${bootTimeoutMs / 1000} s`,
    ),
  ]);
  if (outcome !== null) throw new InfraError("wait.ready", outcome);
}

function inject(enclave: Enclave, fault: string): { nonce: string } {
  if (!(guestFaults() as string[]).includes(fault))
    throw new UsageError(
      `unknown guest fault ${JSON.stringify(fault)}: expected one of ${guestFaults().join(", ")}`,
    );
  const nonce = randomBytes(6).toString("hex");
  enclave.send(`INJECT ${fault} nonce=${nonce} delay_ms=0`);
  return { nonce };
}

/** Aborts (its reason: why, a string) on SIGTERM, SIGINT or the end of the lifetime. */
function stopTrigger(lifetimeMs: number | null): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onTerm = () => ac.abort("stopped (SIGTERM)");
  const onInt = () => ac.abort("stopped (SIGINT)");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  const timer =
    lifetimeMs === null
      ? null
      : setTimeout(() => ac.abort(`lifetime of ${lifetimeMs / 1000} s over`), lifetimeMs);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      if (timer) clearTimeout(timer);
    },
  };
}

/** Resolves with the signal's reason once it aborts. */
function aborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(String(signal.reason));
    else signal.addEventListener("abort", () => resolve(String(signal.reason)), { once: true });
  });
}
