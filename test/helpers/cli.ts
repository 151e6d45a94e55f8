import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { processesMatching } from "./capabilities.js";

export const CLI = resolve("dist/cli/main.js");

/** Fail early with the fix when the CLI was not built. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (make test does)`);
}

/** Run the built CLI to completion. */
export function ezoneSync(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    cwd,
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Start the built CLI in the background, collecting its output. */
export function ezoneAsync(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", (b: Buffer) => {
    out.stdout += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    out.stderr += b.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  return { child, out, exited };
}

/** Wait (with a deadline) until `check` holds, re-checking every `everyMs`. */
export async function eventually(
  check: () => boolean,
  deadlineMs: number,
  what: string,
  everyMs = 50,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** No QEMU of this test session may outlive the ezone that started it (parent-death signal). */
export async function expectNoQemuLeft(): Promise<void> {
  await eventually(
    () => processesMatching("qemu-system-x86_64").length === 0,
    10_000,
    "QEMU processes to die",
  );
}
