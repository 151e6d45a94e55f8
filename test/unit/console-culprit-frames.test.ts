import { describe, expect, it } from "vitest";
import {
  CULPRIT_SKIP,
  culpritFrame,
  isGenericFrame,
  parseFrame,
  parseIpLine,
} from "../../src/monitor/culprit-frames.js";

/** Per group: frames that are its machinery, and look-alikes that are real culprits. */
const GROUP_CASES: Record<string, { generic: string[]; specific: string[] }> = {
  locking: {
    generic: [
      "__lock_acquire",
      "lock_acquire",
      "_raw_spin_lock_irqsave",
      "mutex_lock_nested",
      "down_write",
      "lock_timer_base",
    ],
    specific: ["tun_queue_purge", "sctp_sendmsg", "rtnl_newlink"],
  },
  "list-debug": {
    generic: ["__list_del_entry_valid", "__list_add", "debug_object_activate", "debug_check_no_obj_freed"],
    specific: ["ext4_list_backups", "nilfs_sysfs_delete_device_group"],
  },
  sanitizers: {
    generic: [
      "kasan_report",
      "__asan_load8",
      "__sanitizer_cov_trace_pc",
      "__msan_warning",
      "write_comp_data",
      "check_memory_region",
    ],
    specific: ["sanitize_fs_name", "sg_io"],
  },
  printing: {
    generic: [
      "dump_stack",
      "dump_stack_lvl",
      "printk",
      "vprintk_emit",
      "show_regs",
      "vsnprintf",
      "_dev_info",
    ],
    specific: ["tty_write", "n_tty_set_termios"],
  },
  "panic-bug": {
    generic: [
      "panic",
      "__warn",
      "report_bug",
      "handle_bug",
      "exc_invalid_op",
      "__stack_chk_fail",
      "skb_panic",
      "assertfail",
    ],
    specific: ["pfkey_send_acquire", "kerncrash_fire"],
  },
  allocation: {
    generic: [
      "kmalloc_trace",
      "__kmalloc",
      "kmem_cache_alloc_node",
      "kzalloc",
      "___kmalloc_large_node",
      "__alloc_pages",
    ],
    specific: ["xskq_create", "map_create"],
  },
  "string-memory": {
    generic: ["memcpy", "memset_orig", "strlen", "_copy_to_user", "copy_page_to_iter"],
    specific: ["memfd_secret", "strp_check_rcv"],
  },
  "rcu-timer-softirq-workqueue": {
    generic: [
      "rcu_do_batch",
      "call_timer_fn",
      "__run_timers",
      "__do_softirq",
      "process_one_work",
      "queue_work_on",
    ],
    specific: ["addrconf_dad_work", "fasync_helper"],
  },
  "interrupt-entry": {
    generic: [
      "asm_sysvec_apic_timer_interrupt",
      "do_syscall_64",
      "entry_SYSCALL_64_after_hwframe",
      "el1h_64_irq",
      "exc_page_fault",
    ],
    specific: ["ipv6_rcv", "x25_connect"],
  },
  waiting: {
    generic: ["__schedule", "schedule_timeout", "wait_for_completion", "finish_wait", "__switch_to"],
    specific: ["hiddev_read", "ucma_destroy_id"],
  },
  library: {
    generic: [
      "rb_erase",
      "__rb_insert_augmented",
      "crc16",
      "test_and_clear_bit",
      "atomic_read",
      "dput",
      "iput",
    ],
    specific: ["timerqueue_del", "__kernfs_remove", "evict"],
  },
  "device-teardown": {
    generic: [
      "kobject_del",
      "__kobject_del",
      "device_del",
      "sysfs_remove_file_ns",
      "usb_kill_urb",
      "hwrng_unregister",
    ],
    specific: ["iowarrior_disconnect", "chaoskey_disconnect"],
  },
};

describe("culprit skip table", () => {
  it("has a why for every group and test cases for every group", () => {
    for (const group of CULPRIT_SKIP) {
      expect(group.why.length, group.name).toBeGreaterThan(20);
      expect(GROUP_CASES[group.name], group.name).toBeDefined();
    }
    expect(Object.keys(GROUP_CASES).sort()).toEqual(CULPRIT_SKIP.map((g) => g.name).sort());
  });

  it.each(CULPRIT_SKIP.map((g) => [g.name, g] as const))(
    "group %s skips its machinery only",
    (name, group) => {
      const cases = GROUP_CASES[name];
      for (const symbol of cases?.generic ?? []) expect(group.frames.test(symbol), symbol).toBe(true);
      for (const symbol of cases?.specific ?? []) expect(isGenericFrame(symbol), symbol).toBe(false);
    },
  );
});

describe("frame lines", () => {
  it("parses every frame shape: x86 offsets, addresses, ? frames, inline frames, arm unwinder, modules", () => {
    expect(parseFrame("  gpf_fire+0x2b/0x60 [gpf]")).toEqual({
      symbol: "gpf_fire",
      module: "gpf",
      questionable: false,
    });
    expect(
      parseFrame(" [<ffffffff8105bbd0>] do_ipv6_setsockopt.isra.7+0x15d0/0x2830 net/ipv6/x.c:1")?.symbol,
    ).toBe("do_ipv6_setsockopt");
    expect(parseFrame("  ? stale_fn+0x1/0x2")?.questionable).toBe(true);
    expect(parseFrame("  __dump_stack lib/dump_stack.c:17 [inline]")?.symbol).toBe("__dump_stack");
    expect(
      parseFrame("[<80b10c70>] (memset) from [<8062eec8>] (n_tty_set_termios+0x154/0x3c4)")?.symbol,
    ).toBe("memset");
    expect(parseFrame(" __x64_sys_recvmmsg+0x10/0x20")?.symbol).toBe("sys_recvmmsg");
    expect(parseFrame("Modules linked in: kerncrash(OE)")).toBeNull();
  });

  it("parses faulting-instruction lines of x86, old x86, arm and arm64", () => {
    expect(parseIpLine("RIP: 0010:kerncrash_fire+0x22/0x39 [kerncrash]")).toMatchObject({
      symbol: "kerncrash_fire",
      module: "kerncrash",
    });
    expect(
      parseIpLine("RIP: 0010:[<ffffffff8213c531>]  [<ffffffff8213c531>] logfs_init_inode.isra.6+0x111/0x470")
        ?.symbol,
    ).toBe("logfs_init_inode");
    expect(parseIpLine("PC is at memset+0x30/0xa8")?.symbol).toBe("memset");
    expect(parseIpLine("pc : __kmem_cache_alloc_node+0x17c/0x350")?.symbol).toBe("__kmem_cache_alloc_node");
    expect(parseIpLine("RIP: 0033:0x45cb29")).toBeNull();
  });
});

describe("culprit rules", () => {
  const trace = (...frames: string[]): string[] => ["Call Trace:", ...frames.map((f) => ` ${f}+0x1/0x2`)];

  it("skips generic frames and names the first specific one", () => {
    const lines = [
      "RIP: 0010:__lock_acquire+0x1/0x2",
      ...trace("lock_acquire", "_raw_spin_lock", "tun_queue_purge"),
    ];
    expect(culpritFrame(lines, { from: ["rip", "trace"] })?.symbol).toBe("tun_queue_purge");
  });

  it("names the first frame that is not reporting machinery when every frame is generic", () => {
    expect(
      culpritFrame(trace("dump_stack", "__dabt_svc", "do_syscall_64"), { from: ["trace"] })?.symbol,
    ).toBe("__dabt_svc");
    expect(culpritFrame(["no frames here"], { from: ["trace"] })).toBeNull();
  });

  it("takes lockdep's at: frame after what the task was doing", () => {
    const lines = [
      "syz-executor/1577 is trying to acquire lock:",
      " (&r->consumer_lock){+.+...}, at: [<ffffffff82de6c86>] tun_queue_purge+0xe6/0x210",
    ];
    expect(culpritFrame(lines, { from: ["lockdep", "trace"], groups: ["locking"] })?.symbol).toBe(
      "tun_queue_purge",
    );
  });

  it("names a stall after the frame above the first dispatch anchor, after the timer interrupt", () => {
    const lines = [
      ...trace("rcu_dump_cpu_stacks", "hrtimer_interrupt", "sysvec_apic_timer_interrupt"),
      "RIP: 0010:native_queued_spin_lock_slowpath+0x1/0x2",
      ...trace("_raw_spin_lock", "kvm_vcpu_ioctl", "do_vfs_ioctl", "ksys_ioctl", "do_syscall_64"),
    ];
    expect(culpritFrame(lines, { from: ["any"], extractor: "stall" })?.symbol).toBe("kvm_vcpu_ioctl");
  });

  it("names a stall in a loaded module after the module's function, and a cross-CPU call after the wait", () => {
    const inModule = [
      "RIP: 0010:softlockup_fire+0x1/0x2 [softlockup]",
      ...trace("do_one_initcall", "do_syscall_64"),
    ];
    expect(culpritFrame(inModule, { from: ["any"], extractor: "stall" })).toMatchObject({
      symbol: "softlockup_fire",
      module: "softlockup",
    });
    const ipi = [
      "RIP: 0010:smp_call_function_single+0x1/0x2",
      ...trace("smp_call_function_many_cond", "do_syscall_64"),
    ];
    expect(culpritFrame(ipi, { from: ["any"], extractor: "stall" })?.symbol).toBe("smp_call_function");
  });

  it("groups hung tasks on RCU grace periods and names others past the waits", () => {
    const rcu = trace("__schedule", "schedule", "__synchronize_srcu", "fsnotify_mark_destroy_workfn");
    expect(culpritFrame(rcu, { from: ["trace"], extractor: "hung" })?.symbol).toBe("synchronize_rcu");
    const io = trace("__schedule", "io_schedule", "folio_wait_bit", "read_cache_folio", "ext4_read");
    expect(culpritFrame(io, { from: ["trace"], extractor: "hung" })?.symbol).toBe("read_cache_folio");
  });
});
