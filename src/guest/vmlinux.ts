/**
 * The uncompressed kernel inside a bzImage, for PVH boots: QEMU jumps straight to the ELF's PVH entry, so
 * the guest neither runs firmware's Linux loader nor decompresses itself. Under TCG the self-decompression
 * of Debian's XZ kernel alone takes ~2.7 s of a ~5 s boot to READY.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { runTool } from "../util/child.js";

/** Compressions a bzImage payload may use, by magic, with the command that decompresses it to stdout. */
const DECOMPRESSORS: { name: string; magic: number[]; argv: string[] }[] = [
  { name: "xz", magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], argv: ["xz", "-dc", "--single-stream"] },
  { name: "gzip", magic: [0x1f, 0x8b], argv: ["gzip", "-dc"] },
  { name: "zstd", magic: [0x28, 0xb5, 0x2f, 0xfd], argv: ["zstd", "-dc"] },
];

/** Where a bzImage keeps its compressed kernel (boot protocol ≥ 2.08: payload_offset/length). */
export function bzImagePayload(bz: Buffer): { offset: number; length: number; format: string } | null {
  if (bz.length < 0x250 || bz.toString("latin1", 0x202, 0x206) !== "HdrS") return null;
  if (bz.readUInt16LE(0x206) < 0x208) return null;
  const setupSects = bz.readUInt8(0x1f1) || 4;
  const offset = (setupSects + 1) * 512 + bz.readUInt32LE(0x248);
  const length = bz.readUInt32LE(0x24c);
  if (offset + length > bz.length || length === 0) return null;
  const format = DECOMPRESSORS.find((d) => d.magic.every((b, i) => bz[offset + i] === b))?.name;
  return format ? { offset, length, format } : null;
}

const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point a PVH loader (QEMU's too) jumps to. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** Whether an ELF64 kernel carries a PVH entry note ("Xen", type 18) in one of its PT_NOTE segments. */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(elf.length, start + Number(elf.readBigUInt64LE(ph + 32)));
    for (let at = start; at + 12 <= end; ) {
      const namesz = elf.readUInt32LE(at);
      const descsz = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString("latin1", at + 12, at + 12 + Math.max(0, namesz - 1));
      if (name === "Xen" && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Decompress `bzImage`'s kernel to `out` if it is an ELF with a PVH entry; otherwise (unknown compression,
 * no PVH note, no decompressor installed) leave nothing behind and say why, so the caller boots the bzImage.
 */
export async function extractPvhKernel(
  bzImage: string,
  out: string,
  signal?: AbortSignal,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const bz = await readFile(bzImage);
  const payload = bzImagePayload(bz);
  if (!payload) return { ok: false, reason: `${bzImage}: no bzImage payload of a known compression` };
  const argv = DECOMPRESSORS.find((d) => d.name === payload.format)?.argv ?? [];
  const compressed = `${out}.${payload.format}`;
  try {
    await writeFile(compressed, bz.subarray(payload.offset, payload.offset + payload.length));
    const r = await runTool(["sh", "-c", `${argv.join(" ")} "$1" > "$2"`, "sh", compressed, out], {
      signal,
      timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`${argv[0]} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
    if (!hasPvhEntry(await readFile(out))) throw new Error("the kernel has no PVH entry (CONFIG_PVH)");
    return { ok: true };
  } catch (e) {
    await rm(out, { force: true });
    return { ok: false, reason: `${bzImage}: ${(e as Error).message}` };
  } finally {
    await rm(compressed, { force: true });
  }
}
