/*
 * Requests answered by a helper process (INSMOD, PROBE): a fault module fires in its init, in the loading
 * process, and a degraded host makes a probe slow; neither may stall hostd's heartbeat or other children.
 * The helper writes RESULT's payload to a pipe and exits; hostd relays it when the pipe ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostd.h"

struct job jobs[MAX_JOBS];

/* INSMOD in the helper: `path\0params` -> finit_module. */
static int insmod(const char *payload, size_t len, char *out, size_t cap)
{
	char params[MAX_PAYLOAD + 1];
	size_t plen = strnlen(payload, len);
	if (plen == len)
		return snprintf(out, cap, "err %d INSMOD payload has no NUL after the path", EINVAL);
	memcpy(params, payload + plen + 1, len - plen - 1);
	params[len - plen - 1] = 0;
	int fd = open(payload, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return snprintf(out, cap, "err %d open %.256s: %s", errno, payload, strerror(errno));
	if (syscall(SYS_finit_module, fd, params, 0) != 0)
		return snprintf(out, cap, "err %d finit_module %.256s: %s", errno, payload, strerror(errno));
	return snprintf(out, cap, "ok");
}

/* The number after `key` in `path` (e.g. MemAvailable in /proc/meminfo), or the file's first number. */
static long read_number(const char *path, const char *key)
{
	char text[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = 0;
	const char *at = key ? strstr(text, key) : text;
	return at ? strtol(at + (key ? strlen(key) : 0), NULL, 10) : -1;
}

/* Runnable tasks: the number before the slash in /proc/loadavg's 4th field. */
static long runnable(void)
{
	char text[256];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
	if (fd >= 0)
		close(fd);
	long r = -1;
	if (n > 0) {
		text[n] = 0;
		if (sscanf(text, "%*s %*s %*s %ld/", &r) != 1)
			r = -1;
	}
	return r;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* fork + exec of /bin/true and its reaping, in ms; -errno when the fork failed. */
static double forkexec_ms(void)
{
	double start = now_ms();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return now_ms() - start;
}

/* Kernel log records that report a crash or a lockup (the whole ring, from boot). */
static long oops_count(void)
{
	static const char *const patterns[] = {"Oops", "BUG:", "Kernel panic", "soft lockup"};
	char rec[8192];
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long count = 0;
	for (;;) {
		ssize_t n = read(fd, rec, sizeof rec - 1);
		if (n < 0 && errno == EPIPE)
			continue; /* a record was overwritten while we read: go on with the next */
		if (n <= 0)
			break;
		rec[n] = 0;
		const char *msg = strchr(rec, ';');
		for (size_t i = 0; msg && i < sizeof patterns / sizeof *patterns; i++)
			if (strstr(msg, patterns[i])) {
				count++;
				break;
			}
	}
	close(fd);
	return count;
}

#define MAX_CPUS 256

/*
 * The sum of every time field of each online CPU's /proc/stat line, indexed by CPU number (-1: no line).
 * Returns how many CPU lines were read, or -1. Only whole lines of the file's first 16 KiB count (the
 * cpuN lines come first; the long intr line after them is cut off).
 */
static int cpu_totals(unsigned long long totals[MAX_CPUS])
{
	char text[16384];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	text[n] = 0;
	for (int i = 0; i < MAX_CPUS; i++)
		totals[i] = (unsigned long long)-1;
	int count = 0;
	for (char *line = text, *end; (end = strchr(line, '\n')); line = end + 1) {
		*end = 0;
		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		char *at;
		unsigned long cpu = strtoul(line + 3, &at, 10);
		if (cpu >= MAX_CPUS)
			continue;
		unsigned long long sum = 0;
		for (int field = 0; field < 10 && *at; field++)
			sum += strtoull(at, &at, 10);
		totals[cpu] = sum;
		count++;
	}
	return count;
}

/*
 * Online CPUs, and those whose time did not advance in 300 ms: a CPU spinning with interrupts off has no
 * timer tick, so its counters freeze, while an idle CPU still accrues idle time. -1 when unreadable.
 */
static void cpu_stalls(long *online, long *stalled)
{
	static unsigned long long first[MAX_CPUS], second[MAX_CPUS];
	struct timespec wait = {0, 300 * 1000 * 1000};
	*online = *stalled = -1;
	if (cpu_totals(first) < 0)
		return;
	while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
		;
	int count = cpu_totals(second);
	if (count < 0)
		return;
	*online = count;
	*stalled = 0;
	for (int i = 0; i < MAX_CPUS; i++)
		if (second[i] != (unsigned long long)-1 && first[i] == second[i])
			(*stalled)++;
}

static int probe(char *out, size_t cap)
{
	double fe = forkexec_ms();
	char taint[32];
	long online, stalled;
	snprintf(taint, sizeof taint, "%ld", read_number("/proc/sys/kernel/tainted", NULL));
	cpu_stalls(&online, &stalled);
	return snprintf(out, cap,
			"ok\ntaint=%s\nrunnable=%ld\n%s=%.3f\nmem_available_kb=%ld\noops=%ld\n"
			"cpus_online=%ld\ncpus_stalled=%ld\n",
			taint, runnable(), fe < 0 ? "forkexec_errno" : "forkexec_ms", fe < 0 ? -fe : fe,
			read_number("/proc/meminfo", "MemAvailable:"), oops_count(), online, stalled);
}

void job_start(uint16_t request, int kind, const char *payload, size_t len)
{
	struct job *j = NULL;
	for (int i = 0; i < MAX_JOBS && !j; i++)
		if (!jobs[i].used)
			j = &jobs[i];
	int p[2];
	if (!j)
		return send_text(F_RESULT, request, "err %d too many requests in flight", EBUSY);
	if (pipe2(p, O_CLOEXEC) != 0)
		return send_text(F_RESULT, request, "err %d pipe: %s", errno, strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		char out[4096];
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int n = kind == F_INSMOD ? insmod(payload, len, out, sizeof out) : probe(out, sizeof out);
		_exit(write(p[1], out, n < (int)sizeof out ? (size_t)n : sizeof out - 1) < 0);
	}
	int err = errno;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return send_text(F_RESULT, request, "err %d fork: %s", err, strerror(err));
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*j = (struct job){.used = 1, .request = request, .pid = pid, .fd = p[0], .len = 0};
}

/* Collect the helper's output; at its end, send RESULT (an error if the helper died without one). */
void job_read(struct job *j)
{
	ssize_t n;
	while ((n = read(j->fd, j->result + j->len, sizeof j->result - j->len)) > 0)
		j->len += (size_t)n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR) && j->len < sizeof j->result)
		return;
	close(j->fd);
	if (j->len > 0)
		send_frame(F_RESULT, j->request, j->result, j->len);
	else
		send_text(F_RESULT, j->request, "err %d the request's helper process died without a result", EIO);
	j->used = 0;
}
