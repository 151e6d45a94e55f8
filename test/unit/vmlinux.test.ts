import { describe, expect, it } from "vitest";
import { bzImagePayload, hasPvhEntry } from "../../src/guest/vmlinux.js";

/** A minimal bzImage: setup header (boot protocol 2.15) and an xz-looking payload after 2 setup sectors. */
function bzImage(magic: number[], version = 0x20f): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt8(1, 0x1f1); // setup_sects: the protected-mode code starts at (1 + 1) * 512
  b.write("HdrS", 0x202, "latin1");
  b.writeUInt16LE(version, 0x206);
  b.writeUInt32LE(100, 0x248); // payload_offset, from the protected-mode code
  b.writeUInt32LE(200, 0x24c); // payload_length
  Buffer.from(magic).copy(b, 1024 + 100);
  return b;
}

/** An ELF64 with one PT_NOTE segment holding the given notes (name, type). */
function elf(notes: [string, number][]): Buffer {
  const body = Buffer.concat(
    notes.map(([name, type]) => {
      const n = Buffer.alloc(12 + ((name.length + 1 + 3) & ~3) + 4);
      n.writeUInt32LE(name.length + 1, 0);
      n.writeUInt32LE(4, 4);
      n.writeUInt32LE(type, 8);
      n.write(name, 12, "latin1");
      return n;
    }),
  );
  const h = Buffer.alloc(64 + 56);
  h.writeUInt32BE(0x7f454c46, 0);
  h[4] = 2; // 64-bit
  h[5] = 1; // little endian
  h.writeBigUInt64LE(64n, 0x20); // e_phoff
  h.writeUInt16LE(56, 0x36);
  h.writeUInt16LE(1, 0x38);
  h.writeUInt32LE(4, 64); // PT_NOTE
  h.writeBigUInt64LE(BigInt(h.length), 64 + 8); // p_offset
  h.writeBigUInt64LE(BigInt(body.length), 64 + 32); // p_filesz
  return Buffer.concat([h, body]);
}

describe("bzImage payload", () => {
  it("is found through the setup header and named by its magic", () => {
    expect(bzImagePayload(bzImage([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toEqual({
      offset: 1124,
      length: 200,
      format: "xz",
    });
    expect(bzImagePayload(bzImage([0x28, 0xb5, 0x2f, 0xfd]))?.format).toBe("zstd");
  });

  it("is refused for an unknown compression, an old boot protocol or a file that is no bzImage", () => {
    expect(bzImagePayload(bzImage([0x02, 0x21, 0x4c, 0x18]))).toBeNull(); // lz4: no decompressor here
    expect(bzImagePayload(bzImage([0x1f, 0x8b], 0x207))).toBeNull();
    expect(bzImagePayload(Buffer.from("MZ not a kernel"))).toBeNull();
  });
});

describe("PVH entry note", () => {
  it("is the Xen note of type 18 (PHYS32_ENTRY) among the others", () => {
    expect(
      hasPvhEntry(
        elf([
          ["Xen", 6],
          ["GNU", 3],
          ["Xen", 18],
        ]),
      ),
    ).toBe(true);
    expect(
      hasPvhEntry(
        elf([
          ["Xen", 6],
          ["GNU", 18],
        ]),
      ),
    ).toBe(false);
    expect(
      hasPvhEntry(Buffer.from("not an elf at all, just text that is long enough to be read as one.....")),
    ).toBe(false);
  });
});
