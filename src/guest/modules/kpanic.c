// SPDX-License-Identifier: GPL-2.0
/* kpanic: panic() called directly: no oops before it, the panic line is the whole report. */
#define EZONE_FIRE kpanic_fire
#include "ezone-fault.h"

static noinline void EZONE_FIRE(const char *context)
{
	EZONE_PROOF("kpanic", context);
	panic("ezone kpanic requested");
}

EZONE_FAULT_MODULE("kpanic", "ezone zone-3 fault: panic()");
