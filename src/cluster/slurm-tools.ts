/**
 * Slurm's command-line tools, run with a deadline. ezone drives Slurm only through them (sbatch,
 * squeue), as a user on a login node would.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { InfraError } from "../util/errors.js";
import { escapeControl } from "../util/escape.js";
import { OWNER_ENV } from "../util/owner-tag.js";

const exec = promisify(execFile);

/** No Slurm command of ezone's may take longer than this (a hung slurmctld must not hang ezone). */
export const SLURM_TOOL_TIMEOUT_MS = 60_000;

/**
 * The environment Slurm's tools get. Not ezone's owner tag: sbatch hands its environment to the job,
 * and a job whose processes name this (soon dead) ezone as their owner would be swept by the first
 * ezone to start on the node. Not spawned as a tagged group for the same reason; the deadline kills it.
 */
function toolEnv(): NodeJS.ProcessEnv {
  const { [OWNER_ENV]: _owner, ...env } = process.env;
  return env;
}

/** Is `tool` on PATH? */
export async function onPath(tool: string): Promise<boolean> {
  try {
    await exec("sh", ["-c", 'command -v "$1"', "sh", tool], { timeout: 5_000, env: toolEnv() });
    return true;
  } catch {
    return false;
  }
}

/** Run `tool args`; its stdout, or an InfraError with its (escaped, bounded) stderr. */
export async function slurmTool(tool: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(tool, args, {
      timeout: SLURM_TOOL_TIMEOUT_MS,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
      env: toolEnv(),
    });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; killed?: boolean };
    const why = err.killed
      ? `no answer within ${SLURM_TOOL_TIMEOUT_MS / 1000} s`
      : escapeControl((err.stderr || err.message).trim().slice(0, 2000));
    throw new InfraError(`slurm.${tool}`, why, { cause: e });
  }
}
