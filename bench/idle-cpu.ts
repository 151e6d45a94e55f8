/**
 * ezone's own CPU while it watches an idle guest, as the marginal cost of watching longer: control
 * campaigns (qemu-tcg, snapshot boot, no fault) observed for SHORT_S and for LONG_S seconds, alternated
 * so drift hits both, then (CPU long − CPU short) / (wall long − wall short). Boot, snapshot restore,
 * host probes and store writes are the same in both and cancel out; what is left is the monitor loop,
 * the heartbeat ticker and draining an idle console. The old whole-campaign figure (CPU / wall of the
 * long campaigns, fixed costs included) is kept beside it under another name. A first, discarded
 * campaign takes the process's one-time costs (module loading, JIT, snapshot creation), which would
 * otherwise land on whichever campaign runs first (measured: 1.26 s of CPU vs 0.20 s afterwards).
 *   npm run bench -- idle-cpu [rounds] [repetitions]   (fast-runs runs it too)
 */
import type { BuiltImage } from "../src/guest/image-builder.js";
import { buildImage } from "../src/guest/image-builder.js";
import { measureCampaign } from "./measure.js";

const SHORT_S = 2;
const LONG_S = 22;

const control = (observeSeconds: number, reps: number) =>
  [
    `name: bench-idle-${observeSeconds}s`,
    `repetitions: ${reps}`,
    "backends: [qemu-tcg]",
    "faults: [none]",
    `timeouts: { controlObserveSeconds: ${observeSeconds} }`,
    "",
  ].join("\n");

interface Sample {
  observeSeconds: number;
  cpuMs: number;
  wallMs: number;
  executed: number;
}

export async function idleMonitorCpu(image: BuiltImage, rounds = 2, reps = 1, log = console.log) {
  await measureCampaign(control(1, 1), image, { jobs: 1 });
  const samples: Sample[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const observeSeconds of [SHORT_S, LONG_S]) {
      const m = await measureCampaign(control(observeSeconds, reps), image, { jobs: 1 });
      const s = { observeSeconds, cpuMs: m.cpuMs, wallMs: m.summary.wallMs, executed: m.summary.executed };
      samples.push(s);
      log(
        `idle ${observeSeconds} s x${reps}: cpu ${s.cpuMs.toFixed(0)} ms in ${(s.wallMs / 1000).toFixed(1)} s ${JSON.stringify(m.summary.outcomes)}`,
      );
    }
  }
  const sum = (observeSeconds: number, key: "cpuMs" | "wallMs") =>
    samples.filter((s) => s.observeSeconds === observeSeconds).reduce((a, s) => a + s[key], 0);
  const cpuShort = sum(SHORT_S, "cpuMs");
  const cpuLong = sum(LONG_S, "cpuMs");
  const wallShort = sum(SHORT_S, "wallMs");
  const wallLong = sum(LONG_S, "wallMs");
  return {
    method: `(cpu long - cpu short) / (wall long - wall short), controlObserveSeconds ${LONG_S} vs ${SHORT_S}`,
    rounds,
    repetitionsPerCampaign: reps,
    idleMonitorCpuPercentOfCore:
      wallLong > wallShort ? ((cpuLong - cpuShort) / (wallLong - wallShort)) * 100 : null,
    totals: { cpuShortMs: cpuShort, cpuLongMs: cpuLong, wallShortMs: wallShort, wallLongMs: wallLong },
    /** The old figure: the long campaigns' whole CPU / wall, boot, restore and probes included. */
    wholeCampaignCpuPercentOfCore: wallLong > 0 ? (cpuLong / wallLong) * 100 : null,
    /** The same quotient per round, to show its spread. */
    perRoundPercentOfCore: Array.from({ length: rounds }, (_, i) => {
      const [a, b] = [samples[2 * i], samples[2 * i + 1]];
      return a && b && b.wallMs > a.wallMs ? ((b.cpuMs - a.cpuMs) / (b.wallMs - a.wallMs)) * 100 : null;
    }),
    samples,
  };
}

if (process.argv[1]?.endsWith("idle-cpu.js")) {
  const r = await idleMonitorCpu(
    await buildImage(),
    Number(process.argv[2] ?? 2),
    Number(process.argv[3] ?? 1),
  );
  console.log(`\n${JSON.stringify(r, null, 2)}`);
}
