// SPDX-License-Identifier: MIT
/*
 * sysrq-c: a guest-kernel crash through a path every kernel with CONFIG_MAGIC_SYSRQ has, no module
 * needed (so it also runs where ezone cannot build modules, e.g. UML): writing 'c' to
 * /proc/sysrq-trigger makes the kernel panic ("sysrq triggered crash"). /proc/sysrq-trigger accepts
 * every key whatever the kernel.sysrq mask says.
 *
 * The proof line is written to the kernel log (/dev/kmsg, at KERN_EMERG so that a `quiet` console shows
 * it) immediately before the trigger, in the same words as a fault module's printk. A delay is spent in
 * a forked child so the agent keeps heartbeating meanwhile.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void sysrq_crash(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	(void)args;
	int trigger = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (trigger < 0) {
		agent_inject_failed(fault, errno, "open /proc/sysrq-trigger");
		return;
	}
	int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (kmsg < 0) {
		agent_inject_failed(fault, errno, "open /dev/kmsg");
		close(trigger);
		return;
	}
	agent_fired(fault, nonce);
	if (delay_ms) {
		pid_t pid = fork();
		if (pid < 0) {
			agent_inject_failed(fault, errno, "fork");
			goto out;
		}
		if (pid > 0)
			goto out;
		struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (long)(delay_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	char proof[256];
	int n = snprintf(proof, sizeof(proof), "<0>ezone-fault: %s nonce=%s firing context=%s\n", fault, nonce,
			 delay_ms ? "child" : "agent");
	if (write(kmsg, proof, (size_t)n) != n)
		agent_inject_failed(fault, errno, "write /dev/kmsg");
	else if (write(trigger, "c", 1) != 1)
		agent_inject_failed(fault, errno, "write /proc/sysrq-trigger");
	else
		emit("INJECT-FAILED %s errno=0 the kernel survived sysrq-c", fault);
	if (delay_ms)
		_exit(1);
out:
	close(kmsg);
	close(trigger);
}

__attribute__((constructor)) static void register_sysrq(void) { agent_register_fault("sysrq-c", sysrq_crash); }
