// SPDX-License-Identifier: GPL-2.0
/*
 * kerncrash: the fault of Naughton et al. -- a divide-by-zero in kernel mode, after a delay or at once.
 *
 * The run's nonce is printed immediately before the faulting instruction: that line, not the agent's
 * "FIRED", is ezone's proof that the kernel fault really fired.
 *
 * GCC turns a plain `x / 0` into a trap-free sequence (or drops it as undefined behaviour), so the
 * division is inline asm `divl`, which raises #DE in kernel mode.
 */
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/timer.h>

#define EZONE_DELAY_DESC "0 = fire in module init (process context); else fire from a timer (softirq)"
#include "ezone-params.h"

static struct timer_list kerncrash_timer;

static noinline void kerncrash_fire(const char *context)
{
	unsigned int dividend = 1, divisor = 0;

	pr_emerg("ezone-fault: kerncrash nonce=%s firing context=%s\n", nonce, context);
	asm volatile("divl %2" : "+a"(dividend) : "d"(0), "rm"(divisor));
	/* Not reached: #DE in kernel mode oopses. */
	pr_emerg("ezone-fault: kerncrash nonce=%s survived dividend=%u\n", nonce, dividend);
}

static void kerncrash_timer_fn(struct timer_list *t)
{
	kerncrash_fire("timer");
}

static int __init kerncrash_init(void)
{
	pr_info("ezone-fault: kerncrash nonce=%s armed delay_ms=%u\n", nonce, delay_ms);
	if (delay_ms == 0) {
		kerncrash_fire("process");
		return 0;
	}
	timer_setup(&kerncrash_timer, kerncrash_timer_fn, 0);
	mod_timer(&kerncrash_timer, jiffies + msecs_to_jiffies(delay_ms));
	return 0;
}

static void __exit kerncrash_exit(void)
{
	del_timer_sync(&kerncrash_timer);
}

module_init(kerncrash_init);
module_exit(kerncrash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ezone zone-3 fault: divide error in kernel mode (Naughton et al.)");
