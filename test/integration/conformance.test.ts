/**
 * One suite, every backend this host can run (picked from the backend table, so a new backend joins by
 * being registered): boots to READY and heartbeats, a zone-4 fault stays in its process, a zone-3 fault is
 * recorded or refused with the reason, and teardown leaves no process of the run behind.
 *
 * A backend this host cannot run is skipped with the reason in its name; under CI=true only KVM may be
 * skipped (a missing bwrap/runsc/qemu/linux.uml fails). `exec` needs a user's VMM and has its own test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Availability, Backend } from "../../src/backends/backend.js";
import { BACKEND_NAMES, type BackendName, createBackend } from "../../src/backends/index.js";
import { FAULT_NAMES, type FaultName, faultSpec } from "../../src/faults/catalogue.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectOutcome, leftovers, runChecked, testPlan } from "../helpers/enclave-runs.js";

/** The tool each backend needs on PATH; under CI=true its absence fails the suite. */
const TOOL: Partial<Record<string, string>> = {
  "qemu-tcg": "qemu-system-x86_64",
  kvm: "qemu-system-x86_64",
  container: "bwrap",
  gvisor: "runsc",
  uml: "linux.uml",
};
const UNDER_TEST = BACKEND_NAMES.filter((n) => n !== "exec");
const ZONE3_PREFERENCE: FaultName[] = [
  "kerncrash",
  ...FAULT_NAMES.filter((f) => faultSpec(f).zone === 3 && f !== "none" && !faultSpec(f).selfCheck),
];
const ci = process.env.CI === "true";

const image: BuiltImage = await buildImage();
const rows: { name: BackendName; backend: Backend; availability: Availability }[] = [];
for (const name of UNDER_TEST) {
  const backend = createBackend({ name, type: name, exec: null });
  const tool = TOOL[name];
  const availability =
    tool && !hasBinary(tool)
      ? { available: false, reason: `${tool} is not installed` }
      : await backend.probe(image, AbortSignal.timeout(60_000));
  rows.push({ name, backend, availability });
}

describe("conformance suite", () => {
  beforeAll(() => {
    // Visible in the report even when every backend runs: what was picked and why the others were not.
    for (const r of rows)
      console.info(
        `conformance: ${r.name}: ${r.availability.available ? "runs" : "skipped"} — ${r.availability.reason}`,
      );
  });
  afterAll(() => {
    expect(leftovers(`itest-${process.pid}-`)).toEqual([]);
  });

  for (const { name, backend, availability } of rows) {
    // Only KVM may be skipped under CI; any other backend that cannot run here fails there.
    const skip = !availability.available && (!ci || name === "kvm");
    describe.skipIf(skip)(`${name}${skip ? ` (skipped: ${availability.reason})` : ""}`, () => {
      it("is runnable on this host", () => {
        expect(availability.available, availability.reason).toBe(true);
      });

      it("boots to READY and heartbeats (control run)", async () => {
        const r = await runChecked(testPlan(backend, image, "none"));
        expectOutcome(r, "no-effect");
        expect(r.evidence.ready).toBe(true);
        expect(r.evidence.heartbeatLost).toBe(false);
        expect(r.console.data.toString().match(/^HB \d+ \d+$/gm)?.length ?? 0).toBeGreaterThanOrEqual(3);
        expect(r.bootMs).toBeGreaterThan(0);
      });

      it("a zone-4 fault (segfault) stays in its process", async () => {
        const r = await runChecked(testPlan(backend, image, "segfault"));
        expectOutcome(r, "contained-limited");
        expect(r.evidence.proof).toBe(true);
        expect(r.evidence.heartbeatsAfterFault).toBeGreaterThan(0);
        expect(r.evidence.exit).toEqual({ kind: "running" });
      });

      it("a zone-3 fault is recorded with proof, or refused with the reason", async () => {
        const fault = ZONE3_PREFERENCE.find((f) => backend.supports(faultSpec(f)).supported);
        if (!fault) {
          const refusal = backend.supports(faultSpec("kerncrash"));
          expect(refusal.supported).toBe(false);
          if (!refusal.supported) {
            expect(refusal.reason).toMatch(
              name === "gvisor" ? /Sentry/ : ["native", "container"].includes(name) ? /zone 3 ≡ zone 1/ : /./,
            );
          }
          return;
        }
        const r = await runChecked(testPlan(backend, image, fault));
        expect(r.verdict.outcome, r.verdict.reasons.join("; ")).not.toBe("infra-error");
        expect(r.evidence.proof, `${fault}: ${r.verdict.reasons.join("; ")}`).toBe(true);
        expect(["contained-limited", "contained-varied", "escaped-global"]).toContain(r.verdict.outcome);
      });
    });
  }
});
