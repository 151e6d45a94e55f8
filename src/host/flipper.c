// SPDX-License-Identifier: MIT
/*
 * ezone-flipper: flip one bit in a host process through ptrace, read it back, detach. ezone runs it on
 * the host for the `native` backend, where the soft-error workload is a plain host process (Node cannot
 * ptrace). It never runs inside a guest.
 *
 *   ezone-flipper mem PID ADDRESS BIT
 *       flip bit BIT (0-7) of the byte at virtual ADDRESS (hex) of PID, which is parked
 *   ezone-flipper reg PID REGISTER BIT LOOP_START LOOP_END RELEASE
 *       stop PID until its RIP is in [LOOP_START, LOOP_END) (its user-mode spin loop), flip bit BIT of
 *       REGISTER (rax..r15, rip, eflags), then write 1 to the int at RELEASE (hex) to end the loop
 *
 * On success it prints one line and exits 0:
 *   old=<hex> written=<hex> read=<hex> [cpl=<n>]
 * where `read` is the value read back after the write (the flip's proof). On failure it prints
 * `ezone-flipper: <step>: <reason>` on stderr and exits 1 (2 for bad arguments). The tracee is
 * detached on every path: ptrace also detaches it if this process dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How many times the spinning process is stopped to find it inside its loop. */
#define LOOP_TRIES 200

static pid_t tracee = -1;
/* A signal that arrived while the tracee was stopped: handed back to it at detach. */
static int pending_signal;

static void detach(void)
{
	if (tracee > 0)
		ptrace(PTRACE_DETACH, tracee, 0, (void *)(uintptr_t)pending_signal);
	tracee = -1;
}

__attribute__((noreturn, format(printf, 2, 3))) static void fail(const char *step, const char *fmt, ...)
{
	int saved = errno;
	detach();
	fprintf(stderr, "ezone-flipper: %s: ", step);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved)
		fprintf(stderr, " (%s)", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

__attribute__((noreturn)) static void usage(const char *why)
{
	fprintf(stderr, "ezone-flipper: %s\nusage: ezone-flipper mem PID ADDRESS BIT\n"
			"       ezone-flipper reg PID REGISTER BIT LOOP_START LOOP_END RELEASE\n",
		why);
	exit(2);
}

static unsigned long long number(const char *s, int base, unsigned long long max, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || end == s || *end || v > max)
		usage(what);
	return v;
}

/* Wait for the tracee's next stop; true when it is the PTRACE_INTERRUPT stop (not a signal). */
static int wait_stop(void)
{
	int status;
	pid_t r;
	errno = 0;
	do
		r = waitpid(tracee, &status, __WALL);
	while (r < 0 && errno == EINTR);
	if (r != tracee)
		fail("wait", "no stop from pid %d", (int)tracee);
	if (!WIFSTOPPED(status)) {
		tracee = -1;
		errno = 0;
		fail("wait", "pid ended while being stopped");
	}
	if (status >> 16 == PTRACE_EVENT_STOP)
		return 1;
	pending_signal = WSTOPSIG(status);
	return 0;
}

static void interrupt(void)
{
	if (ptrace(PTRACE_INTERRUPT, tracee, 0, 0) != 0)
		fail("interrupt", "PTRACE_INTERRUPT of pid %d", (int)tracee);
	while (!wait_stop()) {
		/* A signal-delivery stop came first: let the interrupt's stop follow, keep the signal. */
		if (ptrace(PTRACE_CONT, tracee, 0, 0) != 0)
			fail("interrupt", "PTRACE_CONT past a signal");
	}
}

static void attach(pid_t pid)
{
	errno = 0;
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0)
		fail("seize", "PTRACE_SEIZE of pid %d", (int)pid);
	tracee = pid;
	interrupt();
}

static uint64_t peek(uint64_t address)
{
	errno = 0;
	long v = ptrace(PTRACE_PEEKDATA, tracee, (void *)(uintptr_t)address, 0);
	if (v == -1 && errno)
		fail("peek", "PTRACE_PEEKDATA at 0x%llx", (unsigned long long)address);
	return (uint64_t)v;
}

static void poke(uint64_t address, uint64_t value)
{
	errno = 0;
	if (ptrace(PTRACE_POKEDATA, tracee, (void *)(uintptr_t)address, (void *)(uintptr_t)value) != 0)
		fail("poke", "PTRACE_POKEDATA at 0x%llx", (unsigned long long)address);
}

/* Flip one bit of the byte at `address`: the word around it is read and written whole. */
static void flip_memory(char **argv)
{
	uint64_t address = number(argv[3], 16, UINT64_MAX, "ADDRESS: expected hex");
	unsigned bit = (unsigned)number(argv[4], 10, 7, "BIT: expected 0-7");
	attach((pid_t)number(argv[2], 10, INT32_MAX, "PID: expected a number"));
	uint64_t old = peek(address);
	uint64_t written = old ^ (1ull << bit);
	poke(address, written);
	uint64_t read = peek(address);
	detach();
	printf("old=%02x written=%02x read=%02x\n", (unsigned)(old & 0xff), (unsigned)(written & 0xff),
	       (unsigned)(read & 0xff));
}

struct reg {
	const char *name;
	size_t offset;
	unsigned bits;
};

#define REG(n, field, b) { n, offsetof(struct user_regs_struct, field), b }
static const struct reg regs[] = {
	REG("rax", rax, 64), REG("rbx", rbx, 64), REG("rcx", rcx, 64), REG("rdx", rdx, 64),
	REG("rsi", rsi, 64), REG("rdi", rdi, 64), REG("rbp", rbp, 64), REG("rsp", rsp, 64),
	REG("r8", r8, 64),   REG("r9", r9, 64),   REG("r10", r10, 64), REG("r11", r11, 64),
	REG("r12", r12, 64), REG("r13", r13, 64), REG("r14", r14, 64), REG("r15", r15, 64),
	REG("rip", rip, 64), REG("eflags", eflags, 32),
};

static uint64_t *field(struct user_regs_struct *r, const struct reg *g)
{
	return (uint64_t *)((char *)r + g->offset);
}

static void get_regs(struct user_regs_struct *r)
{
	errno = 0;
	if (ptrace(PTRACE_GETREGS, tracee, 0, r) != 0)
		fail("getregs", "PTRACE_GETREGS");
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Stop the spinning tracee until it is inside [start, end): the workload's own registers, in user mode. */
static void stop_in_loop(uint64_t start, uint64_t end, struct user_regs_struct *r)
{
	for (int i = 0; i < LOOP_TRIES; i++) {
		get_regs(r);
		if (r->rip >= start && r->rip < end)
			return;
		errno = 0;
		if (ptrace(PTRACE_CONT, tracee, 0, 0) != 0)
			fail("spin", "PTRACE_CONT");
		sleep_ms(1);
		interrupt();
	}
	errno = 0;
	fail("spin", "pid %d never stopped in its loop [0x%llx, 0x%llx) in %d tries", (int)tracee,
	     (unsigned long long)start, (unsigned long long)end, LOOP_TRIES);
}

static void flip_register(char **argv)
{
	const struct reg *g = NULL;
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (strcmp(argv[3], regs[i].name) == 0)
			g = &regs[i];
	if (!g)
		usage("REGISTER: expected rax..r15, rip or eflags");
	unsigned bit = (unsigned)number(argv[4], 10, g->bits - 1, "BIT: out of the register's range");
	uint64_t start = number(argv[5], 16, UINT64_MAX, "LOOP_START: expected hex");
	uint64_t end = number(argv[6], 16, UINT64_MAX, "LOOP_END: expected hex");
	uint64_t release = number(argv[7], 16, UINT64_MAX, "RELEASE: expected hex");
	attach((pid_t)number(argv[2], 10, INT32_MAX, "PID: expected a number"));
	struct user_regs_struct r;
	stop_in_loop(start, end, &r);
	uint64_t old = *field(&r, g);
	uint64_t written = old ^ (1ull << bit);
	*field(&r, g) = written;
	errno = 0;
	if (ptrace(PTRACE_SETREGS, tracee, 0, &r) != 0)
		fail("setregs", "PTRACE_SETREGS");
	get_regs(&r);
	uint64_t read = *field(&r, g);
	unsigned cpl = (unsigned)(r.cs & 3);
	/* The release flag is an int: only the low 4 bytes of the word are the flag. */
	poke(release, (peek(release) & ~0xffffffffull) | 1);
	detach();
	printf("old=0x%llx written=0x%llx read=0x%llx cpl=%u\n", (unsigned long long)old,
	       (unsigned long long)written, (unsigned long long)read, cpl);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "mem") == 0)
		flip_memory(argv);
	else if (argc == 8 && strcmp(argv[1], "reg") == 0)
		flip_register(argv);
	else
		usage("expected mem or reg and their arguments");
	return 0;
}
