// SPDX-License-Identifier: GPL-2.0
/*
 * cpuhog: a kernel thread bound to the last online CPU spins with preemption off for hold_ms, then
 * stops by itself: one CPU is taken from everything else for a bounded time and the kernel survives.
 * The default hold stays well below the soft-lockup watchdog's report (2 * watchdog_thresh = 20 s by
 * default), so only a kernel booted with a tiny watchdog_thresh and softlockup_panic=1 would panic.
 * On a one-CPU guest everything else stops meanwhile (heartbeats pause, then resume).
 */
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/preempt.h>
#define EZONE_FIRE cpuhog_fire
#define EZONE_CLEANUP cpuhog_cleanup
#include "ezone-fault.h"

static uint hold_ms = 3000;
module_param(hold_ms, uint, 0444);
MODULE_PARM_DESC(hold_ms, "how long the thread spins with preemption off, in ms (at most 15000)");

static DECLARE_COMPLETION(cpuhog_done);
static bool cpuhog_started;

static int cpuhog_thread(void *context)
{
	unsigned long end;

	EZONE_PROOF("cpuhog", (const char *)context);
	end = jiffies + msecs_to_jiffies(min(hold_ms, 15000U));
	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
	pr_emerg("ezone-fault: cpuhog nonce=%s stopped after %u ms on cpu %d\n", nonce, min(hold_ms, 15000U),
		 raw_smp_processor_id());
	complete(&cpuhog_done);
	return 0;
}

static noinline void EZONE_FIRE(const char *context)
{
	unsigned int cpu = cpumask_last(cpu_online_mask);
	struct task_struct *t = kthread_create(cpuhog_thread, (void *)context, "ezone-cpuhog");

	if (IS_ERR(t)) {
		pr_emerg("ezone-fault: cpuhog nonce=%s could not start its thread: %ld\n", nonce, PTR_ERR(t));
		return;
	}
	kthread_bind(t, cpu);
	cpuhog_started = true;
	wake_up_process(t);
}

/* Unloading waits for the thread to finish its bounded spin. */
static void EZONE_CLEANUP(void)
{
	if (cpuhog_started)
		wait_for_completion(&cpuhog_done);
}

EZONE_FAULT_MODULE("cpuhog", "ezone fault: one CPU hogged with preemption off for a bounded time");
