/**
 * Named crash points for the kill -9 tests: when EZONE_TEST_KILL_AT names this point, ezone SIGKILLs
 * itself there, exactly as an OOM killer or a power cut would. Costs one environment read when unset.
 */
export type KillPoint =
  | "run.booted"
  | "run.injected"
  | "store.artifacts-written"
  | "store.in-commit"
  | "merge.artifacts-copied"
  | "merge.before-commit";

const armed = process.env.EZONE_TEST_KILL_AT;

export function killPoint(point: KillPoint): void {
  if (armed === point) process.kill(process.pid, "SIGKILL");
}
