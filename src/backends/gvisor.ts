import { closeSync, openSync, readSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enclaveRootfs } from "../guest/enclave-rootfs.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  Support,
} from "./backend.js";
import { guestKernelCmdline } from "./guest-cmdline.js";
import { findDescendant } from "./host-process.js";
import { probeTool } from "./probe-tool.js";
import { startProcessEnclave } from "./process-enclave.js";
import { supportFor } from "./support.js";

/** SIGUSR2: the signal the Sentry is told to panic on (`--panic-signal`), for the zone-2 `sentry-panic`. */
export const SENTRY_PANIC_SIGNAL = 12;
const PANIC_LOG_MAX = 8 * 1024;

/**
 * runsc's global flags for one sandbox: ptrace platform (works without /dev/kvm), no network, no cgroup
 * set-up (ezone does not manage cgroups), state under the run's directory, and a panic log plus a panic
 * signal so a Sentry crash leaves its Go stacks where ezone reads them. (Pure, unit-tested.)
 */
export function runscArgv(stateDir: string, panicLog: string, command: string[], root: string): string[] {
  return [
    "runsc",
    ...["--root", stateDir, "--platform=ptrace", "--network=none", "--ignore-cgroups"],
    ...[`--panic-signal=${SENTRY_PANIC_SIGNAL}`, `--panic-log=${panicLog}`],
    ...["do", "-root", root, "-cwd", "/", "-quiet"],
    ...command,
  ];
}

/**
 * `gvisor`: the guest image's user space under runsc (`runsc do`, rootful; a writable overlay over the
 * read-only image root). Its guest kernel is the Sentry, a Go program in host user space: it runs no Linux
 * kernel modules (refused). When the Sentry panics, its panic log is put on the console and reported as
 * the guest's panic (as QMP GUEST_PANICKED is for QEMU).
 */
export class GvisorBackend implements Backend {
  readonly name = "gvisor";
  readonly panicChannel = "runsc panic log";
  readonly noSyslogChannel =
    "`runsc do` hands its sandbox only stdin, stdout and stderr and mounts no host path, so the agent has no second channel";
  readonly continuumRank = 2;
  /** Same deadlines as QEMU-TCG: one heartbeat-loss threshold across backends keeps zone-2 comparable. */
  readonly timeoutScale = 1;

  async probe(_image: BuiltImage | null, signal: AbortSignal): Promise<Availability> {
    const dir = await mkdtemp(join(tmpdir(), "ezone-runsc-probe-"));
    try {
      return await probeTool(
        {
          version: ["runsc", "--version"],
          // The host's root as the sandbox's (read-only, overlaid): only whether a sandbox starts matters.
          check: ["env", `TMPDIR=${dir}`, ...runscArgv(join(dir, "state"), "/dev/null", ["/bin/true"], "/")],
          pkg: "runsc",
          label: "gVisor runsc",
        },
        signal,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  supports(fault: FaultNeeds): Support {
    return supportFor("sentry", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    const rootfs = await enclaveRootfs(spec.image);
    // runsc scrubs the environment of its sandbox and gofer (no EZONE_RUN there): the run's tag in the
    // panic log's name puts it on their command lines, where the leak probe also looks.
    const panicLog = join(spec.workDir, `sentry-panic-${spec.runTag.replace(/[^\w.-]/g, "_")}.log`);
    const argv = runscArgv(
      join(spec.workDir, "runsc-state"),
      panicLog,
      ["/sbin/ezone-agent", "--cmdline", guestKernelCmdline(spec)],
      rootfs.dir,
    );
    // runsc do makes its bundle under $TMPDIR: keep it in the run's directory, removed with it.
    const sentrySink = (ev: EnclaveEvent) => {
      if (ev.type === "exit") reportSentryPanic(panicLog, sink, ev.at);
      sink(ev);
    };
    const enclave = await startProcessEnclave(
      ["env", `TMPDIR=${spec.workDir}`, ...argv],
      spec,
      sentrySink,
      signal,
    );
    // The Sentry (runsc-sandbox) runs in a session of its own below runsc; `--attached` ties it to runsc.
    enclave.hostProcess = async (s) => {
      const p = await findDescendant(enclave.pid, (d) => d.cmdline.startsWith("runsc-sandbox"), s);
      return p && { pid: p.pid, role: "sentry", describe: "runsc-sandbox, the Sentry" };
    };
    return enclave;
  }
}

/** A Sentry panic leaves Go's report in the panic log: show its head as console and report the panic. */
function reportSentryPanic(panicLog: string, sink: (ev: EnclaveEvent) => void, at: number): void {
  let head = "";
  try {
    const fd = openSync(panicLog, "r");
    try {
      const buf = Buffer.alloc(PANIC_LOG_MAX);
      head = buf.subarray(0, readSync(fd, buf, 0, PANIC_LOG_MAX, 0)).toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return; // no panic log: the Sentry did not panic
  }
  const line = /^panic: .*$/m.exec(head)?.[0];
  if (!line) return;
  sink({
    type: "console",
    data: Buffer.from(`\n[ezone: runsc panic log]\n${head}\n[ezone: end of panic log]\n`),
    at,
  });
  sink({ type: "control", name: "GUEST_PANICKED", data: { source: "runsc --panic-log", line }, at });
}
