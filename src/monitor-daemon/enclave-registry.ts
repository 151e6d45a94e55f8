/**
 * The long-running enclaves of a runtime directory, seen from outside their supervisors: start one in
 * the background, list them, stop them. The supervisor (enclave-service.ts) owns each enclave's record;
 * this side only reads it, and signals the supervisor's process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, watch } from "node:fs";
import { InfraError, UsageError } from "../util/errors.js";
import { type EnclaveRecord, readEnclaveRecord } from "./enclave-service.js";
import { enclavePaths, enclavesDir, makeDir } from "./runtime-dir.js";
import { isAlive, serviceEnv, stopService } from "./service-record.js";

/** `dead`: the record says booting or running, but its supervisor is gone (killed with -9). */
export type EnclaveStatus = "booting" | "running" | "ended" | "dead";

/** One enclave as `ezone enclave list` shows it. */
export interface EnclaveListing {
  record: EnclaveRecord;
  status: EnclaveStatus;
}

/** A supervisor gets this long after SIGTERM to stop its enclave and report, before SIGKILL. */
const STOP_GRACE_MS = 10_000;

/** Every enclave with a record in the runtime directory, by name. */
export function listEnclaves(runDir: string): EnclaveListing[] {
  const root = enclavesDir(runDir);
  if (!existsSync(root)) return [];
  const out: EnclaveListing[] = [];
  for (const name of readdirSync(root).sort()) {
    const record = readEnclaveRecord(enclavePaths(runDir, name));
    if (record) out.push({ record, status: statusOf(record) });
  }
  return out;
}

function statusOf(r: EnclaveRecord): EnclaveStatus {
  if (r.phase === "ended") return "ended";
  return isAlive(r) ? r.phase : "dead";
}

/**
 * Stop the enclave `name` (SIGTERM to its supervisor, SIGKILL after a grace period) and remove its
 * directory. Resolves with what it was; a UsageError when there is no such enclave.
 */
export async function stopEnclave(runDir: string, name: string): Promise<EnclaveStatus> {
  const paths = enclavePaths(runDir, name);
  const record = readEnclaveRecord(paths);
  if (!record) throw new UsageError(`no enclave ${name} in ${runDir} (see ezone enclave list)`);
  const status = statusOf(record);
  if (status === "booting" || status === "running") await stopService(record, STOP_GRACE_MS);
  rmSync(paths.dir, { recursive: true, force: true });
  return status;
}

/**
 * Start a supervisor (`argv`, which runs serveEnclave) detached in the background, and resolve with
 * its record once the enclave runs; an InfraError with the supervisor's log when it ends first, and
 * after `timeoutMs` at the latest (the supervisor is then stopped).
 */
export async function launchEnclave(
  runDir: string,
  name: string,
  argv: string[],
  timeoutMs: number,
): Promise<EnclaveRecord> {
  const paths = enclavePaths(runDir, name);
  const running = readEnclaveRecord(paths);
  if (running && statusOf(running) !== "ended" && statusOf(running) !== "dead")
    throw new UsageError(
      `enclave ${name} is already ${statusOf(running)} (pid ${running.pid}); stop it first`,
    );
  makeDir(paths.dir);
  rmSync(paths.record, { force: true });
  const log = openSync(paths.log, "w", 0o600);
  // A service by design: detached, no parent-death signal; its own record and `ezone enclave stop` end it.
  const child = spawn(argv[0] as string, argv.slice(1), {
    detached: true,
    stdio: ["ignore", log, log],
    env: serviceEnv(),
  });
  closeSync(log);
  const watcher = watch(paths.dir);
  try {
    const outcome = await new Promise<EnclaveRecord | string>((resolve) => {
      const check = () => {
        const r = readEnclaveRecord(paths);
        if (r?.phase === "running") resolve(r);
        else if (r?.phase === "ended") resolve(r.ended?.why ?? "ended");
      };
      watcher.on("change", check);
      watcher.on("error", () => {});
      child.once("exit", (code, sig) =>
        resolve(`the supervisor exited (${code ?? sig}) before the enclave ran`),
      );
      child.once("error", (e) => resolve(`cannot start the supervisor: ${e.message}`));
      setTimeout(() => resolve(`the enclave did not run within ${timeoutMs / 1000} s`), timeoutMs).unref();
      check();
    });
    if (typeof outcome !== "string") {
      child.unref();
      return outcome;
    }
    // Let the supervisor finish (its last words go to its log), then quote the log.
    await settle(child, !readEnclaveRecord(paths)?.ended);
    throw new InfraError("enclave.start", `${name}: ${outcome}\n${logTail(paths.log)}`);
  } finally {
    watcher.close();
  }
}

/** Wait for the child's exit: at once SIGTERM if `terminate`, SIGKILL after the grace period. */
async function settle(child: ChildProcess, terminate: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  if (terminate) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-15).join("\n");
  } catch {
    return "(no supervisor log)";
  }
}
