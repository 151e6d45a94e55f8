import { describe, expect, it } from "vitest";
import { boundedConsole } from "../../src/report/console-print.js";
import { renderRunShow } from "../../src/report/run-show.js";
import type { StoredArtifact } from "../../src/store/store.js";
import { evidenceFor, storedRun } from "../helpers/report-fixtures.js";

const artifacts: StoredArtifact[] = [
  { kind: "console", sha256: "a".repeat(64), bytes: 1234, truncated: true, path: "/r/artifacts/aa/aaa" },
  {
    kind: "control-events",
    sha256: "b".repeat(64),
    bytes: 40,
    truncated: false,
    path: "/r/artifacts/bb/bbb",
  },
];

describe("ezone show: one stored run", () => {
  it("prints the verdict, every reason, the evidence and the artifact paths", () => {
    const run = storedRun("qemu-tcg", "contained-limited", {
      reasons: ["the module's printk carried the nonce", "guest panicked; host probes ok"],
    });
    const text = renderRunShow({ run, probes: [], artifacts });
    expect(text).toContain(`run        ${run.runKey}\n`);
    expect(text).toContain("verdict    contained-limited\n");
    expect(text).toContain(
      "reasons    - the module's printk carried the nonce\n           - guest panicked; host probes ok\n",
    );
    expect(text).toMatch(/fault proof +yes/);
    expect(text).toMatch(/guest crash +divide error in kerncrash_fire \(divide-error, panic\)/);
    expect(text).toMatch(/GUEST_PANICKED +yes/);
    expect(text).toContain("console log: /r/artifacts/aa/aaa (1234 bytes, truncated at the cap)");
    expect(text).toContain("QMP / control events (JSON): /r/artifacts/bb/bbb (40 bytes)");
    expect(text).toContain("boot 2.00 s · detection 12 ms");
  });

  it("lists the violations its syslog monitor stored, escaped, and nothing without them", () => {
    const run = storedRun("qemu-tcg", "contained-limited");
    const violation = {
      id: 1,
      monitor: `run:${run.runKey}`,
      enclave: "victim",
      kind: "guest-oops",
      detail: "OOPS: guest kernel: divide error\x1b[2J in kerncrash_fire",
      lastHeartbeatAt: 1_000,
      firstMissedHeartbeatAt: 1_250,
      sourceAt: 1_100,
      detectedAt: Date.parse("2026-11-27T16:20:21.820Z"),
      evidence: [],
      notifiedAt: null,
      notification: "pending" as const,
      notificationDetail: null,
      closedAt: null,
      closedWhy: null,
    };
    const text = renderRunShow({ run, probes: [], artifacts, violations: [violation] });
    expect(text).toContain(
      "syslog     2026-11-27T16:20:21.820Z victim: guest-oops: OOPS: guest kernel: divide error\\x1b[2J in kerncrash_fire\n",
    );
    expect(renderRunShow({ run, probes: [], artifacts, violations: [] })).not.toMatch(/^syslog/m);
  });

  it("names failed probes and says when there are no artifacts", () => {
    const run = storedRun("uml", "escaped-global", { hostSurvived: false });
    const probes = [
      {
        probe: "taint",
        severity: "failed" as const,
        before: "0",
        after: "4096",
        threshold: "= 0",
        detail: "host tainted",
      },
      { probe: "load", severity: "ok" as const, before: 1, after: 1, threshold: "< 8", detail: "" },
    ];
    const text = renderRunShow({ run, probes, artifacts: [] });
    expect(text).toContain(
      "host       harmed (see probes)\n           1 failed, 1 ok\n           taint failed: host tainted (threshold = 0)\n",
    );
    expect(text).toContain("artifacts  none stored");
  });

  it("makes control characters from the guest visible", () => {
    const run = storedRun("qemu-tcg", "unknown", {
      reasons: ["console said \x1b[2J\x07 hi"],
      evidence: evidenceFor("kerncrash", 3, {
        guestCrash: { title: "oops\x1b]0;x\x07", crashClass: "bug", panic: false },
      }),
    });
    const text = renderRunShow({ run, probes: [], artifacts });
    expect(text).not.toContain("\x1b");
    expect(text).not.toContain("\x07");
    expect(text).toContain("console said \\x1b[2J\\x07 hi");
  });

  it("prints a composed run's peers and the control maxima it was judged against, escaped", () => {
    const run = storedRun("qemu-tcg", "contained-varied", {
      fault: "netflood",
      reasons: ["peer b: 9 late requests (controls max 1)"],
      evidence: evidenceFor("netflood", 4, {
        peers: [
          {
            name: "b",
            backend: "qemu-tcg",
            died: false,
            maxHeartbeatGapMs: 640,
            requests: { ok: 30, failed: 1, late: 9 },
          },
          { name: "c\x1b[2J", backend: "qemu-tcg", died: true, maxHeartbeatGapMs: null, requests: null },
        ],
        controlMaxima: {
          runs: 5,
          heartbeatMs: 250,
          parties: { b: { maxHeartbeatGapMs: 300, failed: 0, late: 1 } },
          hostDegraded: { "host.procsRunning": 2, "host.taint": 0 },
        },
      }),
    });
    const text = renderRunShow({ run, probes: [], artifacts });
    expect(text).toContain(
      [
        "cell       peer b (qemu-tcg): alive · max heartbeat gap 640 ms · requests ok=30 failed=1 late=9",
        "           peer c\\x1b[2J (qemu-tcg): died · max heartbeat gap n/a · no requests (depends on nothing)",
        "           control maxima of 5 control runs (heartbeat 250 ms):",
        "             b: max heartbeat gap 300 ms · failed 0 · late 1",
        "             host probe host.procsRunning degraded in 2 of them",
        "host ",
      ].join("\n"),
    );
    expect(text).not.toContain("\x1b");
    expect(text).not.toContain("host.taint");
    expect(
      renderRunShow({ run: storedRun("qemu-tcg", "contained-limited"), probes: [], artifacts }),
    ).not.toMatch(/^cell/m);
  });

  it("says a control run needs no proof", () => {
    const run = storedRun("qemu-tcg", "no-effect", {
      fault: "none",
      evidence: evidenceFor("none", 3, { proof: false }),
    });
    expect(renderRunShow({ run, probes: [], artifacts })).toMatch(/fault proof +not needed \(control run\)/);
  });
});

describe("a console for the terminal", () => {
  it("keeps head and tail within the bound and escapes controls and invalid bytes", () => {
    const log = Buffer.concat([
      Buffer.from("boot line\n"),
      Buffer.alloc(10_000, "x"),
      Buffer.from("\n\x1b[31mKernel panic\xff\n", "latin1"),
    ]);
    const out = boundedConsole(log, 2048);
    expect(out.startsWith("boot line\n")).toBe(true);
    expect(out).toMatch(/\[ezone: \d+ bytes elided\]/);
    expect(out).toContain("\\x1b[31mKernel panic\\xff\n");
    expect(out).not.toContain("\x1b");
    expect(Buffer.byteLength(out)).toBeLessThan(2048 + 64);
  });

  it("ends with a newline, and leaves a short log whole", () => {
    expect(boundedConsole(Buffer.from("READY"), 1024)).toBe("READY\n");
    expect(boundedConsole(Buffer.alloc(0), 1024)).toBe("");
  });
});
