import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type {
  EnclaveEvent,
  EnclavePlacement,
  EnclaveSpec,
  PlacementSpawnOptions,
} from "../../src/backends/backend.js";
import { startProcessEnclave } from "../../src/backends/process-enclave.js";
import type { BuiltImage } from "../../src/guest/image-builder.js";
import type { ChildExit } from "../../src/util/child.js";

/** A placement that records what it was asked and lets the test play the child. */
function fakePlacement() {
  const calls: { argv: string[]; opts: PlacementSpawnOptions }[] = [];
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let end: (e: ChildExit) => void = () => {};
  const exited = new Promise<ChildExit>((r) => {
    end = r;
  });
  const placement: EnclavePlacement = {
    spawn(argv, opts) {
      calls.push({ argv, opts });
      return {
        pid: 4242,
        stdin,
        stdout,
        stderr,
        control: null,
        exited,
        kill: async () => {
          end({ code: null, signal: "SIGKILL" });
          return exited;
        },
      };
    },
  };
  return { placement, calls, stdin, stdout, stderr, end };
}

function spec(placement: EnclavePlacement): EnclaveSpec {
  return {
    image: {} as BuiltImage,
    memoryMb: 64,
    heartbeatMs: 250,
    kernelArgs: [],
    arm: null,
    runTag: "tag-1",
    workDir: "/tmp/ezone-run-x",
    placement,
  };
}

describe("startProcessEnclave with a placement", () => {
  it("spawns through the placement with the run tag, and streams its stdio as events", async () => {
    const fake = fakePlacement();
    const events: EnclaveEvent[] = [];
    const enclave = await startProcessEnclave(
      ["/bin/agent", "--x"],
      spec(fake.placement),
      (e) => events.push(e),
      new AbortController().signal,
    );
    expect(fake.calls).toEqual([
      {
        argv: ["/bin/agent", "--x"],
        opts: { env: { EZONE_RUN: "tag-1" }, cwd: "/tmp/ezone-run-x", extraStdio: undefined },
      },
    ]);
    expect(enclave.pid).toBe(4242);
    const sent: Buffer[] = [];
    fake.stdin.on("data", (b: Buffer) => sent.push(b));
    enclave.send("RESUME seed=1");
    fake.stdout.write("READY ezone-agent\n");
    fake.stderr.write("oops\n");
    await new Promise((r) => setImmediate(r));
    fake.end({ code: 3, signal: null });
    await expect(enclave.exited).resolves.toEqual({ kind: "exited", code: 3 });
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(sent).toString()).toBe("RESUME seed=1\n");
    const console = events
      .filter((e) => e.type === "console")
      .map((e) => (e.type === "console" ? e.data.toString() : ""));
    expect(console.join("")).toBe("READY ezone-agent\n");
    const exit = events.find((e) => e.type === "exit");
    expect(exit?.type === "exit" && exit.stderr).toBe("oops\n");
  });

  it("stops the placed process through its kill", async () => {
    const fake = fakePlacement();
    const enclave = await startProcessEnclave(
      ["/bin/agent"],
      spec(fake.placement),
      () => {},
      new AbortController().signal,
    );
    await expect(enclave.stop()).resolves.toEqual({ kind: "signaled", signal: "SIGKILL" });
  });
});
