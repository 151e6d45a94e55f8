import { controlMaximaOf } from "../model/composition-verdict.js";
import { decideOutcome } from "../model/outcome.js";
import { isResult } from "../model/outcome-types.js";
import type { Store } from "../store/store.js";
import type { Cell } from "./cell.js";
import type { RunResult } from "./run-plan.js";

/**
 * A composed cell's fault run judged against its cell's control runs (same cell and toggle, read back
 * from the store, so a resumed campaign sees the controls of earlier invocations): their maxima go into
 * the evidence, and the verdict is decided again from it by the pure outcome function.
 */
export function judgeAgainstControls(
  store: Store,
  controls: Cell,
  heartbeatMs: number,
  result: RunResult,
): RunResult {
  const finished = store
    .runs({ keyPrefix: `${controls.keyPrefix}/` })
    .filter((r) => isResult(r.outcome) && r.runKey.indexOf("!") < 0);
  const controlMaxima = controlMaximaOf(
    finished.map((r) => r.evidence),
    heartbeatMs,
  );
  const evidence = { ...result.evidence, controlMaxima };
  return { ...result, evidence, verdict: decideOutcome(evidence) };
}
