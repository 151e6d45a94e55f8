// SPDX-License-Identifier: GPL-2.0
/*
 * memleak: a kernel thread takes pages from the kernel in 1 MiB steps and keeps them (a leak) until
 * the kernel's OOM killer acts (an OOM notifier sees it), an allocation fails, the memory the kernel
 * could still give falls below floor_mb, or max_mb is taken; it holds them for hold_ms and then gives
 * every page back, so the kernel survives unless something it needed was killed meanwhile.
 * The pages are asked for with __GFP_NORETRY: the leak itself never invokes the OOM killer, the rest of
 * the system's allocations (user space faulting pages in) do, as they would beside a real leak.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/oom.h>
#define EZONE_FIRE memleak_fire
#define EZONE_CLEANUP memleak_cleanup
#include "ezone-fault.h"

static uint max_mb = 4096;
module_param(max_mb, uint, 0444);
MODULE_PARM_DESC(max_mb, "most memory leaked, in MiB");

static uint floor_mb = 8;
module_param(floor_mb, uint, 0444);
MODULE_PARM_DESC(floor_mb, "stop leaking once the kernel's available memory is below this, in MiB");

static uint hold_ms = 3000;
module_param(hold_ms, uint, 0444);
MODULE_PARM_DESC(hold_ms, "how long the leaked memory is held before it is all freed, in ms");

#define PAGES_PER_MB (1024 * 1024 / PAGE_SIZE)

static LIST_HEAD(leaked);
static DECLARE_COMPLETION(memleak_done);
static bool memleak_started;
static atomic_t oom_seen = ATOMIC_INIT(0);

/* Called by out_of_memory() before it picks a victim; freeing nothing here leaves the killer to act. */
static int memleak_oom_notify(struct notifier_block *nb, unsigned long unused, void *freed)
{
	atomic_inc(&oom_seen);
	return NOTIFY_OK;
}
static struct notifier_block memleak_oom_nb = {.notifier_call = memleak_oom_notify};

/* Take one more MiB; false when the kernel refused a page (the part taken is kept). */
static bool leak_one_mb(unsigned long *pages)
{
	unsigned long i;

	for (i = 0; i < PAGES_PER_MB; i++) {
		struct page *p = alloc_page(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN);

		if (!p)
			return false;
		list_add(&p->lru, &leaked);
		(*pages)++;
	}
	return true;
}

static const char *leak_until_stopped(unsigned long *pages)
{
	while (!kthread_should_stop()) {
		if (atomic_read(&oom_seen))
			return "the OOM killer acted";
		if (*pages >= (unsigned long)max_mb * PAGES_PER_MB)
			return "max_mb reached";
		if (si_mem_available() < (long)floor_mb * PAGES_PER_MB)
			return "available memory below floor_mb";
		if (!leak_one_mb(pages))
			return "an allocation failed";
		cond_resched();
	}
	return "unloaded";
}

static void free_leaked(void)
{
	struct page *p, *n;

	list_for_each_entry_safe(p, n, &leaked, lru) {
		list_del(&p->lru);
		__free_page(p);
	}
}

static int memleak_thread(void *context)
{
	unsigned long pages = 0;
	const char *why;

	EZONE_PROOF("memleak", (const char *)context);
	why = leak_until_stopped(&pages);
	pr_emerg("ezone-fault: memleak nonce=%s leaked %lu MiB (%s), OOM kills seen %d, holding %u ms\n", nonce,
		 pages / PAGES_PER_MB, why, atomic_read(&oom_seen), hold_ms);
	msleep_interruptible(hold_ms);
	free_leaked();
	pr_emerg("ezone-fault: memleak nonce=%s freed %lu MiB, OOM kills seen %d\n", nonce, pages / PAGES_PER_MB,
		 atomic_read(&oom_seen));
	unregister_oom_notifier(&memleak_oom_nb);
	complete(&memleak_done);
	return 0;
}

static noinline void EZONE_FIRE(const char *context)
{
	struct task_struct *t;

	register_oom_notifier(&memleak_oom_nb);
	t = kthread_run(memleak_thread, (void *)context, "ezone-memleak");
	if (IS_ERR(t)) {
		unregister_oom_notifier(&memleak_oom_nb);
		pr_emerg("ezone-fault: memleak nonce=%s could not start its thread: %ld\n", nonce, PTR_ERR(t));
		return;
	}
	memleak_started = true;
}

/* Unloading waits for the thread, which frees every leaked page before it ends. */
static void EZONE_CLEANUP(void)
{
	if (memleak_started)
		wait_for_completion(&memleak_done);
}

EZONE_FAULT_MODULE("memleak", "ezone fault: a kernel memory leak, held for a while, then freed");
