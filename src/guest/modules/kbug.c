// SPDX-License-Identifier: GPL-2.0
/* kbug: BUG() -- the kernel's own assertion failure ("kernel BUG at ...", then an invalid-opcode oops). */
#define EZONE_FIRE kbug_fire
#include "ezone-fault.h"

static noinline void EZONE_FIRE(const char *context)
{
	EZONE_PROOF("kbug", context);
	BUG();
}

EZONE_FAULT_MODULE("kbug", "ezone zone-3 fault: BUG()");
