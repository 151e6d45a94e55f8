// SPDX-License-Identifier: GPL-2.0
/*
 * softlockup: spin with preemption disabled (interrupts on), so the CPU never schedules while its timer
 * interrupt still runs the soft-lockup watchdog. Reported after 2 * watchdog_thresh seconds; it is a
 * panic only with softlockup_panic=1 (the fault declares `watchdog_thresh=1 softlockup_panic=1`).
 * The spin is bounded (spin_ms): when no watchdog reacts the guest resumes and says so.
 */
#include <linux/delay.h>
#include <linux/preempt.h>
#define EZONE_FIRE softlockup_fire
#include "ezone-fault.h"

static uint spin_ms = 30000;
module_param(spin_ms, uint, 0444);
MODULE_PARM_DESC(spin_ms, "longest spin, in ms, before giving up on the watchdog");

static noinline void EZONE_FIRE(const char *context)
{
	unsigned long end = jiffies + msecs_to_jiffies(spin_ms);

	EZONE_PROOF("softlockup", context);
	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
	EZONE_SURVIVED("softlockup", "the spin: no soft-lockup panic");
}

EZONE_FAULT_MODULE("softlockup", "ezone zone-3 fault: soft lockup (preemption off, spinning)");
