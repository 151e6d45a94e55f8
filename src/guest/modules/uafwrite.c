// SPDX-License-Identifier: GPL-2.0
/*
 * uafwrite: a write through a dangling pointer to freed kernel memory. A freed slab object would be
 * overwritten silently (Debian has no KASAN), so the buffer is vmalloc'ed: vfree() clears its page table
 * entries and vm_unmap_aliases() flushes the lazily kept TLB entries, so the use-after-free write faults
 * at once ("BUG: unable to handle page fault") instead of corrupting a page someone else now owns.
 */
#include <linux/vmalloc.h>
#define EZONE_FIRE uafwrite_fire
#include "ezone-fault.h"

static noinline void EZONE_FIRE(const char *context)
{
	u8 *buf = vmalloc(4 * PAGE_SIZE);

	if (!buf) {
		pr_emerg("ezone-fault: uafwrite nonce=%s could not vmalloc: not fired\n", nonce);
		return;
	}
	memset(buf, 0x5a, 4 * PAGE_SIZE);
	vfree(buf);
	vm_unmap_aliases();
	OPTIMIZER_HIDE_VAR(buf);
	EZONE_PROOF("uafwrite", context);
	WRITE_ONCE(buf[PAGE_SIZE + 8], 0xa5);
	EZONE_SURVIVED("uafwrite", "a write to freed vmalloc memory");
}

EZONE_FAULT_MODULE("uafwrite", "ezone zone-3 fault: use-after-free write (freed vmalloc memory)");
