import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend, Enclave, EnclaveEvent, EnclaveSpec } from "../../src/backends/backend.js";
import { NativeBackend } from "../../src/backends/native.js";
import { startProcessEnclave } from "../../src/backends/process-enclave.js";
import { buildImage } from "../../src/guest/image-builder.js";
import { CgroupLimits, probeCgroupLayout, sweepCgroups } from "../../src/host/cgroup.js";
import { cgroupBases, enclaveLimits } from "../../src/host/cgroup-layout.js";
import { ownerTag } from "../../src/util/owner-tag.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";
import { steadyHostProbe } from "../helpers/replay.js";

const choice = probeCgroupLayout();
// This machine offers limits (cgroup v1 here, v2 on a current distribution): under CI their absence fails.
if (!choice.ok && process.env.CI === "true") throw new Error(`CI=true and ${choice.reason}`);

const HOG = ["/bin/sh", "-c", "while :; do :; done"];
/** The measurement window: a span of CPU accounting, not a wait for anything. */
const WINDOW_MS = 1500;

function specIn(workDir: string, cgroup: EnclaveSpec["cgroup"]): EnclaveSpec {
  // Only what startProcessEnclave reads: the run's tag, its directory and the cgroup.
  return { runTag: `cgroup-test-${process.pid}`, workDir, cgroup } as EnclaveSpec;
}

describe.skipIf(!choice.ok)("cgroup limits", () => {
  let limits: CgroupLimits;
  let workDir: string;
  beforeAll(() => {
    limits = CgroupLimits.open();
    workDir = mkdtempSync(join(tmpdir(), "ezone-cgroup-test-"));
  });
  afterAll(async () => {
    await limits?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("a CPU hog under cpu.max gets at most its quota, a hog without gets measurably more", async () => {
    // 5 % of one core: far below what a hog gets even on a loaded 2-core host (~20 % measured here).
    const capped = limits.create("hog-capped", enclaveLimits(64, 5));
    const free = limits.create("hog-free", enclaveLimits(64, null));
    const ac = new AbortController();
    const enclaves: Enclave[] = [];
    try {
      enclaves.push(await startProcessEnclave(HOG, specIn(workDir, capped.join), () => {}, ac.signal));
      enclaves.push(await startProcessEnclave(HOG, specIn(workDir, free.join), () => {}, ac.signal));
      const c0 = await capped.cpuUsageUs();
      const f0 = await free.cpuUsageUs();
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const wallUs = (performance.now() - t0) * 1000;
      const cappedUs = ((await capped.cpuUsageUs()) ?? 0) - (c0 ?? 0);
      const freeUs = ((await free.cpuUsageUs()) ?? 0) - (f0 ?? 0);
      expect(c0, "this layout counts CPU use").not.toBeNull();
      // The quota's share of the window, plus one period's quota at each of its edges.
      expect(cappedUs / wallUs).toBeLessThan(0.05 + (2 * 5000) / wallUs);
      expect(cappedUs / wallUs).toBeGreaterThan(0.01);
      expect(freeUs, `free ${freeUs} µs vs capped ${cappedUs} µs`).toBeGreaterThan(cappedUs * 2);
    } finally {
      ac.abort();
      for (const e of enclaves) await e.stop();
      await capped.remove();
      await free.remove();
    }
    for (const dir of capped.join.procs) expect(existsSync(resolve(dir, ".."))).toBe(false);
  });

  it("a memory hog over memory.max is killed in its cgroup; the same hog without the limit finishes", async () => {
    // The shell keeps a command substitution's output in its own memory: 96 MiB against a 32 MiB limit.
    const hog = ["/bin/sh", "-c", "x=$(head -c 100663296 /dev/zero | tr '\\0' a); printf %s \"$x\" | wc -c"];
    const small = limits.create("memhog", { cpuQuotaUs: null, cpuPeriodUs: 100_000, memoryBytes: 32 << 20 });
    const ac = new AbortController();
    try {
      const capped = await startProcessEnclave(hog, specIn(workDir, small.join), () => {}, ac.signal);
      expect(await capped.exited).toEqual({ kind: "signaled", signal: "SIGKILL" });
      let out = "";
      const free = await startProcessEnclave(
        hog,
        specIn(workDir, undefined),
        (ev) => {
          if (ev.type === "console") out += ev.data.toString();
        },
        ac.signal,
      );
      expect(await free.exited).toEqual({ kind: "exited", code: 0 });
      expect(out.trim()).toBe("100663296");
    } finally {
      ac.abort();
      await small.remove();
    }
  });

  it("a run's victim and bystander each run in a limited cgroup of their own, removed after the run", async () => {
    const image = await buildImage();
    const native = new NativeBackend();
    // Read where each enclave's agent is when it first speaks: it has joined by then (before exec).
    const seen: { dir: string; inCgroup: boolean; cpu: string }[] = [];
    const backend: Backend = Object.assign(Object.create(native) as Backend, {
      start: async (spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal) => {
        let enclave: Enclave | null = null;
        const probe = (ev: EnclaveEvent) => {
          const dir = spec.cgroup?.procs[0] && dirname(spec.cgroup.procs[0]);
          if (dir && enclave && ev.type === "console" && !seen.some((x) => x.dir === dir)) {
            const v2 = existsSync(join(dir, "cpu.max"));
            seen.push({
              dir,
              inCgroup: readFileSync(join(dir, "cgroup.procs"), "utf8")
                .split("\n")
                .includes(String(enclave.pid)),
              cpu: readFileSync(join(dir, v2 ? "cpu.max" : "cpu.cfs_quota_us"), "utf8").trim(),
            });
          }
          sink(ev);
        };
        enclave = await native.start(spec, probe, signal);
        return enclave;
      },
    });
    const plan = testPlan(backend, image, "none", {
      bystanders: 1,
      hostProbe: steadyHostProbe,
      services: { cgroups: limits },
    });
    const r = await runChecked(plan);
    expect(r.verdict.outcome, r.verdict.reasons.join("; ")).toBe("no-effect");
    expect(seen.map((x) => basename(x.dir).replace(/-\d+$/, "")).sort()).toEqual(["bystander-0", "victim"]);
    for (const x of seen) {
      expect(x.inCgroup, x.dir).toBe(true);
      expect(x.cpu).toMatch(/^50000( 100000)?$/);
      expect(existsSync(x.dir), `${x.dir} removed after the run`).toBe(false);
    }
  });

  it("an enclave whose cgroup cannot be joined exits before it runs, with the reason", async () => {
    const ac = new AbortController();
    let stderr = "";
    const enclave = await startProcessEnclave(
      ["/bin/echo", "ran"],
      specIn(workDir, { procs: [join(workDir, "no-such-cgroup", "cgroup.procs")] }),
      (ev) => {
        if (ev.type === "exit") stderr = ev.stderr;
      },
      ac.signal,
    );
    expect(await enclave.exited).toEqual({ kind: "exited", code: 125 });
    await enclave.stop();
    expect(stderr).toMatch(/cannot join cgroup/);
  });

  it("closing removes this ezone's parent: nothing of it is left in any hierarchy", async () => {
    const own = `ezone-${ownerTag().replace(":", "_")}`;
    const bases = choice.ok ? cgroupBases(choice.layout) : [];
    for (const b of bases) expect(readdirSync(b)).toContain(own);
    await limits.close();
    for (const b of bases) expect(readdirSync(b)).not.toContain(own);
  });

  it("the cgroups of a SIGKILLed ezone are swept by the next one", async () => {
    const script = `
      import { CgroupLimits } from ${JSON.stringify(resolve("dist/host/cgroup.js"))};
      import { enclaveLimits } from ${JSON.stringify(resolve("dist/host/cgroup-layout.js"))};
      import { startProcessEnclave } from ${JSON.stringify(resolve("dist/backends/process-enclave.js"))};
      const limits = CgroupLimits.open();
      const cg = limits.create("victim", enclaveLimits(64, 10));
      await startProcessEnclave(${JSON.stringify(HOG)}, { runTag: "cgroup-kill-test", workDir: "/", cgroup: cg.join }, () => {}, new AbortController().signal);
      process.stdout.write(JSON.stringify(cg.join.procs) + "\\n");
      setInterval(() => {}, 1000);
    `;
    const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const procs = await new Promise<string[]>((resolveLine, reject) => {
      let out = "";
      child.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("\n")) resolveLine(JSON.parse(out.split("\n")[0] as string) as string[]);
      });
      child.once("exit", (code) =>
        reject(new Error(`the child ezone exited (${code}) before its enclave started`)),
      );
    });
    const parents = procs.map((p) => resolve(p, "../.."));
    for (const p of parents) expect(existsSync(p)).toBe(true);
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
    const swept = await sweepCgroups();
    for (const p of parents) {
      expect(swept).toContain(p);
      expect(existsSync(p)).toBe(false);
    }
  });
});
