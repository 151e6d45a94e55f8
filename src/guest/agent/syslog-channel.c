// SPDX-License-Identifier: MIT
/*
 * The agent's second channel: every READY, HB, FIRED, INJECT-FAILED and ERROR line it prints on the
 * console is also sent as one RFC 5424 message on a separate channel, which the host forwards to its
 * syslog (src/monitor-daemon). Enabled by the configuration:
 *
 *   ezone.syslog=/dev/ttyS1   a serial port (QEMU connects the guest's ttyS1 to a host UNIX socket)
 *   ezone.syslog=fd:3         an inherited file descriptor (a pipe, for a process enclave)
 *   ezone.syslog=/path        a UNIX stream socket (connected to) or a FIFO / file (appended to)
 *   ezone.name=<enclave>      HOSTNAME of the messages ("-" when absent)
 *
 *   <29>1 2024-05-01T10:00:00.250Z e1 ezone-agent 1 HB [ezone@32473 uptime_ms="1250" dropped="0"] HB 4 1250
 *
 * The channel never blocks the agent and never kills it: writes are non-blocking, a message that does
 * not fit is dropped and counted (the next message carries `dropped`), a half-written message is
 * finished before any new one so framing survives, SIGPIPE is held off around each write, and a
 * broken channel is reopened at most once a second.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SYSLOG_MAX (AGENT_LINE_MAX + 256)
/* daemon facility (3); severities of RFC 5424 */
#define PRI(sev) (3 * 8 + (sev))

static const struct {
	const char *verb;
	int severity;
} KINDS[] = {
    {"READY", 5}, {"HB", 6}, {"FIRED", 5}, {"INJECT-FAILED", 3}, {"ERROR", 3},
};

static enum { CH_UNSET, CH_OFF, CH_DOWN, CH_UP } state = CH_UNSET;
static char dest[256];
static char host[65] = "-";
static int fd = -1;
static unsigned long long dropped;
static long long retry_at;
static char pending[SYSLOG_MAX];
static size_t pending_len, pending_off;
static int reporting; /* emit() from inside the hook would come back here */
static int reported;  /* the channel's failure was reported once; retries stay quiet */

/* Report a problem of the channel on the console only (the channel itself is what failed). */
static void report(const char *what, int err)
{
	reporting = 1;
	emit("ERROR syslog %s %s: %s", what, dest, strerror(err));
	reporting = 0;
}

static int open_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

static int open_dest(void)
{
	if (strncmp(dest, "fd:", 3) == 0) {
		char *end;
		long n = strtol(dest + 3, &end, 10);
		if (*end || n < 3 || n > 1024 || fcntl((int)n, F_GETFD) < 0) {
			errno = EBADF;
			return -1;
		}
		fcntl((int)n, F_SETFL, fcntl((int)n, F_GETFL) | O_NONBLOCK);
		return (int)n;
	}
	struct stat st;
	if (stat(dest, &st) == 0 && S_ISSOCK(st.st_mode))
		return open_socket(dest);
	int f = open(dest, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_APPEND | O_CLOEXEC);
	if (f < 0)
		return -1;
	struct termios t;
	if (tcgetattr(f, &t) == 0) {
		/* A serial port: raw bytes, no \n -> \r\n, no echo. */
		cfmakeraw(&t);
		cfsetospeed(&t, B115200);
		tcsetattr(f, TCSANOW, &t);
	}
	return f;
}

static void configure(void)
{
	char name[65];
	state = kv_get(agent_config(), "ezone.syslog", dest, sizeof(dest)) && *dest ? CH_DOWN : CH_OFF;
	if (kv_get(agent_config(), "ezone.name", name, sizeof(name)) && is_token(name))
		snprintf(host, sizeof(host), "%s", name);
}

static void channel_down(const char *what, int err)
{
	if (fd >= 0 && strncmp(dest, "fd:", 3) != 0)
		close(fd);
	fd = -1;
	state = CH_DOWN;
	retry_at = uptime_ms() + 1000;
	pending_len = pending_off = 0;
	if (!reported)
		report(what, err);
	reported = 1;
}

/* Write without dying of SIGPIPE: block it, write, swallow a SIGPIPE this write raised. */
static ssize_t write_nosigpipe(const char *p, size_t n)
{
	sigset_t pipe_set, old, pend;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	int was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
	ssize_t w;
	do
		w = write(fd, p, n);
	while (w < 0 && errno == EINTR);
	int e = errno;
	if (w < 0 && e == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

/* Push out the rest of a half-written message; 1 when nothing is left pending. */
static int flush_pending(void)
{
	while (pending_off < pending_len) {
		ssize_t w = write_nosigpipe(pending + pending_off, pending_len - pending_off);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0) {
			channel_down("write", w < 0 ? errno : EIO);
			return 0;
		}
		pending_off += (size_t)w;
	}
	pending_len = pending_off = 0;
	return 1;
}

static void on_line(const char *line, size_t len)
{
	if (reporting)
		return;
	if (state == CH_UNSET)
		configure();
	if (state == CH_OFF)
		return;
	int severity = -1;
	size_t verb = strcspn(line, " ");
	const char *msgid = NULL;
	for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
		if (strlen(KINDS[i].verb) == verb && strncmp(line, KINDS[i].verb, verb) == 0) {
			severity = KINDS[i].severity;
			msgid = KINDS[i].verb;
		}
	if (!msgid)
		return;
	if (state == CH_DOWN) {
		if (uptime_ms() < retry_at) {
			dropped++;
			return;
		}
		fd = open_dest();
		if (fd < 0) {
			int e = errno;
			dropped++;
			channel_down("open", e);
			return;
		}
		state = CH_UP;
		reported = 0;
	}
	if (!flush_pending()) {
		dropped++;
		return;
	}

	struct timespec ts;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + k, sizeof(stamp) - k, ".%03ldZ", ts.tv_nsec / 1000000);

	int n = snprintf(pending, sizeof(pending), "<%d>1 %s %s ezone-agent %d %s [ezone@32473 uptime_ms=\"%lld\" dropped=\"%llu\"] ",
	                 PRI(severity), stamp, host, (int)getpid(), msgid, uptime_ms(), dropped);
	if (n < 0 || (size_t)n >= sizeof(pending) - 2)
		return;
	size_t room = sizeof(pending) - 2 - (size_t)n;
	if (len > room)
		len = room;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		/* Agent lines are ASCII; anything else would break the line framing or the header rules. */
		pending[n + i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	pending_len = (size_t)n + len;
	pending[pending_len++] = '\n';
	pending_off = 0;
	unsigned long long before = dropped;
	dropped = 0;
	if (flush_pending())
		return;
	if (pending_off == 0) {
		/* Nothing of it went out: drop it whole, framing is intact. */
		pending_len = 0;
		dropped = before + 1;
	}
}

__attribute__((constructor)) static void reg(void) { agent_register_line_hook(on_line); }
