/**
 * `guest.syslog: true` in a real campaign: native and QEMU-TCG enclaves send their heartbeats through a
 * real rsyslogd; a control run raises nothing (ezone stopping the enclave is not a violation), a run
 * whose enclave ezone kills stores an `enclave-exit` violation that `ezone show` prints. The host probes
 * are replaced by a steady host: what is tested is the syslog path, not this shared machine's load.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NativeBackend } from "../../src/backends/native.js";
import { runCampaign } from "../../src/campaign/run-campaign.js";
import { enclaveSpec } from "../../src/campaign/run-plan.js";
import { CampaignSyslog } from "../../src/campaign/run-syslog.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { Store } from "../../src/store/store.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { ezoneSync, requireBuiltCli } from "../helpers/cli.js";
import { testPlan } from "../helpers/enclave-runs.js";
import { steadyHostProbe } from "../helpers/replay.js";

/** A plain enclave spec of a native test plan (100 ms heartbeats) in `workDir`. */
function testPlanSpec(image: BuiltImage, workDir: string) {
  return enclaveSpec(testPlan(new NativeBackend(), image, "none", { heartbeatMs: 100 }), workDir);
}

const ready = hasBinary("rsyslogd") && hasBinary("qemu-system-x86_64");

describe.skipIf(!ready)("guest.syslog in a campaign", () => {
  let image: BuiltImage;
  let dir: string;
  beforeAll(async () => {
    requireBuiltCli();
    image = await buildImage();
    dir = mkdtempSync(join(tmpdir(), "ezone-campaign-syslog-"));
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A campaign with `guest.syslog: true` on these backends and faults, one repetition; its log lines. */
  async function syslogCampaign(
    name: string,
    backends: string[],
    faults: string[],
    bystanders = 0,
    jobs = 1,
  ) {
    const config = campaignSchema.parse({
      name,
      backends,
      faults,
      bystanders,
      repetitions: 1,
      guest: { syslog: true },
      timeouts: { controlObserveSeconds: 2 },
    });
    const log: string[] = [];
    const summary = await runCampaign(
      { config, resultsDir: dir, text: JSON.stringify(config), file: join(dir, `${name}.yaml`) },
      {
        image,
        signal: AbortSignal.timeout(240_000),
        log: (l) => log.push(l),
        jobs,
        hostProbe: steadyHostProbe,
      },
    );
    return { summary, log };
  }

  it("heartbeats arrive through rsyslogd; a killed enclave is a stored violation of its run, not another's", async () => {
    // Two at a time: the control runs of both backends share the daemon, told apart by HOSTNAME.
    const { summary, log: lines } = await syslogCampaign(
      "syslog",
      ["native", "qemu-tcg"],
      ["none", "vmm-sigkill"],
      0,
      2,
    );
    expect(summary.executed, lines.join("\n")).toBe(4);
    using store = Store.open(dir);
    const runs = store.runs({ campaign: "syslog" });
    for (const backend of ["native", "qemu-tcg"]) {
      const control = runs.find((r) => r.backend === backend && r.fault === "none");
      const killed = runs.find((r) => r.backend === backend && r.fault === "vmm-sigkill");
      if (!control || !killed) throw new Error(`${backend}: runs missing\n${lines.join("\n")}`);
      // The control run's line counts the victim's heartbeats that came back through rsyslogd.
      const beats = lines.find((l) => l.includes(control.runKey))?.match(/syslog heartbeats: victim (\d+)/);
      expect(Number(beats?.[1]), `${backend} control: ${lines.join("\n")}`).toBeGreaterThan(2);
      expect(store.runViolations(control.runKey)).toEqual([]);
      const [v, ...more] = store.runViolations(killed.runKey);
      expect(more).toEqual([]);
      expect(v?.enclave).toBe("victim");
      expect(v?.kind).toBe("enclave-exit");
      expect(v?.detail).toMatch(/SIGKILL/);
      // Heartbeats of this very run reached the monitor through rsyslogd before the kill.
      expect(v?.lastHeartbeatAt, `${backend}: ${JSON.stringify(v)}`).not.toBeNull();
      const shown = ezoneSync(dir, ["show", killed.runKey, "--results", dir]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(
        /^syslog\s+\S+ victim: enclave-exit: EXIT: enclave ended: signal SIGKILL$/m,
      );
    }
    // The campaign's rsyslogd went with it.
    expect(processesMatching("rsyslogd")).toEqual([]);
  });

  it("an enclave that joins a run later (a composed cell's peer) is watched from then on", async () => {
    await using daemon = await CampaignSyslog.start();
    const workDir = mkdtempSync(join(tmpdir(), "ezone-peer-"));
    const run = await daemon.forRun({
      runId: "rpeer",
      roles: ["victim"],
      heartbeatMs: 100,
      heartbeatLossMs: 2000,
      bootMs: 30_000,
      workDir,
    });
    const ac = new AbortController();
    try {
      let beats = 0;
      let seen: () => void = () => {};
      const fifthBeat = new Promise<void>((r) => {
        seen = r;
      });
      const spec = { ...testPlanSpec(image, workDir), syslog: await run.channel("peer-a") };
      const peer = await new NativeBackend().start(
        spec,
        run.sink("peer-a", (ev) => {
          if (ev.type === "console" && /^HB /m.test(ev.data.toString()) && ++beats === 5) seen();
        }),
        ac.signal,
      );
      await fifthBeat;
      const report = await run.collect();
      await peer.stop();
      expect(report.heartbeats["peer-a"]).toBeGreaterThan(2);
      // The victim was never started: its silence is within its boot grace, so nothing was raised.
      expect(report.violations).toEqual([]);
    } finally {
      ac.abort();
      await run[Symbol.asyncDispose]();
      rmSync(workDir, { recursive: true, force: true });
    }
  });

  it.skipIf(!(hasBinary("bwrap") && hasBinary("linux.uml")))(
    "container and UML agents, victims and bystanders, send on the channel passed at fd 3",
    async () => {
      const { summary, log } = await syslogCampaign("syslog-fd", ["container", "uml"], ["none"], 1);
      expect(summary.executed, log.join("\n")).toBe(2);
      for (const backend of ["container", "uml"]) {
        const line = log.find((l) => l.includes(`syslog-fd/${backend}/none/`));
        const beats = line?.match(/syslog heartbeats: victim (\d+), bystander-0 (\d+);/);
        expect(Number(beats?.[1]), `${backend}: ${line}`).toBeGreaterThan(2);
        expect(Number(beats?.[2]), `${backend}: ${line}`).toBeGreaterThan(2);
        expect(line).toMatch(/violations: none\]$/);
      }
    },
  );
});
