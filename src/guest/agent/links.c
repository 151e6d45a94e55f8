// SPDX-License-Identifier: MIT
/*
 * The guest side of the links between the enclaves of a composed cell. Every address must be in the
 * cell's own network (10.77.0.0/24) or the loopback: the agent refuses to send anywhere else.
 *
 *   NET <ip>/24 <mac>                    eth0 gets this MAC and address and comes up (after a snapshot
 *                                        restore every peer is a clone: this makes it itself again);
 *                                        answers "NET-OK eth0 <ip>/24 mac=<mac>" read back from the kernel
 *   SERVE <port>                         a TCP service: one line in, "OK <line>" out; "SERVING <port>"
 *   DEPEND <ip:port> <period_ms> <late_ms> <local|remote>
 *                                        one request per period to the service; `local` runs the same
 *                                        service on this guest's loopback and uses that instead (the
 *                                        dependency's toggle: the same load without the link). Prints
 *                                        "DEPSTAT ok=<n> failed=<n> late=<n>" (running totals) every
 *                                        heartbeat; a request has one period to finish, and a reply
 *                                        after late_ms counts as late, not ok. Stops after DEPEND_MAX_S.
 *   FLOOD <ip:port> <pps> <seconds>      UDP datagrams at <pps> for <seconds>, then "FLOOD-DONE sent=<n>
 *                                        tried=<n>" (sent: the kernel took them; tried: the pace's)
 *                                        (127.0.0.1 is the flood's toggle: the same load, kept local)
 *   INJECT netflood nonce=<n> delay_ms=<ms> [to=<ip:port> pps=<n> seconds=<n>]
 *                                        the zone-4 fault: FLOOD's datagrams from a fault child (FIRED,
 *                                        then "FLOOD-DONE sent=<n>" and "CHILD netflood ... exit=0"; exit=2
 *                                        when it sent nothing); without `to`, 127.0.0.1:7078 at 8000/s
 *                                        for 8 s
 *
 * SERVE, DEPEND and FLOOD run in forked workers, so the agent keeps heartbeating; each dies with the
 * agent (parent-death signal) and is reaped when the next link command comes.
 */
#define _GNU_SOURCE
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/** The cell's network: 10.77.0.0/24. */
#define CELL_NET 0x0a4d0000u
#define CELL_MASK 0xffffff00u
/** Bounds on what a command may ask for: traffic stops by itself. */
#define DEPEND_MAX_S 600
#define FLOOD_MAX_PPS 20000
#define FLOOD_MAX_S 60
#define FLOOD_PAYLOAD 1472
#define MAX_WORKERS 8

static pid_t workers[MAX_WORKERS];

static void reap_workers(void)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		if (workers[i] > 0 && waitpid(workers[i], NULL, WNOHANG) == workers[i])
			workers[i] = 0;
}

/** Run `body(arg)` in a worker that dies with the agent; 0 in the agent, -1 when it could not fork. */
static int start_worker(void (*body)(const void *), const void *arg)
{
	reap_workers();
	int slot = -1;
	for (int i = 0; i < MAX_WORKERS && slot < 0; i++)
		if (workers[i] == 0)
			slot = i;
	if (slot < 0) {
		errno = EAGAIN;
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		body(arg);
		_exit(0);
	}
	workers[slot] = pid;
	return 0;
}

static int cell_or_loopback(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);
	return (h & CELL_MASK) == CELL_NET || h == INADDR_LOOPBACK;
}

/** "a.b.c.d:port" into `out`; 0 when malformed or outside the cell and the loopback. */
static int parse_endpoint(const char *s, struct sockaddr_in *out)
{
	char ip[16];
	unsigned port;
	char extra;
	if (sscanf(s, "%15[0-9.]:%u%c", ip, &port, &extra) != 2 || port == 0 || port > 65535)
		return 0;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &out->sin_addr) == 1 && cell_or_loopback(out->sin_addr);
}

static int set_flags(int fd, const char *ifname, int up)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		return -1;
	ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
	return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

static int set_inet(int fd, unsigned long request, struct in_addr a)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr = a;
	return ioctl(fd, request, &ifr);
}

/** eth0 down, new MAC, address and netmask, up; and the loopback up (the toggles' local service). */
static int configure_eth0(int fd, struct in_addr ip, const unsigned char mac[6])
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	struct in_addr mask = {htonl(CELL_MASK)};
	if (set_flags(fd, "lo", 1) != 0 || set_flags(fd, "eth0", 0) != 0 || ioctl(fd, SIOCSIFHWADDR, &ifr) != 0 ||
	    set_inet(fd, SIOCSIFADDR, ip) != 0 || set_inet(fd, SIOCSIFNETMASK, mask) != 0 ||
	    set_flags(fd, "eth0", 1) != 0)
		return -1;
	return 0;
}

static void net_cmd(const char *args)
{
	char ip[16], macs[18], extra;
	unsigned prefix, m[6];
	struct in_addr addr;
	if (sscanf(args, "%15[0-9.]/%u %17s%c", ip, &prefix, macs, &extra) != 3 || prefix != 24 ||
	    inet_pton(AF_INET, ip, &addr) != 1 || (ntohl(addr.s_addr) & CELL_MASK) != CELL_NET ||
	    sscanf(macs, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &extra) != 6 ||
	    (m[0] & 1)) {
		emit("ERROR NET needs <10.77.0.x>/24 <unicast mac>");
		return;
	}
	unsigned char mac[6];
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)m[i];
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || configure_eth0(fd, addr, mac) != 0) {
		emit("NET-FAILED errno=%d %s", errno, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Read back what the kernel holds: the proof that this clone is itself now. */
	struct ifreq hw = {0}, in = {0};
	snprintf(hw.ifr_name, IFNAMSIZ, "eth0");
	snprintf(in.ifr_name, IFNAMSIZ, "eth0");
	ioctl(fd, SIOCGIFHWADDR, &hw);
	ioctl(fd, SIOCGIFADDR, &in);
	close(fd);
	const unsigned char *h = (const unsigned char *)hw.ifr_hwaddr.sa_data;
	char got[16];
	inet_ntop(AF_INET, &((struct sockaddr_in *)&in.ifr_addr)->sin_addr, got, sizeof(got));
	emit("NET-OK eth0 %s/24 mac=%02x:%02x:%02x:%02x:%02x:%02x", got, h[0], h[1], h[2], h[3], h[4], h[5]);
}

static long long now_ms(void) { return uptime_ms(); }

/** Wait for `events` on `fd` until the absolute uptime `until_ms`; 1 when ready, 0 on timeout or error. */
static int wait_fd(int fd, short events, long long until_ms)
{
	for (;;) {
		long long left = until_ms - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return (p.revents & events) != 0;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

struct serve_args {
	struct sockaddr_in at;
};

/** One connection: a bounded line in (1 s at most), "OK <line>" out. */
static void answer(int c)
{
	char buf[64];
	size_t used = 0;
	long long until = now_ms() + 1000;
	while (used < sizeof(buf) - 1 && !memchr(buf, '\n', used) && wait_fd(c, POLLIN, until)) {
		ssize_t n = read(c, buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	char reply[96];
	int n = snprintf(reply, sizeof(reply), "OK %s\n", buf);
	if (write(c, reply, (size_t)n) < 0) {
		/* The client gave up: its count says so. */
	}
}

static void serve_body(const void *arg)
{
	const struct serve_args *a = arg;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (const struct sockaddr *)&a->at, sizeof(a->at)) != 0 || listen(s, 16) != 0) {
		emit("SERVE-FAILED port=%u errno=%d %s", ntohs(a->at.sin_port), errno, strerror(errno));
		return;
	}
	emit("SERVING %u", ntohs(a->at.sin_port));
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			continue;
		answer(c);
		close(c);
	}
}

static int start_service(struct in_addr on, unsigned port)
{
	static struct serve_args a; /* copied by fork: one static is enough */
	memset(&a, 0, sizeof(a));
	a.at.sin_family = AF_INET;
	a.at.sin_addr = on;
	a.at.sin_port = htons((uint16_t)port);
	return start_worker(serve_body, &a);
}

static void serve_cmd(const char *args)
{
	unsigned port;
	char extra;
	if (sscanf(args, "%u%c", &port, &extra) != 1 || port == 0 || port > 65535) {
		emit("ERROR SERVE needs <port>");
		return;
	}
	if (start_service((struct in_addr){htonl(INADDR_ANY)}, port) != 0)
		emit("SERVE-FAILED port=%u errno=%d %s", port, errno, strerror(errno));
}

struct depend_args {
	struct sockaddr_in to;
	unsigned period_ms, late_ms;
};

enum request_result { REQ_OK, REQ_LATE, REQ_FAILED };

/** One request: connect, send, read "OK ..." back, all before `until_ms`. */
static enum request_result request(const struct sockaddr_in *to, long long seq, long long until_ms)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return REQ_FAILED;
	enum request_result r = REQ_FAILED;
	int err = 0;
	socklen_t len = sizeof(err);
	if ((connect(s, (const struct sockaddr *)to, sizeof(*to)) == 0 || errno == EINPROGRESS) &&
	    wait_fd(s, POLLOUT, until_ms) && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
		char line[32], reply[8] = "";
		int n = snprintf(line, sizeof(line), "REQ %lld\n", seq);
		if (write(s, line, (size_t)n) == n && wait_fd(s, POLLIN, until_ms) && read(s, reply, 3) == 3 &&
		    memcmp(reply, "OK ", 3) == 0)
			r = REQ_OK;
	}
	close(s);
	return r;
}

static void depend_body(const void *arg)
{
	const struct depend_args *a = arg;
	long long ok = 0, failed = 0, late = 0, seq = 0;
	long long start = now_ms(), next_req = start, next_stat = start + agent_heartbeat_ms();
	while (now_ms() - start < DEPEND_MAX_S * 1000LL) {
		long long t = now_ms();
		if (t >= next_stat) {
			emit("DEPSTAT ok=%lld failed=%lld late=%lld", ok, failed, late);
			next_stat += agent_heartbeat_ms();
			continue;
		}
		if (t < next_req) {
			long long until = next_req < next_stat ? next_req : next_stat;
			struct timespec ts = {(time_t)((until - t) / 1000), (long)((until - t) % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		enum request_result r = request(&a->to, seq++, t + a->period_ms);
		long long took = now_ms() - t;
		if (r == REQ_FAILED)
			failed++;
		else if (took > a->late_ms)
			late++;
		else
			ok++;
		next_req += a->period_ms;
		if (next_req <= now_ms())
			next_req = now_ms(); /* a stall must not cause a burst */
	}
	emit("DEPEND-DONE ok=%lld failed=%lld late=%lld", ok, failed, late);
}

static void depend_cmd(const char *args)
{
	static struct depend_args a; /* copied by fork */
	char endpoint[32], mode[8], extra;
	if (sscanf(args, "%31s %u %u %7s%c", endpoint, &a.period_ms, &a.late_ms, mode, &extra) != 4 ||
	    !parse_endpoint(endpoint, &a.to) || a.period_ms < 10 || a.period_ms > 60000 || a.late_ms < 1 ||
	    (strcmp(mode, "local") != 0 && strcmp(mode, "remote") != 0)) {
		emit("ERROR DEPEND needs <10.77.0.x:port> <period_ms 10..60000> <late_ms> <local|remote>");
		return;
	}
	if (strcmp(mode, "local") == 0) {
		/* The same service on this guest's loopback: the load stays, the link is cut. */
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			set_flags(fd, "lo", 1);
			close(fd);
		}
		a.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (start_service(a.to.sin_addr, ntohs(a.to.sin_port)) != 0) {
			emit("DEPEND-FAILED local service errno=%d %s", errno, strerror(errno));
			return;
		}
	}
	if (start_worker(depend_body, &a) != 0)
		emit("DEPEND-FAILED errno=%d %s", errno, strerror(errno));
}

struct flood_args {
	struct sockaddr_in to;
	unsigned pps, seconds;
};

/** Send the flood's datagrams (at most pps x seconds, within seconds + 1 s); prints and returns the count. */
static long long flood_run(const struct flood_args *a)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char payload[FLOOD_PAYLOAD];
	memset(payload, 'f', sizeof(payload));
	long long tried = 0, sent = 0, total = (long long)a->pps * a->seconds, start = now_ms();
	/* In 10 ms slices: the datagrams due by now, then sleep to the next slice. */
	while (s >= 0 && tried < total && now_ms() - start < (long long)a->seconds * 1000 + 1000) {
		long long due = (now_ms() - start) * a->pps / 1000;
		for (; tried < due && tried < total; tried++)
			if (sendto(s, payload, sizeof(payload), MSG_DONTWAIT, (const struct sockaddr *)&a->to,
				   sizeof(a->to)) >= 0)
				sent++;
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	emit("FLOOD-DONE sent=%lld tried=%lld", sent, tried);
	return sent;
}

static void flood_body(const void *arg) { flood_run(arg); }

/** Whether pps and seconds are within FLOOD's bounds. */
static int flood_bounded(const struct flood_args *a)
{
	return a->pps >= 1 && a->pps <= FLOOD_MAX_PPS && a->seconds >= 1 && a->seconds <= FLOOD_MAX_S;
}

static void flood_cmd(const char *args)
{
	static struct flood_args a; /* copied by fork */
	char endpoint[32], extra;
	if (sscanf(args, "%31s %u %u%c", endpoint, &a.pps, &a.seconds, &extra) != 3 ||
	    !parse_endpoint(endpoint, &a.to) || !flood_bounded(&a)) {
		emit("ERROR FLOOD needs <10.77.0.x:port> <pps 1..%d> <seconds 1..%d>", FLOOD_MAX_PPS, FLOOD_MAX_S);
		return;
	}
	if (start_worker(flood_body, &a) != 0)
		emit("FLOOD-FAILED errno=%d %s", errno, strerror(errno));
}

/** The netflood fault's flood, set by its INJECT line and copied into the fault child by fork. */
static struct flood_args netflood;

static void netflood_body(void)
{
	/* A guest outside a cell has never had NET: its loopback may still be down (best effort). */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		set_flags(fd, "lo", 1);
		close(fd);
	}
	_exit(flood_run(&netflood) > 0 ? 0 : 2);
}

static void netflood_fault(const char *fault, const char *nonce, unsigned delay_ms, const char *args)
{
	/* ezone names all three; a bare INJECT (boot arming, the monitor daemon) floods the loopback. */
	char to[32] = "127.0.0.1:7078", pps[12] = "8000", seconds[12] = "8";
	kv_get(args, "to", to, sizeof(to));
	kv_get(args, "pps", pps, sizeof(pps));
	kv_get(args, "seconds", seconds, sizeof(seconds));
	netflood.pps = (unsigned)strtoul(pps, NULL, 10);
	netflood.seconds = (unsigned)strtoul(seconds, NULL, 10);
	if (!parse_endpoint(to, &netflood.to) || !flood_bounded(&netflood)) {
		agent_inject_failed(fault, EINVAL, "netflood needs to=<10.77.0.x or 127.0.0.1:port> pps= seconds= within bounds");
		return;
	}
	agent_run_child(fault, nonce, delay_ms, netflood_body);
}

__attribute__((constructor)) static void reg(void)
{
	agent_register_fault("netflood", netflood_fault);
	agent_register_command("NET", net_cmd);
	agent_register_command("SERVE", serve_cmd);
	agent_register_command("DEPEND", depend_cmd);
	agent_register_command("FLOOD", flood_cmd);
}
