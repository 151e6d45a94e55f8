/**
 * Zones 3 and 4 of the fault catalogue: every fault is declared completely and is backed by guest code
 * (a module Kbuild builds, or a trigger the agent registers); the agent's CHILD and the kernel's OOM
 * lines are parsed; the run monitor takes a CHILD line with the expected end as a zone-4 fault's proof.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FAULT_NAMES, FAULTS, type FaultSpec, faultKernelArgs } from "../../src/faults/catalogue.js";
import { ConsoleParser, parseConsoleLog } from "../../src/monitor/console-parser.js";
import { RunMonitor } from "../../src/monitor/run-monitor.js";

const GUEST = fileURLToPath(new URL("../../src/guest/", import.meta.url));
const guestFaults = FAULT_NAMES.map((n) => FAULTS[n] as FaultSpec).filter(
  (f) => f.zone >= 3 && f.name !== "none",
);

describe("fault catalogue, zones 3 and 4", () => {
  const kbuild = readFileSync(`${GUEST}modules/Kbuild`, "utf8");
  const agentSources = readdirSync(`${GUEST}agent`)
    .filter((f) => f.endsWith(".c"))
    .map((f) => readFileSync(`${GUEST}agent/${f}`, "utf8"))
    .join("\n");

  it("lists exactly the zone-3 and zone-4 faults ezone offers", () => {
    const names = guestFaults.map((f) => f.name).sort();
    expect(names).toEqual(
      [
        "abort",
        "bitflip",
        "cpuhog",
        "cpuloop",
        "cpustorm",
        "forged-panic",
        "forkbomb",
        "hang",
        "kbug",
        "kerncrash",
        "kpanic",
        "memleak",
        "netflood",
        "nullderef",
        "oomhog",
        "segfault",
        "softlockup",
        "stackoverflow",
        "sysrq-c",
        "uafwrite",
      ].sort(),
    );
  });

  it.each(guestFaults.map((f) => [f.name, f] as const))(
    "%s is declared and backed by guest code",
    (_n, f) => {
      for (const text of [f.mechanism, f.proof, f.expected]) expect(text.length).toBeGreaterThan(10);
      if (f.kernelModule) {
        expect(f.zone).toBe(3);
        expect(kbuild).toMatch(new RegExp(`^obj-m \\+= ${f.name}\\.o$`, "m"));
        expect(readFileSync(`${GUEST}modules/${f.name}.c`, "utf8")).toMatch(
          /EZONE_PROOF|ezone-fault: kerncrash/,
        );
      } else {
        // A fault the agent triggers itself must be registered by name (a table entry or a call).
        expect(agentSources).toContain(`"${f.name}"`);
      }
      // A bit flip's proof is ezone's read-back through the gdbstub, not how its workload ended.
      if (f.zone === 4 && !f.flipsBits) expect(f.childEnd).toMatch(/^(?:signal=SIG[A-Z0-9]+|exit=\d+)$/);
      else expect(f.childEnd).toBeUndefined();
    },
  );

  it("adds a fault's own kernel arguments to the campaign's, once", () => {
    expect(faultKernelArgs(["oops=panic"], "softlockup")).toEqual([
      "oops=panic",
      "watchdog_thresh=1",
      "softlockup_panic=1",
    ]);
    expect(faultKernelArgs(["oops=panic", "watchdog_thresh=1"], "softlockup")).toEqual([
      "oops=panic",
      "watchdog_thresh=1",
      "softlockup_panic=1",
    ]);
    expect(faultKernelArgs(["oops=panic"], "nullderef")).toEqual(["oops=panic"]);
  });
});

describe("console parser: zone-4 and OOM lines", () => {
  it.each([
    [
      "CHILD segfault nonce=n1 pid=93 signal=SIGSEGV",
      { fault: "segfault", nonce: "n1", pid: 93, end: "signal=SIGSEGV" },
    ],
    ["CHILD forkbomb nonce=n2 pid=7 exit=0", { fault: "forkbomb", nonce: "n2", pid: 7, end: "exit=0" }],
    [
      "CHILD oomhog nonce=n3 pid=8 lost errno=10",
      { fault: "oomhog", nonce: "n3", pid: 8, end: "lost errno=10" },
    ],
  ])("%s", (line, expected) => {
    expect(parseConsoleLog(`${line}\n`).events).toEqual([{ kind: "child", ...expected }]);
  });

  it.each([
    "CHILD segfault nonce=n1 pid=93",
    "CHILD segfault nonce=n1 pid=x signal=SIGSEGV",
    "CHILD segfault nonce=n1 pid=93 signal=SIGSEGV trailing",
    "[    4.1] CHILD segfault nonce=n1 pid=93 signal=SIGSEGV",
  ])("ignores a malformed or kernel-stamped CHILD line: %s", (line) => {
    expect(parseConsoleLog(`${line}\n`).events).toEqual([]);
  });

  it("splits a printk glued to a CHILD line", () => {
    const { events } = parseConsoleLog(
      "CHILD abort nonce=n1 pid=5 signal=SIGABRT[    4.672436] Out of memory: Killed process 93 (ezone-agent) total-vm:1kB\n",
    );
    expect(events).toEqual([
      { kind: "child", fault: "abort", nonce: "n1", pid: 5, end: "signal=SIGABRT" },
      { kind: "oom-kill", pid: 93, comm: "ezone-agent" },
    ]);
  });

  it("reports the OOM killer as an event, not as a crash", () => {
    const r = parseConsoleLog(
      "[    4.672436] Out of memory: Killed process 93 (ezone-agent) total-vm:181396kB, oom_score_adj:1000\n",
    );
    expect(r.events).toEqual([{ kind: "oom-kill", pid: 93, comm: "ezone-agent" }]);
    expect(r.crash).toBeNull();
  });

  it("names a report cut short by its panic from the panic's backtrace, without growing the excerpt", () => {
    const parser = new ConsoleParser();
    parser.push(
      [
        "[    9.897040] watchdog: BUG: soft lockup - CPU#0 stuck for 3s! [ezone-agent:1]",
        "[    9.922357] Kernel panic - not syncing: softlockup: hung tasks",
        "[    9.935256] Call Trace:",
        "[    9.936534]  panic+0x118/0x2f4",
        "[    9.936827]  watchdog_timer_fn.cold+0xc/0x16",
        "[    9.940993] RIP: 0010:softlockup_fire.cold+0x2/0x39 [softlockup]",
        "[    9.969645]  ezone_fault_init+0x3b/0x1000 [softlockup]",
        "",
      ].join("\n"),
      0,
    );
    const crash = parser.crash();
    expect(crash?.title).toBe("BUG: soft lockup in softlockup_fire [softlockup]");
    expect(crash?.excerpt.at(-1)).toContain("Kernel panic - not syncing");
  });

  it("keeps a function named before the panic over the panic's own backtrace", () => {
    const { crash } = parseConsoleLog(
      [
        "[    2.9] divide error: 0000 [#1] PREEMPT SMP NOPTI",
        "[    2.9] RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]",
        "[    3.0] Kernel panic - not syncing: Fatal exception",
        "[    3.0] RIP: 0010:other_function+0x1/0x2",
        "",
      ].join("\n"),
    );
    expect(crash?.title).toBe("divide error in kerncrash_fire [kerncrash]");
  });
});

describe("run monitor: a CHILD line as a zone-4 fault's proof", () => {
  const feed = (monitor: RunMonitor, text: string) =>
    monitor.sink({ type: "console", data: Buffer.from(text), at: performance.now() });

  it("takes the expected end for this run's nonce as proof, then counts heartbeats after it", () => {
    using monitor = new RunMonitor("n1", 60_000, "signal=SIGSEGV");
    feed(monitor, "READY ezone-agent/1 hb=250\nFIRED segfault nonce=n1\nHB 0 1\n");
    feed(monitor, "CHILD segfault nonce=other pid=4 signal=SIGSEGV\n");
    expect(monitor.state.proofAt).toBeNull();
    feed(monitor, "CHILD segfault nonce=n1 pid=5 signal=SIGSEGV\nHB 1 2\nHB 2 3\n");
    expect(monitor.state.proofAt).not.toBeNull();
    expect(monitor.state.hbAfterFault).toBe(2);
    expect(monitor.state.injectFailed).toBeNull();
  });

  it("records any other end as a failed injection, never as proof", () => {
    using monitor = new RunMonitor("n1", 60_000, "signal=SIGKILL");
    feed(monitor, "READY ezone-agent/1 hb=250\nFIRED oomhog nonce=n1\nCHILD oomhog nonce=n1 pid=5 exit=1\n");
    expect(monitor.state.proofAt).toBeNull();
    expect(monitor.state.injectFailed).toBe("oomhog: its child ended with exit=1, not signal=SIGKILL");
  });

  it("ignores CHILD lines when the fault is not a zone-4 fault", () => {
    using monitor = new RunMonitor("n1", 60_000);
    feed(monitor, "CHILD segfault nonce=n1 pid=5 signal=SIGSEGV\n");
    expect(monitor.state.proofAt).toBeNull();
    expect(monitor.state.injectFailed).toBeNull();
  });
});
