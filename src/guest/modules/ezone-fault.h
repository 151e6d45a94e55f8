/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every ezone fault module (except the paper's kerncrash.c, kept with its timer) shares: the `nonce`
 * and `delay_ms` parameters (ezone-params.h, which kerncrash.c includes too), and when the fault fires:
 *   delay_ms == 0  in module init, in the loading agent's process context ("process");
 *   delay_ms  > 0  from delayed work on a kworker, also process context ("work"), so that every fault
 *                  behaves the same whether it is sent as a command or armed at boot.
 * The module defines EZONE_FIRE (its firing function's name: crash titles name it) before including this
 * header, then `static void EZONE_FIRE(const char *context)`, which prints the proof line (EZONE_PROOF)
 * immediately before faulting, and `EZONE_FAULT_MODULE(name, description)`. A fault the kernel survives
 * that leaves something running (a thread) also defines EZONE_CLEANUP (a `static void f(void)` called on
 * unload, after any pending delayed firing is cancelled).
 */
#ifndef EZONE_FAULT_H
#define EZONE_FAULT_H

#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/workqueue.h>

#include "ezone-params.h"

/** The proof that the fault fired: ezone's console parser matches this line and its nonce. */
#define EZONE_PROOF(name, context) pr_emerg("ezone-fault: %s nonce=%s firing context=%s\n", name, nonce, context)
/** Printed when the fault did not take the kernel down: the run's evidence says so. */
#define EZONE_SURVIVED(name, what) pr_emerg("ezone-fault: %s nonce=%s survived %s\n", name, nonce, what)

#ifndef EZONE_FIRE
#error "define EZONE_FIRE (the firing function's name) before including ezone-fault.h"
#endif

static void EZONE_FIRE(const char *context);
#ifdef EZONE_CLEANUP
static void EZONE_CLEANUP(void);
#define EZONE_CLEANUP_CALL() EZONE_CLEANUP()
#else
#define EZONE_CLEANUP_CALL() do { } while (0)
#endif

static void ezone_work_fn(struct work_struct *work)
{
	EZONE_FIRE("work");
}
static DECLARE_DELAYED_WORK(ezone_work, ezone_work_fn);

#define EZONE_FAULT_MODULE(name, description)                                                              \
	static int __init ezone_fault_init(void)                                                           \
	{                                                                                                  \
		pr_info("ezone-fault: %s nonce=%s armed delay_ms=%u\n", name, nonce, delay_ms);            \
		if (delay_ms == 0)                                                                         \
			EZONE_FIRE("process");                                                             \
		else                                                                                       \
			schedule_delayed_work(&ezone_work, msecs_to_jiffies(delay_ms));                    \
		return 0;                                                                                  \
	}                                                                                                  \
	static void __exit ezone_fault_exit(void)                                                          \
	{                                                                                                  \
		cancel_delayed_work_sync(&ezone_work);                                                     \
		EZONE_CLEANUP_CALL();                                                                      \
	}                                                                                                  \
	module_init(ezone_fault_init);                                                                     \
	module_exit(ezone_fault_exit);                                                                     \
	MODULE_LICENSE("GPL");                                                                             \
	MODULE_DESCRIPTION(description)

#endif
