// SPDX-License-Identifier: MIT
/*
 * Micro-benchmarks for ezone's performance axis (DESIGN.md §9). The same static agent runs inside every
 * enclave and natively on the host, so every backend times the very same machine code.
 *
 *   BENCH <name> reps=<n> [ms=<target per rep>] [mb=<buffer MiB>] [dir=<path>]
 *
 * prints one bounded line per repetition, in order:
 *
 *   BENCH-RESULT <name> <rep> <value> <unit> ops=<n> ns=<elapsed> [key=value ...]
 *   BENCH-RESULT <name> <rep> FAILED <reason>
 *
 * `value` is a cost (lower is better) of one well-defined operation, so value(backend) / value(native)
 * is the backend's slowdown on it. Each repetition runs whole batches until `ms` (default 200) has passed:
 * short and bounded, yet long enough to swamp the clock's resolution under emulation.
 *
 *   cpu-int      ns/iter  xorshift64 + multiply, one dependency chain
 *   cpu-fp       ns/iter  a double-precision multiply-add-divide recurrence (no libm)
 *   mem-copy     ns/KiB   STREAM's Copy kernel c[i] = a[i], bytes counted as STREAM does (read + write)
 *   mem-triad    ns/KiB   STREAM's Triad kernel a[i] = b[i] + q*c[i] (two reads + one write)
 *   mem-latency  ns/load  pointer chase over a random cyclic permutation of cache lines (Sattolo)
 *   syscall      ns/call  getppid(2) through syscall(2), which no libc caches
 *   fork-exec    us/spawn fork + execve of this very binary (it exits in a constructor) + waitpid
 *   file-io      us/cycle create, 16 x 4 KiB write, fsync, read back, unlink, in `dir`; by default the
 *                          first RAM file system of /tmp, /dev/shm (else /tmp): the guests' root and /tmp
 *                          are RAM file systems, so native must not be timed against a disk's fsync;
 *                          `fs=<statfs magic>` says which file system it was
 *   timer        us/sleep mean overshoot of nanosleep(1 ms); `max_us=` the worst one
 *
 * Written here rather than taken from a package: STREAM's kernels are four lines each, lmbench is not in
 * Debian 12, and a benchmark that runs in the guest must be inside the one static binary the image ships.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_ENV "EZONE_BENCH_EXIT"
#define MAX_REPS 1000
#define MAX_MS 10000
#define MAX_MB 512
#define IO_CHUNK 4096
#define IO_CHUNKS 16

/** State of one benchmark command; `op` performs `n` calls of `per_call` operations each. */
struct run {
	unsigned mb;
	char dir[200];
	/* Buffers of the memory benchmarks (mmap'ed, so huge ones are not on the heap). */
	double *a, *b, *c;
	size_t elems;
	void **chase;
	void *cursor;
	size_t map_bytes;
	/* file-io */
	char path[256];
	char io[IO_CHUNK];
	long fs_magic;
	/* timer: the cost is the overshoot, not the elapsed time */
	uint64_t overshoot_ns, max_overshoot_ns;
	/* operations per call (KiB moved for the memory kernels, loads per call for the chase) */
	uint64_t per_call;
};

struct bench {
	const char *name;
	const char *unit;
	/** Nanoseconds per unit of `value`. */
	double ns_per_unit;
	int (*setup)(struct run *r);
	/** Perform n calls; 0 or an errno value. */
	int (*op)(struct run *r, uint64_t n);
	void (*teardown)(struct run *r);
	/** The cost is the accumulated overshoot (timer), not the elapsed time. */
	int overshoot;
};

/* Results go through volatile sinks so the compiler cannot drop the work. */
static volatile uint64_t sink_u;
static volatile double sink_d;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int op_cpu_int(struct run *r, uint64_t n)
{
	(void)r;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ sink_u, acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc = (acc ^ x) * 0xff51afd7ed558ccdull;
	}
	sink_u = acc;
	return 0;
}

static int op_cpu_fp(struct run *r, uint64_t n)
{
	(void)r;
	/* Converges to a fixed point near 0.6: values stay normal (no denormal slow paths, no overflow). */
	double x = 1.0 + (double)(sink_u & 7), y = 0.0;
	for (uint64_t i = 0; i < n; i++) {
		x = (x * 1.0000001 + 0.5) / (x + 1.5);
		y += x * 0.25;
	}
	sink_d = y;
	return 0;
}

static void *map_bytes(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int setup_stream(struct run *r)
{
	r->elems = (size_t)r->mb * 1024 * 1024 / sizeof(double);
	r->map_bytes = r->elems * sizeof(double);
	r->a = map_bytes(r->map_bytes);
	r->b = map_bytes(r->map_bytes);
	r->c = map_bytes(r->map_bytes);
	if (!r->a || !r->b || !r->c)
		return ENOMEM;
	/* First touch outside the timed region, as STREAM does. */
	for (size_t i = 0; i < r->elems; i++) {
		r->a[i] = 1.0;
		r->b[i] = 2.0;
		r->c[i] = 0.0;
	}
	return 0;
}

static void teardown_stream(struct run *r)
{
	double **bufs[] = {&r->a, &r->b, &r->c};
	for (size_t i = 0; i < 3; i++)
		if (*bufs[i]) {
			munmap(*bufs[i], r->map_bytes);
			*bufs[i] = NULL;
		}
}

static int setup_copy(struct run *r)
{
	int err = setup_stream(r);
	r->per_call = 2 * r->map_bytes / 1024;
	return err;
}

static int setup_triad(struct run *r)
{
	int err = setup_stream(r);
	r->per_call = 3 * r->map_bytes / 1024;
	return err;
}

static int op_copy(struct run *r, uint64_t n)
{
	double *restrict a = r->a, *restrict c = r->c;
	for (uint64_t k = 0; k < n; k++) {
		for (size_t i = 0; i < r->elems; i++)
			c[i] = a[i];
		sink_d = c[k % r->elems];
	}
	return 0;
}

static int op_triad(struct run *r, uint64_t n)
{
	double *restrict a = r->a, *restrict b = r->b, *restrict c = r->c;
	const double q = 3.0;
	for (uint64_t k = 0; k < n; k++) {
		for (size_t i = 0; i < r->elems; i++)
			a[i] = b[i] + q * c[i];
		sink_d = a[k % r->elems];
	}
	return 0;
}

#define LINE 64
#define CHASE_PER_CALL 4096

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int setup_chase(struct run *r)
{
	size_t lines = (size_t)r->mb * 1024 * 1024 / LINE;
	r->map_bytes = lines * LINE;
	char *base = map_bytes(r->map_bytes);
	if (!base)
		return ENOMEM;
	r->chase = (void **)base;
	size_t *order = malloc(lines * sizeof(*order));
	if (!order)
		return ENOMEM;
	for (size_t i = 0; i < lines; i++)
		order[i] = i;
	/* Sattolo's algorithm: a single cycle through every line, so the chase visits the whole buffer. */
	uint64_t seed = 0x2545f4914f6cdd1dull;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = (size_t)(xorshift(&seed) % i);
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < lines; i++)
		*(void **)(base + order[i] * LINE) = base + order[(i + 1) % lines] * LINE;
	free(order);
	r->cursor = base;
	r->per_call = CHASE_PER_CALL;
	return 0;
}

static int op_chase(struct run *r, uint64_t n)
{
	void *p = r->cursor;
	for (uint64_t k = 0; k < n * CHASE_PER_CALL; k++)
		p = *(void **)p;
	r->cursor = p;
	sink_u = (uint64_t)(uintptr_t)p;
	return 0;
}

static void teardown_chase(struct run *r)
{
	if (r->chase)
		munmap(r->chase, r->map_bytes);
	r->chase = NULL;
}

static int op_syscall(struct run *r, uint64_t n)
{
	(void)r;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++)
		acc += (uint64_t)syscall(SYS_getppid);
	sink_u = acc;
	return 0;
}

static int op_fork_exec(struct run *r, uint64_t n)
{
	(void)r;
	static char *const argv[] = {"ezone-agent", NULL};
	static char *const envp[] = {EXIT_ENV "=1", NULL};
	for (uint64_t i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return errno;
		if (pid == 0) {
			execve("/proc/self/exe", argv, envp);
			_exit(127);
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return errno;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return ECHILD;
	}
	return 0;
}

static int setup_file(struct run *r)
{
	struct statfs fs;
	if (statfs(r->dir, &fs) != 0)
		return errno;
	r->fs_magic = (long)fs.f_type;
	snprintf(r->path, sizeof(r->path), "%s/.ezone-bench.%ld", r->dir, (long)getpid());
	memset(r->io, 0x5a, sizeof(r->io));
	return 0;
}

static int op_file(struct run *r, uint64_t n)
{
	char back[IO_CHUNK];
	for (uint64_t k = 0; k < n; k++) {
		int fd = open(r->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return errno;
		int err = 0;
		for (int i = 0; i < IO_CHUNKS && !err; i++)
			if (write(fd, r->io, IO_CHUNK) != IO_CHUNK)
				err = errno ? errno : EIO;
		if (!err && fsync(fd) != 0)
			err = errno;
		for (int i = 0; i < IO_CHUNKS && !err; i++)
			if (pread(fd, back, IO_CHUNK, (off_t)i * IO_CHUNK) != IO_CHUNK || back[i] != 0x5a)
				err = errno ? errno : EIO;
		close(fd);
		unlink(r->path);
		if (err)
			return err;
	}
	return 0;
}

static int op_timer(struct run *r, uint64_t n)
{
	const struct timespec want = {0, 1000000};
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		if (nanosleep(&want, NULL) != 0 && errno != EINTR)
			return errno;
		uint64_t slept = now_ns() - t0;
		uint64_t over = slept > 1000000 ? slept - 1000000 : 0;
		r->overshoot_ns += over;
		if (over > r->max_overshoot_ns)
			r->max_overshoot_ns = over;
	}
	return 0;
}

static const struct bench BENCHES[] = {
	{"cpu-int", "ns/iter", 1, NULL, op_cpu_int, NULL, 0},
	{"cpu-fp", "ns/iter", 1, NULL, op_cpu_fp, NULL, 0},
	{"mem-copy", "ns/KiB", 1, setup_copy, op_copy, teardown_stream, 0},
	{"mem-triad", "ns/KiB", 1, setup_triad, op_triad, teardown_stream, 0},
	{"mem-latency", "ns/load", 1, setup_chase, op_chase, teardown_chase, 0},
	{"syscall", "ns/call", 1, NULL, op_syscall, NULL, 0},
	{"fork-exec", "us/spawn", 1000, NULL, op_fork_exec, NULL, 0},
	{"file-io", "us/cycle", 1000, setup_file, op_file, NULL, 0},
	{"timer", "us/sleep", 1000, NULL, op_timer, NULL, 1},
};

/**
 * One repetition: batches of calls, the batch doubling until one takes >= 1/16 of the target (so the
 * clock is read rarely), until the target has passed. Returns 0 or an errno value.
 */
static int one_rep(const struct bench *b, struct run *r, uint64_t target_ns, uint64_t *calls, uint64_t *elapsed)
{
	uint64_t batch = 1, done = 0, spent = 0;
	r->overshoot_ns = r->max_overshoot_ns = 0;
	while (spent < target_ns) {
		uint64_t t0 = now_ns();
		int err = b->op(r, batch);
		uint64_t dt = now_ns() - t0;
		if (err)
			return err;
		done += batch;
		spent += dt;
		if (dt < target_ns / 16 && batch < (1ull << 40))
			batch *= 2;
	}
	*calls = done;
	*elapsed = spent;
	return 0;
}

/** The first RAM file system among /tmp and /dev/shm, else /tmp. */
static void default_dir(char *out, size_t len)
{
	static const char *const candidates[] = {"/tmp", "/dev/shm"};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		struct statfs fs;
		if (statfs(candidates[i], &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC)) {
			snprintf(out, len, "%s", candidates[i]);
			return;
		}
	}
	snprintf(out, len, "/tmp");
}

static int parse_uint(const char *args, const char *key, unsigned dflt, unsigned max, unsigned *out)
{
	char v[16];
	if (!kv_get(args, key, v, sizeof(v))) {
		*out = dflt;
		return 1;
	}
	if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return 0;
	*out = (unsigned)atoi(v);
	return *out >= 1 && *out <= max;
}

static int is_path(const char *s)
{
	return *s == '/' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/") == strlen(s) &&
	       strstr(s, "..") == NULL;
}

static void bench_command(const char *args)
{
	char name[32] = "";
	unsigned reps, ms, mb;
	struct run r;
	memset(&r, 0, sizeof(r));
	if (sscanf(args, "%31s", name) != 1 || !is_token(name)) {
		emit("ERROR BENCH needs a benchmark name");
		return;
	}
	if (!parse_uint(args, "reps", 1, MAX_REPS, &reps) || !parse_uint(args, "ms", 200, MAX_MS, &ms) ||
	    !parse_uint(args, "mb", 32, MAX_MB, &mb)) {
		emit("ERROR BENCH %s: reps must be 1..%d, ms 1..%d, mb 1..%d", name, MAX_REPS, MAX_MS, MAX_MB);
		return;
	}
	r.mb = mb;
	if (!kv_get(args, "dir", r.dir, sizeof(r.dir)))
		default_dir(r.dir, sizeof(r.dir));
	if (!is_path(r.dir)) {
		emit("ERROR BENCH %s: dir must be an absolute path of [A-Za-z0-9_.-/]", name);
		return;
	}
	const struct bench *b = NULL;
	for (size_t i = 0; i < sizeof(BENCHES) / sizeof(BENCHES[0]); i++)
		if (strcmp(BENCHES[i].name, name) == 0)
			b = &BENCHES[i];
	if (!b) {
		emit("BENCH-RESULT %s 0 FAILED unknown benchmark", name);
		return;
	}
	r.per_call = 1;
	int err = b->setup ? b->setup(&r) : 0;
	for (unsigned rep = 0; rep < reps; rep++) {
		uint64_t calls = 0, elapsed = 0;
		if (!err)
			err = one_rep(b, &r, (uint64_t)ms * 1000000ull, &calls, &elapsed);
		if (err) {
			emit("BENCH-RESULT %s %u FAILED errno=%d %s", name, rep, err, strerror(err));
			continue;
		}
		uint64_t ops = calls * r.per_call;
		double cost = (double)(b->overshoot ? r.overshoot_ns : elapsed);
		double value = cost / (double)ops / b->ns_per_unit;
		if (b->overshoot)
			emit("BENCH-RESULT %s %u %.6g %s ops=%llu ns=%llu max_us=%.1f", name, rep, value, b->unit,
			     (unsigned long long)ops, (unsigned long long)elapsed, (double)r.max_overshoot_ns / 1000.0);
		else if (b->setup == setup_file)
			emit("BENCH-RESULT %s %u %.6g %s ops=%llu ns=%llu fs=0x%lx", name, rep, value, b->unit,
			     (unsigned long long)ops, (unsigned long long)elapsed, (unsigned long)r.fs_magic);
		else
			emit("BENCH-RESULT %s %u %.6g %s ops=%llu ns=%llu", name, rep, value, b->unit,
			     (unsigned long long)ops, (unsigned long long)elapsed);
	}
	if (b->teardown)
		b->teardown(&r);
}

__attribute__((constructor)) static void bench_register(void)
{
	/* The fork-exec benchmark's child: exit before main, so the cost is the spawn, not the agent. */
	if (getenv(EXIT_ENV))
		_exit(0);
	agent_register_command("BENCH", bench_command);
}
