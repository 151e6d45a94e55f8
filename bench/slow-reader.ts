/**
 * A host that is slow to read the guest console: kerncrash snapshot runs with ezone's own event loop
 * blocked BLOCKED_MS out of every PERIOD_MS, beside the same runs unblocked, alternated so drift hits
 * both. The realistic failure is ezone too busy to read the VMM's stdout: the buffer between them
 * fills, QEMU stops draining its 16550 and the guest's printk waits up to ~10 ms per character. The
 * event loop is the only reader of that stdout, so blocking it from the bench is a slow reader without
 * touching src/.
 *
 * The buffer matters: QEMU's 16550 writes one byte per write(2). On Node's stdio "pipe" (a Unix
 * socketpair) each byte costs a whole skb of the send buffer, and only ~570 fit before EAGAIN (measured,
 * Linux 6.18): one oops (~4 KiB) stalled on a reader pausing for tens of milliseconds. ezone therefore
 * gives QEMU's console a FIFO pair (64 KiB of one-byte writes); this case shows what is left of the
 * effect. The stored console bytes per run are reported.
 *
 * The block is Atomics.wait (the thread sleeps) rather than a busy loop: on a 2-core host a spinning
 * ezone would also take a core from QEMU's TCG thread, and the guest would slow down from CPU starvation
 * whatever the reader did; sleeping isolates the reader's slowness. The event-loop delay is measured
 * during each campaign to show the blocker really held the loop. Detection (proof line → guest known
 * down) is timed from ezone's reads of the console, QMP and the VMM's exit, so it also grows when
 * ezone merely reads late; the guest's own printk timestamps from the proof line to "Kernel panic"
 * (guestProofToPanicMs) grow only when the guest itself was held up by its console.
 *   npm run bench -- slow-reader [runsPerMode]   (fast-runs runs it too)
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { BuiltImage } from "../src/guest/image-builder.js";
import { buildImage } from "../src/guest/image-builder.js";
import { median } from "../src/model/stats.js";
import { kerncrashCampaign, measureCampaign, stats } from "./measure.js";

/** The blocker holds the event loop BLOCKED_MS of every PERIOD_MS: a duty cycle of 80%. */
const PERIOD_MS = 50;
const BLOCKED_MS = 40;

/** The guest's printk time from the fault's proof line to the panic line, or null when either is missing. */
function guestProofToPanicMs(text: string): number | null {
  const at = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) * 1000 : null;
  };
  const proof = at(/\[\s*(\d+\.\d+)\] ezone-fault: kerncrash /);
  const panic = at(/\[\s*(\d+\.\d+)\] Kernel panic/);
  return proof !== null && panic !== null ? panic - proof : null;
}

/** Block this thread for BLOCKED_MS every PERIOD_MS until `stop()`, which reports the blocked share. */
function blockEventLoop() {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const t0 = performance.now();
  let blockedMs = 0;
  const timer = setInterval(() => {
    const start = performance.now();
    Atomics.wait(cell, 0, 0, BLOCKED_MS);
    blockedMs += performance.now() - start;
  }, PERIOD_MS);
  return {
    stop() {
      clearInterval(timer);
      return { blockedMs, elapsedMs: performance.now() - t0 };
    },
  };
}

export async function compareSlowReader(image: BuiltImage, runsPerMode = 4, log = console.log) {
  const modes = ["draining", "slow-reader"] as const;
  const detection: Record<string, (number | null)[]> = { draining: [], "slow-reader": [] };
  const runMs: Record<string, number[]> = { draining: [], "slow-reader": [] };
  const consoleBytes: Record<string, number[]> = { draining: [], "slow-reader": [] };
  const guestGap: Record<string, (number | null)[]> = { draining: [], "slow-reader": [] };
  const loopDelayP99Ms: Record<string, number[]> = { draining: [], "slow-reader": [] };
  const outcomes: Record<string, Record<string, number>> = { draining: {}, "slow-reader": {} };
  let blocked = 0;
  let elapsed = 0;
  for (let half = 0; half < 2; half++) {
    for (const mode of modes) {
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const blocker = mode === "slow-reader" ? blockEventLoop() : null;
      let m: Awaited<ReturnType<typeof measureCampaign>>;
      try {
        m = await measureCampaign(kerncrashCampaign("snapshot", Math.ceil(runsPerMode / 2)), image, {
          jobs: 1,
          keepConsole: true,
        });
      } finally {
        const b = blocker?.stop();
        delay.disable();
        if (b) {
          blocked += b.blockedMs;
          elapsed += b.elapsedMs;
        }
      }
      detection[mode]?.push(...m.runs.map((r) => r.detectionMs));
      runMs[mode]?.push(...m.runs.map((r) => r.runMs));
      consoleBytes[mode]?.push(...m.consoleBytes);
      guestGap[mode]?.push(...m.consoles.map(guestProofToPanicMs));
      loopDelayP99Ms[mode]?.push(delay.percentile(99) / 1e6);
      const into = outcomes[mode] as Record<string, number>;
      for (const [k, v] of Object.entries(m.summary.outcomes)) into[k] = (into[k] ?? 0) + v;
      const reasons = [...new Set(m.runs.map((r) => `${r.outcome}: ${r.reasons.at(-1) ?? ""}`))];
      log(
        `${mode}: ${m.summary.executed} runs ${JSON.stringify(reasons)}, detection ${JSON.stringify(m.runs.map((r) => r.detectionMs?.toFixed(0)))} ms, guest proof→panic ${JSON.stringify(m.consoles.map((c) => guestProofToPanicMs(c)?.toFixed(0)))} ms, event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms`,
      );
    }
  }
  const per = (mode: string) => ({
    detectionMs: stats(detection[mode] ?? []),
    runMs: stats(runMs[mode] ?? []),
    guestProofToPanicMs: stats(guestGap[mode] ?? []),
    consoleBytesMax: Math.max(0, ...(consoleBytes[mode] ?? [])),
    eventLoopDelayP99Ms: median(loopDelayP99Ms[mode] ?? []),
    outcomes: outcomes[mode],
  });
  const drain = per("draining");
  const slow = per("slow-reader");
  const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
  return {
    blocker: {
      periodMs: PERIOD_MS,
      blockedMs: BLOCKED_MS,
      dutyCycle: BLOCKED_MS / PERIOD_MS,
      measuredDutyCycle: elapsed > 0 ? blocked / elapsed : null,
      how: "Atomics.wait on ezone's main thread (sleeps, takes no CPU from QEMU)",
    },
    runsPerMode,
    draining: drain,
    slowReader: slow,
    ratioMedian: {
      detectionMs: ratio(slow.detectionMs.median, drain.detectionMs.median),
      runMs: ratio(slow.runMs.median, drain.runMs.median),
      guestProofToPanicMs: ratio(slow.guestProofToPanicMs.median, drain.guestProofToPanicMs.median),
    },
  };
}

if (process.argv[1]?.endsWith("slow-reader.js")) {
  const r = await compareSlowReader(await buildImage(), Number(process.argv[2] ?? 4));
  console.log(`\n${JSON.stringify(r, null, 2)}`);
}
