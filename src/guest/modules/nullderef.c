// SPDX-License-Identifier: GPL-2.0
/* nullderef: a kernel-mode write through a NULL pointer ("BUG: kernel NULL pointer dereference"). */
#define EZONE_FIRE nullderef_fire
#include "ezone-fault.h"

static noinline void EZONE_FIRE(const char *context)
{
	int *p = NULL;

	/* Hidden from the compiler, which would otherwise treat the store as unreachable. */
	OPTIMIZER_HIDE_VAR(p);
	EZONE_PROOF("nullderef", context);
	WRITE_ONCE(*p, 0x2a);
	EZONE_SURVIVED("nullderef", "a NULL write");
}

EZONE_FAULT_MODULE("nullderef", "ezone zone-3 fault: NULL pointer write in kernel mode");
