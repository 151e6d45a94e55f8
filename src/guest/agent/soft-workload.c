// SPDX-License-Identifier: MIT
/*
 * The soft-error workload: a deterministic computation whose input ezone corrupts from outside the guest
 * (a bit flip through QEMU's gdbstub) before or while it runs. It runs in a forked child of the agent,
 * like the zone-4 faults, so the agent keeps heartbeating; the agent's CHILD line reports how it ended.
 *
 *   INJECT bitflip nonce=<n> delay_ms=0   fork the workload: it fills and mlocks its input page, then
 *                                         prints its addresses and parks
 *   SOFT-PROCESS nonce=<n> pid=<p> input=0x<virtual address of the input>
 *   SOFT-PARKED nonce=<n> pid=<p> phys=0x<physical address of the input, 0 if unknown> len=<bytes>
 *   SOFT-GO nonce=<n> [spin=1]            (command) let the parked workload compute; with spin=1 it
 *                                         first prints SOFT-SPIN and spins in user mode until ezone
 *                                         sets its release flag (where a register flip is placed)
 *   SOFT-SPIN nonce=<n> spin=0x<loop function> release=0x<flag address>
 *   SOFT-DONE nonce=<n> digest=<16 hex> us=<microseconds>
 *   CHILD bitflip nonce=<n> pid=<p> exit=0 | signal=SIG...
 *
 * The input is the same on every run (a fixed seed), so a fault-free run always prints the same digest.
 * The physical address comes from /proc/self/pagemap (the agent is root); the page is locked so the
 * kernel cannot move it between the report and the flip.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define SIDE 24
#define ROUNDS 6

static uint8_t input[PAGE] __attribute__((aligned(PAGE)));
/* Set from outside (ezone through the gdbstub) to end soft_spin(). */
volatile int soft_released;
/* The agent's end of the pipe the parked workload waits on; -1 when no workload is parked. */
static int go_fd = -1;
static int park_fd = -1;
static char parked_nonce[64];

static void fill_input(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < PAGE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		input[i] = (uint8_t)x;
	}
}

/*
 * The computation: FNV-1a over the input, then ROUNDS products of two SIDE x SIDE matrices read from it,
 * folded into the digest.
 */
static uint64_t soft_compute(const uint8_t *in)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < PAGE; i++)
		h = (h ^ in[i]) * 0x100000001b3ull;
	static uint32_t a[SIDE][SIDE], b[SIDE][SIDE], c[SIDE][SIDE];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SIDE; i++)
			for (int j = 0; j < SIDE; j++) {
				a[i][j] = in[(r * 2 * SIDE * SIDE + i * SIDE + j) % PAGE];
				b[i][j] = in[((r * 2 + 1) * SIDE * SIDE + i * SIDE + j) % PAGE] + (uint32_t)h;
			}
		for (int i = 0; i < SIDE; i++)
			for (int j = 0; j < SIDE; j++) {
				uint32_t s = 0;
				for (int k = 0; k < SIDE; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s;
			}
		for (int i = 0; i < SIDE; i++)
			for (int j = 0; j < SIDE; j++)
				h = (h ^ c[i][j]) * 0x100000001b3ull;
	}
	return h;
}

/** Spin in user mode until released: ezone stops the guest here to flip a register of the workload. */
__attribute__((noinline)) void soft_spin(void)
{
	while (!soft_released)
		__asm__ volatile("pause");
}

/** The physical address of `p` from /proc/self/pagemap; 0 when the page is not present or not readable. */
static uint64_t physical_address(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint64_t entry = 0;
	off_t at = (off_t)((uintptr_t)p / PAGE) * (off_t)sizeof(entry);
	ssize_t n = pread(fd, &entry, sizeof(entry), at);
	close(fd);
	if (n != (ssize_t)sizeof(entry) || !(entry >> 63))
		return 0;
	uint64_t pfn = entry & ((1ull << 55) - 1);
	return pfn ? pfn * PAGE + ((uintptr_t)p % PAGE) : 0;
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/** In the fault's child: load the input, report where it is, wait for SOFT-GO, compute, report. */
static void workload_body(void)
{
	char go;
	fill_input();
	if (mlock(input, PAGE) != 0)
		_exit(3);
	/* 0 when unknown (native as a user: pagemap hides frame numbers); only a gdbstub flip needs it. */
	uint64_t phys = physical_address(input);
	/* A flip by ptrace from the host (native) needs the process's own view: its pid and virtual address. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	emit("SOFT-PROCESS nonce=%s pid=%d input=0x%llx", parked_nonce, (int)getpid(),
	     (unsigned long long)(uintptr_t)input);
	emit("SOFT-PARKED nonce=%s pid=%d phys=0x%llx len=%d", parked_nonce, (int)getpid(), (unsigned long long)phys,
	     PAGE);
	ssize_t n;
	do
		n = read(park_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(5);
	if (go == 's') {
		emit("SOFT-SPIN nonce=%s spin=0x%llx release=0x%llx", parked_nonce,
		     (unsigned long long)(uintptr_t)soft_spin, (unsigned long long)(uintptr_t)&soft_released);
		soft_spin();
	}
	long long t0 = now_us();
	uint64_t digest = soft_compute(input);
	emit("SOFT-DONE nonce=%s digest=%016llx us=%lld", parked_nonce, (unsigned long long)digest, now_us() - t0);
	_exit(0);
}

static void park(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	(void)args;
	int fds[2];
	if (go_fd >= 0) {
		close(go_fd);
		go_fd = -1;
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		agent_inject_failed(fault, errno, "pipe");
		return;
	}
	snprintf(parked_nonce, sizeof(parked_nonce), "%s", nonce);
	park_fd = fds[0];
	go_fd = fds[1];
	agent_run_child(fault, nonce, delay_ms, workload_body);
	close(park_fd);
	park_fd = -1;
}

static void go(const char *args)
{
	char nonce[64] = "", spin[4] = "0";
	kv_get(args, "nonce", nonce, sizeof(nonce));
	kv_get(args, "spin", spin, sizeof(spin));
	if (go_fd < 0 || strcmp(nonce, parked_nonce) != 0) {
		emit("ERROR SOFT-GO: no workload parked for nonce=%s", nonce);
		return;
	}
	if (write(go_fd, strcmp(spin, "1") == 0 ? "s" : "g", 1) != 1)
		emit("ERROR SOFT-GO: errno=%d", errno);
	close(go_fd);
	go_fd = -1;
}

__attribute__((constructor)) static void register_soft_workload(void)
{
	agent_register_fault("bitflip", park);
	agent_register_command("SOFT-GO", go);
}
