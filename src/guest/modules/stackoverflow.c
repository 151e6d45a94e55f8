// SPDX-License-Identifier: GPL-2.0
/*
 * stackoverflow: unbounded-looking kernel recursion with a stack frame of a few hundred bytes. With
 * CONFIG_VMAP_STACK (Debian) the task stack has a guard page: "BUG: TASK stack guard page was hit".
 * `max_depth` bounds the recursion far beyond any kernel stack (16 KiB), only so that the compiler
 * does not see infinite recursion.
 */
#define EZONE_FIRE stackoverflow_fire
#include "ezone-fault.h"

static uint max_depth = 1 << 20;
module_param(max_depth, uint, 0444);
MODULE_PARM_DESC(max_depth, "recursion bound (never reached on a 16 KiB stack)");

static noinline uint ezone_recurse(uint depth)
{
	volatile u8 frame[256];

	frame[depth % sizeof(frame)] = (u8)depth;
	if (depth >= max_depth)
		return frame[0];
	/* Not a tail call: the frame stays live across the recursion. */
	return ezone_recurse(depth + 1) + frame[(depth * 7) % sizeof(frame)];
}

static noinline void EZONE_FIRE(const char *context)
{
	uint r;

	EZONE_PROOF("stackoverflow", context);
	r = ezone_recurse(0);
	EZONE_SURVIVED("stackoverflow", "the recursion");
	pr_emerg("ezone-fault: stackoverflow result=%u\n", r);
}

EZONE_FAULT_MODULE("stackoverflow", "ezone zone-3 fault: kernel stack overflow by recursion");
