/**
 * A minimal writer for the kernel's initramfs format (cpio "newc"). Written here rather than shelling out
 * to cpio(1) so that device nodes need no root and the archive is byte-for-byte reproducible (sorted
 * entries, mtime 0, uid/gid 0), which makes the image's content hash stable.
 */
export type CpioEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; data: Buffer; mode?: number }
  | { type: "symlink"; path: string; target: string }
  | { type: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function header(fields: number[], name: string): Buffer {
  const hex = fields.map((f) => f.toString(16).padStart(8, "0")).join("");
  const nameBuf = Buffer.from(`${name}\0`, "utf8");
  const head = Buffer.concat([Buffer.from(`070701${hex}`, "ascii"), nameBuf]);
  return Buffer.concat([head, Buffer.alloc(pad4(head.length))]);
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function record(
  ino: number,
  mode: number,
  data: Buffer,
  name: string,
  rdev: [number, number] = [0, 0],
): Buffer {
  const nameLen = Buffer.byteLength(name, "utf8") + 1;
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameLen, 0];
  return Buffer.concat([header(fields, name), data, Buffer.alloc(pad4(data.length))]);
}

/** Serialize entries (sorted by path so parents come first) into one newc archive. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts = sorted.map((e, i) => {
    const [mode, data, rdev] = entryFields(e);
    return record(i + 1, mode, data, e.path.replace(/^\/+/, ""), rdev);
  });
  parts.push(record(0, 0, Buffer.alloc(0), "TRAILER!!!"));
  return Buffer.concat(parts);
}

function entryFields(e: CpioEntry): [number, Buffer, [number, number]] {
  const none = Buffer.alloc(0);
  switch (e.type) {
    case "dir":
      return [S_IFDIR | (e.mode ?? 0o755), none, [0, 0]];
    case "file":
      return [S_IFREG | (e.mode ?? 0o644), e.data, [0, 0]];
    case "symlink":
      return [S_IFLNK | 0o777, Buffer.from(e.target, "utf8"), [0, 0]];
    case "chardev":
      return [S_IFCHR | (e.mode ?? 0o600), none, [e.major, e.minor]];
  }
}

/** One member of a newc archive as read back: its path, type bits, permission bits and data. */
export interface CpioMember {
  path: string;
  /** The full st_mode (type and permission bits). */
  mode: number;
  data: Buffer;
}

/**
 * Read a newc archive (as `writeCpio` produces, or any uncompressed newc). Used to lay the guest's
 * initramfs out as a root file system for enclaves that have no kernel of their own (container, gVisor).
 */
export function readCpio(archive: Buffer): CpioMember[] {
  const out: CpioMember[] = [];
  let off = 0;
  while (off + 110 <= archive.length) {
    const magic = archive.toString("ascii", off, off + 6);
    if (magic !== "070701" && magic !== "070702") throw new Error(`cpio: bad magic at offset ${off}`);
    const field = (i: number) =>
      Number.parseInt(archive.toString("ascii", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameLen = field(11);
    const nameStart = off + 110;
    const name = archive.toString("utf8", nameStart, nameStart + nameLen - 1);
    const dataStart = nameStart + nameLen + pad4(110 + nameLen);
    if (dataStart + size > archive.length) throw new Error(`cpio: ${name} runs past the end of the archive`);
    if (name === "TRAILER!!!") return out;
    out.push({ path: name, mode, data: archive.subarray(dataStart, dataStart + size) });
    off = dataStart + size + pad4(size);
  }
  throw new Error("cpio: no TRAILER!!! record");
}
