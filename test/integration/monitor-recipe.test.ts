import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../src/guest/image-builder.js";
import { Store } from "../../src/store/store.js";
import { hasBinary, processesMatching } from "../helpers/capabilities.js";
import { eventually, ezoneAsync, ezoneSync, requireBuiltCli } from "../helpers/cli.js";

const haveTools = hasBinary("rsyslogd") && hasBinary("qemu-system-x86_64");

/** The recipe's config, with its system paths moved into the test's directory. */
function recipeConfig(dir: string): string {
  const text = readFileSync("examples/monitor/recipe.yaml", "utf8")
    .replaceAll("/run/ezone", join(dir, "run"))
    .replaceAll("/var/log/ezone", join(dir, "log"))
    .replace("../../results/monitor", join(dir, "results"));
  const file = join(dir, "recipe.yaml");
  writeFileSync(file, text);
  return file;
}

interface Listed {
  name: string;
  status: string;
}

describe("ezone enclave and monitor setup refuse bad input (exit 2)", () => {
  let dir: string;
  beforeAll(() => {
    requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), "ezr-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [["enclave", "start", "uml", "--name", "x"], /<backend>.*expected qemu-tcg or kvm/s],
    [["enclave", "start", "qemu-tcg", "--name", "../x"], /--name.*letters, digits/s],
    [["enclave", "start", "qemu-tcg", "--name", "x", "--lifetime", "0"], /--lifetime.*from 1/s],
    [["enclave", "start", "qemu-tcg", "--name", "x", "--dir", `/tmp/${"d".repeat(100)}`], /socket path/],
    [
      ["enclave", "start", "qemu-tcg", "--name", "x", "--syslog"],
      /no syslog socket at .*run `ezone monitor setup` first/,
    ],
    [["enclave", "inject", "vm1", "nosuchfault"], /<fault>.*expected one of .*kerncrash/s],
    [["enclave", "inject", "vm1", "kerncrash"], /enclave vm1 is not running/],
    [["enclave", "stop", "vm1"], /no enclave vm1/],
    [["enclave", "stop"], /name one enclave, or --all/],
    [["monitor"], /required option '--config/],
    [
      ["monitor", "setup", "--dir", "/etc/passwd/x"],
      /cannot create \/etc\/passwd\/x\/rsyslog\/work \(ENOTDIR\)/,
    ],
  ])("ezone %j", (args, message) => {
    const r = ezoneSync(dir, args, { EZONE_RUN_DIR: join(dir, "run") });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe.runIf(haveTools)(
  "the monitor recipe (docs/monitor.md): set up, two enclaves, watch, kill one's kernel",
  () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let output: string;
    let monitor: ReturnType<typeof ezoneAsync> | null = null;

    beforeAll(async () => {
      requireBuiltCli();
      await buildImage();
      dir = mkdtempSync(join(tmpdir(), "ezr-"));
      env = { EZONE_RUN_DIR: join(dir, "run") };
      output = join(dir, "log", "enclaves.log");
    }, 600_000);

    afterAll(async () => {
      if (monitor && monitor.child.exitCode === null) {
        monitor.child.kill("SIGTERM");
        await monitor.exited;
      }
      // Everything the recipe started is a service by design: stop it all, then prove nothing is left.
      ezoneSync(dir, ["enclave", "stop", "--all"], env);
      ezoneSync(dir, ["monitor", "setup", "--stop", "--output", output], env);
      await eventually(() => processesMatching(dir).length === 0, 15_000, "the recipe's processes to end");
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it("the crashed enclave is one guest-oops violation, notified and stored; its peer keeps running", async () => {
      const setup = ezoneSync(dir, ["monitor", "setup", "--output", output], env);
      expect(setup.code, setup.stderr).toBe(0);
      expect(setup.stdout).toContain("rsyslogd started");
      expect(ezoneSync(dir, ["monitor", "setup", "--output", output], env).stdout).toContain(
        "rsyslogd unchanged",
      );

      const t0 = Date.now();
      const starts = ["vm1", "vm2"].map((name) =>
        ezoneAsync(
          dir,
          ["enclave", "start", "qemu-tcg", "--name", name, "--syslog", "--lifetime", "600"],
          env,
        ),
      );
      for (const s of starts) expect((await s.exited).code, s.out.stderr + s.out.stdout).toBe(0);
      const bootMs = Date.now() - t0;
      const listed = () => JSON.parse(ezoneSync(dir, ["enclave", "list", "--json"], env).stdout) as Listed[];
      expect(listed().map((e) => [e.name, e.status])).toEqual([
        ["vm1", "running"],
        ["vm2", "running"],
      ]);
      const again = ezoneSync(dir, ["enclave", "start", "qemu-tcg", "--name", "vm1", "--syslog"], env);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/enclave vm1 is already running \(pid \d+\); stop it first/);

      monitor = ezoneAsync(dir, ["monitor", "--config", recipeConfig(dir)], env);
      const watching = monitor;
      await eventually(() => watching.out.stderr.includes("watching 2 enclave(s)"), 20_000, "the monitor");

      const injected = ezoneSync(dir, ["enclave", "inject", "vm1", "kerncrash"], env);
      expect(injected.code, injected.stderr).toBe(0);
      const injectedAt = Date.now();
      await eventually(
        () => /VIOLATION .* vm1: guest-oops/.test(watching.out.stderr),
        30_000,
        "the monitor's VIOLATION line for vm1",
      );
      const detectMs = Date.now() - injectedAt;
      const notes = join(dir, "log", "violations.jsonl");
      await eventually(() => readText(notes).includes('"vm1"'), 10_000, "the command notifier's line");
      expect(JSON.parse(readText(notes).trim())).toMatchObject({ enclave: "vm1", kind: "guest-oops" });
      await eventually(
        () => listed().find((e) => e.name === "vm1")?.status === "ended",
        30_000,
        "vm1 to end",
      );
      expect(listed().find((e) => e.name === "vm2")?.status).toBe("running");

      watching.child.kill("SIGTERM");
      expect((await watching.exited).code, watching.out.stderr).toBe(0);
      const stats = JSON.parse(watching.out.stdout) as { enclaves: { name: string; heartbeats: number }[] };
      const vm2Beats = stats.enclaves.find((e) => e.name === "vm2")?.heartbeats ?? 0;
      expect(vm2Beats).toBeGreaterThan(0);
      using store = Store.open(join(dir, "results"));
      const stored = store.violations("recipe");
      expect(stored.map((v) => [v.enclave, v.kind, v.notification])).toEqual([["vm1", "guest-oops", "sent"]]);

      const stopped = ezoneSync(dir, ["enclave", "stop", "--all"], env);
      expect(stopped.stdout).toContain("vm1: removed (ended)");
      expect(stopped.stdout).toContain("vm2: stopped");
      expect(ezoneSync(dir, ["monitor", "setup", "--stop", "--output", output], env).stdout).toContain(
        "rsyslogd stopped",
      );
      await eventually(() => processesMatching(dir).length === 0, 15_000, "no process of the recipe left");
      process.stderr.write(
        `[measure] recipe: two qemu-tcg enclaves up in ${bootMs} ms; kerncrash → VIOLATION line in ${detectMs} ms\n`,
      );
    }, 240_000);
  },
);

describe.runIf(haveTools)("ezone enclave start of a guest that is not READY in time", () => {
  it("exits 3 naming wait.ready and the deadline, leaves an ended record and no process", async () => {
    requireBuiltCli();
    await buildImage();
    const dir = mkdtempSync(join(tmpdir(), "ezr-"));
    const env = { EZONE_RUN_DIR: join(dir, "run") };
    try {
      const r = ezoneSync(
        dir,
        ["enclave", "start", "qemu-tcg", "--name", "slow", "--boot-timeout", "1"],
        env,
      );
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/enclave\.start: slow: wait\.ready: no READY from the agent within 1 s/);
      const [listed] = JSON.parse(ezoneSync(dir, ["enclave", "list", "--json"], env).stdout) as Listed[];
      expect(listed).toMatchObject({ name: "slow", status: "ended" });
      expect(processesMatching(dir)).toEqual([]);
      expect(ezoneSync(dir, ["enclave", "stop", "slow"], env).stdout).toBe("slow: removed (ended)\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
