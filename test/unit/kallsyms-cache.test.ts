import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KALLSYMS_FILE, symbolsBesideSnapshot } from "../../src/campaign/kallsyms-cache.js";
import type { KernelSymbols } from "../../src/model/kernel-symbols.js";

const symbols: KernelSymbols = {
  kernelCode: 0x100_0000n,
  symbols: [{ name: "_text", address: 0xffff_ffff_8100_0000n, next: 0xffff_ffff_8100_0070n }],
};

describe("kernel symbols beside a snapshot", () => {
  let dir: string;
  let reads: number;
  const read = async () => {
    reads++;
    return symbols;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ezone-kallsyms-"));
    reads = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the guest once, stores the answer, and every later run reads the file", async () => {
    expect(await symbolsBesideSnapshot(dir, read)).toEqual(symbols);
    expect(JSON.parse(readFileSync(join(dir, KALLSYMS_FILE), "utf8")).kernelCode).toBe("1000000");
    expect(await symbolsBesideSnapshot(dir, read)).toEqual(symbols);
    expect(reads).toBe(1);
  });

  it("shares one read among concurrent runs", async () => {
    const all = await Promise.all([1, 2, 3].map(() => symbolsBesideSnapshot(dir, read)));
    expect(all).toEqual([symbols, symbols, symbols]);
    expect(reads).toBe(1);
  });

  it("reads the guest again when the stored file is not the stored shape", async () => {
    writeFileSync(join(dir, KALLSYMS_FILE), '{"kernelCode": "zz"');
    expect(await symbolsBesideSnapshot(dir, read)).toEqual(symbols);
    expect(reads).toBe(1);
  });

  it("stores nothing when the read fails, and the next run reads again", async () => {
    await expect(symbolsBesideSnapshot(dir, () => Promise.reject(new Error("no answer")))).rejects.toThrow(
      "no answer",
    );
    expect(await symbolsBesideSnapshot(dir, read)).toEqual(symbols);
    expect(reads).toBe(1);
  });

  it("is an infra-error of flip.kallsyms when the answer cannot be stored", async () => {
    await expect(symbolsBesideSnapshot(join(dir, "missing"), read)).rejects.toThrow(
      /flip\.kallsyms.*cannot store the kernel's symbols/,
    );
  });
});
