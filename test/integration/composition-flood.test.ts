import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { EnclaveSpec } from "../../src/backends/backend.js";
import { cellAddresses, injectArgs, NETFLOOD } from "../../src/backends/links/cell-network.js";
import { PrivateNetwork } from "../../src/backends/links/private-network.js";
import { QemuBackend } from "../../src/backends/qemu/qemu.js";
import { type BuiltImage, buildImage } from "../../src/guest/image-builder.js";
import type { CompositionParams } from "../../src/model/composition.js";
import { RunMonitor } from "../../src/monitor/run-monitor.js";
import { LineSplitter } from "../../src/util/line-splitter.js";
import { hasBinary } from "../helpers/capabilities.js";
import { expectOutcome, leftovers, runChecked, testPlan } from "../helpers/enclave-runs.js";

const haveTools = ["qemu-system-x86_64", "ip", "unshare", "nsenter"].every((b) => hasBinary(b));
if (!haveTools && process.env.CI === "true")
  throw new Error("CI=true and qemu, ip, unshare or nsenter missing");
let image: BuiltImage;

/** The victim and B joined by a network link; `enabled` is its toggle. */
function cell(enabled: boolean): CompositionParams {
  return {
    peers: [{ name: "b", backend: "qemu-tcg" }],
    links: [{ kind: "network", from: "victim", to: "b", enabled }],
    limits: false,
  };
}

/** Packets the bridge handed to a tap (its TX counter: what went towards the guest behind it). */
function tapTxPackets(netns: string, tap: string): number {
  const out = execFileSync("nsenter", [`--net=${netns}`, "--", "ip", "-s", "-j", "link", "show", tap], {
    encoding: "utf8",
  });
  return (JSON.parse(out) as { stats64: { tx: { packets: number } } }[])[0]?.stats64.tx.packets ?? 0;
}

describe.runIf(haveTools)("netflood: the victim's flood crosses the bridge only while the link is on", () => {
  beforeAll(async () => {
    image = await buildImage();
  }, 600_000);

  for (const enabled of [true, false]) {
    it(`network link ${enabled ? "on: B's tap carries the flood" : "off: the flood stays on the victim's loopback"}`, async () => {
      const signal = AbortSignal.timeout(150_000);
      const backend = new QemuBackend({ accel: "tcg" });
      const scratch = mkdtempSync(join(tmpdir(), "ezone-flood-"));
      try {
        const addresses = cellAddresses(cell(enabled));
        await using net = await PrivateNetwork.start(addresses, signal);
        const members = addresses.map((a) => {
          const monitor = new RunMonitor("f1", 10_000, "exit=0");
          const lines: string[] = [];
          const splitter = new LineSplitter(512);
          const sink = (ev: Parameters<RunMonitor["sink"]>[0]) => {
            if (ev.type === "console") splitter.push(ev.data, (l) => lines.push(l.toString("latin1")));
            monitor.sink(ev);
          };
          const workDir = join(scratch, a.name);
          mkdirSync(workDir);
          const spec: EnclaveSpec = {
            image,
            memoryMb: 256,
            heartbeatMs: 250,
            kernelArgs: [],
            arm: null,
            runTag: `flood-test-${process.pid}`,
            workDir,
            nic: { netns: net.netns, tap: a.tap, mac: a.mac },
          };
          return { a, monitor, lines, sink, spec };
        });
        const enclaves = await Promise.all(members.map((m) => backend.start(m.spec, m.sink, signal)));
        await using _v = enclaves[0];
        await using _b = enclaves[1];
        const until = async (i: number, re: RegExp) => {
          const m = members[i];
          const seen = () => m?.lines.some((l) => re.test(l)) ?? false;
          await m?.monitor.wait({ reason: `${re} from ${m.a.name}`, until: seen, timeoutMs: 90_000 }, signal);
        };
        for (const i of [0, 1]) await until(i, /^READY/);
        for (const [i, m] of members.entries()) enclaves[i]?.send(`NET ${m.a.ip}/24 ${m.a.mac}`);
        for (const i of [0, 1]) await until(i, /^NET-OK/);
        const before = tapTxPackets(net.netns, "ezt1");
        enclaves[0]?.send(`INJECT netflood nonce=f1 delay_ms=0${injectArgs("netflood", cell(enabled))}`);
        await until(0, /^CHILD netflood nonce=f1 pid=\d+ (exit|signal)=/);
        const victim = members[0]?.lines ?? [];
        expect(victim).toContainEqual(expect.stringMatching(/^CHILD netflood nonce=f1 pid=\d+ exit=0$/));
        const done = victim.find((l) => l.startsWith("FLOOD-DONE"));
        const sent = Number(/sent=(\d+)/.exec(done ?? "")?.[1]);
        expect(sent, done).toBeGreaterThan(0);
        expect(sent).toBeLessThanOrEqual(NETFLOOD.pps * NETFLOOD.seconds);
        const reachedB = tapTxPackets(net.netns, "ezt1") - before;
        console.log(`netflood link ${enabled ? "on" : "off"}: ${done}; B's tap carried ${reachedB} packets`);
        // On: most datagrams the victim's kernel took reached B. Off: B's tap is not on the bridge; only
        // the namespace's own chatter on the tap (an IPv6 solicitation) may show, never the flood.
        if (enabled) expect(reachedB).toBeGreaterThan(sent / 2);
        else expect(reachedB).toBeLessThan(100);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
      expect(leftovers(`flood-test-${process.pid}`), "processes left by the test").toEqual([]);
    }, 180_000);
  }

  it("outside a cell, a netflood floods the guest's own loopback and is contained", async () => {
    const r = await runChecked(testPlan(new QemuBackend({ accel: "tcg" }), image, "netflood"));
    expect(r.evidence.proof, r.verdict.reasons.join("; ")).toBe(true);
    expectOutcome(r, "contained-limited");
  }, 120_000);
});
