import { InfraError } from "../util/errors.js";
import { BootError } from "./boot-failure.js";
import type { RunPlan, RunResult } from "./run-plan.js";
import { decide } from "./run-result.js";
import { createRunState, type RunFailure, type RunState } from "./run-state.js";
import { after, RUN_STEPS, type RunStep, stop } from "./run-steps.js";

// Callers of runOne take its plan and result types from here.
export type { RunPlan, RunResult } from "./run-plan.js";

/**
 * One run: baseline → start → ready → inject → observe → stop → after → decide (DESIGN.md §3; the
 * caller stores it). Each step is a small function over one run state; what a step starts is released
 * by `stop`, last first, whatever happened. Every wait has a deadline under the run's own; a failure
 * becomes `infra-error` or `boot-error` evidence, never an exception out of here (except the caller's
 * own abort).
 */
export async function runOne(plan: RunPlan, parent: AbortSignal): Promise<RunResult> {
  const st = await createRunState(plan, parent);
  try {
    for (const step of RUN_STEPS) await runStep(st, step);
  } finally {
    await stop(st);
  }
  await runStep(st, after);
  return decide(st);
}

/** Run one step unless an earlier one failed; its failure is recorded in the state (the parent's abort is rethrown). */
async function runStep(st: RunState, step: RunStep): Promise<void> {
  // The caller's abort may end the enclave before a wait notices the abort: never judge such a run.
  st.parent.throwIfAborted();
  if (st.failure !== null) return;
  try {
    await step.run(st);
  } catch (e) {
    if (st.parent.aborted) throw e;
    st.failure = failureOf(st, step, e);
  }
}

/**
 * A step's error as the run's failure: a BootError is a boot-error, anything else an infra-error; a run
 * past its own deadline says so. The after-probe's failure is always `probe.after`.
 */
function failureOf(st: Pick<RunState, "signal" | "parent" | "plan">, step: RunStep, e: unknown): RunFailure {
  const message = (e as Error).message;
  if (step === after) return { kind: "infra", message: `probe.after: ${message}` };
  const failure: RunFailure =
    e instanceof BootError
      ? { kind: "boot", message }
      : { kind: "infra", message: e instanceof InfraError ? message : `run: ${message}` };
  if (st.signal.aborted && !st.parent.aborted) {
    return {
      kind: "infra",
      message: `run deadline of ${st.plan.timeouts.runMs} ms passed: ${failure.message}`,
    };
  }
  return failure;
}
