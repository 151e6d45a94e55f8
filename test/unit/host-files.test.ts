import { describe, expect, it } from "vitest";
import { onPath, parseLdd, withParents } from "../../src/guest/host-files.js";

describe("parseLdd", () => {
  it("keeps resolved libraries and the interpreter, skips the vdso", () => {
    const text = [
      "\tlinux-vdso.so.1 (0x00007f3e241e0000)",
      "\tlibcap.so.2 => /lib/x86_64-linux-gnu/libcap.so.2 (0x00007f3e24181000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3e23f9f000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f3e241e2000)",
    ].join("\n");
    expect(parseLdd(text)).toEqual([
      "/lib/x86_64-linux-gnu/libc.so.6",
      "/lib/x86_64-linux-gnu/libcap.so.2",
      "/lib64/ld-linux-x86-64.so.2",
    ]);
  });

  it("skips a library ldd could not find", () => {
    expect(parseLdd("\tlibgone.so.1 => not found\n")).toEqual([]);
  });
});

describe("withParents", () => {
  it("adds each missing ancestor once, relative to the root, and keeps explicit modes", () => {
    const out = withParents([
      { type: "file", path: "/usr/bin/bwrap", data: Buffer.from("x"), mode: 0o755 },
      { type: "file", path: "/usr/lib/libc.so.6", data: Buffer.from("y") },
      { type: "dir", path: "/tmp", mode: 0o1777 },
    ]);
    expect(out.map((e) => e.path).sort()).toEqual([
      "tmp",
      "usr",
      "usr/bin",
      "usr/bin/bwrap",
      "usr/lib",
      "usr/lib/libc.so.6",
    ]);
    expect(out.find((e) => e.path === "tmp")).toEqual({ type: "dir", path: "tmp", mode: 0o1777 });
  });

  it("lets an explicit directory replace one made up as a parent, and the first file win", () => {
    const out = withParents([
      { type: "file", path: "a/b", data: Buffer.from("first") },
      { type: "dir", path: "a", mode: 0o700 },
      { type: "file", path: "a/b", data: Buffer.from("second") },
    ]);
    expect(out).toEqual([
      { type: "dir", path: "a", mode: 0o700 },
      { type: "file", path: "a/b", data: Buffer.from("first") },
    ]);
  });

  it("drops paths that leave the root", () => {
    expect(
      withParents([
        { type: "dir", path: "../etc" },
        { type: "dir", path: "/" },
      ]),
    ).toEqual([]);
  });
});

describe("onPath", () => {
  it("finds an executable on the search path and nothing that is absent", () => {
    expect(onPath("sh", "/nonexistent:/bin")).toBe("/bin/sh");
    expect(onPath("no-such-tool-here", "/bin:/usr/bin")).toBeNull();
    expect(onPath("sh", "relative/dir")).toBeNull();
  });
});
