import { runTool } from "../util/child.js";
import type { Availability } from "./backend.js";

/**
 * A backend's availability from a real, small use of its tool (not just `--version`): `check` must run
 * what the backend will run (namespaces for bwrap, a sandbox for runsc), so a host that has the binary
 * but forbids what it needs (no user namespaces, ptrace blocked) says so here instead of at boot.
 */
export async function probeTool(
  opts: {
    /** Prints the version on stdout. */
    version: string[];
    check: string[];
    /** Debian package that provides it. */
    pkg: string;
    label: string;
  },
  signal: AbortSignal,
): Promise<Availability> {
  const install = `apt-get install -y ${opts.pkg}`;
  const v = await runTool(opts.version, { signal, timeoutMs: 10_000 }).catch(() => null);
  if (v?.code !== 0)
    return { available: false, reason: `${opts.version[0]} not found or not runnable`, install };
  const version = `${opts.label} ${(v.stdout.trim().split("\n")[0] ?? "").replace(/^\D*/, "")}`.trim();
  const c = await runTool(opts.check, { signal, timeoutMs: 30_000 }).catch((e: Error) => ({
    code: null,
    signal: null,
    stdout: "",
    stderr: e.message,
  }));
  if (c.code !== 0) {
    return {
      available: false,
      reason: `${version} is installed but cannot start a sandbox here: ${c.stderr.trim().slice(0, 300) || `exit ${c.code ?? c.signal}`}`,
      version,
      install,
    };
  }
  return { available: true, reason: version, version };
}
