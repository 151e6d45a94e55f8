// SPDX-License-Identifier: MIT
/*
 * ezone-agent: the guest side of ezone's protocol, one line per event on the console.
 *
 *   READY ezone-agent/1 hb=<ms>           once, when the agent listens
 *   HB <seq> <uptime_ms>                  every hb milliseconds
 *   FIRED <fault> nonce=<nonce>           immediately before a fault is triggered
 *   INJECT-FAILED <fault> errno=<n> <why> when triggering failed (no proof will follow)
 *   PONG <uptime_ms>                      answer to PING
 *   ERROR <text>                          malformed command
 *
 * Commands, one per line on stdin: "INJECT <fault> nonce=<n> delay_ms=<ms> ...", "PING", and whatever
 * the other files of this folder register (see agent.h).
 * Boot-time arming (the paper's mode): "ezone.arm=<fault> ezone.nonce=<n> ezone.delay_ms=<ms>" in the
 * configuration injects right after READY; a module fault then fires from a kernel timer.
 *
 * Configuration comes from /proc/cmdline in a VM, or from `ezone-agent --cmdline "ezone.hb=250 ..."`
 * when the agent runs as a process (native, container, gVisor).
 *
 * A fault with no registered trigger is a kernel module: /lib/ezone/<fault>.ko (or under
 * ezone.moddir=<dir>) loaded with "nonce=<n> delay_ms=<ms>"; the module's own printk carrying the
 * nonce is the proof that it fired.
 *
 * Written in C (static) rather than BusyBox sh so that heartbeats keep exact timing and the agent has
 * no dependency on which applets a BusyBox build enables.
 */
#define _GNU_SOURCE
#include "agent.h"

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

#define MAX_HANDLERS 64

static struct {
	const char *name;
	agent_command_fn command;
	agent_fault_fn fault;
} handlers[MAX_HANDLERS];
static int n_handlers;
static char config[2048];
/* Heartbeat state, file-static so that a restored snapshot can restart the sequence. */
static int hb;
static long long hb_seq, hb_next;

static void add_handler(const char *name, agent_command_fn command, agent_fault_fn fault)
{
	if (n_handlers < MAX_HANDLERS)
		handlers[n_handlers++] = (typeof(handlers[0])){name, command, fault};
}

void agent_register_command(const char *verb, agent_command_fn fn) { add_handler(verb, fn, NULL); }
void agent_register_fault(const char *fault, agent_fault_fn fn) { add_handler(fault, NULL, fn); }

static agent_line_hook_fn line_hooks[4];
static int n_line_hooks;

void agent_register_line_hook(agent_line_hook_fn fn)
{
	if (n_line_hooks < (int)(sizeof(line_hooks) / sizeof(line_hooks[0])))
		line_hooks[n_line_hooks++] = fn;
}

long long uptime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void emit(const char *fmt, ...)
{
	char buf[AGENT_LINE_MAX + 64];
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
			break;
		off += w;
	}
	buf[n - 1] = '\0';
	for (int i = 0; i < n_line_hooks; i++)
		line_hooks[i](buf, (size_t)n - 1);
}

void agent_fired(const char *fault, const char *nonce) { emit("FIRED %s nonce=%s", fault, nonce); }

void agent_inject_failed(const char *fault, int err, const char *what)
{
	emit("INJECT-FAILED %s errno=%d %s: %s", fault, err, what, strerror(err));
}

int kv_get(const char *list, const char *key, char *out, size_t outlen)
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

int is_token(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

const char *agent_config(void) { return config; }

int agent_heartbeat_ms(void) { return hb; }

void agent_restart_heartbeat(void)
{
	hb_seq = 0;
	hb_next = uptime_ms();
}

static void inject_module(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	(void)args;
	char dir[160] = "/lib/ezone", path[256], params[256];
	/* A process agent (native) finds the image's modules where ezone says, not in the host's /lib. */
	kv_get(agent_config(), "ezone.moddir", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s.ko", dir, fault);
	snprintf(params, sizeof(params), "nonce=%s delay_ms=%u", nonce, delay_ms);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		agent_inject_failed(fault, errno, "open module");
		return;
	}
	agent_fired(fault, nonce);
	if (syscall(SYS_finit_module, fd, params, 0) != 0)
		agent_inject_failed(fault, errno, "finit_module");
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
	if (!is_token(nonce) || !*delay || strspn(delay, "0123456789") != strlen(delay) || strlen(delay) > 9) {
		emit("ERROR INJECT %s: bad nonce or delay_ms", fault);
		return;
	}
	for (int i = 0; i < n_handlers; i++)
		if (handlers[i].fault && strcmp(handlers[i].name, fault) == 0) {
			handlers[i].fault(fault, nonce, (unsigned)atoi(delay), args);
			return;
		}
	inject_module(fault, nonce, (unsigned)atoi(delay), args);
}

static void handle_line(char *line)
{
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "INJECT ", 7) == 0) {
		inject(line + 7);
		return;
	}
	if (strcmp(line, "PING") == 0) {
		emit("PONG %lld", uptime_ms());
		return;
	}
	size_t verb = strcspn(line, " ");
	for (int i = 0; i < n_handlers; i++)
		if (handlers[i].command && strlen(handlers[i].name) == verb && strncmp(line, handlers[i].name, verb) == 0) {
			handlers[i].command(line[verb] ? line + verb + 1 : "");
			return;
		}
	if (*line)
		emit("ERROR unknown command");
}

static void load_config(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--cmdline") == 0) {
		snprintf(config, sizeof(config), "%s", argv[2]);
		return;
	}
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, config, sizeof(config) - 1);
	close(fd);
	config[n > 0 ? n : 0] = '\0';
}

static void arm_from_config(void)
{
	char fault[64], nonce[64] = "none", delay[16] = "0", args[256];
	if (!kv_get(config, "ezone.arm", fault, sizeof(fault)))
		return;
	kv_get(config, "ezone.nonce", nonce, sizeof(nonce));
	kv_get(config, "ezone.delay_ms", delay, sizeof(delay));
	snprintf(args, sizeof(args), "%s nonce=%s delay_ms=%s", fault, nonce, delay);
	inject(args);
}

static int hb_interval_ms(void)
{
	char v[16];
	int ms = kv_get(config, "ezone.hb", v, sizeof(v)) ? atoi(v) : 250;
	return ms >= 10 && ms <= 60000 ? ms : 250;
}

int main(int argc, char **argv)
{
	struct termios t;
	/* The console echoes what the host types; ezone wants only the agent's own lines back. */
	if (tcgetattr(STDIN_FILENO, &t) == 0) {
		t.c_lflag &= ~(ECHO | ECHONL);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	load_config(argc, argv);
	hb = hb_interval_ms();
	emit("READY ezone-agent/1 hb=%d", hb);
	arm_from_config();

	char line[AGENT_LINE_MAX];
	size_t used = 0;
	agent_restart_heartbeat();
	int in_fd = STDIN_FILENO; /* -1 once stdin is closed: poll then only times the heartbeat */
	for (;;) {
		long long now = uptime_ms();
		if (now >= hb_next) {
			emit("HB %lld %lld", hb_seq++, now);
			hb_next += hb;
			if (hb_next <= now)
				hb_next = now + hb; /* a stall (e.g. a stopped VM) must not cause a burst */
			continue;
		}
		struct pollfd p = {.fd = in_fd, .events = POLLIN};
		int r = poll(&p, 1, (int)(hb_next - now));
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
