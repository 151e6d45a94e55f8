import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bwrapArgv } from "../../src/backends/container.js";
import { type BACKEND_NAMES, createBackend } from "../../src/backends/index.js";
import { nativeArgv } from "../../src/backends/native.js";
import { NESTED_QEMU_REFUSAL } from "../../src/backends/support.js";
import { placementVariants } from "../../src/campaign/placement-variants.js";
import { NO_DISPOSABLE_HOST, planSlots } from "../../src/campaign/plan-slots.js";
import { campaignSchema } from "../../src/campaign/schema.js";
import { FAULT_NAMES, type FaultName, faultModule, faultSpec } from "../../src/faults/catalogue.js";
import { Store } from "../../src/store/store.js";
import { SETPRIV } from "../../src/util/child.js";
import { NO_IMAGE } from "../helpers/replay.js";

const backend = (name: (typeof BACKEND_NAMES)[number]) => createBackend({ name, type: name, exec: null });
const ZONE1 = FAULT_NAMES.filter((f) => faultSpec(f).zone === 1);
const inDisposable = (f: FaultName) => ({ ...faultSpec(f), placement: "disposable" as const });

describe("the zone-1 catalogue", () => {
  it("has four faults that take the host down and two it survives, each naming its module", () => {
    expect(ZONE1.sort()).toEqual([
      "host-cpuhog",
      "host-kerncrash",
      "host-kpanic",
      "host-memleak",
      "host-nullderef",
      "host-softlockup",
    ]);
    expect(ZONE1.filter((f) => faultSpec(f).panics !== true).sort()).toEqual(["host-cpuhog", "host-memleak"]);
    expect(ZONE1.map(faultModule)).toEqual([
      "cpuhog",
      "kerncrash",
      "kpanic",
      "memleak",
      "nullderef",
      "softlockup",
    ]);
    for (const f of ZONE1) expect(faultSpec(f).proof, f).toMatch(/disposable host's console/);
    expect(faultModule("kerncrash")).toBe("kerncrash");
  });

  it("loads only modules the image builds (Kbuild), the twins' included", () => {
    const built = [
      ...readFileSync("src/guest/modules/Kbuild", "utf8").matchAll(/^obj-m \+= (\w+)\.o$/gm),
    ].map((m) => m[1]);
    for (const f of [...ZONE1, "cpuhog", "memleak"] as FaultName[])
      expect(built, f).toContain(faultModule(f));
    expect(faultSpec("cpuhog").twinOf).toBe("host-cpuhog");
    expect(faultSpec("memleak").twinOf).toBe("host-memleak");
  });
});

describe("supports(fault) by placement", () => {
  it.each(["native", "container", "gvisor", "uml"] as const)(
    "%s takes every zone-1 fault in a disposable host and none on the real host",
    (name) => {
      for (const f of ZONE1) {
        expect(backend(name).supports(inDisposable(f)), f).toEqual({ supported: true });
        const real = backend(name).supports(faultSpec(f));
        expect(real.supported, f).toBe(false);
        if (!real.supported) expect(real.reason).toMatch(/host: disposable/);
      }
    },
  );

  it.each(["qemu-tcg", "kvm"] as const)(
    "%s is refused in the disposable host with the nested-QEMU figure",
    (name) => {
      expect(backend(name).supports(inDisposable("host-kerncrash"))).toEqual({
        supported: false,
        reason: NESTED_QEMU_REFUSAL,
      });
      expect(NESTED_QEMU_REFUSAL).toMatch(/^QEMU inside the TCG host VM: /);
    },
  );

  it.each(["native", "container"] as const)(
    "%s takes zone-3 faults (modules and sysrq-c) only in a disposable host, and memory exhaustion there",
    (name) => {
      for (const f of ["kerncrash", "sysrq-c", "cpuhog", "oomhog"] as const) {
        expect(backend(name).supports(inDisposable(f)), f).toEqual({ supported: true });
        expect(backend(name).supports(faultSpec(f)).supported, f).toBe(false);
      }
    },
  );

  it("gVisor's zone 3 stays the Sentry's, in a disposable host too", () => {
    for (const f of ["kerncrash", "sysrq-c"] as const)
      expect(backend("gvisor").supports(inDisposable(f)).supported, f).toBe(false);
  });

  it("ezone's host-side (zone-2) actions are not offered inside a disposable host", () => {
    const s = backend("native").supports(inDisposable("vmm-sigkill"));
    expect(s).toEqual({ supported: false, reason: expect.stringMatching(/out of its reach/) });
  });
});

describe("cells of a backend entry: host and privileges", () => {
  const native = backend("native");

  it("host: real refuses what the real host must not take; disposable places every cell there", () => {
    expect(placementVariants(native, { type: "native" }, "kerncrash")).toEqual({
      refused: expect.stringMatching(/zone 3 ≡ zone 1/),
    });
    expect(placementVariants(native, { type: "native" }, "segfault")).toEqual({ variants: [{}] });
    expect(placementVariants(native, { type: "native", host: "disposable" }, "segfault")).toEqual({
      variants: [{ host: "disposable" }],
    });
  });

  it("host: auto keeps what the real host takes there and moves zone 1, zone 3 and native's bounded faults", () => {
    const auto = { type: "native", host: "auto" } as const;
    expect(placementVariants(native, auto, "segfault")).toEqual({ variants: [{}] });
    expect(placementVariants(native, auto, "vmm-sigkill")).toEqual({ variants: [{}] });
    for (const f of ["host-kerncrash", "kerncrash", "forkbomb", "oomhog"] as const)
      expect(placementVariants(native, auto, f), f).toEqual({ variants: [{ host: "disposable" }] });
    // A container's fork bomb is bounded by its own pid namespace: it stays on the real host.
    expect(placementVariants(backend("container"), { type: "container", host: "auto" }, "forkbomb")).toEqual({
      variants: [{}],
    });
    expect(
      placementVariants(backend("qemu-tcg"), { type: "qemu-tcg", host: "auto" }, "host-kerncrash"),
    ).toEqual({
      refused: NESTED_QEMU_REFUSAL,
    });
  });

  it("privileges: both makes two cells of a zone-3 fault and one of any other", () => {
    const both = { type: "container", host: "auto", privileges: "both" } as const;
    expect(placementVariants(backend("container"), both, "sysrq-c")).toEqual({
      variants: [
        { host: "disposable", privileges: "privileged" },
        { host: "disposable", privileges: "unprivileged" },
      ],
    });
    expect(placementVariants(backend("container"), both, "segfault")).toEqual({ variants: [{}] });
    expect(placementVariants(backend("container"), both, "host-kpanic")).toEqual({
      variants: [{ host: "disposable" }],
    });
    expect(
      placementVariants(backend("container"), { type: "container", privileges: "unprivileged" }, "segfault"),
    ).toEqual({ variants: [{ privileges: "unprivileged" }] });
  });
});

describe("planSlots with a disposable host", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const config = campaignSchema.parse({
    name: "dh",
    backends: [{ name: "n", type: "native", host: "auto", privileges: "both" }],
    faults: ["segfault", "kerncrash"],
  });

  async function plan(disposableHost: boolean) {
    dir = mkdtempSync(join(tmpdir(), "ezone-placement-"));
    using store = Store.open(dir);
    store.ensureCampaign("dh", "{}", "h");
    const loaded = { config, resultsDir: dir, text: "", file: join(dir, "dh.yaml") };
    const { slots } = await planSlots(loaded, store, {
      image: NO_IMAGE,
      signal: AbortSignal.timeout(5_000),
      log: () => {},
      disposableHost,
    });
    return { slots, statements: store.statements("dh") };
  }

  it("runs the disposable host's cells under their own keys, one per privilege", async () => {
    const { slots } = await plan(true);
    expect(slots.map((s) => [s.fault, s.params.host, s.params.privileges])).toEqual([
      ["segfault", undefined, undefined],
      ["kerncrash", "disposable", "privileged"],
      ["kerncrash", "disposable", "unprivileged"],
    ]);
    const keys = new Set(slots.map((s) => s.cell.keyPrefix));
    expect(keys.size).toBe(3);
    // A disposable host keeps both cores of a small machine busy: its runs have the machine alone.
    expect(slots.map((s) => s.exclusive)).toEqual([false, true, true]);
  });

  it("without a disposable host runtime, its cells are refused, never run on the real host", async () => {
    const { slots, statements } = await plan(false);
    expect(slots.map((s) => s.fault)).toEqual(["segfault"]);
    expect(statements).toContainEqual(
      expect.objectContaining({
        backend: "n",
        fault: "kerncrash",
        kind: "refused",
        reason: NO_DISPOSABLE_HOST,
      }),
    );
  });
});

describe("privilege command lines", () => {
  it("bwrap: privileged adds CAP_SYS_MODULE, sysrq-trigger and kmsg; unprivileged drops every capability", () => {
    const priv = bwrapArgv("/r", "t", ["/a"], "privileged").join(" ");
    expect(priv).toContain("--cap-add CAP_SYS_MODULE");
    expect(priv).toContain("--bind /proc/sysrq-trigger /proc/sysrq-trigger");
    expect(priv).toContain("--dev-bind /dev/kmsg /dev/kmsg");
    // The bind must come after the fresh /proc, which it covers.
    expect(priv.indexOf("--bind /proc/sysrq-trigger")).toBeGreaterThan(priv.indexOf("--proc /proc"));
    const unpriv = bwrapArgv("/r", "t", ["/a"], "unprivileged").join(" ");
    expect(unpriv).toContain("--cap-drop ALL");
    expect(unpriv).not.toMatch(/--cap-add|sysrq|kmsg/);
    expect(bwrapArgv("/r", "t", ["/a"])).toEqual(bwrapArgv("/r", "t", ["/a"], undefined));
    expect(bwrapArgv("/r", "t", ["/a"]).join(" ")).not.toMatch(/--cap-/);
  });

  it("native: unprivileged as root becomes nobody with no capability, no_new_privs and its own pdeathsig", () => {
    expect(nativeArgv("/a", "x=1", undefined, 0)).toEqual(["/a", "--cmdline", "x=1"]);
    expect(nativeArgv("/a", "x=1", "privileged", 0)).toEqual(["/a", "--cmdline", "x=1"]);
    const tail = ["--no-new-privs", "--pdeathsig", "KILL", "--", "/a", "--cmdline", "x=1"];
    const drop = [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
    ];
    expect(nativeArgv("/a", "x=1", "unprivileged", 0)).toEqual([SETPRIV, ...drop, ...tail]);
    // Not root: no capability to drop, no user to change to.
    expect(nativeArgv("/a", "x=1", "unprivileged", 1000)).toEqual([SETPRIV, ...tail]);
  });
});
