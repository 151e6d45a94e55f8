import { join } from "node:path";
import { enclaveRootfs } from "../guest/enclave-rootfs.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { EnclavePrivileges } from "../model/run-params.js";
import { SETPRIV } from "../util/child.js";
import type {
  Availability,
  Backend,
  Enclave,
  EnclaveEvent,
  EnclaveSpec,
  FaultNeeds,
  ProcessTracer,
  Support,
} from "./backend.js";
import { guestKernelCmdline } from "./guest-cmdline.js";
import { SYSLOG_FD_ARG, startProcessEnclave } from "./process-enclave.js";
import { flipProcess, hostPtraceRefusal } from "./ptrace-flipper.js";
import { supportFor } from "./support.js";
import { userAgentCopy } from "./user-agent-copy.js";

/** The user an unprivileged native agent runs as when ezone is root: `nobody`. */
const UNPRIVILEGED_ID = 65534;

/**
 * The native agent's command line. `unprivileged`: through setpriv with no_new_privs, and when ezone is
 * root also as `nobody` with every capability dropped, bounding set included. A root process without
 * capabilities still owns /proc/sysrq-trigger (mode 0200, no capability check on write), so only a
 * non-root user is refused sysrq-c. Changing the user clears the parent-death signal ezone's launcher
 * set, so this setpriv sets it again. Otherwise the agent runs as ezone's own user with its
 * capabilities. (Pure, unit-tested.)
 */
export function nativeArgv(
  agent: string,
  cmdline: string,
  privileges: EnclavePrivileges | undefined,
  uid: number,
): string[] {
  const command = [agent, "--cmdline", cmdline];
  if (privileges !== "unprivileged") return command;
  const id = String(UNPRIVILEGED_ID);
  const asUser =
    uid === 0
      ? [`--reuid=${id}`, `--regid=${id}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
      : [];
  return [SETPRIV, ...asUser, "--no-new-privs", "--pdeathsig", "KILL", "--", ...command];
}

/**
 * `native`: the agent from the guest image run as a plain host process, the continuum's zero. There is
 * no guest kernel (the host's serves): a guest-kernel fault would crash the host, so it is refused on
 * the real host and runs only inside a disposable host. The agent loads fault modules from the image.
 * Bit flips go into the workload's process by ptrace from the host (ezone's flipper).
 */
export class NativeBackend implements Backend {
  readonly name = "native";
  readonly panicChannel = null;
  readonly continuumRank = 0;
  /** Deadlines as for QEMU-TCG: the same heartbeat-loss threshold on every backend keeps zone-2 fair. */
  readonly timeoutScale = 1;

  async probe(_image: BuiltImage | null, _signal: AbortSignal): Promise<Availability> {
    return { available: true, reason: "the agent as a host process", version: `native ${process.platform}` };
  }

  supports(fault: FaultNeeds): Support {
    if (fault.flipsBits) return nativeFlipSupport(fault.flipTarget, hostPtraceRefusal());
    return supportFor("host", fault);
  }

  async start(
    spec: EnclaveSpec,
    sink: (ev: EnclaveEvent) => void,
    signal: AbortSignal,
  ): Promise<Enclave & ProcessTracer> {
    const uid = process.getuid?.() ?? 0;
    // An agent running as another user needs a copy it can read (the image cache is root's). A
    // disposable host holds the image readable by all, but not this host's copy: the image it is.
    const files =
      spec.privileges === "unprivileged" && uid === 0 && !spec.placement
        ? await userAgentCopy(spec.image)
        : await enclaveRootfs(spec.image).then((r) => ({
            agent: r.agent,
            moduleDir: join(r.dir, "lib", "ezone"),
          }));
    const cmdline = `${guestKernelCmdline(spec, SYSLOG_FD_ARG)} ezone.moddir=${files.moduleDir}`;
    const enclave = await startProcessEnclave(
      nativeArgv(files.agent, cmdline, spec.privileges, uid),
      spec,
      sink,
      signal,
      { syslogFd: true },
    );
    // setpriv execs the agent: the group leader is the agent itself.
    enclave.hostProcess = async () => ({
      pid: enclave.pid,
      role: "sandboxed-process",
      describe: "ezone-agent (a plain host process)",
    });
    return Object.assign(enclave, { flipProcess });
  }
}

/** The targets a flip by ptrace reaches: the workload's own input and registers. */
const NATIVE_FLIP_TARGETS = ["data", "registers"];

/** Whether native flips bits into `target`: by ptrace of the workload, where Yama lets ezone attach. */
export function nativeFlipSupport(target: string | undefined, ptraceRefused: string | null): Support {
  if (target?.startsWith("kernel"))
    return {
      supported: false,
      reason: `the kernel here is the host's own: a flip in its ${target.slice("kernel-".length) || "memory"} would be a host-kernel fault, refused on the real host`,
    };
  if (target !== undefined && !NATIVE_FLIP_TARGETS.includes(target))
    return {
      supported: false,
      reason: `native flips bits by ptrace into the workload's ${NATIVE_FLIP_TARGETS.join(" and ")} only, not its ${target}`,
    };
  return ptraceRefused === null ? { supported: true } : { supported: false, reason: ptraceRefused };
}
