// SPDX-License-Identifier: MIT
/*
 * ezone-agent: the guest side of ezone's protocol, one line per event on the console.
 *
 *   READY ezone-agent/1 hb=<ms>          once, when the agent listens
 *   HB <seq> <uptime_ms>                 every hb milliseconds
 *   FIRED <fault> nonce=<nonce>          immediately before a fault is triggered
 *   INJECT-FAILED <fault> errno=<n> <why> when triggering failed (no proof will follow)
 *   PONG <uptime_ms>                     answer to PING
 *   ERROR <text>                         malformed command
 *
 * Commands, one per line on stdin: "INJECT <fault> key=value ...", "PING".
 * Boot-time arming (the paper's mode): kernel command line "ezone.arm=<fault> ezone.nonce=<n>
 * ezone.delay_ms=<ms>" injects right after READY; a module fault then fires from a kernel timer.
 *
 * A module fault loads /lib/ezone/<fault>.ko with "nonce=<n> delay_ms=<ms>"; the module's own printk
 * carrying the nonce is the proof that it fired.
 *
 * Written in C (static) rather than BusyBox sh so that heartbeats keep exact timing and the agent has
 * no dependency on which applets a BusyBox build enables.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 512
#define PARAM_MAX_LEN 256

static long long uptime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One write(2) per line so agent lines never interleave with each other mid-line. */
static void emit(const char *fmt, ...)
{
	char buf[LINE_MAX_LEN + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = write(STDOUT_FILENO, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += w;
	}
}

/* Value of "key=" in a space-separated list, copied into out; returns 0 when absent. */
static int kv_get(const char *list, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = list;
	while (p && *p) {
		while (*p == ' ')
			p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t n = strcspn(v, " \n");
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 1;
		}
		p = strchr(p, ' ');
	}
	return 0;
}

/* Only [A-Za-z0-9_.-] may reach a module parameter or a path. */
static int is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

static void inject_module(const char *fault, const char *nonce, const char *delay_ms)
{
	char path[PARAM_MAX_LEN], params[PARAM_MAX_LEN];
	snprintf(path, sizeof(path), "/lib/ezone/%s.ko", fault);
	snprintf(params, sizeof(params), "nonce=%s delay_ms=%s", nonce, delay_ms);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		emit("INJECT-FAILED %s errno=%d open %s: %s", fault, e, path, strerror(e));
		return;
	}
	emit("FIRED %s nonce=%s", fault, nonce);
	if (syscall(SYS_finit_module, fd, params, 0) != 0) {
		int e = errno;
		emit("INJECT-FAILED %s errno=%d finit_module: %s", fault, e, strerror(e));
	}
	close(fd);
}

static void inject(const char *args)
{
	char fault[64] = "", nonce[64] = "none", delay[16] = "0";
	if (sscanf(args, "%63s", fault) != 1 || !is_token(fault)) {
		emit("ERROR INJECT needs a fault name");
		return;
	}
	kv_get(args, "nonce", nonce, sizeof(nonce));
	kv_get(args, "delay_ms", delay, sizeof(delay));
	if (!is_token(nonce) || strspn(delay, "0123456789") != strlen(delay) || !*delay) {
		emit("ERROR INJECT %s: bad nonce or delay_ms", fault);
		return;
	}
	inject_module(fault, nonce, delay);
}

static void handle_line(char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "INJECT ", 7) == 0)
		inject(line + 7);
	else if (strcmp(line, "PING") == 0)
		emit("PONG %lld", uptime_ms());
	else if (*line)
		emit("ERROR unknown command");
}

static void arm_from_cmdline(void)
{
	char cmdline[2048] = "", fault[64], nonce[64] = "none", delay[16] = "0", args[256];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	if (n <= 0)
		return;
	cmdline[n] = '\0';
	if (!kv_get(cmdline, "ezone.arm", fault, sizeof(fault)))
		return;
	kv_get(cmdline, "ezone.nonce", nonce, sizeof(nonce));
	kv_get(cmdline, "ezone.delay_ms", delay, sizeof(delay));
	snprintf(args, sizeof(args), "%s nonce=%s delay_ms=%s", fault, nonce, delay);
	inject(args);
}

static int hb_interval_ms(void)
{
	char cmdline[2048] = "", v[16];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
		close(fd);
		if (n > 0)
			cmdline[n] = '\0';
	}
	int ms = kv_get(cmdline, "ezone.hb", v, sizeof(v)) ? atoi(v) : 250;
	return ms >= 10 && ms <= 60000 ? ms : 250;
}

int main(void)
{
	struct termios t;
	/* The console echoes what the host types; ezone wants only the agent's own lines back. */
	if (tcgetattr(STDIN_FILENO, &t) == 0) {
		t.c_lflag &= ~(ECHO | ECHONL);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	int hb = hb_interval_ms();
	emit("READY ezone-agent/1 hb=%d", hb);
	arm_from_cmdline();

	char line[LINE_MAX_LEN];
	size_t used = 0;
	long long seq = 0, next = uptime_ms();
	int in_fd = STDIN_FILENO; /* -1 once stdin is closed: poll then only times the heartbeat */
	for (;;) {
		long long now = uptime_ms();
		if (now >= next) {
			emit("HB %lld %lld", seq++, now);
			next += hb;
			if (next <= now)
				next = now + hb; /* a stall (e.g. a stopped VM) must not cause a burst */
			continue;
		}
		struct pollfd p = {.fd = in_fd, .events = POLLIN};
		int r = poll(&p, 1, (int)(next - now));
		if (r <= 0 || !(p.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(in_fd, line + used, sizeof(line) - 1 - used);
		if (n <= 0) {
			if (n == 0 || errno != EINTR)
				in_fd = -1;
			continue;
		}
		used += (size_t)n;
		line[used] = '\0';
		char *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			handle_line(line);
			used -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, used + 1);
		}
		if (used == sizeof(line) - 1) {
			emit("ERROR line too long");
			used = 0;
		}
	}
}
