import { runTool } from "./child.js";

/** The installed version of a Debian package, or null when it is not installed. */
export async function installedVersion(pkg: string, signal?: AbortSignal): Promise<string | null> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template.
  const r = await runTool(["dpkg-query", "-W", "-f=${Version}", pkg], { signal, timeoutMs: 30_000 });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}
