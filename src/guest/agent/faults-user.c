// SPDX-License-Identifier: MIT
/*
 * Zone-4 faults: each runs in a forked child of the agent, so the agent (PID 1 in a VM) keeps
 * heartbeating while it happens. A supervisor process waits for the child and reports how it ended:
 *
 *   CHILD <fault> nonce=<n> pid=<p> signal=SIG<NAME>   the child was killed by that signal
 *   CHILD <fault> nonce=<n> pid=<p> exit=<status>      the child exited
 *
 * That line, with the end the catalogue expects (e.g. signal=SIGSEGV), is ezone's proof that the fault
 * happened. A delay (delay_ms) is spent in the child, never in the agent.
 *
 *   segfault   write through a NULL pointer                         expect signal=SIGSEGV
 *   abort      abort()                                              expect signal=SIGABRT
 *   cpuloop    spin until RLIMIT_CPU (2 s of CPU) ends it           expect signal=SIGXCPU
 *   oomhog     take memory until the kernel's OOM killer acts       expect signal=SIGKILL
 *   forkbomb   fork until FORKBOMB_MAX processes, then all killed   expect exit=0
 *   cpustorm   CPUSTORM_PROCS spinners for CPUSTORM_MS, then killed  expect exit=0
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/** CPU seconds the runaway loop may burn before the kernel sends SIGXCPU. */
#define CPULOOP_SECONDS 2
/** The memory hog gives up (exit 1) past this, so it never eats a big host's memory when run natively. */
#define OOMHOG_CAP_MB 2048
/** Processes the fork bomb may reach; then the whole bomb is killed and reaped. */
#define FORKBOMB_MAX 256
/** The fork bomb is killed after this even if it has not reached its bound. */
#define FORKBOMB_DEADLINE_MS 20000

/** The CPU storm's spinners (enough to load every core of a small host) and how long they spin. */
#define CPUSTORM_PROCS 32
#define CPUSTORM_MS 8000

/** Supervisors not reaped yet: the agent (PID 1 in a VM) reaps them lazily, at the next injection. */
static pid_t supervisors[16];

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/** In the supervisor process: wait for the fault's child and report how it ended. */
static void report_child_end(const char *fault, const char *nonce, pid_t pid)
{
	int status = 0;
	pid_t r;
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		emit("CHILD %s nonce=%s pid=%d lost errno=%d", fault, nonce, (int)pid, errno);
	else if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		if (abbrev)
			emit("CHILD %s nonce=%s pid=%d signal=SIG%s", fault, nonce, (int)pid, abbrev);
		else
			emit("CHILD %s nonce=%s pid=%d signal=%d", fault, nonce, (int)pid, WTERMSIG(status));
	} else
		emit("CHILD %s nonce=%s pid=%d exit=%d", fault, nonce, (int)pid, WEXITSTATUS(status));
}

static void segfault_body(void)
{
	/* A volatile pointer: the compiler cannot prove it NULL and turn the store into a trap (SIGILL). */
	volatile int *volatile p = NULL;
	*p = 1;
}

static void abort_body(void) { abort(); }

static void cpuloop_body(void)
{
	struct rlimit cpu = {.rlim_cur = CPULOOP_SECONDS, .rlim_max = CPULOOP_SECONDS + 2};
	if (setrlimit(RLIMIT_CPU, &cpu) != 0)
		_exit(2);
	for (volatile unsigned long i = 0;; i++)
		;
}

static void oomhog_body(void)
{
	/* Be the OOM killer's first choice, not a bystander process. */
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1000", 4) != 4)
			_exit(3);
		close(fd);
	}
	/* MAP_POPULATE: the kernel fills each chunk in one call; a page fault at a time is slow under UML. */
	const unsigned chunk_mb = 4;
	for (unsigned mb = 0; mb < OOMHOG_CAP_MB; mb += chunk_mb) {
		size_t len = (size_t)chunk_mb << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		for (size_t off = 0; off < len; off += 4096)
			p[off] = (char)(mb + 1);
	}
	_exit(1);
}

static void forkbomb_body(void)
{
	/* Orphans of the bomb are re-parented to this process, which reaps them all at the end. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	atomic_int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		_exit(2);
	atomic_int *count = &shared[0], *refused = &shared[1];
	pid_t bomb = fork();
	if (bomb < 0)
		_exit(2);
	if (bomb == 0) {
		setpgid(0, 0);
		/* Every process, parent or child, goes on forking: a fork bomb, bounded by a shared count. */
		while (atomic_fetch_add(count, 1) < FORKBOMB_MAX) {
			if (fork() < 0) {
				atomic_store(refused, errno);
				break;
			}
		}
		for (;;)
			pause();
	}
	setpgid(bomb, bomb);
	for (unsigned waited = 0; waited < FORKBOMB_DEADLINE_MS; waited += 10) {
		if (atomic_load(count) >= FORKBOMB_MAX || atomic_load(refused))
			break;
		sleep_ms(10);
	}
	int code = atomic_load(count) >= FORKBOMB_MAX ? 0 : atomic_load(refused) ? 3 : 4;
	/* Kill again after every reaped process: one forked while the first kill was delivered dies too. */
	for (;;) {
		kill(-bomb, SIGKILL);
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			break;
	}
	_exit(code);
}

/*
 * A bounded CPU hog for every core an enclave can reach: in a one-vCPU VM it takes the guest's CPU; in a
 * process enclave (native) the host's cores, unless the enclave's cgroup (cpu.max) holds it. Each spinner
 * dies with the storm's process (parent-death signal) and has the storm's length as RLIMIT_CPU besides.
 */
static void cpustorm_body(void)
{
	struct rlimit cpu = {.rlim_cur = CPUSTORM_MS / 1000 + 1, .rlim_max = CPUSTORM_MS / 1000 + 2};
	pid_t spinners[CPUSTORM_PROCS];
	int started = 0;
	for (int i = 0; i < CPUSTORM_PROCS; i++) {
		pid_t p = fork();
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			setrlimit(RLIMIT_CPU, &cpu);
			for (volatile unsigned long n = 0;; n++)
				;
		}
		if (p > 0)
			spinners[started++] = p;
	}
	sleep_ms(CPUSTORM_MS);
	for (int i = 0; i < started; i++)
		kill(spinners[i], SIGKILL);
	for (int i = 0; i < started; i++)
		while (waitpid(spinners[i], NULL, 0) < 0 && errno == EINTR)
			;
	_exit(started == CPUSTORM_PROCS ? 0 : 3);
}

static const struct {
	const char *name;
	void (*body)(void);
} user_faults[] = {
	{"segfault", segfault_body}, {"abort", abort_body},       {"cpuloop", cpuloop_body},
	{"oomhog", oomhog_body},     {"forkbomb", forkbomb_body}, {"cpustorm", cpustorm_body},
};

static void reap_supervisors(void)
{
	for (size_t i = 0; i < sizeof(supervisors) / sizeof(supervisors[0]); i++)
		if (supervisors[i] > 0 && waitpid(supervisors[i], NULL, WNOHANG) == supervisors[i])
			supervisors[i] = 0;
}

static void keep_supervisor(pid_t pid)
{
	for (size_t i = 0; i < sizeof(supervisors) / sizeof(supervisors[0]); i++)
		if (supervisors[i] <= 0) {
			supervisors[i] = pid;
			return;
		}
}

/** The fault's child: no core file (in the guest's RAM, or on a host), no console input, then the fault. */
static void run_fault_child(void (*body)(void), unsigned delay_ms)
{
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	if (delay_ms)
		sleep_ms(delay_ms);
	body();
	_exit(100);
}

/*
 * agent -> supervisor -> fault child. The supervisor is a process, not a thread of the agent, because
 * emit()'s line hooks assume the agent has one thread; it waits for the child, prints CHILD and exits.
 */
void agent_run_child(const char *fault, const char *nonce, unsigned delay_ms, void (*body)(void))
{
	reap_supervisors();
	agent_fired(fault, nonce);
	pid_t supervisor = fork();
	if (supervisor < 0) {
		agent_inject_failed(fault, errno, "fork");
		return;
	}
	if (supervisor > 0) {
		keep_supervisor(supervisor);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		agent_inject_failed(fault, errno, "fork");
		_exit(1);
	}
	if (pid == 0)
		run_fault_child(body, delay_ms);
	report_child_end(fault, nonce, pid);
	_exit(0);
}

static void child_fault(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	(void)args;
	for (size_t i = 0; i < sizeof(user_faults) / sizeof(user_faults[0]); i++)
		if (strcmp(user_faults[i].name, fault) == 0) {
			agent_run_child(fault, nonce, delay_ms, user_faults[i].body);
			return;
		}
	agent_inject_failed(fault, ENOSYS, "child fault");
}

__attribute__((constructor)) static void register_user_faults(void)
{
	for (size_t i = 0; i < sizeof(user_faults) / sizeof(user_faults[0]); i++)
		agent_register_fault(user_faults[i].name, child_fault);
}
