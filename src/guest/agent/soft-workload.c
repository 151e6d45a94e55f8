// SPDX-License-Identifier: MIT
/*
 * The soft-error workload: a deterministic computation whose input ezone corrupts from outside the guest
 * (a bit flip through QEMU's gdbstub) before or while it runs. It runs in a forked child of the agent,
 * like the zone-4 faults, so the agent keeps heartbeating; the agent's CHILD line reports how it ended.
 *
 *   INJECT bitflip nonce=<n> delay_ms=0   fork the workload: it fills and mlocks its input page, its
 *                                         stack table and its code page, prints their physical
 *                                         addresses (0 where unknown: native as a
 *                                         user) and its own view for ptrace, and parks
 *   SOFT-PROCESS nonce=<n> pid=<p> input=0x<virtual address of the input>
 *   SOFT-PARKED nonce=<n> pid=<p> phys=0x<input> len=<bytes> stack=0x<stack table> stack_len=<bytes>
 *               code=0x<the computation's code> code_len=<bytes>
 *   SOFT-KSYMS nonce=<n> names=<sym>,<sym>... (command) the parked workload reads /proc/kallsyms (as root,
 *                                         kptr_restrict=0 while it reads) and /proc/iomem, prints
 *   SOFT-KSYM nonce=<n> name=<sym> addr=0x<virtual> next=0x<next symbol's address, 0: none>
 *   SOFT-KSYMS-END nonce=<n> found=<k> kernel_code=0x<physical start of the kernel's code>
 *                                         and parks again
 *   SOFT-GO nonce=<n> [spin=1]            (command) let the parked workload compute; with spin=1 it
 *                                         first prints SOFT-SPIN and spins in user mode until ezone
 *                                         sets its release flag (where a register flip is placed)
 *   SOFT-SPIN nonce=<n> spin=0x<loop function> release=0x<flag address>
 *   SOFT-DONE nonce=<n> digest=<16 hex> us=<microseconds>
 *   CHILD bitflip nonce=<n> pid=<p> exit=0 | signal=SIG...
 *
 * The input is the same on every run (a fixed seed), so a fault-free run always prints the same digest.
 * Physical addresses come from /proc/self/pagemap (the agent is root); the pages are locked so the kernel
 * cannot move them between the report and the flip. The computation's code sits alone in its own
 * page-aligned section (soft_code), so a flip there changes no other function the agent runs.
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
/* The stack table: one page of 32-bit coefficients, a local array of the workload's frame. */
#define COEFFS (PAGE / 4)
/* Kernel symbols one SOFT-KSYMS may ask for, and the longest name. */
#define KSYMS_MAX 16
#define KSYM_NAME 64

static uint8_t input[PAGE] __attribute__((aligned(PAGE)));
/* Set from outside (ezone through the gdbstub) to end soft_spin(). */
volatile int soft_released;
/* The agent's end of the pipe the parked workload waits on; -1 when no workload is parked. */
static int go_fd = -1;
static int park_fd = -1;
static char parked_nonce[64];
/* The linker's bounds of the soft_code section: the computation's code, and nothing else. */
extern const char __start_soft_code[], __stop_soft_code[];

static uint64_t xorshift(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static void fill_input(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < PAGE; i++) {
		x = xorshift(x);
		input[i] = (uint8_t)x;
	}
}

/*
 * The computation: FNV-1a over the input, then ROUNDS products of two SIDE x SIDE matrices read from it
 * (the first operand scaled by the stack table's coefficients), folded into the digest. Alone in its
 * page-aligned section: the `code` target flips a bit of exactly this function.
 */
__attribute__((noinline, used, section("soft_code"), aligned(PAGE))) static uint64_t
soft_compute(const uint8_t *in, const uint32_t *coeff)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < PAGE; i++)
		h = (h ^ in[i]) * 0x100000001b3ull;
	static uint32_t a[SIDE][SIDE], b[SIDE][SIDE], c[SIDE][SIDE];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SIDE; i++)
			for (int j = 0; j < SIDE; j++) {
				int at = r * 2 * SIDE * SIDE + i * SIDE + j;
				a[i][j] = in[at % PAGE] * coeff[at % COEFFS];
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

/** Lock the page of `p` in memory and return its physical address; 0 when either fails. */
static uint64_t locked_physical(const void *p)
{
	const void *page = (const void *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1));
	if (mlock(page, PAGE) != 0)
		return 0;
	return physical_address(p);
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/** Replace a small /proc/sys file's content; the old content (one token) into `old`. */
static void swap_sysctl(const char *path, const char *value, char *old, size_t oldlen)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, old, oldlen - 1);
	old[n > 0 ? n : 0] = '\0';
	old[strcspn(old, "\n")] = '\0';
	if (pwrite(fd, value, strlen(value), 0) < 0)
		emit("ERROR SOFT-KSYMS: cannot write %s: errno=%d", path, errno);
	close(fd);
}

/** The physical start of the kernel's code: /proc/iomem's "Kernel code" line (0 when not visible). */
static unsigned long long kernel_code_start(void)
{
	FILE *f = fopen("/proc/iomem", "re");
	if (!f)
		return 0;
	char line[256];
	unsigned long long start = 0, end;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " : Kernel code") && sscanf(line, " %llx-%llx", &start, &end) == 2)
			break;
	fclose(f);
	return start;
}

/**
 * Print the requested kernel symbols' addresses and each one's next symbol (the end of its code or
 * data): /proc/kallsyms lists the kernel's own symbols in address order. Read as root with
 * kptr_restrict=0, restored after.
 */
static void kernel_symbols(char *names)
{
	char want[KSYMS_MAX][KSYM_NAME];
	unsigned long long addr[KSYMS_MAX] = {0}, next[KSYMS_MAX] = {0};
	int n = 0, found = 0;
	for (char *save = NULL, *t = strtok_r(names, ",", &save); t && n < KSYMS_MAX; t = strtok_r(NULL, ",", &save))
		if (is_token(t) && strlen(t) < KSYM_NAME)
			snprintf(want[n++], KSYM_NAME, "%s", t);
	char old[16] = "";
	swap_sysctl("/proc/sys/kernel/kptr_restrict", "0", old, sizeof(old));
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[256], sym[KSYM_NAME + 1];
	unsigned long long a;
	while (f && fgets(line, sizeof(line), f)) {
		/* Module symbols ("[name]") follow the kernel's and are not in address order with them. */
		if (strchr(line, '[') || sscanf(line, "%llx %*c %64s", &a, sym) != 2)
			continue;
		for (int i = 0; i < n; i++) {
			if (addr[i] && !next[i] && a > addr[i])
				next[i] = a;
			if (!addr[i] && a && strcmp(sym, want[i]) == 0) {
				addr[i] = a;
				found++;
			}
		}
	}
	if (f)
		fclose(f);
	if (old[0] && is_token(old))
		swap_sysctl("/proc/sys/kernel/kptr_restrict", old, (char[16]){0}, 16);
	for (int i = 0; i < n; i++)
		if (addr[i])
			emit("SOFT-KSYM nonce=%s name=%s addr=0x%llx next=0x%llx", parked_nonce, want[i], addr[i], next[i]);
	emit("SOFT-KSYMS-END nonce=%s found=%d kernel_code=0x%llx", parked_nonce, found, kernel_code_start());
}

/** Wait on the park pipe for SOFT-GO ('g', or 's' to spin first), serving SOFT-KSYMS ('k' + names) meanwhile. */
static char wait_for_go(void)
{
	for (;;) {
		char cmd;
		ssize_t n;
		do
			n = read(park_fd, &cmd, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(5);
		if (cmd != 'k')
			return cmd;
		char names[AGENT_LINE_MAX];
		size_t len = 0;
		while (len < sizeof(names) - 1 && read(park_fd, &names[len], 1) == 1 && names[len] != '\n')
			len++;
		names[len] = '\0';
		kernel_symbols(names);
	}
}

/** In the fault's child: load the input, report where it is, wait for SOFT-GO, compute, report. */
static void workload_body(void)
{
	/* On the stack, read by the computation: the `stack` target flips a bit here. */
	uint32_t coeff[COEFFS] __attribute__((aligned(PAGE)));
	uint64_t x = 0x2545f4914f6cdd1dull;
	for (size_t i = 0; i < COEFFS; i++) {
		x = xorshift(x);
		coeff[i] = (uint32_t)x;
	}
	fill_input();
	size_t code_len = (size_t)(__stop_soft_code - __start_soft_code);
	/* 0 when unknown (native as a user: pagemap hides frame numbers); only a gdbstub flip needs them. */
	uint64_t phys = locked_physical(input), stack = locked_physical(coeff);
	uint64_t code = locked_physical(__start_soft_code);
	/* The code must fit its one locked page (it starts one: the section is page-aligned). */
	if (code_len == 0 || code_len > PAGE)
		_exit(4);
	/* A flip by ptrace from the host (native) needs the process's own view: its pid and virtual address. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	emit("SOFT-PROCESS nonce=%s pid=%d input=0x%llx", parked_nonce, (int)getpid(),
	     (unsigned long long)(uintptr_t)input);
	emit("SOFT-PARKED nonce=%s pid=%d phys=0x%llx len=%d stack=0x%llx stack_len=%d code=0x%llx code_len=%zu",
	     parked_nonce, (int)getpid(), (unsigned long long)phys, PAGE, (unsigned long long)stack, PAGE,
	     (unsigned long long)code, code_len);
	if (wait_for_go() == 's') {
		emit("SOFT-SPIN nonce=%s spin=0x%llx release=0x%llx", parked_nonce,
		     (unsigned long long)(uintptr_t)soft_spin, (unsigned long long)(uintptr_t)&soft_released);
		soft_spin();
	}
	long long t0 = now_us();
	uint64_t digest = soft_compute(input, coeff);
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

/** SOFT-KSYMS nonce=<n> names=a,b: the parked workload reads the kernel's symbols (it stays parked). */
static void ksyms(const char *args)
{
	char nonce[64] = "", names[AGENT_LINE_MAX - 2] = "";
	kv_get(args, "nonce", nonce, sizeof(nonce));
	kv_get(args, "names", names, sizeof(names));
	if (go_fd < 0 || strcmp(nonce, parked_nonce) != 0) {
		emit("ERROR SOFT-KSYMS: no workload parked for nonce=%s", nonce);
		return;
	}
	char msg[AGENT_LINE_MAX];
	int len = snprintf(msg, sizeof(msg), "k%s\n", names);
	if (write(go_fd, msg, (size_t)len) != len)
		emit("ERROR SOFT-KSYMS: errno=%d", errno);
}

__attribute__((constructor)) static void register_soft_workload(void)
{
	agent_register_fault("bitflip", park);
	agent_register_command("SOFT-GO", go);
	agent_register_command("SOFT-KSYMS", ksyms);
}
