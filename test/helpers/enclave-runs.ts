import { readdirSync, readFileSync } from "node:fs";
import { expect } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { type RunPlan, type RunResult, runOne } from "../../src/campaign/run-one.js";
import type { FaultName } from "../../src/faults/catalogue.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";

let seq = 0;

/** A run plan for integration tests: command trigger, short deadlines scaled for the backend. */
export function testPlan(
  backend: Backend,
  image: BuiltImage,
  fault: FaultName,
  over: Partial<RunPlan> = {},
): RunPlan {
  seq++;
  return {
    backend,
    image,
    fault,
    trigger: { mode: "command", delaySeconds: 0 },
    nonce: `t${process.pid}n${seq}`,
    runTag: `itest-${process.pid}-${seq}`,
    memoryMb: 256,
    heartbeatMs: 250,
    kernelArgs: ["oops=panic"],
    timeouts: {
      runMs: 120_000 * backend.timeoutScale,
      bootMs: 60_000 * backend.timeoutScale,
      observeMs: 20_000 * backend.timeoutScale,
      controlObserveMs: 1_500,
      heartbeatLossMs: 2_000 * backend.timeoutScale,
      graceMs: 500,
      probeMs: 15_000,
    },
    thresholds: DEFAULT_PROBE_THRESHOLDS,
    ...over,
  };
}

/**
 * One run; tried once more when the host was too busy to start it (an infra-error of the baseline probe
 * on a shared 2-core machine), as the campaign runner does. Then nothing of the run may be left.
 */
export async function runChecked(p: RunPlan): Promise<RunResult> {
  let r = await runOne(p, AbortSignal.timeout(p.timeouts.runMs + 30_000));
  if (r.verdict.outcome === "infra-error" && /probe\.baseline/.test(r.verdict.reasons[0] ?? "")) {
    r = await runOne({ ...p, runTag: `${p.runTag}-retry` }, AbortSignal.timeout(p.timeouts.runMs + 30_000));
  }
  expect(leftovers(p.runTag), "processes left by the run").toEqual([]);
  return r;
}

/**
 * The outcome expected of the enclave, allowing only for load from other work on this shared machine:
 * when the host's runnable-task or fork+exec probes (and nothing else) degraded, the verdict is honestly
 * `contained-varied` (or `unknown` for a control run); that is the neighbours, not the backend.
 */
export function expectOutcome(r: RunResult, expected: "no-effect" | "contained-limited"): void {
  const off = r.evidence.probes.filter((p) => p.severity !== "ok");
  const neighboursOnly =
    off.length > 0 &&
    off.every((p) => p.severity === "degraded" && ["host.procsRunning", "host.forkExecMs"].includes(p.probe));
  const allowed = neighboursOnly ? (expected === "no-effect" ? "unknown" : "contained-varied") : expected;
  expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe(allowed);
}

/**
 * Processes carrying a run tag (prefix): in their environment (EZONE_RUN) or, for runsc's helpers whose
 * environment is scrubbed, in their arguments.
 */
export function leftovers(runTag: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1");
      if (env.some((e) => e.startsWith(`EZONE_RUN=${runTag}`)) || cmdline.includes(runTag))
        found.push(`${pid} ${cmdline.replace(/\0/g, " ").slice(0, 120)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
