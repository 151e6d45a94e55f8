import { enclaveRootfs } from "../guest/enclave-rootfs.js";
import type { BuiltImage } from "../guest/image-builder.js";
import type { EnclavePrivileges } from "../model/run-params.js";
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
import { SYSLOG_FD_ARG, startProcessEnclave } from "./process-enclave.js";
import { supportFor } from "./support.js";

/**
 * The bubblewrap sandbox around `command`: its own PID, mount, IPC, UTS (and cgroup, where possible)
 * namespaces, no network, `root` read-only as `/`, fresh /proc, /dev and /tmp, an empty environment but
 * for the run's tag. `--die-with-parent` ties the sandbox to bwrap, which ezone's process group holds;
 * no `--new-session`, so the sandboxed processes stay in that group. `privileges` adds or drops what
 * reaches the kernel beneath (see `bwrapPrivileges`). (Pure, unit-tested.)
 */
export function bwrapArgv(
  root: string,
  runTag: string,
  command: string[],
  privileges?: EnclavePrivileges,
): string[] {
  const userns = process.getuid?.() === 0 ? [] : ["--unshare-user"];
  return [
    "bwrap",
    ...userns,
    ...["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try"],
    "--die-with-parent",
    ...["--ro-bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"],
    ...bwrapPrivileges(privileges),
    ...["--hostname", "ezone", "--chdir", "/", "--clearenv"],
    ...["--setenv", "PATH", "/bin:/sbin", "--setenv", "EZONE_RUN", runTag],
    ...command,
  ];
}

/**
 * `privileged`: CAP_SYS_MODULE (finit_module), the host's /proc/sysrq-trigger bound over the read-only
 * one bwrap leaves in its /proc, and /dev/kmsg (where sysrq-c writes its proof). Binding a missing
 * sysrq-trigger fails the start: a kernel without it cannot give this privilege. `unprivileged`: every
 * capability dropped (bwrap run by root otherwise keeps root's; it always sets no_new_privs, and its
 * /proc/sysrq-trigger is read-only). Absent: bwrap's own default, as before privileges existed.
 */
function bwrapPrivileges(privileges: EnclavePrivileges | undefined): string[] {
  if (privileges === "privileged") {
    return [
      ...["--cap-add", "CAP_SYS_MODULE"],
      ...["--bind", "/proc/sysrq-trigger", "/proc/sysrq-trigger"],
      ...["--dev-bind", "/dev/kmsg", "/dev/kmsg"],
    ];
  }
  if (privileges === "unprivileged") return ["--cap-drop", "ALL"];
  return [];
}

/**
 * `container`: the guest image's user space in a bubblewrap sandbox. It shares the host kernel, so a
 * guest-kernel fault is a host-kernel fault: refused on the real host, run inside a disposable host.
 */
export class ContainerBackend implements Backend {
  readonly name = "container";
  readonly panicChannel = null;
  readonly continuumRank = 1;
  /** Same deadlines as QEMU-TCG: one heartbeat-loss threshold across backends keeps zone-2 comparable. */
  readonly timeoutScale = 1;

  probe(_image: BuiltImage | null, signal: AbortSignal): Promise<Availability> {
    return probeTool(
      {
        version: ["bwrap", "--version"],
        check: bwrapArgv("/", "probe", ["/bin/true"]),
        pkg: "bubblewrap",
        label: "bubblewrap",
      },
      signal,
    );
  }

  supports(fault: FaultNeeds): Support {
    return supportFor("host", fault);
  }

  async start(spec: EnclaveSpec, sink: (ev: EnclaveEvent) => void, signal: AbortSignal): Promise<Enclave> {
    const rootfs = await enclaveRootfs(spec.image);
    const argv = bwrapArgv(
      rootfs.dir,
      spec.runTag,
      ["/sbin/ezone-agent", "--cmdline", guestKernelCmdline(spec, SYSLOG_FD_ARG)],
      spec.privileges,
    );
    // bwrap passes inherited descriptors on: the agent finds its syslog channel at fd 3.
    const enclave = await startProcessEnclave(argv, spec, sink, signal, { syslogFd: true });
    // bwrap forks twice (its own PID-1 helper, then the command): the enclave is the agent below it.
    enclave.hostProcess = async (s) => {
      const p = await findDescendant(enclave.pid, (d) => d.comm === "ezone-agent", s);
      return p && { pid: p.pid, role: "sandboxed-process", describe: "ezone-agent in bwrap" };
    };
    return enclave;
  }
}
