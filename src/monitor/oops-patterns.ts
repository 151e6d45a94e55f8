/**
 * Kernel crash headers as data (STYLE.md point 7): which console line starts a crash report, its class,
 * how its title is formed and where its culprit frame comes from (culprit-frames.ts). Lines are matched
 * with their prefixes already stripped (line-prefix.ts). The parser takes the first entry whose `header`
 * matches, so a specific header comes before a generic one that would also match it; every entry's
 * `example` must be matched by that entry first (checked by the unit tests).
 */
import type { CulpritRule } from "./culprit-frames.js";
import { kernelText } from "./line-prefix.js";

/** Crash classes. Sorted block; keep it sorted. */
export const CRASH_CLASSES = [
  "bug",
  "divide-error",
  "go-runtime",
  "gpf",
  "hang",
  "kasan",
  "kcsan",
  "kfence",
  "kmsan",
  "lockdep",
  "lockup",
  "memory-leak",
  "null-deref",
  "other",
  "panic",
  "stall",
  "ubsan",
  "use-after-free",
  "warning",
] as const;
export type CrashClass = (typeof CRASH_CLASSES)[number];

export interface OopsPattern {
  /**
   * Matched against one line's kernel text. Named groups fill `title`; a `func` group (with an optional
   * `mod`), else an `alt` group, names the culprit unless it is a generic frame.
   */
  header: RegExp;
  crashClass: CrashClass;
  /**
   * Short title; `{name}` stands for a named group, `{name|text}` gives a default when the group is
   * missing. " in <function>" is appended once known.
   */
  title: string;
  /** Where the culprit frame comes from after the header; null: the header says it all. */
  culprit: CulpritRule | null;
  /** A later line of the report whose named groups also fill `title` (KASAN's "Read of size 8"). */
  detail?: RegExp;
  /** The kernel carries on after this report (WARNING, stalls): a later fatal oops supersedes it. */
  survivable?: true;
  /** The header is the "Kernel panic - not syncing" line itself; its `reason` group is the panic reason. */
  panic?: true;
  /** A report made of this header alone is partial by nature ("Fatal exception" whose oops was lost). */
  corrupted?: true;
  /**
   * A header whose words also appear in ordinary text (user-space `WARNING:`, boot notices): it counts
   * only once a stack trace or faulting-instruction line follows it.
   */
  needsTrace?: true;
  /** A user-space runtime's crash on the console (a Go panic), not a kernel header. */
  userSpace?: true;
  /** A line printed inside another report (x86 die line, arm "Internal error"): it does not end it. */
  inReport?: true;
  /** A real-shaped line this entry must match before any other entry. */
  example: string;
}

/** A function named in a header: a code address, or a bare symbol (older and symbolized reports). */
const FUNC = String.raw`(?<func>[A-Za-z_$][\w.$]*)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[(?<mod>[\w-]+)\])?`;
/** The `[#1]` die counter that follows every x86 trap header. */
const DIE = String.raw`[0-9a-f]{4} \[#\d+\]`;
/** A WARN's "at": `WARNING: CPU: 0 PID: 1 at file.c:12 func+0x1/0x2` (older kernels). */
const WARN_AT = String.raw`^WARNING: (?:CPU: \d+ PID: \d+ )?at `;
/** Newest kernels put the file first: `WARNING: [cond] file.c:12 at func+0x1/0x2, CPU#0: comm/1`. */
const WARN_FILE = String.raw`^WARNING: (?:\[.*?\] )?`;
/** Old lockdep printed its headers as `[ INFO: ... ]`. */
const LOCKDEP = String.raw`^\[?\s*(?:WARNING|INFO): `;

const RIP_THEN_TRACE: CulpritRule = { from: ["rip", "trace"] };
const TRACE: CulpritRule = { from: ["trace"] };
const TRACE_THEN_RIP: CulpritRule = { from: ["trace", "rip"] };
/** Lockdep's `at:` lines name the lock's user: deferred-work and entry code may be it, helpers never. */
const LOCK_CHAIN: CulpritRule = {
  from: ["lockdep", "trace"],
  groups: [
    "locking",
    "panic-bug",
    "printing",
    "allocation",
    "library",
    "sanitizers",
    "string-memory",
    "waiting",
  ],
};
const STALL: CulpritRule = { from: ["any"], extractor: "stall" };
const HUNG: CulpritRule = { from: ["trace"], extractor: "hung" };
const WARN: CulpritRule = { from: ["rip", "trace"] };

/** A lockdep check printed as `BUG:` by older kernels and `WARNING:` by newer ones: one entry each. */
function lockdepCheck(what: string, title: string, culprit: CulpritRule, example: string): OopsPattern[] {
  return [
    {
      header: new RegExp(`${LOCKDEP.replace("WARNING|INFO", "BUG")}${what}`),
      crashClass: "bug",
      title: `BUG: ${title}`,
      culprit,
      survivable: true,
      example: `BUG: ${example}`,
    },
    {
      header: new RegExp(`${LOCKDEP}${what}`),
      crashClass: "warning",
      title: `WARNING: ${title}`,
      culprit,
      survivable: true,
      example: `WARNING: ${example}`,
    },
  ];
}

/** A `WARNING:` raised from a known file: named after what that file checks, its helpers skipped. */
function warningFrom(file: string, title: string, skip: RegExp | undefined, example: string): OopsPattern {
  return {
    header: new RegExp(`(?:${WARN_AT}|${WARN_FILE})${file}`),
    crashClass: "warning",
    title,
    culprit: { ...WARN, ...(skip ? { skip } : {}) },
    survivable: true,
    example,
  };
}

const PANICS: OopsPattern[] = [
  {
    header: new RegExp(
      `^Kernel panic - not syncing: (?<reason>stack-protector: Kernel stack is corrupted in: ${FUNC})`,
    ),
    crashClass: "bug",
    title: "stack-protector: kernel stack is corrupted",
    culprit: { from: ["trace"], skip: /stack_chk/ },
    panic: true,
    example:
      "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: kerncrash_smash+0x5e/0x60 [kerncrash]",
  },
  {
    header: /^Kernel panic - not syncing: (?<reason>corrupted stack end detected inside scheduler)/,
    crashClass: "panic",
    title: "kernel panic: corrupted stack end",
    culprit: { from: ["trace"], skip: /schedule|retint_kernel/, extractor: "stall" },
    panic: true,
    example: "Kernel panic - not syncing: corrupted stack end detected inside scheduler",
  },
  {
    // After an oops, a WARNING with panic_on_warn, a hung task with hung_task_panic: as the first line of
    // a report, the report it ends was lost.
    header:
      /^Kernel panic - not syncing: (?<reason>(?:Fatal exception|panic_on_warn set|hung_task: blocked tasks).*)$/,
    crashClass: "panic",
    title: "kernel panic: {reason}",
    culprit: null,
    panic: true,
    corrupted: true,
    example: "Kernel panic - not syncing: Fatal exception in interrupt",
  },
  {
    header: /^Kernel panic - not syncing: (?<reason>.+)$/,
    crashClass: "panic",
    title: "kernel panic: {reason}",
    culprit: null,
    panic: true,
    example: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
  },
];

const SANITIZERS: OopsPattern[] = [
  {
    header: new RegExp(`^BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in ${FUNC}`),
    crashClass: "kasan",
    title: "KASAN: invalid-free",
    culprit: { from: ["trace"], skip: /^kmem_|^slab_|kfree|vunmap|vfree/ },
    survivable: true,
    example: "BUG: KASAN: double-free or invalid-free in kfree+0x8f/0x1e0",
  },
  {
    header: new RegExp(`^BUG: KASAN: (?<kind>[a-z-]+) (?:in ${FUNC}|on address)`),
    crashClass: "kasan",
    title: "KASAN: {kind} {access|}",
    culprit: TRACE,
    detail: /^(?<access>Read|Write) (?:of size|at addr)/,
    survivable: true,
    example: "BUG: KASAN: use-after-free in kerncrash_uaf+0x3c/0x60 [kerncrash]",
  },
  {
    header: /^BUG: KASAN: (?<kind>[a-z-]+)/,
    crashClass: "kasan",
    title: "KASAN: {kind}",
    culprit: TRACE,
    survivable: true,
    corrupted: true,
    example: "BUG: KASAN: slab-out-of-bounds",
  },
  {
    header: new RegExp(`^BUG: KMSAN: (?<kind>[a-z-]+)(?: in ${FUNC})?`),
    crashClass: "kmsan",
    title: "KMSAN: {kind}",
    // KMSAN prints the stack right after its header, without "Call Trace:".
    culprit: { from: ["any"] },
    survivable: true,
    example: "BUG: KMSAN: uninit-value in __perf_event_task_sched_in+0x2b6/0xca0",
  },
  {
    header: new RegExp(`^BUG: KFENCE: (?<kind>[a-z-]+(?: [a-z-]+)?) in ${FUNC}`),
    crashClass: "kfence",
    title: "KFENCE: {kind}",
    culprit: { from: ["any"] },
    survivable: true,
    example: "BUG: KFENCE: out-of-bounds read in test_out_of_bounds_read+0xa6/0x234",
  },
  {
    // "data-race in a / b" names both racing functions; the title keeps the first that is not generic.
    header: new RegExp(`^BUG: KCSAN: (?<kind>[\\w-]+(?:: [\\w-]+)?) in ${FUNC}(?: / (?<alt>[\\w.$]+))?`),
    crashClass: "kcsan",
    title: "KCSAN: {kind}",
    culprit: TRACE,
    survivable: true,
    example: "BUG: KCSAN: data-race in find_next_bit / rcu_report_exp_cpu_mult",
  },
  {
    header: /^UBSAN: (?:Undefined behaviour|(?<what>[\w-]+)) in /,
    crashClass: "ubsan",
    title: "UBSAN: {what|undefined-behaviour}",
    culprit: TRACE,
    survivable: true,
    example: "UBSAN: shift-out-of-bounds in /tmp/ezone-build/kerncrash.c:80:12",
  },
  ...[/^BUG: memory leak/, /^unreferenced object 0x[0-9a-f]+ \(size \d+\):/].map(
    (header, i): OopsPattern => ({
      header,
      crashClass: "memory-leak",
      title: "memory leak",
      culprit: {
        from: ["trace"],
        skip: /kmemleak|alloc|kmem|slab|create_object|idr_get|list_lru_init|kasprintf|kvasprintf|pcpu_create|strdup|strndup|memdup|mmap/,
      },
      survivable: true,
      // kmemleak's "BUG: memory leak" line is followed by one "unreferenced object" block per leak.
      ...(i === 1 ? { inReport: true as const } : {}),
      example: i === 0 ? "BUG: memory leak" : "unreferenced object 0xffff880039a55260 (size 64):",
    }),
  ),
];

const TRAPS: OopsPattern[] = [
  {
    header: /^BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference)/i,
    crashClass: "null-deref",
    title: "BUG: kernel NULL pointer dereference",
    culprit: RIP_THEN_TRACE,
    example: "BUG: kernel NULL pointer dereference, address: 0000000000000000",
  },
  {
    header: /^BUG: unable to handle page fault for address: [0-9a-f]+/,
    crashClass: "bug",
    title: "BUG: unable to handle page fault",
    culprit: RIP_THEN_TRACE,
    example: "BUG: unable to handle page fault for address: ffff8f3c43a05000",
  },
  {
    header: /^BUG: (?:unable to handle kernel paging request|Unable to handle kernel data access)/,
    crashClass: "bug",
    title: "BUG: unable to handle kernel paging request",
    culprit: RIP_THEN_TRACE,
    example: "BUG: unable to handle kernel paging request at 000000010000001a",
  },
  {
    // The kernel prints this header in two printk calls; the second half is sometimes lost.
    header: /^BUG: unable to handle kernel/i,
    crashClass: "bug",
    title: "BUG: unable to handle kernel",
    culprit: RIP_THEN_TRACE,
    example: "BUG: unable to handle kernel",
  },
  {
    header: /^Unable to handle kernel NULL pointer dereference at virtual address/,
    crashClass: "null-deref",
    title: "unable to handle kernel NULL pointer dereference",
    culprit: RIP_THEN_TRACE,
    example: "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008",
  },
  {
    header: /^Unable to handle kernel (?<what>[a-z][a-z ]*?) at (?:virtual )?address/,
    crashClass: "bug",
    title: "unable to handle kernel {what}",
    culprit: RIP_THEN_TRACE,
    example: "Unable to handle kernel paging request at virtual address ffff000008d3a000",
  },
  {
    // 6.1 names the stack ("TASK", "IRQ", ...); older kernels did not.
    header: /^BUG: (?:\w+ )?stack guard page was hit at /,
    crashClass: "bug",
    title: "BUG: stack guard page was hit",
    culprit: RIP_THEN_TRACE,
    example:
      "BUG: TASK stack guard page was hit at 000000009c1e4bd5 (stack is 00000000f0a1b2c3..0000000055d4e3f2)",
  },
  {
    header: /^kernel BUG at (?:mm\/usercopy\.c|\S*\/usercopy\.c)/,
    crashClass: "bug",
    title: "BUG: bad usercopy",
    culprit: { from: ["trace"], skip: /usercopy|__check/ },
    example: "kernel BUG at mm/usercopy.c:72!",
  },
  {
    header: /^usercopy: Kernel memory (?:exposure|overwrite) attempt detected/,
    crashClass: "bug",
    title: "BUG: bad usercopy",
    culprit: { from: ["trace"], skip: /usercopy|__check/ },
    example:
      "usercopy: Kernel memory exposure attempt detected from SLAB object 'kmalloc-64' (offset 0, size 65)!",
  },
  {
    header: /^kernel BUG at \S*lib\/list_debug\.c/,
    crashClass: "bug",
    title: "BUG: corrupted list",
    culprit: TRACE_THEN_RIP,
    example: "kernel BUG at lib/list_debug.c:53!",
  },
  {
    header: /^(?:list_\w+|__list_\w+) corruption[.,]/,
    crashClass: "bug",
    title: "BUG: corrupted list",
    culprit: TRACE_THEN_RIP,
    needsTrace: true,
    example: "list_del corruption. prev->next should be ffff88806a4c1a28, but was ffff88806a4c1a20",
  },
  {
    header: /^kernel BUG at \S+:\d+!/,
    crashClass: "bug",
    title: "kernel BUG",
    culprit: RIP_THEN_TRACE,
    example: "kernel BUG at /tmp/ezone-build/kerncrash.c:58!",
  },
  {
    header: new RegExp(`^divide error: ${DIE}`),
    crashClass: "divide-error",
    title: "divide error",
    culprit: RIP_THEN_TRACE,
    example: "divide error: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    header:
      /^(?:segment-related )?general protection fault(?:,? (?:probably |maybe )?for (?:non-canonical )?address 0x[0-9a-f]+)*: [0-9a-f]{4}\b/,
    crashClass: "gpf",
    title: "general protection fault",
    culprit: RIP_THEN_TRACE,
    example:
      "general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    header: /^stack segment: [0-9a-f]{4}/,
    crashClass: "gpf",
    title: "stack segment fault",
    culprit: RIP_THEN_TRACE,
    example: "stack segment: 0000 [#1] PREEMPT SMP KASAN",
  },
  {
    header: /^PANIC: double fault/,
    crashClass: "panic",
    title: "PANIC: double fault",
    culprit: { from: ["rip"] },
    // A double fault can strike while the kernel handles another fault, in the middle of its report.
    inReport: true,
    example: "PANIC: double fault, error_code: 0x0",
  },
  {
    // Alone, without "kernel BUG at" before it: a stray ud2 or a jump into garbage.
    header: new RegExp(`^invalid opcode: ${DIE}`),
    crashClass: "other",
    title: "invalid opcode",
    culprit: RIP_THEN_TRACE,
    inReport: true,
    example: "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // What die() prints after a guard page hit in 6.1; alone it means the "BUG:" line above was lost.
    header: new RegExp(`^stack guard page: ${DIE}`),
    crashClass: "bug",
    title: "stack guard page",
    culprit: RIP_THEN_TRACE,
    inReport: true,
    example: "stack guard page: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // Kernels before 5.x.
    header: new RegExp(String.raw`^kernel stack overflow \(double-fault\): ${DIE}`),
    crashClass: "bug",
    title: "kernel stack overflow",
    culprit: RIP_THEN_TRACE,
    example: "kernel stack overflow (double-fault): 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // arm: the fault line comes before the "Internal error" die line.
    header: /^(?:Unhandled fault: |Alignment trap: )/,
    crashClass: "other",
    title: "Unhandled fault",
    culprit: RIP_THEN_TRACE,
    needsTrace: true,
    example: "Unhandled fault: page domain fault (0x01b) at 0x00000e30",
  },
  {
    header: /^Internal error: (?<what>[^:]*): [0-9a-f]+ \[#\d+\]/,
    crashClass: "other",
    title: "Internal error",
    culprit: RIP_THEN_TRACE,
    inReport: true,
    example: "Internal error: Oops: 96000005 [#1] PREEMPT SMP",
  },
  {
    header: new RegExp(`^Oops: ${DIE}`),
    crashClass: "other",
    title: "Oops",
    culprit: RIP_THEN_TRACE,
    inReport: true,
    example: "Oops: 0002 [#1] PREEMPT SMP NOPTI",
  },
];

const STALLS: OopsPattern[] = [
  {
    header: /^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for \d+s!/,
    crashClass: "lockup",
    title: "BUG: soft lockup",
    culprit: STALL,
    survivable: true,
    example: "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [ezone-agent:1]",
  },
  {
    header: /^(?:NMI )?watchdog: (?:Watchdog detected hard LOCKUP|hard LOCKUP) on cpu \d+/i,
    crashClass: "lockup",
    title: "BUG: hard lockup",
    culprit: STALL,
    survivable: true,
    example: "watchdog: Watchdog detected hard LOCKUP on cpu 0",
  },
  {
    header: /^BUG: spinlock lockup suspected/,
    crashClass: "lockup",
    title: "BUG: spinlock lockup suspected",
    culprit: TRACE,
    survivable: true,
    example: "BUG: spinlock lockup suspected on CPU#2, syz-executor/12636",
  },
  {
    header: /^BUG: workqueue lockup/,
    crashClass: "lockup",
    title: "BUG: workqueue lockup",
    culprit: null,
    survivable: true,
    example: "BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 32s!",
  },
  {
    header: /^INFO: task \S.*:\d+ blocked (?:in I\/O wait )?for more than \d+ seconds/,
    crashClass: "hang",
    title: "INFO: task hung",
    culprit: HUNG,
    survivable: true,
    example: "INFO: task ezone-agent:1 blocked for more than 120 seconds.",
  },
  {
    header: /^INFO: task \S.*:\d+ can't die for more than \d+ seconds/,
    crashClass: "hang",
    title: "INFO: task can't die",
    culprit: HUNG,
    survivable: true,
    example: "INFO: task syz-executor.1:12632 can't die for more than 143 seconds.",
  },
  {
    // An RCU stall: a CPU stopped passing quiescent states (spinning), or a task blocks a grace period.
    header:
      /^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected(?: expedited)? stalls?|^(?:rcu: )?INFO: rcu_\w+ detected stalls on CPUs\/tasks/,
    crashClass: "stall",
    title: "INFO: rcu detected stall",
    culprit: STALL,
    survivable: true,
    example: "rcu: INFO: rcu_preempt self-detected stall on CPU",
  },
  {
    header: /^unregister_netdevice: waiting for \S+ to become free/,
    crashClass: "other",
    title: "unregister_netdevice: waiting for device to become free",
    culprit: null,
    survivable: true,
    example: "unregister_netdevice: waiting for lo to become free. Usage count = 5",
  },
];

const LOCKING: OopsPattern[] = [
  {
    header: new RegExp(
      `${LOCKDEP}(?:possible (?:circular locking dependency|irq lock inversion dependency|recursive locking) detected|(?:HARD|SOFT)IRQ-\\w+ -> (?:HARD|SOFT)IRQ-\\w+ lock order detected)`,
    ),
    crashClass: "lockdep",
    title: "possible deadlock",
    culprit: LOCK_CHAIN,
    survivable: true,
    example: "WARNING: possible circular locking dependency detected",
  },
  {
    header: new RegExp(`${LOCKDEP}inconsistent lock state`),
    crashClass: "lockdep",
    title: "inconsistent lock state",
    culprit: LOCK_CHAIN,
    survivable: true,
    example: "WARNING: inconsistent lock state",
  },
  {
    header: new RegExp(`${LOCKDEP.replace("WARNING|INFO", "BUG|WARNING")}Invalid wait context`),
    crashClass: "lockdep",
    title: "BUG: invalid wait context",
    culprit: LOCK_CHAIN,
    survivable: true,
    example: "[ BUG: Invalid wait context ]",
  },
  {
    header: /^INFO: trying to register non-static key/,
    crashClass: "lockdep",
    title: "INFO: trying to register non-static key",
    culprit: { from: ["trace"], skip: /lock|stack|irq/i },
    survivable: true,
    example: "INFO: trying to register non-static key.",
  },
  // RCU-lockdep: older kernels say INFO (a lockdep report), newer ones WARNING.
  ...(["INFO", "WARNING"] as const).map(
    (level): OopsPattern => ({
      header: new RegExp(`^\\[?\\s*${level}: suspicious RCU usage`),
      crashClass: level === "INFO" ? "lockdep" : "warning",
      title: `${level}: suspicious RCU usage`,
      culprit: { from: ["trace"], skip: /rcu|kmem|slab|kmalloc|vmalloc|kcalloc|kzalloc/ },
      survivable: true,
      example: `${level}: suspicious RCU usage.`,
    }),
  ),
  ...lockdepCheck(
    "bad unlock balance detected!",
    "bad unlock balance",
    LOCK_CHAIN,
    "bad unlock balance detected!",
  ),
  ...lockdepCheck("held lock freed!", "held lock freed", LOCK_CHAIN, "held lock freed!"),
  ...lockdepCheck(
    ".*still has locks held!",
    "still has locks held",
    LOCK_CHAIN,
    "syz-executor/7 still has locks held!",
  ),
  ...lockdepCheck(
    "lock held when returning to user space",
    "lock held when returning to user space",
    LOCK_CHAIN,
    "lock held when returning to user space!",
  ),
  ...lockdepCheck(
    "nested lock was not taken",
    "nested lock was not taken",
    LOCK_CHAIN,
    "nested lock was not taken",
  ),
  {
    header: /^BUG: spinlock (?<what>already unlocked|recursion|bad magic|wrong owner|wrong CPU)/,
    crashClass: "bug",
    title: "BUG: spinlock {what}",
    culprit: TRACE,
    survivable: true,
    example: "BUG: spinlock recursion on CPU#0, syz-executor/4500",
  },
  {
    header:
      /^BUG: rwlock (?<what>already unlocked|recursion|bad magic|wrong owner|wrong CPU|lockup suspected)/,
    crashClass: "bug",
    title: "BUG: rwlock {what}",
    culprit: TRACE,
    survivable: true,
    example: "BUG: rwlock bad magic on CPU#1, syz-executor/2020, ffff8801c9b1b3a0",
  },
];

const WARNINGS: OopsPattern[] = [
  warningFrom(
    String.raw`\S*lib/debugobjects\.c`,
    "WARNING: ODEBUG bug",
    /debug_|rcu|hrtimer_|timer_|work_|percpu_|kmem_|slab_|kfree|vunmap|vfree|__free_|kobject_/,
    "WARNING: CPU: 0 PID: 5 at lib/debugobjects.c:488 debug_print_object+0x16a/0x210",
  ),
  warningFrom(
    String.raw`\S*mm/usercopy\.c`,
    "WARNING: bad usercopy",
    /usercopy|__check/,
    "WARNING: CPU: 1 PID: 3 at mm/usercopy.c:78 usercopy_warn+0xdb/0x100",
  ),
  warningFrom(
    String.raw`\S*lib/kobject\.c`,
    "WARNING: kobject bug",
    /kobject_/,
    "WARNING: CPU: 0 PID: 9 at lib/kobject.c:597 kobject_get+0x50/0x60",
  ),
  warningFrom(
    String.raw`\S*fs/proc/generic\.c`,
    "WARNING: proc registration bug",
    /proc_/,
    "WARNING: CPU: 0 PID: 1 at fs/proc/generic.c:330 proc_register+0x2ea/0x3c0",
  ),
  warningFrom(
    String.raw`\S*lib/refcount\.c`,
    "WARNING: refcount bug",
    /refcount|kobject_/,
    "WARNING: CPU: 1 PID: 9 at lib/refcount.c:25 refcount_warn_saturate+0x13d/0x1a0",
  ),
  warningFrom(
    String.raw`\S*kernel/locking/lockdep\.c`,
    "WARNING: locking bug",
    /^lock_sock|^release_sock/,
    "WARNING: CPU: 0 PID: 2 at kernel/locking/lockdep.c:3162 __lock_acquire+0x10c3/0x4a70",
  ),
  warningFrom(
    String.raw`\S*mm/\S*\.c:\d+ (?:__)?k?.?malloc`,
    "WARNING: kmalloc bug",
    /malloc|kcalloc|kzalloc|krealloc|slab|kmem/,
    "WARNING: CPU: 1 PID: 4 at mm/slab_common.c:996 kmalloc_slab+0x56/0x70",
  ),
  {
    header: /^WARNING: kernel stack regs at\s+(?:[0-9a-f]+|\(ptrval\)) in \S+ has bad '(?<reg>[^']+)' value/,
    crashClass: "warning",
    title: "WARNING: kernel stack regs has bad '{reg}' value",
    culprit: null,
    survivable: true,
    example:
      "WARNING: kernel stack regs at ffff8801a9f8fb30 in syz-executor:5126 has bad 'bp' value 0000000000000000",
  },
  {
    header: /^WARNING: kernel stack frame pointer at\s+(?:[0-9a-f]+|\(ptrval\)) in \S+ has bad value/,
    crashClass: "warning",
    title: "WARNING: kernel stack frame pointer has bad value",
    culprit: null,
    survivable: true,
    example:
      "WARNING: kernel stack frame pointer at ffff88019e9a7a30 in syz-executor:7390 has bad value ffff8",
  },
  {
    header: new RegExp(String.raw`${WARN_AT}\S+ ?(?:${FUNC})?`),
    crashClass: "warning",
    title: "WARNING",
    culprit: WARN,
    survivable: true,
    example: "WARNING: CPU: 0 PID: 1 at /tmp/ezone-build/kerncrash.c:71 kerncrash_warn+0x15/0x30 [kerncrash]",
  },
  {
    header: new RegExp(String.raw`${WARN_FILE}\S+:\d+ at (?:${FUNC})?`),
    crashClass: "warning",
    title: "WARNING",
    culprit: WARN,
    survivable: true,
    example:
      "WARNING: [time_after(jiffies, timeout)] io_uring/io_uring.c:3026 at io_ring_exit_work+0x44c/0xbc0, CPU#0: a/1",
  },
  {
    header: /^WARNING: (?<what>[^\s:](?:(?! in )[^:])*?)(?: in [^:]*)?\s*$/,
    crashClass: "warning",
    title: "WARNING: {what}",
    culprit: WARN,
    survivable: true,
    needsTrace: true,
    example: "WARNING: ath10k USB support is incomplete, don't expect anything to work!",
  },
];

const OTHER_BUGS: OopsPattern[] = [
  {
    header: /^BUG: sleeping function called from invalid context/,
    crashClass: "bug",
    title: "BUG: sleeping function called from invalid context",
    culprit: { from: ["trace"], skip: /might_sleep|might_fault|^__might|^___might|^might_resched/ },
    survivable: true,
    example: "BUG: sleeping function called from invalid context at mm/slab.h:421",
  },
  {
    header: /^BUG: using (?<what>__this_cpu_\w+\(\)|smp_processor_id\(\)) in preemptible/,
    crashClass: "bug",
    title: "BUG: {what} while preemptible",
    culprit: { from: ["trace"], skip: /preempt|debug_smp_processor_id|this_cpu/ },
    survivable: true,
    example: "BUG: using smp_processor_id() in preemptible [00000000] code: syz-executor/6",
  },
  {
    header: /^BUG: workqueue leaked lock or atomic/,
    crashClass: "bug",
    title: "BUG: workqueue leaked lock or atomic",
    culprit: { from: ["lockdep", "trace"] },
    survivable: true,
    example: "BUG: workqueue leaked lock or atomic: kworker/0:1/0x00000000/7",
  },
  {
    header:
      /^BUG: (?<what>Bad rss-counter state|non-zero nr_\w+ on freeing mm|MAX_STACK_TRACE_ENTRIES too low!)/,
    crashClass: "bug",
    title: "BUG: {what}",
    culprit: null,
    survivable: true,
    example: "BUG: Bad rss-counter state mm:ffff8801ce1b8000 idx:0 val:1",
  },
  {
    header: /^BUG: Bad page (?<what>state|map) in process /,
    crashClass: "bug",
    title: "BUG: Bad page {what}",
    culprit: TRACE,
    survivable: true,
    example: "BUG: Bad page state in process syz-executor9  pfn:199e00",
  },
  {
    header: /^BUG: Dentry .* still in use/,
    crashClass: "bug",
    title: "BUG: Dentry still in use",
    culprit: TRACE,
    survivable: true,
    example: "BUG: Dentry ffff880175978600{i=8bb9,n=lo}  still in use (1) [unmount of proc proc]",
  },
  {
    // SLUB debugging: "BUG kmalloc-64 (Tainted: G B): Object already free".
    header: /^BUG [\w-]+(?:\([^)]*\))? \((?:Not tainted|Tainted: [^)]*)\): (?<what>[A-Z][\w ]*\w)/,
    crashClass: "bug",
    title: "BUG: {what}",
    culprit: TRACE,
    survivable: true,
    example: "BUG kmalloc-64 (Tainted: G    B          ): Object already free",
  },
  {
    header: /^VFS: (?<what>Close: file count is 0|Busy inodes after unmount)/,
    crashClass: "use-after-free",
    title: "VFS: {what} (use-after-free)",
    culprit: TRACE,
    survivable: true,
    example: "VFS: Close: file count is 0",
  },
  {
    // Old SLUB debugging, what is left of a KASAN-era report.
    header: /^INFO: (?<what>Freed|Allocated) in (?<func>[A-Za-z_$][\w.$]*)\+0x/,
    crashClass: "other",
    title: "INFO: {what}",
    culprit: null,
    survivable: true,
    corrupted: true,
    example: "INFO: Freed in fasync_free_rcu+0x14/0x20 age=1 cpu=0 pid=3",
  },
  {
    // Most other "BUG:" reports (scheduling while atomic, bad page state, ...) let the kernel go on.
    header: /^BUG: (?<what>[A-Za-z][\w ]*?)(?=[:,!]| in |\s*$)/,
    crashClass: "bug",
    title: "BUG: {what}",
    culprit: TRACE,
    survivable: true,
    needsTrace: true,
    example: "BUG: scheduling while atomic: insmod/95/0x00000002",
  },
  {
    // A header cut right after its first word: the rest of the line was lost.
    header: /^(?<what>BUG|WARNING|INFO):\s*$/,
    crashClass: "other",
    title: "{what}: corrupted",
    culprit: TRACE,
    survivable: true,
    corrupted: true,
    needsTrace: true,
    example: "INFO:",
  },
  {
    // A Go runtime crash (gVisor's Sentry, a Go agent): "panic:" or "fatal error:" then goroutine stacks.
    header: /^(?:panic|fatal error): (?<what>.+)$/,
    crashClass: "go-runtime",
    title: "go runtime error: {what}",
    culprit: null,
    needsTrace: true,
    userSpace: true,
    example: "fatal error: out of memory",
  },
];

/** Panic reasons and oops headers, in match order (specific before generic). */
export const OOPS_PATTERNS: readonly OopsPattern[] = [
  ...PANICS,
  ...SANITIZERS,
  ...TRAPS,
  ...STALLS,
  ...LOCKING,
  ...WARNINGS,
  ...OTHER_BUGS,
];

/**
 * Whether one kernel log line starts a crash report or is a panic (for the host's /dev/kmsg and syslog
 * lines; known prefixes and a `[    1.234567] ` timestamp are stripped first). A host probe has no
 * context to confirm with, so headers that need a stack trace count here too; user-space ones do not.
 */
export function isOopsLine(line: string): boolean {
  const text = kernelText(line);
  return OOPS_PATTERNS.some((pattern) => pattern.userSpace !== true && pattern.header.test(text));
}
