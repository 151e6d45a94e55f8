// SPDX-License-Identifier: GPL-2.0
/*
 * hang: the guest stops without a word. Interrupts off and spinning on the (only) CPU: no timer tick,
 * so neither the soft-lockup watchdog nor RCU stall detection can report it, and under TCG there is no
 * NMI hard-lockup detector either. ezone detects it by heartbeat loss alone.
 */
#include <linux/irqflags.h>
#define EZONE_FIRE hang_fire
#include "ezone-fault.h"

static noinline void EZONE_FIRE(const char *context)
{
	EZONE_PROOF("hang", context);
	local_irq_disable();
	for (;;)
		cpu_relax();
}

EZONE_FAULT_MODULE("hang", "ezone zone-3 fault: silent hang (interrupts off, spinning)");
