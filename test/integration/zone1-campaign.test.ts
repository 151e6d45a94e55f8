/**
 * Issue 13's "done when", for real: a container enclave inside a disposable host (a QEMU-TCG VM), one
 * campaign through `runCampaign`. A zone-1 module that kills the host's kernel, a zone-3 module loaded
 * from inside the container with and without the privilege it needs, a segfault that stays its own, and
 * a zone-1 fault the host survives, whose verdict names what beside it was affected (or that nothing was).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCampaign } from "../../src/campaign/run-campaign.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import type { StoredRun } from "../../src/store/run-store.js";
import { Store } from "../../src/store/store.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectNoQemuLeft } from "../helpers/cli.js";
import { steadyHostProbe } from "../helpers/replay.js";

const NAME = "zone1-ci";

describe.runIf(hasBinary("qemu-system-x86_64"))(
  "zone 1 and shared-kernel zone 3 in a disposable host",
  () => {
    let image: BuiltImage;
    let dir: string;
    let runs: StoredRun[];
    let log: string[];

    beforeAll(async () => {
      image = await buildImage();
      dir = mkdtempSync(join(tmpdir(), "ezone-zone1-"));
      const config = campaignSchema.parse({
        name: NAME,
        repetitions: 1,
        backends: [{ name: "container", type: "container", host: "disposable", privileges: "both" }],
        faults: ["host-kerncrash", "kerncrash", "segfault", "host-cpuhog"].map((name) => ({
          name,
          trigger: { mode: "command", delaySeconds: 0 },
        })),
        timeouts: { observeSeconds: 15 },
      });
      log = [];
      // The real host is this busy shared machine: its probes are steadied, so only the disposable host's
      // own evidence (and the enclave's) can decide these verdicts.
      await runCampaign(
        { config, resultsDir: dir, text: JSON.stringify(config), file: join(dir, `${NAME}.yaml`) },
        {
          image,
          signal: AbortSignal.timeout(420_000),
          log: (l) => log.push(l),
          jobs: 2,
          hostProbe: steadyHostProbe,
        },
      );
      using store = Store.open(dir);
      runs = store.runs({ campaign: NAME });
    }, 480_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The one run of `fault` (with `privileges`, for a zone-3 fault), with its reasons for a failure's message. */
    function run(fault: string, privileges?: string): StoredRun & { why: string } {
      const r = runs.find((x) => x.fault === fault && x.params.privileges === privileges);
      if (!r) throw new Error(`no run of ${fault} ${privileges ?? ""}: ${log.join("\n")}`);
      expect(r.params.host).toBe("disposable");
      return { ...r, why: `${r.outcome}: ${r.reasons.join("; ")}` };
    }

    it("host-kerncrash beside the container: escaped-global, the module's proof on the host's console", () => {
      const r = run("host-kerncrash");
      expect(r.outcome, r.why).toBe("escaped-global");
      expect(r.evidence.disposableHost).toMatchObject({ proof: true, panicked: true, alive: false });
    });

    it("kerncrash from inside a privileged container: escaped-global with proof (its kernel is the host's)", () => {
      const r = run("kerncrash", "privileged");
      expect(r.outcome, r.why).toBe("escaped-global");
      expect(r.evidence.disposableHost).toMatchObject({ proof: true, panicked: true });
    });

    it("kerncrash from inside an unprivileged container: not-fired, the kernel's EPERM recorded", () => {
      const r = run("kerncrash", "unprivileged");
      expect(r.outcome, r.why).toBe("not-fired");
      expect(r.why).toContain("EPERM");
      expect(r.evidence.disposableHost).toMatchObject({ alive: true, panicked: false });
    });

    it("a segfault in the container stays its own: contained-limited", () => {
      const r = run("segfault");
      expect(r.outcome, r.why).toBe("contained-limited");
      expect(r.evidence.disposableHost).toMatchObject({ alive: true, panicked: false });
    });

    it("host-cpuhog: the host survives, the verdict names what was affected, ended by the module's line", () => {
      const r = run("host-cpuhog");
      expect(r.evidence.disposableHost).toMatchObject({ proof: true, alive: true, panicked: false });
      expect(r.stopReason).toBe("fault-ended");
      if (r.outcome === "no-effect") {
        expect(r.reasons).toContain("the enclave beside it kept heartbeating and every probe passed");
      } else {
        expect(r.outcome, r.why).toBe("contained-varied");
        expect(r.why).toMatch(/enclave|disposable host probe/);
      }
    });

    it("leaves no disposable host's QEMU behind", async () => {
      await expectNoQemuLeft();
    });
  },
);
