import { describe, expect, it } from "vitest";
import { compareDhProbes, dhProbesOf } from "../../src/backends/disposable-host/dh-probes.js";
import { DhWatch, dhEvidence } from "../../src/campaign/host-watch.js";
import { DEFAULT_PROBE_THRESHOLDS } from "../../src/host/compare.js";
import { HEALTHY_PROBE } from "../helpers/fake-hosted.js";

const at = new Date("2026-01-01T00:00:00Z");
const answer = (values: Record<string, string>) => ({ kind: "answered" as const, values });
const healthy = HEALTHY_PROBE;

describe("disposable host probes", () => {
  it("finds nothing on a host that answered the same before and after", () => {
    const before = dhProbesOf(answer(healthy), at, 2);
    const findings = compareDhProbes(before, dhProbesOf(answer(healthy), at, 2), DEFAULT_PROBE_THRESHOLDS);
    expect(findings.map((f) => [f.probe, f.severity])).toEqual([
      ["dh.forkExecMs", "ok"],
      ["dh.procsRunning", "ok"],
      ["dh.memAvailableKb", "ok"],
      ["dh.taint", "ok"],
      ["dh.kmsg", "ok"],
      ["dh.cpusStalled", "ok"],
    ]);
  });

  it("fails new taint and new oops lines, and degrades a memory drop", () => {
    const before = dhProbesOf(answer(healthy), at, 2);
    const after = dhProbesOf(
      answer({ ...healthy, taint: String(512 | 12288), oops: "2", mem_available_kb: "100000" }),
      at,
      2,
    );
    const bad = compareDhProbes(before, after, DEFAULT_PROBE_THRESHOLDS).filter((f) => f.severity !== "ok");
    expect(bad.map((f) => [f.probe, f.severity])).toEqual([
      ["dh.memAvailableKb", "degraded"],
      ["dh.taint", "failed"],
      ["dh.kmsg", "failed"],
    ]);
    expect(bad[2]?.detail).toContain("2 new oops lines");
  });

  it("does not count the taint of loading ezone's own module (O, E) as harm", () => {
    const before = dhProbesOf(answer(healthy), at, 2);
    const after = dhProbesOf(answer({ ...healthy, taint: String(4096 | 8192) }), at, 2);
    const taint = compareDhProbes(before, after, DEFAULT_PROBE_THRESHOLDS).find(
      (f) => f.probe === "dh.taint",
    );
    expect(taint?.severity).toBe("ok");
  });

  it("fails every probe of a host that did not answer", () => {
    const before = dhProbesOf(answer(healthy), at, 2);
    const findings = compareDhProbes(
      before,
      dhProbesOf({ kind: "silent", message: "hostd gone" }, at, 2),
      DEFAULT_PROBE_THRESHOLDS,
    );
    expect(findings.every((f) => f.severity === "failed" && f.detail.includes("hostd gone"))).toBe(true);
  });

  const stall = (before: Record<string, string>, after: Record<string, string>) =>
    compareDhProbes(
      dhProbesOf(answer(before), at, 2),
      dhProbesOf(answer(after), at, 2),
      DEFAULT_PROBE_THRESHOLDS,
    ).find((f) => f.probe === "dh.cpusStalled");

  it("fails a vCPU that stopped advancing during the run", () => {
    const f = stall(healthy, { ...healthy, cpus_stalled: "1" });
    expect(f).toMatchObject({ severity: "failed", before: 0, after: 1 });
    expect(f?.detail).toBe("1 of 2 vCPUs stopped advancing (no timer tick): a CPU of the node is lost");
  });

  it("does not fail a vCPU that was already stalled before the run", () => {
    const stalled = { ...healthy, cpus_stalled: "1" };
    expect(stall(stalled, stalled)?.severity).toBe("ok");
  });

  it("takes a probe answer without the keys as not reported, and losing them as unavailable", () => {
    const { cpus_online: _o, cpus_stalled: _s, ...old } = healthy;
    expect(stall(old, old)).toMatchObject({ severity: "ok", detail: "not reported" });
    expect(stall(healthy, old)?.severity).toBe("unavailable");
    expect(stall(old, { ...healthy, cpus_stalled: "1" })?.severity).toBe("unavailable");
  });

  it("does not take a malformed value for a number", () => {
    const p = dhProbesOf(answer({ ...healthy, taint: "x" }), at, 2);
    expect(p.probes.taint).toMatchObject({ kind: "unavailable" });
  });
});

describe("disposable host watch", () => {
  const kpanic = [
    "[    9.000000] ezone-fault: kpanic nonce=n1 firing context=process",
    "[    9.000100] Kernel panic - not syncing: ezone kpanic",
    "",
  ].join("\n");

  it("records the proof line of the run's nonce, the panic and the VM's end", () => {
    const w = new DhWatch();
    w.expectProof("n1");
    w.onEvent({ type: "heartbeat", at: 0 });
    w.onEvent({ type: "heartbeat", at: 200 });
    w.onEvent({ type: "console", data: Buffer.from(kpanic), at: 300 });
    w.onEvent({ type: "control", name: "GUEST_PANICKED", data: null, at: 301 });
    w.onEvent({ type: "exit", exit: { kind: "exited", code: 1 }, stderr: "", at: 302 });
    w.endBeats(2000);
    const ev = dhEvidence(w.seen, false, 1000, []);
    expect(ev).toMatchObject({ alive: false, panicked: true, proof: true, heartbeatLost: true });
    expect(ev.exit).toEqual({ kind: "exited", code: 1 });
    expect(w.console.contents().data.toString()).toContain("Kernel panic");
  });

  it("does not take another run's nonce as proof; a host that beat and answered is alive", () => {
    const w = new DhWatch();
    w.expectProof("n2");
    for (let t = 0; t <= 1000; t += 200) w.onEvent({ type: "heartbeat", at: t });
    w.onEvent({ type: "console", data: Buffer.from(kpanic.split("\n")[0] ?? ""), at: 500 });
    w.endBeats(1100);
    expect(dhEvidence(w.seen, true, 1000, [])).toMatchObject({
      alive: true,
      panicked: false,
      proof: false,
      heartbeatLost: false,
    });
  });
});

describe("the disposable host's watch of a zone-1 fault", () => {
  const console = (text: string) => ({ type: "console" as const, data: Buffer.from(text), at: 1 });

  it("keeps the module's report lines and OOM kills after its proof, this run's only, bounded", () => {
    const watch = new DhWatch();
    watch.expectProof("n1");
    watch.onEvent(console("[ 1.0] Out of memory: Killed process 7 (early) total-vm:1kB\n"));
    watch.onEvent(console("[ 2.0] ezone-fault: memleak nonce=n1 firing context=kthread\n"));
    watch.onEvent(console("[ 3.0] ezone-fault: memleak nonce=n0 leaked 9 MiB (another run)\n"));
    watch.onEvent(console("[ 3.1] ezone-fault: memleak nonce=n1 leaked 780 MiB (floor), OOM kills seen 0\n"));
    watch.onEvent(console("[ 3.2] Out of memory: Killed process 42 (ezone-agent) total-vm:1kB\n"));
    expect(watch.doneLine).toBeNull();
    watch.onEvent(console("[ 6.0] ezone-fault: memleak nonce=n1 freed 780 MiB, OOM kills seen 1\n"));
    for (let i = 0; i < 20; i++)
      watch.onEvent(console(`[ 7.${i}] ezone-fault: memleak nonce=n1 ${"x".repeat(300)}\n`));
    expect(watch.seen.faultReport.slice(0, 3)).toEqual([
      "memleak: leaked 780 MiB (floor), OOM kills seen 0",
      "its OOM killer killed ezone-agent (pid 42)",
      "memleak: freed 780 MiB, OOM kills seen 1",
    ]);
    expect(watch.seen.faultReport).toHaveLength(8);
    expect(Math.max(...watch.seen.faultReport.map((l) => l.length))).toBe(200);
    expect(watch.doneLine).toContain("freed 780 MiB");
  });
});
