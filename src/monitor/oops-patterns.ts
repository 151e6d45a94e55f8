/**
 * Kernel crash headers as data (STYLE.md point 7): which console line starts a crash report, its class,
 * and how its title is formed. Lines are Linux 6.1 x86_64 console text with the `[    1.234567] `
 * timestamp already stripped. The parser (console-parser.ts) takes the first entry whose `header`
 * matches, so a specific header comes before a generic one that would also match it; every entry's
 * `example` must be matched by that entry first (checked by the unit tests).
 */

/** Crash classes. Sorted block; keep it sorted. */
export const CRASH_CLASSES = [
  "bug",
  "divide-error",
  "gpf",
  "hang",
  "kasan",
  "lockup",
  "null-deref",
  "other",
  "panic",
  "warning",
] as const;
export type CrashClass = (typeof CRASH_CLASSES)[number];

/**
 * Where a title's culprit function comes from:
 * - `header`: the header's `func` group (`WARNING: ... at file:line func+0x1/0x2`), else as `frames`;
 * - `frames`: the first kernel `RIP: 0010:` line after the header, else the first reliable Call Trace frame;
 * - `none`: no function; the header says it all (a bare panic).
 */
export type TitleFrom = "frames" | "header" | "none";

export interface OopsPattern {
  /** Matched against one console line (timestamp stripped). Named groups feed `title`; see `TitleFrom`. */
  header: RegExp;
  crashClass: CrashClass;
  /** Short title; `{name}` stands for the header's named group. " in <function>" is appended once known. */
  title: string;
  titleFrom: TitleFrom;
  /** The kernel carries on after this report (WARNING, stalls): a later fatal oops supersedes it. */
  survivable?: true;
  /** The header is the "Kernel panic - not syncing" line itself; its `reason` group is the panic reason. */
  panic?: true;
  /** Frames never named as the culprit for this header, on top of `INFRA_FRAMES`. */
  skipFrames?: RegExp;
  /** A report made of this header alone is partial by nature ("Fatal exception" whose oops was lost). */
  corrupted?: true;
  /** A real-shaped line this entry must match before any other entry. */
  example: string;
}

/** `symbol+0xoff/0xsize [module]`, as the kernel prints a code address. */
export const FRAME_SOURCE = String.raw`[\w.$]+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[\w-]+\])?`;
/** The `[#1]` die counter that follows every x86 trap header. */
const DIE = String.raw`[0-9a-f]{4} \[#\d+\]`;

/**
 * Frames that report, trap or interrupt plumbing prints above the real culprit; never a title's function.
 * Matched against the bare symbol (suffixes such as `.cold` removed).
 */
export const INFRA_FRAMES =
  /^(?:dump_stack(?:_lvl)?|show_stack|show_trace_log_lvl|nmi_cpu_backtrace|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace|trigger_single_cpu_backtrace|rcu_dump_cpu_stacks|print_cpu_stall|check_cpu_stall|rcu_pending|rcu_sched_clock_irq|update_process_times|tick_sched_handle|tick_sched_timer|watchdog_timer_fn|__hrtimer_run_queues|hrtimer_interrupt|__sysvec_\w+|sysvec_\w+|asm_\w+|__irq_exit_rcu|irq_exit_rcu|handle_softirqs|__do_softirq|do_softirq|call_timer_fn|__run_timers|run_timer_softirq|panic|__warn|report_bug|handle_bug|exc_\w+|do_error_trap|do_trap|die|oops_end|print_report|kasan_report|__asan_\w+|kasan_check_range|__stack_chk_fail|do_syscall_64|entry_SYSCALL_64\w*|ret_from_fork|kthread)$/;

/** Where a blocked task sleeps: the hung-task culprit is the first frame below these. */
const SLEEP_FRAMES =
  /^(?:__schedule|schedule\w*|io_schedule\w*|__wait_for_common|do_wait_for_common|wait_for_completion\w*|__mutex_lock\w*|mutex_lock\w*|rwsem_down_\w+|down_\w+|down|__down\w*|msleep\w*|usleep_range\w*|do_nanosleep|hrtimer_nanosleep|wait_woken|prepare_to_wait\w*|finish_wait)$/;

/** Panic reasons and oops headers, in match order (specific before generic). */
export const OOPS_PATTERNS: readonly OopsPattern[] = [
  {
    header: new RegExp(
      `^Kernel panic - not syncing: (?<reason>stack-protector: Kernel stack is corrupted in: (?<func>${FRAME_SOURCE}))`,
    ),
    crashClass: "bug",
    title: "stack-protector: kernel stack is corrupted",
    titleFrom: "header",
    panic: true,
    example:
      "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: kerncrash_smash+0x5e/0x60 [kerncrash]",
  },
  {
    header: /^Kernel panic - not syncing: (?<reason>Fatal exception.*)$/,
    crashClass: "panic",
    title: "kernel panic: {reason}",
    titleFrom: "none",
    panic: true,
    corrupted: true,
    example: "Kernel panic - not syncing: Fatal exception in interrupt",
  },
  {
    header: /^Kernel panic - not syncing: (?<reason>.+)$/,
    crashClass: "panic",
    title: "kernel panic: {reason}",
    titleFrom: "none",
    panic: true,
    example: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
  },
  {
    header: new RegExp(`^BUG: KASAN: (?<kind>[a-z-]+(?: or [a-z-]+)?) in (?<func>${FRAME_SOURCE})`),
    crashClass: "kasan",
    title: "KASAN: {kind}",
    titleFrom: "header",
    survivable: true,
    example: "BUG: KASAN: use-after-free in kerncrash_uaf+0x3c/0x60 [kerncrash]",
  },
  {
    header: /^BUG: kernel NULL pointer dereference, address: [0-9a-f]+/,
    crashClass: "null-deref",
    title: "BUG: kernel NULL pointer dereference",
    titleFrom: "frames",
    example: "BUG: kernel NULL pointer dereference, address: 0000000000000000",
  },
  {
    header: /^BUG: unable to handle page fault for address: [0-9a-f]+/,
    crashClass: "bug",
    title: "BUG: unable to handle page fault",
    titleFrom: "frames",
    example: "BUG: unable to handle page fault for address: ffff8f3c43a05000",
  },
  {
    // 6.1 names the stack ("TASK", "IRQ", ...); older kernels did not.
    header: /^BUG: (?:\w+ )?stack guard page was hit at /,
    crashClass: "bug",
    title: "BUG: stack guard page was hit",
    titleFrom: "frames",
    example:
      "BUG: TASK stack guard page was hit at 000000009c1e4bd5 (stack is 00000000f0a1b2c3..0000000055d4e3f2)",
  },
  {
    header: /^watchdog: BUG: soft lockup - CPU#\d+ stuck for \d+s!/,
    crashClass: "lockup",
    title: "BUG: soft lockup",
    titleFrom: "frames",
    survivable: true,
    example: "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [ezone-agent:1]",
  },
  {
    header: /^(?:NMI )?watchdog: Watchdog detected hard LOCKUP on cpu \d+/,
    crashClass: "lockup",
    title: "BUG: hard lockup",
    titleFrom: "frames",
    survivable: true,
    example: "watchdog: Watchdog detected hard LOCKUP on cpu 0",
  },
  {
    header: /^INFO: task .+:\d+ blocked for more than \d+ seconds\./,
    crashClass: "hang",
    title: "INFO: task hung",
    titleFrom: "frames",
    survivable: true,
    skipFrames: SLEEP_FRAMES,
    example: "INFO: task ezone-agent:1 blocked for more than 120 seconds.",
  },
  {
    // An RCU stall means a CPU stopped passing quiescent states: spinning, like a soft lockup.
    header: /^(?:rcu: )?INFO: rcu_\w+ (?:detected stalls on CPUs\/tasks|self-detected stall on CPU)/,
    crashClass: "lockup",
    title: "INFO: rcu detected stall",
    titleFrom: "frames",
    survivable: true,
    example: "rcu: INFO: rcu_preempt self-detected stall on CPU",
  },
  {
    header: /^kernel BUG at \S+:\d+!/,
    crashClass: "bug",
    title: "kernel BUG",
    titleFrom: "frames",
    example: "kernel BUG at /tmp/ezone-build/kerncrash.c:58!",
  },
  {
    header: new RegExp(`^divide error: ${DIE}`),
    crashClass: "divide-error",
    title: "divide error",
    titleFrom: "frames",
    example: "divide error: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    header: new RegExp(
      `^general protection fault(?:, probably for non-canonical address 0x[0-9a-f]+)?: ${DIE}`,
    ),
    crashClass: "gpf",
    title: "general protection fault",
    titleFrom: "frames",
    example:
      "general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // Alone, without "kernel BUG at" before it: a stray ud2 or a jump into garbage.
    header: new RegExp(`^invalid opcode: ${DIE}`),
    crashClass: "other",
    title: "invalid opcode",
    titleFrom: "frames",
    example: "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // What die() prints after a guard page hit in 6.1; alone it means the "BUG:" line above was lost.
    header: new RegExp(`^stack guard page: ${DIE}`),
    crashClass: "bug",
    title: "stack guard page",
    titleFrom: "frames",
    example: "stack guard page: 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    // Kernels before 5.x.
    header: new RegExp(String.raw`^kernel stack overflow \(double-fault\): ${DIE}`),
    crashClass: "bug",
    title: "kernel stack overflow",
    titleFrom: "frames",
    example: "kernel stack overflow (double-fault): 0000 [#1] PREEMPT SMP NOPTI",
  },
  {
    header: new RegExp(String.raw`^WARNING: (?:CPU: \d+ PID: \d+ )?at \S+ ?(?<func>${FRAME_SOURCE})?`),
    crashClass: "warning",
    title: "WARNING",
    titleFrom: "header",
    survivable: true,
    example: "WARNING: CPU: 0 PID: 1 at /tmp/ezone-build/kerncrash.c:71 kerncrash_warn+0x15/0x30 [kerncrash]",
  },
  {
    header: /^WARNING: (?<what>[^\s:][^:]*?)\s*$/,
    crashClass: "warning",
    title: "WARNING: {what}",
    titleFrom: "frames",
    survivable: true,
    example: "WARNING: possible circular locking dependency detected",
  },
  {
    header: /^UBSAN: (?<what>[\w-]+) in /,
    crashClass: "other",
    title: "UBSAN: {what}",
    titleFrom: "frames",
    survivable: true,
    example: "UBSAN: shift-out-of-bounds in /tmp/ezone-build/kerncrash.c:80:12",
  },
  {
    // Most other "BUG:" reports (scheduling while atomic, bad page state, ...) let the kernel go on.
    header: /^BUG: (?<what>[A-Za-z][\w ]*?)(?=[:,!]| in |\s*$)/,
    crashClass: "bug",
    title: "BUG: {what}",
    titleFrom: "frames",
    survivable: true,
    example: "BUG: scheduling while atomic: insmod/95/0x00000002",
  },
  {
    header: new RegExp(`^Oops: ${DIE}`),
    crashClass: "other",
    title: "Oops",
    titleFrom: "frames",
    example: "Oops: 0002 [#1] PREEMPT SMP NOPTI",
  },
];

/**
 * Whether one kernel log line starts a crash report or is a panic (for the host's /dev/kmsg, whose
 * records carry no timestamp prefix; a `[    1.234567] ` prefix is tolerated all the same).
 */
export function isOopsLine(line: string): boolean {
  const text = line.replace(/^\[\s*\d+\.\d+\]\s?/, "");
  return OOPS_PATTERNS.some((pattern) => pattern.header.test(text));
}
