import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuiltCli } from "../helpers/cli.js";

let prefix: string;
const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

/** `make TARGET PREFIX=...` without re-running setup (the build is there already). */
function make(target: string) {
  const r = spawnSync("make", ["-s", "-o", "setup", target, `PREFIX=${prefix}`], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

beforeAll(() => {
  requireBuiltCli();
  prefix = mkdtempSync(join(tmpdir(), "ezone-prefix-"));
});
afterAll(() => rmSync(prefix, { recursive: true, force: true }));

describe("make install / make uninstall", () => {
  it("links ezone into PREFIX/bin; it runs from any directory and prints its version", () => {
    expect(make("install").code).toBe(0);
    const r = spawnSync(join(prefix, "bin", "ezone"), ["--version"], { cwd: tmpdir(), encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(version);
    expect(make("uninstall").code).toBe(0);
    expect(existsSync(join(prefix, "bin", "ezone"))).toBe(false);
  });

  it("leaves alone an ezone that is not this checkout's link", () => {
    const foreign = join(prefix, "bin", "ezone");
    expect(make("install").code).toBe(0);
    rmSync(foreign);
    writeFileSync(foreign, "#!/bin/sh\n");
    const install = make("install");
    expect(install.code).not.toBe(0);
    expect(install.out).toContain("exists and is not a link");
    const uninstall = make("uninstall");
    expect(uninstall.code).not.toBe(0);
    expect(readFileSync(foreign, "utf8")).toBe("#!/bin/sh\n");
  });
});
