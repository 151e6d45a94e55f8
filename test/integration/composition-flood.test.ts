import { beforeAll, describe, expect, it } from "vitest";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { composedPlan } from "../../src/campaign/composed.js";
import type { RunPlan } from "../../src/campaign/run-one.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import type { CompositionParams } from "../../src/model/composition.js";
import { controlMaximaOf, MIN_CONTROL_RUNS } from "../../src/model/composition-verdict.js";
import { decideOutcome } from "../../src/model/outcome.js";
import type { RunEvidence } from "../../src/model/outcome-types.js";
import { hasBinary } from "../helpers/capabilities.js";
import { runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveTools = ["qemu-system-x86_64", "ip", "unshare", "nsenter"].every((b) => hasBinary(b));
let image: BuiltImage;

/** B depends on the victim's service; `flood` is the network link's toggle (off: the victim floods its loopback). */
function pair(flood: boolean): CompositionParams {
  return {
    peers: [{ name: "b", backend: "qemu-tcg" }],
    links: [
      { kind: "network", from: "victim", to: "b", enabled: flood },
      { kind: "depends-on", from: "b", to: "victim", enabled: true },
    ],
    limits: false,
  };
}

const thresholds = { ...DEFAULT_PROBE_THRESHOLDS, maxRunnablePerCore: 64 };

function plan(composition: CompositionParams, fault: "netflood" | "none"): RunPlan {
  const backend = new QemuBackend({ accel: "tcg" });
  return testPlan(backend, image, fault, {
    composition: composedPlan(composition, backend),
    thresholds,
    trigger: { mode: "command", delaySeconds: 1 },
  });
}

describe.runIf(haveTools)("composed cell: a netflood from the victim over the bridge", () => {
  beforeAll(async () => {
    image = await buildImage();
  }, 600_000);

  for (const flood of [true, false]) {
    it(`explore flood=${flood}`, async () => {
      const controls: RunEvidence[] = [];
      for (let i = 0; i < MIN_CONTROL_RUNS; i++) {
        const c = await runChecked(plan(pair(flood), "none"));
        console.log(`control flood=${flood}: ${c.verdict.outcome} ${JSON.stringify(c.evidence.peers)}`);
        controls.push(c.evidence);
      }
      for (let i = 0; i < 2; i++) {
        const p = plan(pair(flood), "netflood");
        const r = await runChecked(p);
        const evidence = { ...r.evidence, controlMaxima: controlMaximaOf(controls, p.heartbeatMs) };
        const v = decideOutcome(evidence);
        console.log(
          `fault flood=${flood}: proof=${r.evidence.proof} ${v.outcome} ${v.reasons[0]} ${JSON.stringify(r.evidence.peers)}`,
        );
      }
      expect(true).toBe(true);
    }, 900_000);
  }
});
