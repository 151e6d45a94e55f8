#!/usr/bin/env bash
# Install everything ezone needs on Debian 12, as root, idempotently: system packages via apt-get
# (only when one is missing), npm dependencies, and the build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  qemu-system-x86        # qemu-tcg / kvm backends
  bubblewrap             # container backend (bwrap namespaces)
  runsc                  # gvisor backend (the Sentry as the guest kernel)
  user-mode-linux        # uml backend (linux.uml: a Linux kernel as a host process)
  busybox-static         # guest user space
  linux-headers-amd64    # build fault modules for Debian's current kernel
  gcc make libc6-dev     # guest agent (static) and kbuild
  util-linux             # setpriv: VMMs die with ezone; unshare, nsenter: a composed cell's network namespace
  iproute2               # ip: the composed cell's bridge and taps (inside its namespace)
  kmod cpio              # module tooling for kbuild
  ca-certificates
  rsyslog                # ezone monitor: the host's syslog daemon (tests start a private one)
  g++ python3            # node-gyp: native addons (unix-dgram, better-sqlite3) build from source
  chromium               # report tests: the HTML report rendered headless (playwright-core drives it)
  slurm-wlm munge        # ezone slurm: sbatch/squeue, and the tests' private cluster (slurmctld, slurmd, munged)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The guest kernel is resolved at image build time through apt-cache: it needs package lists.
if [ "${#missing[@]}" -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]:-apt lists}; run as root or: apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: apt-get install ${missing[*]:-(lists only)}"
  apt-get update -q
  [ "${#missing[@]}" -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run -s build
