import type { Zone } from "../model/outcome-types.js";
import { type SoftErrorParams, softTargetZone } from "../model/soft-error.js";

/** A fault ezone can inject: where it is, how it is triggered, what proves it fired, what it should do. */
export interface FaultSpec {
  name: string;
  zone: Zone;
  /** Triggered by loading a guest kernel module (needs a backend that can load modules). */
  kernelModule: boolean;
  mechanism: string;
  proof: string;
  expected: string;
  /** Kernel command-line arguments the fault needs in the guest; added to the campaign's (`faultKernelArgs`). */
  kernelArgs?: readonly string[];
  /**
   * Zone 4: how the fault's child process must end, as the agent's `CHILD` line reports it
   * (`signal=SIGSEGV`, `exit=0`): that line with this end is the proof the fault happened.
   */
  childEnd?: string;
  /**
   * The guest's own watchdog reports this fault some time after heartbeats stop (a soft lockup): heartbeat
   * loss is declared no sooner than this many ms (before the backend's timeout scale), so the report is seen.
   */
  heartbeatLossMinMs?: number;
  /**
   * The fault may take this long to run its course (ms, before the timeout scale): observation lasts at
   * least this. Filling 256 MiB under UML takes ~40 s on a loaded 2-core host.
   */
  observeMinMs?: number;
  /**
   * The guest kernel panics when the fault fires (zone 3, booted with `oops=panic`): where the backend has
   * a panic channel beside the console (QEMU's pvpanic), the verdict needs both to agree.
   */
  panics?: boolean;
  /**
   * A check of ezone itself, not a fault of the guest: left out of `ezone matrix` unless named.
   */
  selfCheck?: boolean;
  /** Zone 2: injected by ezone on the host (the agent is not involved); absent for guest-side faults. */
  host?: HostAction;
  /**
   * Exhausts the memory its enclave is given: it needs an enclave with memory of its own (a VM); where the
   * guest's memory is the host's (native, container, gVisor) it would press on the host, and is refused.
   */
  exhaustsMemory?: boolean;
  /**
   * Affects the whole host (a hog): the run must have the host to itself, never beside other runs or
   * other campaigns' enclaves. A worker pool must honour it.
   */
  runsAlone?: boolean;
  /**
   * The real host runs it only with a safety bound (the fork bomb's 256 processes): a campaign's
   * `host: auto` runs a native enclave's cell in the disposable host instead, as a user would run it.
   */
  boundedOnRealHost?: boolean;
  /** A soft error: ezone flips a bit in the running guest (QEMU's gdbstub) and judges it against a golden run. */
  flipsBits?: boolean;
  /**
   * The zone-1 fault whose module this zone-3 fault loads into a VM guest's kernel instead, to try that
   * module where a crash costs nothing: left out of `ezone matrix` unless named.
   */
  twinOf?: string;
  /**
   * Zone 1: the fault module (`/lib/ezone/<module>.ko`) loaded into the disposable host's kernel; absent:
   * the fault's name without `host-` (see `faultModule`). Its proof line names the module, not the fault.
   */
  module?: string;
  /**
   * Zone 1: kernel settings (`key=value`, as sysctl(8) takes them) the disposable host's kernel needs just
   * before the module loads (softlockup's watchdog), undone with the disposable host itself.
   */
  sysctls?: readonly string[];
}

/**
 * What ezone does on the host for a zone-2 fault. `enclave` is the enclave's host process (QEMU, the
 * sandboxed agent, gVisor's Sentry); `sentry` needs a Sentry started with a panic signal (gVisor).
 * The proof is ezone's own record: the signal delivered (kill(2) succeeded) or the hog seen running.
 */
export type HostAction =
  | { kind: "signal"; signal: "SIGKILL" | "SIGSEGV" | "SIGSTOP" | "SIGUSR2"; target: "enclave" | "sentry" }
  | { kind: "cpu-hog"; holdMs: number }
  | { kind: "memory-hog"; holdMs: number; fractionOfAvailable: number; maxMb: number };

/** A fault's full spec by name (the catalogue's literal types hide the optional fields). */
export function faultSpec(name: FaultName): FaultSpec {
  return FAULTS[name];
}

/** The zone of a run of `fault`: a bit flip's is its target's (the guest kernel: 3; the workload: 4). */
export function runZone(fault: FaultName, softError?: SoftErrorParams | null): Zone {
  return softError ? softTargetZone(softError.target) : FAULTS[fault].zone;
}

/** The kernel module a module fault loads: its own `module`, else its name without the `host-` of zone 1. */
export function faultModule(name: FaultName): string {
  return faultSpec(name).module ?? name.replace(/^host-/, "");
}

/** What every zone-1 fault shares: a module loaded into the disposable host's kernel, beside the enclave. */
const HOST_KERNEL = { zone: 1, kernelModule: true } as const;
const onHostConsole = (module: string) =>
  `the module's printk 'ezone-fault: ${module} nonce=<run nonce> firing context=...' on the disposable host's console`;

/** The catalogue; `none` is the control run. Sorted by name. */
export const FAULTS = {
  abort: {
    name: "abort",
    zone: 4,
    kernelModule: false,
    mechanism: "a child of the agent calls abort()",
    proof: "the agent's line 'CHILD abort nonce=<run nonce> pid=<pid> signal=SIGABRT'",
    expected: "only that process ends; the agent keeps heartbeating",
    childEnd: "signal=SIGABRT",
  },
  bitflip: {
    name: "bitflip",
    zone: 4,
    kernelModule: false,
    mechanism:
      "ezone flips one seeded bit through QEMU's gdbstub: in the parked workload's input buffer, stack table or code (physical addresses), in a CPU register of the workload (stopped in user mode just before it computes), or in a hot guest kernel function or variable (from /proc/kallsyms)",
    proof:
      "ezone's record of the flip read back through the gdbstub (where, old, written and read-back value)",
    expected:
      "a class against the golden run: benign, silent-data-corruption, detected (signal or oops) or hang; the damage stays in the workload's process (zone 4), or in the guest for a kernel target (zone 3)",
    flipsBits: true,
  },
  cpuhog: {
    name: "cpuhog",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: a kernel thread bound to the last CPU spins with preemption off for 3 s, then stops (the zone-3 twin of host-cpuhog)",
    proof:
      "the module's printk 'ezone-fault: cpuhog nonce=<run nonce> firing context=...' on the guest console",
    expected:
      "the guest's CPU is taken for 3 s (on one vCPU its heartbeat pauses), then it goes on; the host is untouched",
    heartbeatLossMinMs: 8000,
    twinOf: "host-cpuhog",
  },
  cpuloop: {
    name: "cpuloop",
    zone: 4,
    kernelModule: false,
    mechanism: "a child of the agent spins until RLIMIT_CPU (2 s of CPU time) ends it",
    proof: "the agent's line 'CHILD cpuloop nonce=<run nonce> pid=<pid> signal=SIGXCPU'",
    expected:
      "the guest kernel ends the runaway loop; the agent keeps heartbeating meanwhile (its heartbeat may be late: varied)",
    childEnd: "signal=SIGXCPU",
  },
  cpustorm: {
    name: "cpustorm",
    zone: 4,
    kernelModule: false,
    mechanism:
      "a child of the agent runs 32 spinning processes for 8 s, then kills and reaps them: in a one-vCPU VM it takes the guest's CPU; in a process enclave (native) the host's cores, unless the enclave's cgroup cpu.max holds it",
    proof:
      "the agent's line 'CHILD cpustorm nonce=<run nonce> pid=<pid> exit=0' (exit=3: not every spinner started)",
    expected:
      "the storm ends by itself and the agent keeps heartbeating; without limits a peer on the same cores may be slowed (varied)",
    childEnd: "exit=0",
    runsAlone: true,
  },
  "forged-panic": {
    name: "forged-panic",
    zone: 3,
    kernelModule: false,
    mechanism:
      "a lying guest: the agent writes a fault module's proof line (with the run's nonce) and a 'Kernel panic' line into the kernel log (/dev/kmsg) and goes on running; no panic happens",
    proof: "'ezone-fault: forged-panic nonce=<run nonce> firing', written by the agent itself to /dev/kmsg",
    expected:
      "unknown where a second panic channel exists (QEMU's pvpanic stays silent); elsewhere the console's word is all there is, and the verdict says so",
    panics: true,
    selfCheck: true,
  },
  forkbomb: {
    name: "forkbomb",
    zone: 4,
    kernelModule: false,
    mechanism:
      "a child of the agent forks a bomb (every process forks again) bounded at 256 processes, then kills and reaps it all",
    proof: "the agent's line 'CHILD forkbomb nonce=<run nonce> pid=<pid> exit=0'",
    expected: "the bomb reaches its bound and is reaped; the agent keeps heartbeating",
    childEnd: "exit=0",
    boundedOnRealHost: true,
  },
  hang: {
    name: "hang",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: interrupts off, spinning forever on the guest's only CPU (no oops: no tick runs a watchdog)",
    proof:
      "the module's printk 'ezone-fault: hang nonce=<run nonce> firing context=...' on the guest console",
    expected: "the guest stops silently, detected by heartbeat loss; the host is untouched",
  },
  "host-cpu-hog": {
    name: "host-cpu-hog",
    zone: 2,
    kernelModule: false,
    mechanism: "one busy-looping host process per host core, beside the enclave, for 4 s",
    proof: "ezone's record of the hog processes started and the CPU time they consumed",
    expected: "the hog stays in its process; the guest's heartbeat may degrade (varied) but not stop",
    host: { kind: "cpu-hog", holdMs: 4000 },
    runsAlone: true,
  },
  "host-cpuhog": {
    name: "host-cpuhog",
    ...HOST_KERNEL,
    module: "cpuhog",
    mechanism:
      "cpuhog.ko loaded into the disposable host's kernel: a kernel thread spins with preemption off on its last vCPU for 3 s, then stops (below the soft-lockup watchdog; the disposable host has no softlockup_panic)",
    proof: onHostConsole("cpuhog"),
    expected:
      "the disposable host survives; the enclave beside it may lose CPU time (a heartbeat gap: varied)",
    heartbeatLossMinMs: 8000,
  },
  "host-kerncrash": {
    name: "host-kerncrash",
    ...HOST_KERNEL,
    mechanism: "kerncrash.ko loaded into the disposable host's kernel: a divide error in kernel mode",
    proof: onHostConsole("kerncrash"),
    expected: "the disposable host's kernel panics and every enclave on it dies: escaped-global",
    panics: true,
  },
  "host-kpanic": {
    name: "host-kpanic",
    ...HOST_KERNEL,
    mechanism: "kpanic.ko loaded into the disposable host's kernel: panic() called directly",
    proof: onHostConsole("kpanic"),
    expected: "the disposable host's kernel panics and every enclave on it dies: escaped-global",
    panics: true,
  },
  "host-memleak": {
    name: "host-memleak",
    ...HOST_KERNEL,
    module: "memleak",
    mechanism:
      "memleak.ko loaded into the disposable host's kernel: a kernel thread leaks pages 1 MiB at a time until the OOM killer acts, an allocation fails or less than 8 MiB is left, holds them 3 s, then frees them all",
    proof: onHostConsole("memleak"),
    expected:
      "the disposable host survives; its OOM killer may kill an enclave's process meanwhile (named in the verdict)",
    observeMinMs: 10_000,
  },
  "host-memory-hog": {
    name: "host-memory-hog",
    zone: 2,
    kernelModule: false,
    mechanism:
      "a host process touching memory towards half of the host's available memory (at most 2 GiB) beside the enclave, for 6 s",
    proof:
      "ezone's record of the hog's resident memory (counted as running from 64 MiB; its size at the end)",
    expected: "the hog stays in its process; the guest's heartbeat may degrade (varied) but not stop",
    host: { kind: "memory-hog", holdMs: 6000, fractionOfAvailable: 0.5, maxMb: 2048 },
    runsAlone: true,
  },
  "host-nullderef": {
    name: "host-nullderef",
    ...HOST_KERNEL,
    mechanism: "nullderef.ko loaded into the disposable host's kernel: a write through a NULL pointer",
    proof: onHostConsole("nullderef"),
    expected: "the disposable host's kernel oopses and panics; every enclave on it dies: escaped-global",
    panics: true,
  },
  "host-softlockup": {
    name: "host-softlockup",
    ...HOST_KERNEL,
    mechanism:
      "softlockup.ko loaded into the disposable host's kernel, its watchdog set to report after ~2 s and panic",
    proof: onHostConsole("softlockup"),
    expected:
      "the disposable host's soft-lockup watchdog panics it; every enclave on it dies: escaped-global",
    sysctls: ["kernel.watchdog_thresh=1", "kernel.softlockup_panic=1"],
    heartbeatLossMinMs: 8000,
    panics: true,
  },
  kbug: {
    name: "kbug",
    zone: 3,
    kernelModule: true,
    mechanism: "kernel module: BUG() (kernel BUG at ..., an invalid-opcode oops)",
    proof:
      "the module's printk 'ezone-fault: kbug nonce=<run nonce> firing context=...' on the guest console",
    expected: "guest kernel oopses and panics; the host is untouched",
    panics: true,
  },
  kerncrash: {
    name: "kerncrash",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: inline-asm divl by zero in kernel mode, at once (process context) or after N s (timer)",
    proof: "the module's printk 'ezone-fault: kerncrash nonce=<run nonce> firing' on the guest console",
    expected: "guest kernel oopses and panics; the host is untouched",
    panics: true,
  },
  kpanic: {
    name: "kpanic",
    zone: 3,
    kernelModule: true,
    mechanism: "kernel module: panic() called directly, no oops before it",
    proof:
      "the module's printk 'ezone-fault: kpanic nonce=<run nonce> firing context=...' on the guest console",
    expected: "guest kernel panics; the host is untouched",
    panics: true,
  },
  memleak: {
    name: "memleak",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: a kernel thread leaks pages 1 MiB at a time until the OOM killer acts, an allocation fails or less than 8 MiB is left, holds them 3 s, then frees them all (the zone-3 twin of host-memleak)",
    proof:
      "the module's printk 'ezone-fault: memleak nonce=<run nonce> firing context=...' on the guest console",
    expected:
      "the guest runs short of memory for 3 s (its OOM killer may act), then gets it all back; the host is untouched",
    observeMinMs: 10_000,
    twinOf: "host-memleak",
  },
  netflood: {
    name: "netflood",
    zone: 4,
    kernelModule: false,
    mechanism:
      "a child of the agent sends UDP datagrams (1472 bytes, 8000/s for 8 s) to the composed cell's first peer on the victim's network link, or to its own loopback when that link is cut or absent (the same load, kept local)",
    proof:
      "the agent's lines 'FLOOD-DONE sent=<n> tried=<n>' and 'CHILD netflood nonce=<run nonce> pid=<pid> exit=0' (exit=2: nothing sent)",
    expected:
      "the flood stays in the victim's process; a peer it reaches over the bridge may be slowed (varied), never harmed",
    childEnd: "exit=0",
  },
  none: {
    name: "none",
    zone: 3,
    kernelModule: false,
    mechanism: "control run: nothing is injected",
    proof: "none needed",
    expected: "the guest keeps heartbeating",
  },
  nullderef: {
    name: "nullderef",
    zone: 3,
    kernelModule: true,
    mechanism: "kernel module: a write through a NULL pointer in kernel mode",
    proof:
      "the module's printk 'ezone-fault: nullderef nonce=<run nonce> firing context=...' on the guest console",
    expected: "guest kernel oopses (NULL pointer dereference) and panics; the host is untouched",
    panics: true,
  },
  oomhog: {
    name: "oomhog",
    zone: 4,
    kernelModule: false,
    mechanism:
      "a child of the agent (oom_score_adj 1000) touches memory 1 MiB at a time until the guest kernel's OOM killer acts (it gives up at 2 GiB)",
    proof: "the agent's line 'CHILD oomhog nonce=<run nonce> pid=<pid> signal=SIGKILL'",
    expected: "the guest's OOM killer kills the hog alone; the agent keeps heartbeating",
    childEnd: "signal=SIGKILL",
    observeMinMs: 120_000,
    exhaustsMemory: true,
  },
  segfault: {
    name: "segfault",
    zone: 4,
    kernelModule: false,
    mechanism: "a child of the agent writes through a NULL pointer",
    proof: "the agent's line 'CHILD segfault nonce=<run nonce> pid=<pid> signal=SIGSEGV'",
    expected: "only that process ends; the agent keeps heartbeating",
    childEnd: "signal=SIGSEGV",
  },
  "sentry-panic": {
    name: "sentry-panic",
    zone: 2,
    kernelModule: false,
    mechanism:
      "SIGUSR2 from the host to gVisor's runsc-sandbox, started with --panic-signal=12: the Sentry panics",
    proof:
      "ezone's record of the signal delivered; the Sentry's 'panic: Signal-induced panic' in its panic log",
    expected: "the sandbox (guest kernel and all) dies; the host is untouched",
    host: { kind: "signal", signal: "SIGUSR2", target: "sentry" },
  },
  softlockup: {
    name: "softlockup",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: spinning with preemption off (interrupts on) for up to 30 s; guest booted with watchdog_thresh=1 softlockup_panic=1",
    proof:
      "the module's printk 'ezone-fault: softlockup nonce=<run nonce> firing context=...' on the guest console",
    expected: "the guest's soft-lockup watchdog reports it after ~2 s and panics; the host is untouched",
    kernelArgs: ["watchdog_thresh=1", "softlockup_panic=1"],
    heartbeatLossMinMs: 8000,
    panics: true,
  },
  stackoverflow: {
    name: "stackoverflow",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: deep recursion with 256-byte frames until the task stack's guard page (VMAP_STACK)",
    proof:
      "the module's printk 'ezone-fault: stackoverflow nonce=<run nonce> firing context=...' on the guest console",
    expected: "guest kernel reports the stack guard page hit and panics; the host is untouched",
    panics: true,
  },
  "sysrq-c": {
    name: "sysrq-c",
    zone: 3,
    kernelModule: false,
    mechanism:
      "the agent writes 'c' to /proc/sysrq-trigger: the kernel's own crash path (panic), no module needed",
    proof:
      "'ezone-fault: sysrq-c nonce=<run nonce> firing', written by the agent to /dev/kmsg just before the trigger, on the guest console",
    expected: "guest kernel panics ('sysrq triggered crash'); the host is untouched",
    panics: true,
  },
  uafwrite: {
    name: "uafwrite",
    zone: 3,
    kernelModule: true,
    mechanism:
      "kernel module: vmalloc a buffer, vfree it, flush the lazy unmaps, write through the dangling pointer",
    proof:
      "the module's printk 'ezone-fault: uafwrite nonce=<run nonce> firing context=...' on the guest console",
    expected: "guest kernel oopses (page fault on the freed address) and panics; the host is untouched",
    panics: true,
  },
  "vmm-sigkill": {
    name: "vmm-sigkill",
    zone: 2,
    kernelModule: false,
    mechanism: "SIGKILL from the host to the enclave's host process (QEMU, the sandboxed agent, the Sentry)",
    proof: "ezone's record of the signal delivered to that pid",
    expected: "the enclave dies with its process; the host and other enclaves are untouched",
    host: { kind: "signal", signal: "SIGKILL", target: "enclave" },
  },
  "vmm-sigsegv": {
    name: "vmm-sigsegv",
    zone: 2,
    kernelModule: false,
    mechanism: "SIGSEGV from the host to the enclave's host process, as if the VMM had crashed",
    proof: "ezone's record of the signal delivered to that pid",
    expected: "the enclave dies with its process (unless the process handles SIGSEGV); the host is untouched",
    host: { kind: "signal", signal: "SIGSEGV", target: "enclave" },
  },
  "vmm-sigstop": {
    name: "vmm-sigstop",
    zone: 2,
    kernelModule: false,
    mechanism: "SIGSTOP from the host to the enclave's host process: it hangs without dying",
    proof: "ezone's record of the signal delivered to that pid",
    expected: "the guest's heartbeat stops (a hang of that process only); the host is untouched",
    host: { kind: "signal", signal: "SIGSTOP", target: "enclave" },
  },
} as const satisfies Record<string, FaultSpec>;

export type FaultName = keyof typeof FAULTS;

/** The guest kernel command line for a fault: the campaign's arguments, then the fault's own (deduplicated). */
export function faultKernelArgs(base: readonly string[], fault: FaultName): string[] {
  return [...new Set([...base, ...(faultSpec(fault).kernelArgs ?? [])])];
}
export const FAULT_NAMES = Object.keys(FAULTS) as [FaultName, ...FaultName[]];
