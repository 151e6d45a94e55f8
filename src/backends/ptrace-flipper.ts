import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { defaultCacheDir } from "../guest/image-builder.js";
import {
  flipperArgs,
  type ProcessFlip,
  type ProcessFlipReport,
  parseFlipperReport,
  ptraceRefusal,
} from "../model/process-flip.js";
import { runTool } from "../util/child.js";
import { InfraError } from "../util/errors.js";
import { projectRoot } from "../util/project-root.js";

const SOURCE = join(projectRoot(), "src", "host", "flipper.c");
const CFLAGS = ["-static", "-O2", "-Wall", "-Wextra", "-Werror"];
/** The flipper compiles in well under a second; this bounds a stuck compiler. */
const COMPILE_MS = 120_000;
/** CAP_SYS_PTRACE's bit in /proc/self/status's CapEff. */
const CAP_SYS_PTRACE = 19n;

let binary: Promise<string> | null = null;

/**
 * ezone's flipper (src/host/flipper.c), compiled once per source into the cache
 * (`<cache>/tools/ezone-flipper-<hash>`); concurrent callers race safely through a rename.
 */
export function flipperBinary(cacheDir = defaultCacheDir()): Promise<string> {
  binary ??= compile(cacheDir);
  // A failed compile is tried again by the next flip, not remembered.
  binary.catch(() => {
    binary = null;
  });
  return binary;
}

async function compile(cacheDir: string): Promise<string> {
  const source = await readFile(SOURCE);
  const hash = createHash("sha256").update(CFLAGS.join(" ")).update(source).digest("hex").slice(0, 16);
  const dir = join(cacheDir, "tools");
  const out = join(dir, `ezone-flipper-${hash}`);
  if (existsSync(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, ".flipper-"));
  try {
    const r = await runTool(["gcc", ...CFLAGS, "-o", join(tmp, "flipper"), SOURCE], {
      timeoutMs: COMPILE_MS,
    });
    if (r.code !== 0)
      throw new InfraError("flip.ptrace", `gcc could not build ${SOURCE}: ${r.stderr.trim().slice(0, 500)}`);
    await rename(join(tmp, "flipper"), out);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}

/** Why this host forbids ezone to ptrace the workload (Yama), or null when it may. */
export function hostPtraceRefusal(): string | null {
  let scope: number | null = null;
  try {
    scope = Number(readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim());
  } catch {
    // No Yama: only the ordinary same-user rule applies, which the flipper meets.
  }
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  return ptraceRefusal(scope, ((BigInt(`0x${capEff}`) >> CAP_SYS_PTRACE) & 1n) === 1n);
}

/** Flip one bit in a host process with the flipper; a flipper that fails is an infra-error of `flip.ptrace`. */
export async function flipProcess(flip: ProcessFlip, signal: AbortSignal): Promise<ProcessFlipReport> {
  const bin = await flipperBinary();
  const r = await runTool([bin, ...flipperArgs(flip)], { signal, maxBytes: 4096 });
  const report = r.code === 0 ? parseFlipperReport(r.stdout) : null;
  if (!report) {
    const why = signal.aborted ? "did not finish in time" : `ended ${r.code ?? r.signal}`;
    throw new InfraError(
      "flip.ptrace",
      `the flipper ${why}: ${JSON.stringify((r.stderr || r.stdout).trim().slice(0, 300))}`,
    );
  }
  return report;
}
