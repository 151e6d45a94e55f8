/**
 * The culprit frame of a kernel crash report: the first frame that is not machinery every crash passes
 * through. Kept as data next to the oops table (oops-patterns.ts): each group of generic frames has a
 * line saying why it is never the function at fault. The shape follows syzkaller's `pkg/report`
 * (frame sources tried in order, substring skip lists, anchor frames for stalls); the lists are ezone's.
 */

/** One group of generic frames: matched against a bare symbol (clone suffixes removed). */
export interface SkipGroup {
  name: string;
  /** Why no frame of this group is the culprit. */
  why: string;
  frames: RegExp;
}

/** Generic frames, by group. A symbol matching any group is skipped when looking for the culprit. */
export const CULPRIT_SKIP: readonly SkipGroup[] = [
  {
    name: "locking",
    why: "every lock user passes through the lock and lockdep code; the caller took the lock",
    frames:
      /lockdep|lock_acquire|lock_release|lock_class|held_locks|^(?:_raw_|__raw_|do_raw_)?(?:spin|read|write|mutex)_(?:un)?(?:try)?lock|^_?raw_(?:spin|read|write)|^(?:__)?mutex_|^mutex_|^(?:__)?(?:down|up)(?:_read|_write)?(?:_trylock|_killable|_interruptible)?$|^rwsem_|^osq_|^queued_(?:spin|read|write)|^native_queued_spin|^__pv_queued|^percpu_(?:down|up)_|^rt_mutex|^ww_mutex|^lock_(?:sock|timer_base)|^release_sock$|^__lock_sock|^spin_dump$|^(?:__)?task_rq_lock|^raw_spin_rq_lock\w*|^rq_lock\w*|^spin_bug$|^rwlock_bug|^mark_lock|^mark_usage|^mark_held_locks|^validate_chain|^check_prev_add|^check_noncircular|^debug_spin_\w+|^debug_rwlock\w*/,
  },
  {
    name: "list-debug",
    why: "list and debug-object checks report the corruption they find, not who caused it",
    frames:
      /^(?:__)?list_(?:add|del|replace|move|splice)|^list_(?:add|del|replace|move|splice)|debug_object|debug_check|^__debug_|^__list_\w+_valid|_is_static_object$/,
  },
  {
    name: "sanitizers",
    why: "sanitizer and coverage hooks run inside every instrumented access",
    frames:
      /kasan|kmsan|kcsan|kfence|ubsan|^__asan|^__msan|^__tsan|^__hwasan|^__sanitizer|^__ubsan|check_memory_region|^write_comp_data$|^__sanitizer_cov|^check_(?:object_size|heap_object|stack_object)|^_?_?check_(?:object_size|heap_object|stack_object|object)|^handle_(?:overflow|shift_out_of_bounds|out_of_bounds|null_ptr_deref|load_invalid_value)|^usercopy_|^report_(?:bug|overflow)|read_word_at_a_time/,
  },
  {
    name: "printing",
    why: "printk and stack dumping print the report; they are where the report is, not the bug",
    frames:
      /dump_stack|show_stack|show_trace|show_regs|^(?:__)?printk|^vprintk|printk$|^_printk|^print_|^dump_backtrace|^v?sc?n?printf$|^\w*_string$|^hex_dump\w*|^perf_trace_|^trace_event_raw_event_|^__bpf_trace_|^__traceiter_|^stack_trace_\w+|^arch_stack_walk|^unwind_\w+|^__unwind_start|^_?dev_(?:info|notice|warn|err|alert|crit|emerg|printk)|^_?sched_show_task|^dump_cpu_task|^__dev_printk|^snprintf|^vsnprintf|^scnprintf|^kv?asprintf|^string$|^pointer$|^console_(?:unlock|lock|trylock|flush_all|emit_next_record)$|^dev_vprintk_emit|^va_format|^format_decode|^walk_stackframe|^trace_hardirqs_\w+|^__read_once_word_nocheck|^_stext$|^serial8250_console|^nmi_(?:cpu|trigger)_backtrace|^\w+_trigger_cpumask_backtrace|^trigger_\w*backtrace/,
  },
  {
    name: "panic-bug",
    why: "panic, BUG and WARN helpers are how a report is raised, not where it went wrong",
    frames:
      /panic|^__warn|^warn_|_warn$|^report_bug|^fixup_bug|^handle_bug|^do_error_trap|^do_trap|^do_invalid_op|^invalid_op$|^exc_\w+|^die$|^__die|^oops_(?:end|begin)|^do_int3|_trap$|^__stack_chk_fail|^(?:__)?bug_handler|^assertfail|^__assert_fail|^(?:__)?bug$|^refcount_(?:warn|error|add|sub|inc|dec|set|read)|^__refcount_|^might_(?:fault|sleep)|^__might_(?:fault|sleep|resched)|^___might_sleep|^__cant_sleep|^(?:__)?fortify_\w+|^__seqprop_assert|^ref_tracker_\w+|^__virt_to_phys|^__phys_addr|^skb_(?:over_|under_)?panic$|^skb_put$|^skb_push$|^bad_page$/,
  },
  {
    name: "allocation",
    why: "allocator wrappers are called from everywhere; the caller owns the bad object",
    frames:
      /^_*k[mzc]?alloc|^kmem_cache|^__kmem_cache|^krealloc|^kvmalloc|^kvzalloc|^(?:__)?vmalloc|^vzalloc|^kfree|^kvfree|^vfree|^__free_pages|^free_pages|^slab_|^__slab|^slab$|^___slab|^(?:__)?alloc_pages|^alloc_pages|^kmemdup|^kstrdup|^kstrndup|^memdup|^__kmalloc|^kmalloc_|^should_fail|^fail_dump|^create_object|^kmemleak|^mempool_|^__do_kmalloc|^(?:__)?alloc_\w*pages?\w*|^alloc_page\w*|^free_large_kmalloc|_noprof$|^(?:__)?free_\w*pages?\w*|^free_unref_\w+|^(?:__)?folio_put|^put_page|^__put_page|^release_pages|^free_pcp_prepare|^page_frag_free|^skb_free_head/,
  },
  {
    name: "string-memory",
    why: "memory and string helpers do the access; the caller passed the bad pointer or length",
    frames:
      /^(?:__)?mem(?:cpy|set|move|cmp|chr|scan)(?:_\w+)?$|^str(?:n?cmp|n?cpy|lcpy|scpy|n?len|n?chr|r?chr|nstr|str|cat)$|^(?:__|_)?copy_(?:to|from)_user|^copy_user_|^(?:__)?(?:put|get)_user|^__arch_copy|^_copy_(?:to|from)_iter|^copyin$|^copyout$|^(?:_|simple_)?copy_(?:page_)?(?:to|from)_iter|_indirect_thunk_/,
  },
  {
    name: "rcu-timer-softirq-workqueue",
    why: "deferred-work plumbing (RCU, timers, softirqs, workqueues) runs the real callback",
    frames:
      /^rcu_|^__rcu|^call_rcu|^rcu$|^s?rcu_\w+|^__srcu\w*|^cleanup_srcu_struct|^synchronize_rcu_expedited|^(?:__)?run_timers?|^call_timer_fn|^run_timer_softirq|^expire_timers|^__hrtimer_run_queues|^hrtimer_(?:interrupt|run_queues|wakeup)|^tick_|^update_process_times|^(?:__)?do_softirq|^handle_softirqs|^do_softirq|^run_ksoftirqd|^invoke_softirq|^__local_bh_enable|^local_bh_enable|^process_one_work|^process_scheduled_works|^worker_thread|^kthread$|^smpboot_thread_fn|^ret_from_fork|^flush_work|^__flush_work|^flush_workqueue|^__flush_workqueue|^drain_workqueue|^destroy_workqueue|^__cancel_work|^cancel_work_sync|^cancel_delayed_work|^try_to_grab_pending|^del_timer|^timer_delete|^kthread_stop|^watchdog_timer_fn|^(?:__)?queue_work\w*|^insert_work|^__wake_up|^wake_up/,
  },
  {
    name: "interrupt-entry",
    why: "interrupt, exception and syscall entry code is the way in, shared by every report",
    frames:
      /^asm_|^exiting_irq|^(?:__)?handle_domain_irq|^gic_handle_irq|^generic_handle_\w+|^arch_timer_handler\w*|^do_tag_check_fault|^do_tag_recovery|^do_bad_area|^el1_abort|^el1_da|^native_safe_halt|^default_idle|^arch_cpu_idle|^cpuidle_enter|^do_idle|^(?:__)?sysvec_|^sysvec_|apic_timer_interrupt|^(?:__)?irq_exit|^irq_exit|^common_interrupt|^do_IRQ|^handle_irq|^__handle_irq|^handle_\w+_irq$|^entry_SYSCALL|^do_syscall_|^do_fast_syscall|^irqentry_|^error_entry|^ret_from_intr|^retint_|^el[01]_|^el1h_|^__dabt_svc|^__irq_svc|^__und_svc|^do_DataAbort|^do_PrefetchAbort|^do_mem_abort|^do_translation_fault|^__do_kernel_fault|^do_page_fault|^__do_page_fault|^page_fault$|^exc_page_fault|^handle_page_fault|^do_user_addr_fault|^bad_area|^__bad_area|^no_context|^do_sea|^do_el0|^do_el1/,
  },
  {
    name: "waiting",
    why: "sleeping and waiting primitives are where a blocked or woken task is, not who made it wait",
    frames:
      /^__switch_to\w*|^context_switch|^(?:__)?schedule\w*|^schedule\w*|^io_schedule\w*|^wait_for_\w+|^__wait_for_common|^do_wait_for_common|^finish_wait|^prepare_to_wait\w*|^wait_woken|^msleep\w*|^usleep_range\w*|^__wait_event\w*|^autoremove_wake_function/,
  },
  {
    name: "library",
    why: "generic data structures and helpers from lib/ (rbtree, bit ops, atomics, checksums) serve every subsystem; the caller's data is bad",
    frames:
      /^_?_?rb_(?:erase|insert|next|prev|first|last|replace)\w*|^__rb_\w+|^crc\w*|^aes\w*|^test_and_(?:set|clear|change)_bit|^_?_?(?:set|clear|change)_bit$|^find_(?:next|first)_\w*bit|^_?atomic\w*|^arch_atomic\w*|^_atomic_dec_and_\w+|^fast_dput$|^dput$|^iput$|^atomic_dec_and_\w+|^refcount_dec_and_\w+|^(?:__)?xa_\w+|^xas_\w+|^radix_tree_\w+|^idr_\w+|^sort$|^bsearch$/,
  },
  {
    name: "device-teardown",
    why: "driver-core and USB teardown helpers (kobject, sysfs, device_del, killing URBs) are reached from every driver's remove path; the driver is the suspect",
    frames:
      /^_*kobject_\w+|^dpm_sysfs_remove|^device_pm_remove|^add_uevent_var|^get_device_parent|^device_(?:add|del|unregister|destroy|release|for_each_child|remove_file\w*)|^__device_release_driver|^device_release_driver\w*|^bus_remove_device|^sysfs_remove\w*|^hwrng_unregister|^i2c_del_adapter|^__unregister_client|^tty_unregister_device|^rollback_registered\w*|^unregister_netdev\w*|^usb_kill_urb|^usb_kill_anchored_urbs|^usb_poison_urb|^usb_hcd_submit_urb|^usb_submit_urb|^usb_start_wait_urb|^usb_(?:control|bulk|interrupt)_msg|^dummy_urb_enqueue|^kref_put|^put_device|^release_nodes|^devres_release_all/,
  },
];

/** A parsed stack frame line. */
export interface Frame {
  /** The function, clone suffixes (`.isra.0`, `.cold`) removed. */
  symbol: string;
  module: string | null;
  /** A `?` frame: a stale stack word the unwinder is unsure of. */
  questionable: boolean;
}

/** Compiler clone suffixes, removed so titles stay stable across builds. */
const CLONE_SUFFIX = /(?:\.(?:cold|isra|constprop|part|lto_priv|llvm|clone)(?:\.\d+)?)+$/;
/**
 * A stack frame line: optional `[<addr>]` words, an optional `?`, then `func+0xoff/0xsize [module]` or
 * a symbolized inline frame `func file.c:12 [inline]`.
 */
const FRAME_LINE =
  /^\s*(?:\[<?(?:0x)?[0-9a-f]+>?\]\s*){0,2}(?:\d+:)?(\?\s+)?([A-Za-z_$][\w.$]*)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)\])?|\s+\S+\.[chS]:\d+(?::\d+)?\s+\[inline\])/;
/** arm's unwinder: `[<80b10c70>] (memset) from [<8062eec8>] (n_tty_set_termios+0x154/0x3c4)`. */
const ARM_FRAME_LINE =
  /^\s*\[<[0-9a-f]+>\]\s*\(([A-Za-z_$][\w.$]*)(?:\+0x[0-9a-f]+\/0x[0-9a-f]+)?(?: \[([\w-]+)\])?\) from /;
/** The work function a workqueue report names on its own line. */
const LAST_FUNCTION = /last function: ([A-Za-z_$][\w.$]*)/;
/** Syscall entry wrappers, stripped so one syscall has one name across kernel versions and arches. */
const SYSCALL_WRAPPER =
  /^(?:__(?:x64|ia32|arm64|riscv|s390x)_(?=sys_)|__se_sys_|__do_sys_|ksys_|SyS_|SYSC_|compat_SyS_|compat_SYSC_)/;

/** A symbol as titles name it: compiler clone suffixes and syscall wrappers removed. */
export function normalSymbol(symbol: string): string {
  return symbol.replace(CLONE_SUFFIX, "").replace(SYSCALL_WRAPPER, "");
}
/** A line naming the faulting instruction: x86 `RIP: 0010:func+0x1/0x2`, `IP: [<..>] func`, arm `PC is at func`, arm64 `pc : func`. */
const IP_LINE =
  /^\s*(?:R|E|N)?IP:\s*(?:\d{4}:)?(?:\[<[0-9a-f]+>\]\s*){0,2}(?:\d+:)?([A-Za-z_$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)\])?|^\s*PC is at ([A-Za-z_$][\w.$]*)\+0x|^\s*pc\s*:\s*(?:\[<[0-9a-f]+>\]\s*)?([A-Za-z_$][\w.$]*)\+0x/;
/** Where a stack trace starts. */
const STACK_START = /Call Trace:|^\s*Call trace:|(?:^|[^k] )backtrace:|^\s*<TASK>|^\s*<IRQ>|Backtrace:/;
/** Lockdep names the culprit on the `at:` line after what the task was doing. */
const LOCKDEP_TRIGGER =
  /is trying to acquire|is trying to lock:|\d+ locks? held by|just changed the state of lock|\btakes:|is trying to release lock|leaving the kernel with locks still held|is freeing memory|is exiting with locks still held|still has locks held|there are no more locks to release/;
const AT_FRAME =
  /\bat:\s*(?:\[<[0-9a-f]+>\]\s*)?(?:[0-9a-f]{8,16}\s+)?([A-Za-z_$][\w.$]*)\+0x[0-9a-f]+\/0x[0-9a-f]+(?:\s+\[([\w-]+)\])?/;

/** A goroutine dump: how a Go runtime crash shows its stacks. */
const GOROUTINE = /^goroutine \d+ \[/;

/** Whether a line starts a stack trace or names a faulting instruction: what makes a header a report. */
export function opensStack(line: string): boolean {
  return STACK_START.test(line) || IP_LINE.test(line) || GOROUTINE.test(line);
}

/** Parse one stack frame line, or null. */
export function parseFrame(line: string): Frame | null {
  const m = FRAME_LINE.exec(line);
  if (m?.[2]) return { symbol: normalSymbol(m[2]), module: m[3] ?? null, questionable: m[1] !== undefined };
  const arm = ARM_FRAME_LINE.exec(line);
  return arm?.[1] ? { symbol: normalSymbol(arm[1]), module: arm[2] ?? null, questionable: false } : null;
}

/** The function a RIP/IP/PC line names, or null. */
export function parseIpLine(line: string): Frame | null {
  const m = IP_LINE.exec(line);
  const symbol = m?.[1] ?? m?.[3] ?? m?.[4];
  if (!symbol) return null;
  return { symbol: normalSymbol(symbol), module: m?.[2] ?? null, questionable: false };
}

/**
 * Whether a symbol is generic machinery or matches the report's own skips. `groups` limits the check to
 * some `CULPRIT_SKIP` groups (all by default).
 */
export function isGenericFrame(symbol: string, extra?: RegExp, groups?: readonly string[]): boolean {
  const table = groups ? CULPRIT_SKIP.filter((g) => groups.includes(g.name)) : CULPRIT_SKIP;
  return table.some((g) => g.frames.test(symbol)) || (extra?.test(symbol) ?? false);
}

/**
 * Where a report names its culprit, tried in order until one gives a frame that is not generic:
 * - `rip`: the faulting instruction's line;
 * - `trace`: the frames after the first stack-start line (`Call Trace:`, `backtrace:`, `<TASK>`);
 * - `lockdep`: the `at:` frame after what the task was doing (acquiring, releasing, taking a lock);
 * - `any`: every frame line of the report, in order.
 */
export type FrameSource = "any" | "lockdep" | "rip" | "trace";

/** How one kind of report picks its culprit. */
export interface CulpritRule {
  from: readonly FrameSource[];
  /** Frames never the culprit for this kind of report, on top of `CULPRIT_SKIP`. */
  skip?: RegExp;
  /**
   * Only these `CULPRIT_SKIP` groups apply (by name) to lockdep's `at:` lines, which name the lock's
   * user: workqueue or console code may well be it; the lock functions themselves never are.
   */
  groups?: readonly string[];
  /**
   * `stall`: a spinning CPU is caught at a random point of a loop: name the frame just above the first
   * entry point (syscall, work item, timer) instead. `hung`: a blocked task sleeps in generic waits:
   * group hangs on RCU grace periods and on the RTNL lock, else the first frame that is not a wait.
   */
  extractor?: "hung" | "stall";
}

function framesFrom(lines: readonly string[], source: FrameSource): Frame[] {
  const frames: Frame[] = [];
  let started = source === "any";
  for (const line of lines) {
    if (source === "rip") {
      const ip = parseIpLine(line);
      if (ip) frames.push(ip);
      continue;
    }
    if (source === "lockdep") {
      if (LOCKDEP_TRIGGER.test(line)) started = true;
      else if (started) {
        const at = AT_FRAME.exec(line);
        const frame = at?.[1]
          ? { symbol: normalSymbol(at[1]), module: at[2] ?? null, questionable: false }
          : parseFrame(line);
        if (frame) frames.push(frame);
      } else {
        const named = LAST_FUNCTION.exec(line);
        if (named?.[1]) frames.push({ symbol: normalSymbol(named[1]), module: null, questionable: false });
      }
      continue;
    }
    if (!started && STACK_START.test(line)) started = true;
    else if (started) {
      const frame = parseFrame(line) ?? (source === "any" ? parseIpLine(line) : null);
      if (frame && !frame.questionable) frames.push(frame);
    }
  }
  return frames;
}

/**
 * Frames through which the kernel dispatches work (syscall entry, file and socket operations, work
 * items, timers, packet receive, page faults): a stall is named after the frame just above the first of
 * these, which says which syscall, device or protocol was spinning. Matched anywhere in the symbol.
 */
const STALL_ANCHORS = new RegExp(
  [
    // Generic dispatch and entry points.
    "process_one_work|do_syscall_|do_fast_syscall_|sysenter_dispatch|el0_svc_handler|invoke_syscall|ret_fast_syscall",
    "netif_receive_skb|do_softirq|call_timer_fn|_run_timers|run_timer_softirq|hrtimer_run|run_ksoftirqd",
    "smpboot_thread_fn|^kthread$|start_secondary|cpu_startup_entry|ret_from_fork",
    // File operations: the frame above names the file system or device.
    "vfs_write|vfs_read|vfs_iter_read|vfs_iter_write|do_iter_read|do_iter_write|call_read_iter|call_write_iter",
    "new_sync_read|new_sync_write|vfs_ioctl|ksys_ioctl|compat_ioctl|compat_sys_ioctl|blkdev_driver_ioctl",
    "blkdev_ioctl|do_iter_readv_writev|^call_mmap|mmap_region|do_mmap|do_dentry_open|vfs_open",
    // Socket operations: the frame above names the protocol.
    "^sock_sendmsg|^sock_recvmsg|^sock_release|^__sock_release|__sys_setsockopt|kernel_setsockopt",
    "sock_common_setsockopt|__sys_listen|kernel_listen|sk_common_release|^sock_mmap|__sys_accept|kernel_accept",
    "^sock_do_ioctl|^sock_ioctl|^compat_sock_ioctl|^nfnetlink_rcv_msg|^rtnetlink_rcv_msg|^netlink_dump",
    "^(?:compat_)?(?:SYSC|SyS|__sys|___sys|__do_sys|__se_sys|__x64_sys|sys)_(?:socketpair|connect|ioctl)|^(?:socketpair|connect|ioctl)$",
    // The return to user space. (A page fault is no anchor: it usually happens inside a syscall's copy,
    // and the syscall is what names the stall.)
    "__fput|task_work_run|exit_to_user",
  ].join("|"),
);
/** Entry wrappers stripped from a syscall frame so one syscall has one name across kernel versions. */
const SYSCALL_PREFIX = /^(?:__x64_|__ia32_|__arm64_|compat_SyS_|compat_SYSC_|SyS_|SYSC_)/;
/** Frames of the timer interrupt in which the watchdog or RCU noticed the stall (x86, arm64). */
const TIMER_INTERRUPT = /apic_timer_interrupt|^hrtimer_interrupt$|^arch_timer_handler/;

/** A loaded module's own function (a fault module, a driver): the suspect before any kernel dispatch frame. */
function moduleFrame(frames: readonly Frame[]): Frame | undefined {
  return frames.find((f) => f.module !== null && !isGenericFrame(f.symbol));
}

/**
 * Waits a CPU can spin in for a long time on behalf of others (cross-CPU function calls): the wait
 * itself names the stall, whoever called it.
 */
const STALL_WAITS: readonly [RegExp, string][] = [[/^smp_call_function/, "smp_call_function"]];

function stallFrame(frames: readonly Frame[], skip: RegExp | undefined): Frame | null {
  // The timer interrupt that caught the CPU comes first (after other tasks' stacks the report may dump);
  // the interrupted code starts at the first specific frame after its entry frames.
  let irq = frames.findIndex((f) => TIMER_INTERRUPT.test(f.symbol));
  while (irq !== -1 && irq + 1 < frames.length && isGenericFrame(frames[irq + 1]?.symbol ?? "")) irq++;
  const interrupted = irq === -1 ? frames : frames.slice(irq + 1);
  for (const frame of [...frames.slice(0, 2), ...interrupted.slice(0, 3)]) {
    for (const [wait, name] of STALL_WAITS) if (wait.test(frame.symbol)) return { ...frame, symbol: name };
  }
  const inModule = moduleFrame(interrupted);
  if (inModule) return inModule;
  let above: Frame | null = null;
  for (const frame of interrupted) {
    if (STALL_ANCHORS.test(frame.symbol)) {
      return above && { ...above, symbol: above.symbol.replace(SYSCALL_PREFIX, "") };
    }
    if (!isGenericFrame(frame.symbol, skip)) above = frame;
  }
  return null;
}

const HUNG_ANCHORS: readonly [RegExp, string | null][] = [
  [/^rtnl_lock/, null],
  [/^_*synchronize_(?:rcu|srcu|net|sched)/, "synchronize_rcu"],
];
const HUNG_SKIP =
  /sched|_lock|_slowlock|down|completion|kthread|wait|synchronize|context_switch|__switch_to|cancel_delayed_work|^io_schedule|freezer|^sleep|msleep|nanosleep|^__mutex|^mutex/;

function hungFrame(frames: readonly Frame[]): Frame | null {
  const inModule = moduleFrame(frames);
  if (inModule) return inModule;
  for (const frame of frames) {
    for (const [anchor, replacement] of HUNG_ANCHORS) {
      if (anchor.test(frame.symbol)) return replacement ? { ...frame, symbol: replacement } : frame;
    }
  }
  return frames.find((f) => !HUNG_SKIP.test(f.symbol) && !isGenericFrame(f.symbol)) ?? null;
}

/** Groups that are the report's own machinery: never named, even when every other frame is generic too. */
const REPORTING_GROUPS: readonly string[] = ["printing", "panic-bug"];

/**
 * The culprit frame of a report's lines (header excluded, prefixes stripped). When every frame is
 * generic (a fault in entry code, a sanitizer hook), the first one that is not reporting machinery is
 * named rather than none; null when there is no frame at all.
 */
export function culpritFrame(lines: readonly string[], rule: CulpritRule): Frame | null {
  return specificFrame(lines, rule) ?? firstFrame(lines, rule);
}

function firstFrame(lines: readonly string[], rule: CulpritRule): Frame | null {
  for (const source of rule.from) {
    const found = framesFrom(lines, source).find(
      (f) => !isGenericFrame(f.symbol, rule.skip, REPORTING_GROUPS),
    );
    if (found) return found;
  }
  return null;
}

function specificFrame(lines: readonly string[], rule: CulpritRule): Frame | null {
  for (const source of rule.from) {
    const frames = framesFrom(lines, source);
    if (rule.extractor === "stall") {
      const found = stallFrame(frames, rule.skip);
      if (found) return found;
    }
    if (rule.extractor === "hung") {
      const found = hungFrame(frames);
      if (found) return found;
      continue;
    }
    const groups = source === "lockdep" ? rule.groups : undefined;
    const found = frames.find((f) => !isGenericFrame(f.symbol, rule.skip, groups));
    if (found) return found;
  }
  return null;
}
