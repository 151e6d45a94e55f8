/*
 * hostd's main loop: the channel to ezone (the virtio-serial port `ezone.hostd`, or with the test-only
 * `--channel PATH` a UNIX socket it connects to), the bounded output queue, heartbeats and dispatch.
 * One poll() loop; no descriptor is ever written or read in blocking mode, so one slow child, a slow host
 * or a missing host stalls nothing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hostd.h"

#define PORT_NAME "ezone.hostd"
/* Queued bytes for the host: output beyond OUT_CAP is dropped; above OUT_HIGH children are not read. */
#define OUT_CAP (1024 * 1024)
#define OUT_HIGH (256 * 1024)
/* Control frames (EXIT, RESULT, HELLO) are small and never dropped; they may use this much more. */
#define OUT_CONTROL_SLACK (256 * 1024)
#define HEARTBEAT_MS 200
/* How often a disconnected channel is checked for the host's return. */
#define RECONNECT_MS 20
#define PORT_WAIT_TRIES 100

static struct {
	int fd;
	int connected;
	const char *socket_path; /* test mode; NULL on the virtio port */
	int desync;		 /* a protocol error: discard input until the host reconnects */
	size_t in_len;
	size_t frame_left; /* bytes of the frame at the queue's head not yet written */
	size_t dropped;
	char in[HEADER_BYTES + MAX_PAYLOAD];
} chan = {.fd = -1};

static struct buf out_q;

int buf_append(struct buf *b, const void *data, size_t n)
{
	if (b->head > 0 && b->len + n > b->cap) {
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *data2 = realloc(b->data, cap);
		if (!data2)
			return -1;
		b->data = data2;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	b->head += n;
	if (b->head >= b->len)
		b->head = b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}

void logmsg(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > 0 && write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
		return;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void send_frame(uint8_t type, uint16_t channel, const void *payload, size_t len)
{
	int output = type == F_STDOUT || type == F_STDERR || type == F_FD3_OUT;
	size_t cap = output ? OUT_CAP : type == F_HEARTBEAT ? OUT_HIGH : OUT_CAP + OUT_CONTROL_SLACK;
	if (len > MAX_PAYLOAD || buf_used(&out_q) + HEADER_BYTES + len > cap) {
		chan.dropped += len;
		return;
	}
	unsigned char h[HEADER_BYTES] = {type, 0, (unsigned char)(channel & 0xff), (unsigned char)(channel >> 8),
					 (unsigned char)(len & 0xff), (unsigned char)(len >> 8 & 0xff),
					 (unsigned char)(len >> 16 & 0xff), (unsigned char)(len >> 24)};
	if (buf_append(&out_q, h, sizeof h) != 0)
		return;
	if (len && buf_append(&out_q, payload, len) != 0)
		out_q.len -= sizeof h; /* no memory for the payload: take the header back */
}

void send_text(uint8_t type, uint16_t channel, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n >= 0)
		send_frame(type, channel, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

int output_allowed(void) { return !chan.connected || buf_used(&out_q) < OUT_HIGH; }

/* The host went away: a half-written frame would garble the next connection, so drop its rest. */
static void disconnected(void)
{
	chan.connected = 0;
	chan.in_len = 0;
	if (chan.frame_left) {
		buf_consume(&out_q, chan.frame_left);
		chan.frame_left = 0;
	}
	if (chan.socket_path && chan.fd >= 0) {
		close(chan.fd);
		chan.fd = -1;
	}
}

/* Write queued frames until the channel would block; each write holds at most one frame. */
static void flush_out(void)
{
	while (chan.connected && buf_used(&out_q) > 0) {
		const unsigned char *h = (const unsigned char *)out_q.data + out_q.head;
		if (!chan.frame_left)
			chan.frame_left = HEADER_BYTES + (h[4] | h[5] << 8 | h[6] << 16 | (size_t)h[7] << 24);
		ssize_t n = write(chan.fd, h, chan.frame_left);
		if (n > 0) {
			buf_consume(&out_q, (size_t)n);
			chan.frame_left -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n < 0 && errno != EAGAIN)
				disconnected();
			return;
		}
	}
}

/* The virtio-serial port whose name is `ezone.hostd`, as /dev/vportNpM (devtmpfs makes the node). */
static int find_port(char *path, size_t cap)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;
	while (d && !found && (e = readdir(d))) {
		char name_path[512], name[64] = "";
		snprintf(name_path, sizeof name_path, "/sys/class/virtio-ports/%s/name", e->d_name);
		int fd = open(name_path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, name, sizeof name - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0 && strncmp(name, PORT_NAME "\n", sizeof PORT_NAME) == 0) {
			snprintf(path, cap, "/dev/%s", e->d_name);
			found = 1;
		}
	}
	if (d)
		closedir(d);
	return found;
}

static int open_port(void)
{
	char path[300];
	for (int i = 0; i < PORT_WAIT_TRIES; i++) {
		if (find_port(path, sizeof path)) {
			int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (fd >= 0)
				return fd;
		}
		usleep(100 * 1000);
	}
	logmsg("hostd: no virtio-serial port named " PORT_NAME " (is virtio_console loaded?)\n");
	return -1;
}

/* Is the host there (again)? A virtio port reports POLLHUP while the host side is closed. */
static void check_reconnect(void)
{
	if (chan.socket_path) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof a.sun_path, "%s", chan.socket_path);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
			if (fd >= 0)
				close(fd);
			return;
		}
		fcntl(fd, F_SETFL, O_NONBLOCK);
		chan.fd = fd;
	} else {
		struct pollfd p = {.fd = chan.fd, .events = POLLIN};
		if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			return;
	}
	chan.connected = 1;
	chan.desync = 0;
	chan.in_len = 0;
}

static void hello(void)
{
	char list[MAX_CHILDREN * 6 + 1];
	size_t n = children_list(list, sizeof list);
	send_text(F_HELLO_REPLY, 0, "hostd 1\nchildren=%.*s", (int)n, list);
}

static void dispatch(uint8_t type, uint16_t ch, const char *p, size_t len)
{
	switch (type) {
	case F_SPAWN:
		return child_spawn(ch, p, len);
	case F_STDIN:
		return child_input(ch, 0, p, len);
	case F_FD3_IN:
		return child_input(ch, 1, p, len);
	case F_CLOSE_STDIN:
		return child_close_stdin(ch);
	case F_KILL:
		if (len == 4)
			child_kill(ch, (uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[1] << 8 |
					       (uint32_t)(unsigned char)p[2] << 16 | (uint32_t)(unsigned char)p[3] << 24);
		return;
	case F_INSMOD:
	case F_PROBE:
		return job_start(ch, type, p, len);
	case F_HELLO:
		return hello();
	}
}

static int known_inbound(uint8_t type)
{
	return (type >= F_SPAWN && type <= F_PROBE) || type == F_CLOSE_STDIN || type == F_FD3_IN || type == F_HELLO;
}

/* Decode and dispatch every complete frame in the input buffer; a bad header desynchronises the channel. */
static void decode_input(void)
{
	size_t at = 0;
	while (chan.in_len - at >= HEADER_BYTES) {
		const unsigned char *h = (const unsigned char *)chan.in + at;
		size_t len = h[4] | h[5] << 8 | h[6] << 16 | (size_t)h[7] << 24;
		if (!known_inbound(h[0]) || h[1] != 0 || len > MAX_PAYLOAD) {
			logmsg("hostd: protocol error (type %u, reserved %u, length %zu): input ignored until the "
			       "host reconnects\n", h[0], h[1], len);
			chan.desync = 1;
			chan.in_len = 0;
			return;
		}
		if (chan.in_len - at < HEADER_BYTES + len)
			break;
		dispatch(h[0], (uint16_t)(h[2] | h[3] << 8), chan.in + at + HEADER_BYTES, len);
		at += HEADER_BYTES + len;
	}
	memmove(chan.in, chan.in + at, chan.in_len - at);
	chan.in_len -= at;
}

static void read_channel(void)
{
	for (;;) {
		ssize_t n = read(chan.fd, chan.in + chan.in_len, sizeof chan.in - chan.in_len);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return disconnected();
		if (n < 0)
			return;
		if (chan.desync)
			continue;
		chan.in_len += (size_t)n;
		decode_input();
	}
}

/* What each pollfd entry is: the channel, the signalfd, a child's descriptor or a job's pipe. */
enum slot_kind { S_CHAN, S_SIG, S_OUT, S_ERR, S_FD3, S_IN, S_JOB };
struct slot {
	enum slot_kind kind;
	int index;
};

static int add(struct pollfd *fds, struct slot *slots, int n, int fd, short events, enum slot_kind k, int i)
{
	if (fd < 0 || !events)
		return n;
	fds[n] = (struct pollfd){.fd = fd, .events = events};
	slots[n] = (struct slot){.kind = k, .index = i};
	return n + 1;
}

static int build_pollset(struct pollfd *fds, struct slot *slots, int sfd)
{
	int n = add(fds, slots, 0, sfd, POLLIN, S_SIG, 0);
	if (chan.connected)
		n = add(fds, slots, n, chan.fd, POLLIN | (buf_used(&out_q) ? POLLOUT : 0), S_CHAN, 0);
	short out = output_allowed() ? POLLIN : 0;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		struct child *c = &children[i];
		if (!c->used)
			continue;
		n = add(fds, slots, n, c->fd_out, out, S_OUT, i);
		n = add(fds, slots, n, c->fd_err, out, S_ERR, i);
		n = add(fds, slots, n, c->fd_3, out | (buf_used(&c->fd3_q) ? POLLOUT : 0), S_FD3, i);
		n = add(fds, slots, n, c->fd_in, buf_used(&c->in_q) ? POLLOUT : 0, S_IN, i);
	}
	for (int i = 0; i < MAX_JOBS; i++)
		if (jobs[i].used)
			n = add(fds, slots, n, jobs[i].fd, POLLIN, S_JOB, i);
	return n;
}

/* SIGCHLD reaps; SIGTERM or SIGINT (off PID 1 only) kills every child group and exits. */
static void on_signals(int sfd)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		children_kill_all();
		exit(0);
	}
	children_reap();
}

static void handle(const struct pollfd *p, const struct slot *s)
{
	struct child *c = &children[s->index];
	short in = p->revents & (POLLIN | POLLHUP | POLLERR), out = p->revents & (POLLOUT | POLLERR);
	if (!p->revents || (s->kind != S_CHAN && s->kind != S_JOB && s->kind != S_SIG && !c->used))
		return;
	if (s->kind == S_CHAN && in)
		read_channel();
	else if (s->kind == S_CHAN && out)
		flush_out();
	else if (s->kind == S_JOB)
		job_read(&jobs[s->index]);
	else if ((s->kind == S_OUT || s->kind == S_ERR || s->kind == S_FD3) && in)
		child_read(c, s->kind == S_OUT ? 1 : s->kind == S_ERR ? 2 : 3);
	if ((s->kind == S_IN || s->kind == S_FD3) && out)
		child_flush(c, s->kind == S_IN ? 0 : 3);
}

static void run(int sfd)
{
	static struct pollfd fds[2 + MAX_CHILDREN * 4 + MAX_JOBS];
	static struct slot slots[2 + MAX_CHILDREN * 4 + MAX_JOBS];
	uint64_t next_hb = mono_ms() + HEARTBEAT_MS;
	for (;;) {
		if (!chan.connected)
			check_reconnect();
		uint64_t now = mono_ms();
		if (now >= next_hb) {
			unsigned char ms[8];
			for (int i = 0; i < 8; i++)
				ms[i] = (unsigned char)(now >> (8 * i));
			if (chan.connected)
				send_frame(F_HEARTBEAT, 0, ms, sizeof ms);
			next_hb = now - next_hb > HEARTBEAT_MS ? now + HEARTBEAT_MS : next_hb + HEARTBEAT_MS;
		}
		flush_out();
		int n = build_pollset(fds, slots, sfd);
		int timeout = (int)(next_hb - mono_ms() > HEARTBEAT_MS ? 0 : next_hb - mono_ms());
		if (!chan.connected && timeout > RECONNECT_MS)
			timeout = RECONNECT_MS;
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
			logmsg("hostd: poll: %s\n", strerror(errno));
		/* The signalfd comes first in the set but is handled last: reaping frees children's slots. */
		for (int i = 1; i < n; i++)
			handle(&fds[i], &slots[i]);
		if (fds[0].revents)
			on_signals(sfd);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--channel") == 0) {
		chan.socket_path = argv[2];
		/* Off PID 1 (the real host's tests): orphans of our children come back to us to be reaped. */
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	} else if (argc != 1) {
		logmsg("usage: hostd [--channel UNIX-SOCKET]  (without: the virtio-serial port " PORT_NAME ")\n");
		return 2;
	} else if ((chan.fd = open_port()) < 0) {
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	/* As PID 1 (the disposable host) nothing may stop hostd: a stray SIGTERM to init stays ignored. */
	if (getpid() != 1) {
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		logmsg("hostd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	logmsg("hostd: READY\n");
	run(sfd);
}
