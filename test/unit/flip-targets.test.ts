import { describe, expect, it } from "vitest";
import {
  KERNEL_DATA_TARGETS,
  KERNEL_TEXT_TARGETS,
  type KernelSymbols,
  kernelImage,
  kernelObject,
  kernelSymbolNames,
  kernelSymbolsFromStored,
  storedKernelSymbols,
} from "../../src/model/kernel-symbols.js";
import { chooseFlip, softTargetZone } from "../../src/model/soft-error.js";
import { reportedKernelSymbols } from "../../src/monitor/kallsyms-lines.js";
import { parkedWorkload } from "../../src/monitor/soft-lines.js";

const SEEDS = ["0123456789abcdef", "ffffffffffffffff", "0000000000000000", "9a3c", "deadbeefcafef00d"];

/** A kernel linked at 0xffffffff81000000, loaded 32 MiB higher than its link address (phys_base 0x2000000). */
const kernel: KernelSymbols = {
  kernelCode: 0x300_0000n,
  symbols: [
    { name: "_text", address: 0xffff_ffff_8100_0000n, next: 0xffff_ffff_8100_0040n },
    { name: "_end", address: 0xffff_ffff_8380_0000n, next: 0n },
    ...[...KERNEL_TEXT_TARGETS, ...KERNEL_DATA_TARGETS].map((t, i) => ({
      name: t.name,
      address: 0xffff_ffff_8110_0000n + BigInt(i) * 0x1000n,
      next: 0xffff_ffff_8110_0000n + BigInt(i) * 0x1000n + 0x200n,
    })),
  ],
};

describe("kernel address arithmetic", () => {
  it("derives phys_base from the kernel code's physical start and _text", () => {
    expect(kernelImage(kernel).physBase).toBe(0x200_0000n);
  });

  it("translates a symbol by __START_KERNEL_map and phys_base, up to the next symbol", () => {
    const o = kernelObject(kernel, { name: "do_syscall_64" });
    expect(o).toEqual({
      name: "do_syscall_64",
      virtual: 0xffff_ffff_8110_0000n,
      physical: 0x310_0000n,
      bytes: 0x200,
    });
    expect(kernelObject(kernel, { name: "jiffies_64", maxBytes: 8 }).bytes).toBe(8);
  });

  it.each<[string, (k: KernelSymbols) => KernelSymbols, RegExp]>([
    [
      "a symbol the guest lacks",
      (k) => ({ ...k, symbols: k.symbols.filter((s) => s.name !== "do_syscall_64") }),
      /do_syscall_64 is not in the guest's \/proc\/kallsyms/,
    ],
    ["no physical start", (k) => ({ ...k, kernelCode: 0n }), /no physical start/],
    [
      "a symbol outside the kernel image (a module's)",
      (k) =>
        withSymbol(k, {
          name: "do_syscall_64",
          address: 0xffff_ffff_c000_1000n,
          next: 0xffff_ffff_c000_2000n,
        }),
      /outside the kernel image/,
    ],
    [
      "a symbol with no next symbol",
      (k) => withSymbol(k, { name: "do_syscall_64", address: 0xffff_ffff_8110_0000n, next: 0n }),
      /extent to the next symbol/,
    ],
    [
      "a symbol larger than 64 KiB",
      (k) =>
        withSymbol(k, {
          name: "do_syscall_64",
          address: 0xffff_ffff_8110_0000n,
          next: 0xffff_ffff_8120_0000n,
        }),
      /extent to the next symbol/,
    ],
    [
      "an image outside the kernel map (kptr_restrict zeroes)",
      (k) => withSymbol(k, { name: "_text", address: 0n, next: 0n }),
      /not in the kernel map/,
    ],
  ])("refuses %s", (_, change, message) => {
    expect(() => kernelObject(change(kernel), { name: "do_syscall_64" })).toThrow(message);
  });
});

function withSymbol(k: KernelSymbols, s: KernelSymbols["symbols"][number]): KernelSymbols {
  return { ...k, symbols: [...k.symbols.filter((x) => x.name !== s.name), s] };
}

describe("chooseFlip for the stack, code and kernel targets", () => {
  const parked = {
    physical: 0x2_1af5_000n,
    length: 4096,
    stack: { physical: 0x3_0000_000n, length: 4096 },
    code: { physical: 0x4_0000_000n, length: 458 },
  };

  it.each(["stack", "code"] as const)(
    "keeps a %s flip inside its region, the same for the same seed",
    (target) => {
      for (const seed of SEEDS) {
        const f = chooseFlip(seed, { target }, parked);
        if (f.kind !== "memory") throw new Error("a memory flip expected");
        const r = parked[target];
        expect(f.address >= r.physical && f.address < r.physical + BigInt(r.length)).toBe(true);
        expect(f.bit).toBeLessThan(8);
        expect(chooseFlip(seed, { target }, parked)).toEqual(f);
      }
    },
  );

  it("refuses a region the workload did not report", () => {
    expect(() => chooseFlip("01", { target: "stack" }, { physical: 0x1000n, length: 4096 })).toThrow(
      /no stack region/,
    );
  });

  it.each([
    ["kernel-text", KERNEL_TEXT_TARGETS],
    ["kernel-data", KERNEL_DATA_TARGETS],
  ] as const)("puts a %s flip inside a listed symbol, virtual and physical agreeing", (target, list) => {
    for (const seed of SEEDS) {
      const f = chooseFlip(seed, { target }, parked, kernel);
      if (f.kind !== "memory" || !f.kernel) throw new Error("a kernel memory flip expected");
      expect(list.map((t) => t.name)).toContain(f.kernel.symbol);
      const o = kernelObject(kernel, list.find((t) => t.name === f.kernel?.symbol) ?? { name: "" });
      expect(f.kernel.offset).toBeLessThan(o.bytes);
      expect(f.address).toBe(o.physical + BigInt(f.kernel.offset));
      expect(f.kernel.virtual).toBe(o.virtual + BigInt(f.kernel.offset));
    }
  });

  it("needs the kernel's symbols for a kernel target", () => {
    expect(() => chooseFlip("01", { target: "kernel-text" }, parked)).toThrow(
      /needs the guest kernel's symbols/,
    );
  });

  it("gives kernel flips zone 3 and the workload's zone 4", () => {
    expect(softTargetZone("kernel-text")).toBe(3);
    expect(softTargetZone("kernel-data")).toBe(3);
    expect(softTargetZone("stack")).toBe(4);
    expect(softTargetZone("registers")).toBe(4);
  });
});

describe("the workload's kallsyms lines", () => {
  const lines = [
    "SOFT-KSYM nonce=n1 name=_text addr=0xffffffff81000000 next=0xffffffff81000040",
    "SOFT-KSYM nonce=other name=_end addr=0xffffffff83800000 next=0x0",
    "SOFT-KSYM nonce=n1 name=_end addr=0xffffffff83800000 next=0x0",
    "SOFT-KSYM nonce=n1 name=_text addr=0x1 next=0x2",
    "SOFT-KSYM nonce=n1 name=bad<name> addr=0x1 next=0x2",
    "SOFT-KSYM nonce=n1 name=x addr=0x11111111111111111 next=0x2",
    "SOFT-KSYMS-END nonce=n1 found=2 kernel_code=0x3000000",
    "",
  ].join("\r\n");

  it("reads the run's symbols once the end line is whole; the first of a name counts", () => {
    expect(reportedKernelSymbols(lines, "n1")).toEqual({
      kernelCode: 0x300_0000n,
      symbols: [
        { name: "_text", address: 0xffff_ffff_8100_0000n, next: 0xffff_ffff_8100_0040n },
        { name: "_end", address: 0xffff_ffff_8380_0000n, next: 0n },
      ],
    });
    expect(reportedKernelSymbols(lines, "other")).toBeNull();
    expect(reportedKernelSymbols(lines.slice(0, -3), "n1")).toBeNull();
  });

  it("takes at most 64 symbols from a flood", () => {
    const flood = Array.from(
      { length: 5000 },
      (_, i) => `SOFT-KSYM nonce=n1 name=s${i} addr=0x${i} next=0x0`,
    );
    const k = reportedKernelSymbols(
      `${flood.join("\n")}\nSOFT-KSYMS-END nonce=n1 found=1 kernel_code=0x1\n`,
      "n1",
    );
    expect(k?.symbols).toHaveLength(64);
  });

  it("asks for the image's bounds and every listed symbol, within one agent line", () => {
    const names = kernelSymbolNames();
    expect(names.slice(0, 2)).toEqual(["_text", "_end"]);
    expect(names.length).toBeLessThanOrEqual(16);
    expect(names.join(",").length).toBeLessThan(400);
  });

  it("reads the stack and code regions of SOFT-PARKED, and the older line without them", () => {
    const line =
      "SOFT-PARKED nonce=n1 pid=9 phys=0x21af5000 len=4096 stack=0x3000000 stack_len=4096 code=0x4000000 code_len=458\n";
    expect(parkedWorkload(line, "n1")).toEqual({
      physical: 0x21af5000n,
      length: 4096,
      stack: { physical: 0x3000000n, length: 4096 },
      code: { physical: 0x4000000n, length: 458 },
    });
    expect(parkedWorkload("SOFT-PARKED nonce=n1 pid=9 phys=0x1000 len=4096\n", "n1")).toEqual({
      physical: 0x1000n,
      length: 4096,
    });
  });
});

describe("stored kernel symbols", () => {
  it("round-trip through their stored form", () => {
    expect(kernelSymbolsFromStored(JSON.parse(JSON.stringify(storedKernelSymbols(kernel))))).toEqual(kernel);
  });

  it.each([
    ["not an object", 7],
    ["a bad address", { kernelCode: "1", symbols: [{ name: "_text", address: "0xzz", next: "0" }] }],
    ["a bad name", { kernelCode: "1", symbols: [{ name: "a b", address: "1", next: "0" }] }],
    [
      "too many symbols",
      { kernelCode: "1", symbols: Array(65).fill({ name: "a", address: "1", next: "0" }) },
    ],
    ["no kernel code", { symbols: [] }],
  ])("are read again when the file holds %s", (_, v) => {
    expect(kernelSymbolsFromStored(v)).toBeNull();
  });
});
