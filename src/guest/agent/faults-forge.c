// SPDX-License-Identifier: MIT
/*
 * forged-panic: a lying guest, to check ezone's own verdicts. The agent writes into the kernel log (at
 * KERN_EMERG, so a `quiet` console shows it) the very proof line a fault module prints, with the run's
 * nonce, and the line of a kernel panic; then it goes on heartbeating. On the console the run looks like
 * a kernel crash, yet no panic happened: a panic channel beside the console (QEMU's pvpanic) stays silent,
 * and ezone must not call the run contained.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void forge_panic(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	(void)delay_ms;
	(void)args;
	int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg < 0) {
		agent_inject_failed(fault, errno, "open /dev/kmsg");
		return;
	}
	agent_fired(fault, nonce);
	char proof[256];
	int n = snprintf(proof, sizeof(proof), "<0>ezone-fault: %s nonce=%s firing context=agent\n", fault, nonce);
	static const char panic[] = "<0>Kernel panic - not syncing: Fatal exception\n";
	if (write(kmsg, proof, (size_t)n) != n || write(kmsg, panic, strlen(panic)) != (ssize_t)strlen(panic))
		agent_inject_failed(fault, errno, "write /dev/kmsg");
	close(kmsg);
}

__attribute__((constructor)) static void register_forge(void) { agent_register_fault("forged-panic", forge_panic); }
