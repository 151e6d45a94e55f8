import { existsSync } from "node:fs";
import type { Availability } from "../../backends/backend.js";
import { EXTERNAL_VMM_DOC } from "../../backends/exec.js";
import { BACKEND_NAMES, createBackend } from "../../backends/index.js";
import { findCachedImage } from "../../guest/image-cache.js";
import { probeCgroupLayout } from "../../host/cgroup.js";
import { runTool } from "../../util/child.js";
import { installedVersion } from "../../util/dpkg.js";
import { renderTable } from "../../util/format.js";

export interface DoctorOptions {
  json?: boolean;
}

/** One backend as `ezone doctor` shows it (also its `--json` shape). */
export interface BackendRow {
  name: string;
  available: boolean;
  /** Why it is (not) available. */
  reason: string;
  /** What would make it available; empty when it is. */
  install: string;
}

export interface ToolCheck {
  name: string;
  purpose: string;
  check: () => Promise<string | null>;
  install: string;
}

const onPath = (bin: string) => async () => {
  const r = await runTool(["sh", "-c", `command -v ${bin}`], { timeoutMs: 5000 });
  return r.code === 0 ? r.stdout.trim() : null;
};
const dpkg = (pkg: string) => async () => {
  const version = await installedVersion(pkg);
  return version ? `${pkg} ${version}` : null;
};

/** The host tools `ezone doctor` looks for: what each is for and how to install it. */
export const TOOLS: ToolCheck[] = [
  {
    name: "qemu-system-x86_64",
    purpose: "qemu-tcg and kvm backends",
    check: onPath("qemu-system-x86_64"),
    install: "apt-get install -y qemu-system-x86",
  },
  {
    name: "setpriv",
    purpose: "VMMs die with ezone (parent-death signal)",
    check: onPath("setpriv"),
    install: "apt-get install -y util-linux",
  },
  {
    name: "busybox-static",
    purpose: "guest user space",
    check: dpkg("busybox-static"),
    install: "apt-get install -y busybox-static",
  },
  {
    name: "gcc + make",
    purpose: "guest agent and fault modules",
    check: onPath("make"),
    install: "apt-get install -y gcc make libc6-dev",
  },
  {
    name: "linux-headers",
    purpose: "build fault modules for the guest kernel",
    check: dpkg("linux-headers-amd64"),
    install: "apt-get install -y linux-headers-amd64",
  },
  {
    name: "apt-get / dpkg-deb",
    purpose: "fetch the Debian guest kernel",
    check: onPath("dpkg-deb"),
    install: "(Debian base system)",
  },
  {
    name: "/dev/kvm",
    purpose: "kvm backend",
    check: async () => (existsSync("/dev/kvm") ? "/dev/kvm" : null),
    install: "a host with hardware virtualization",
  },
  {
    name: "rsyslogd",
    purpose: "ezone monitor and guest.syslog: heartbeats through the host's syslog",
    check: onPath("rsyslogd"),
    install: "apt-get install -y rsyslog",
  },
  {
    name: "cgroup limits",
    purpose: "composed cells with limits: true (a CPU and memory limit per enclave)",
    check: async () => {
      const c = probeCgroupLayout();
      if (!c.ok) return null;
      return c.layout.version === 2
        ? `cgroup v2 at ${c.layout.base}`
        : `cgroup v1: ${c.layout.cpu}, ${c.layout.memory}`;
    },
    install: "cpu and memory controllers in a cgroup v2 (or v1) hierarchy, and root (docs/cgroup-limits.md)",
  },
  {
    name: "bwrap",
    purpose: "container backend",
    check: onPath("bwrap"),
    install: "apt-get install -y bubblewrap",
  },
  {
    name: "runsc",
    purpose: "gvisor backend",
    check: onPath("runsc"),
    install: "apt-get install -y runsc",
  },
  {
    name: "linux.uml",
    purpose: "uml backend",
    check: onPath("linux.uml"),
    install: "apt-get install -y user-mode-linux",
  },
  {
    name: "sbatch",
    purpose: "ezone slurm submit: campaigns as Slurm job arrays (a cluster's login node)",
    check: onPath("sbatch"),
    install: "apt-get install -y slurm-client (or your cluster's Slurm)",
  },
  {
    name: "chromium",
    purpose: "HTML report tests (rendered in headless Chromium)",
    check: onPath("chromium"),
    install: "apt-get install -y chromium",
  },
];

/** A backend's doctor row: the fix goes in `install` and only when the backend is not available. */
export function backendRow(name: string, a: Availability): BackendRow {
  const install =
    name === "exec"
      ? `give a campaign backend of type exec a start command: Palacios, Xen, Firecracker... (${EXTERNAL_VMM_DOC})`
      : (a.install ?? "");
  return {
    name,
    available: a.available,
    reason:
      name === "exec" && !a.available ? "no VMM command configured (exec runs one from YAML)" : a.reason,
    install: a.available ? "" : install,
  };
}

/** `ezone doctor`: what this host can run, and what would make the rest runnable. */
export async function run(opts: DoctorOptions): Promise<void> {
  const signal = AbortSignal.timeout(120_000);
  const image = await findCachedImage();
  const backends: BackendRow[] = [];
  for (const name of BACKEND_NAMES) {
    const b = createBackend({ name, type: name, exec: null });
    backends.push(backendRow(name, await b.probe(image, signal)));
  }
  const tools = [];
  for (const t of TOOLS) {
    const found = await t.check().catch(() => null);
    tools.push({
      name: t.name,
      purpose: t.purpose,
      available: found !== null,
      found: found ?? "",
      install: found ? "" : t.install,
    });
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ image: image?.manifest ?? null, backends, tools }, null, 2)}\n`);
    return;
  }
  const mark = (ok: boolean) => (ok ? "yes" : "no");
  process.stdout.write(
    `Backends\n${renderTable(
      ["backend", "available", "why", "to make it available"],
      backends.map((b) => [b.name, mark(b.available), b.reason, b.install]),
    )}\n\nTools\n${renderTable(
      ["tool", "available", "for", "found / install"],
      tools.map((t) => [t.name, mark(t.available), t.purpose, t.found || t.install]),
    )}\n\nGuest image: ${image ? `${image.manifest.id} (kernel ${image.manifest.kernel.release})` : "not built yet: ezone image build"}\n`,
  );
}
