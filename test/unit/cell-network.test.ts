import { describe, expect, it } from "vitest";
import {
  cellAddresses,
  dependencyPlans,
  floodTarget,
  injectArgs,
  linkBuildRefusal,
  netCommand,
} from "../../src/backends/links/cell-network.js";
import { linkHostRefusal } from "../../src/backends/links/link-host.js";
import { bridgeCommands } from "../../src/backends/links/private-network.js";
import type { CompositionParams, LinkParams } from "../../src/model/composition.js";

function cell(links: LinkParams[], peers = ["b"]): CompositionParams {
  return { peers: peers.map((name) => ({ name, backend: "qemu-tcg" })), links, limits: false };
}
const dep = (enabled: boolean): LinkParams => ({ kind: "depends-on", from: "b", to: "victim", enabled });
const net = (enabled: boolean, from = "b"): LinkParams => ({ kind: "network", from, to: "victim", enabled });

describe("a cell's network plan", () => {
  it("aims a netflood at the victim's peer on an enabled network link, else at its own loopback", () => {
    expect(floodTarget(cell([net(true, "c")], ["b", "c"]))).toBe("10.77.0.12:7078");
    expect(floodTarget(cell([{ kind: "network", from: "victim", to: "b", enabled: true }]))).toBe(
      "10.77.0.11:7078",
    );
    // The toggle: the link cut (the dependency keeps the bridge), a link between peers only, no cell.
    expect(floodTarget(cell([net(false), dep(true)]))).toBe("127.0.0.1:7078");
    expect(floodTarget(cell([{ kind: "network", from: "b", to: "c", enabled: true }], ["b", "c"]))).toBe(
      "127.0.0.1:7078",
    );
    expect(floodTarget(undefined)).toBe("127.0.0.1:7078");
    expect(injectArgs("netflood", cell([net(true)]))).toBe(" to=10.77.0.11:7078 pps=8000 seconds=8");
    expect(injectArgs("kerncrash", cell([net(true)]))).toBe("");
  });

  it("gives every member its own address, MAC and tap, the victim first", () => {
    const a = cellAddresses(cell([net(true)], ["b", "c"]));
    expect(a.map((x) => [x.name, x.ip, x.mac, x.tap])).toEqual([
      ["victim", "10.77.0.10", "52:54:00:77:00:0a", "ezt0"],
      ["b", "10.77.0.11", "52:54:00:77:00:0b", "ezt1"],
      ["c", "10.77.0.12", "52:54:00:77:00:0c", "ezt2"],
    ]);
    expect(new Set(a.map((x) => x.mac)).size).toBe(3);
    expect(netCommand(a[1] as (typeof a)[number])).toBe("NET 10.77.0.11/24 52:54:00:77:00:0b");
  });

  it("bridges only the members of an enabled network link or of a dependency (on or off)", () => {
    expect(cellAddresses(cell([net(true)], ["b", "c"])).map((x) => x.bridged)).toEqual([true, true, false]);
    // The network link's toggle: NICs stay (same device set, same load), the bridge port goes.
    expect(cellAddresses(cell([net(false)])).map((x) => x.bridged)).toEqual([false, false]);
    // The dependency's toggle moves the service, never the bridge.
    expect(cellAddresses(cell([dep(false)])).map((x) => x.bridged)).toEqual([true, true]);
  });

  it("needs no network without network or dependency links", () => {
    expect(cellAddresses(cell([]))).toEqual([]);
  });

  it("a dependency asks the victim's service, or its own local copy when toggled off", () => {
    const timing = { periodMs: 200, lateMs: 500 };
    expect(dependencyPlans(cell([dep(true)]), timing)).toEqual([
      { from: "b", to: "victim", serve: "SERVE 7077", depend: "DEPEND 10.77.0.10:7077 200 500 remote" },
    ]);
    expect(dependencyPlans(cell([dep(false)]), timing)[0]?.depend).toBe(
      "DEPEND 10.77.0.10:7077 200 500 local",
    );
  });
});

describe("links that cannot be built are refused with the reason", () => {
  const qemu = () => ({ name: "qemu-tcg", nic: true });
  it("accepts NICs on both ends", () => {
    expect(linkBuildRefusal(cell([net(true), dep(true)]), qemu)).toBeNull();
  });
  it("names a backend without a NIC", () => {
    const native = (m: string) => (m === "b" ? { name: "native", nic: false } : qemu());
    expect(linkBuildRefusal(cell([dep(true)]), native)).toBe(
      'link depends-on b -> victim: backend native of "b" has no NIC',
    );
  });
  it("names an unknown enclave and a link to itself", () => {
    expect(linkBuildRefusal(cell([net(true, "x")]), qemu)).toBe(
      'link network x -> victim: no enclave named "x" in the cell',
    );
    expect(linkBuildRefusal(cell([{ kind: "network", from: "b", to: "b", enabled: true }]), qemu)).toMatch(
      /cannot link to itself/,
    );
  });
  it("refuses shared storage, which is not built", () => {
    const link: LinkParams = { kind: "shared-storage", from: "b", to: "victim", enabled: true };
    expect(linkBuildRefusal(cell([link]), qemu)).toMatch(/shared-storage.*not built/);
  });
});

describe("the host's side of the links", () => {
  const all = { ip: true, unshare: true, nsenter: true };
  const root = "000001fffeffffff";
  it("accepts root with the tools and /dev/net/tun", () => {
    expect(linkHostRefusal({ tools: all, capEff: root, tun: true })).toBeNull();
  });
  it("names the missing tool, capability or device", () => {
    expect(linkHostRefusal({ tools: { ...all, nsenter: false }, capEff: root, tun: true })).toMatch(
      /need nsenter on PATH/,
    );
    expect(linkHostRefusal({ tools: all, capEff: "0000000000000000", tun: true })).toMatch(/CAP_NET_ADMIN/);
    // CAP_NET_ADMIN (bit 12) without CAP_SYS_ADMIN (bit 21): no unshare --net.
    expect(linkHostRefusal({ tools: all, capEff: "0000000000001000", tun: true })).toMatch(/CAP_SYS_ADMIN/);
    expect(linkHostRefusal({ tools: all, capEff: null, tun: true })).toMatch(/CapEff unknown/);
    expect(linkHostRefusal({ tools: all, capEff: root, tun: false })).toMatch(/\/dev\/net\/tun/);
  });
});

describe("the namespace's bridge", () => {
  it("makes the bridge without forwarding delay and puts only bridged taps on it", () => {
    expect(
      bridgeCommands([
        { tap: "ezt0", bridged: true },
        { tap: "ezt1", bridged: false },
      ]),
    ).toEqual([
      "ip link set lo up",
      "ip link add br0 type bridge stp_state 0 forward_delay 0",
      "ip link set br0 up",
      "ip tuntap add dev ezt0 mode tap",
      "ip link set ezt0 master br0",
      "ip link set ezt0 up",
      "ip tuntap add dev ezt1 mode tap",
      "ip link set ezt1 up",
    ]);
  });
  it("refuses a tap name that is not a plain interface name", () => {
    expect(() => bridgeCommands([{ tap: "x; reboot", bridged: true }])).toThrow(RangeError);
  });
});
