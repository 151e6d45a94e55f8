/* hostd's children: spawn in their own session with pipes, feed their input, relay output, kill, reap. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostd.h"

struct child children[MAX_CHILDREN];

#define MAX_STRINGS 4096
/* A child's stdout/stderr bytes read after it exited, at most, before EXIT is sent. */
#define FINAL_DRAIN_MAX (1024 * 1024)

extern char **environ;

static struct child *child_find(uint16_t id)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].used && children[i].id == id)
			return &children[i];
	return NULL;
}

/* A SPAWN that cannot start: the reason on STDERR, then EXIT `exited 127`. */
static void spawn_failed(uint16_t id, const char *what, int err)
{
	send_text(F_STDERR, id, "hostd: %s: %s\n", what, strerror(err));
	send_text(F_EXIT, id, "exited 127");
}

/* What SPAWN asks for, pointing into its payload: NULL-terminated environment and argv. */
struct spawn_req {
	const char *cwd;
	char **env;
	char **argv;
	int fd3;
};

/*
 * Split SPAWN's payload (`cwd\0` env... `\0` argv...) in place into `strs`: the empty entry that ends the
 * environment becomes its NULL terminator. Returns -1 when there is no argv.
 */
static int split_spawn(char *p, size_t len, char **strs, struct spawn_req *req)
{
	int n = 0, argv0 = -1;
	size_t at = 0;
	while (at < len && n < MAX_STRINGS - 1) {
		char *s = p + at;
		size_t l = strnlen(s, len - at);
		if (n > 0 && argv0 < 0 && l == 0) {
			strs[n++] = NULL;
			argv0 = n;
		} else {
			strs[n++] = s;
		}
		at += l + 1;
	}
	strs[n] = NULL;
	if (argv0 < 0 || argv0 >= n)
		return -1;
	*req = (struct spawn_req){.cwd = strs[0], .env = &strs[1], .argv = &strs[argv0], .fd3 = 0};
	for (char **e = req->env; *e; e++)
		req->fd3 |= strcmp(*e, "EZONE_HOSTD_FD3=1") == 0;
	return 0;
}

static int cloexec_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* In the forked child: move `fds` (stdin, stdout, stderr, fd 3 or -1) to 0..3, then chdir and exec. */
static void exec_child(int fds[4], int report, const char *cwd, char **env, char *const *argv)
{
	int high[4];
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Above every target first, so no dup2 overwrites a source still needed. */
	for (int i = 0; i < 4; i++)
		high[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
	for (int i = 0; i < 4; i++)
		if (high[i] >= 0)
			dup2(high[i], i);
	int stage = 0, err = 0;
	if (chdir(cwd) != 0) {
		err = errno;
	} else {
		stage = 1;
		environ = env;
		execvp(argv[0], argv);
		err = errno;
	}
	int msg[2] = {stage, err};
	if (write(report, msg, sizeof msg) < 0)
		_exit(126);
	_exit(127);
}

static void nonblocking(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Pipes for 0..2 (and a socket pair for fd 3 when asked): `mine` are hostd's ends, `theirs` the child's. */
static int make_stdio(int want_fd3, int mine[4], int theirs[4])
{
	int p[3][2], s[2] = {-1, -1};
	for (int i = 0; i < 3; i++)
		if (cloexec_pipe(p[i]) != 0)
			return -1; /* the few fds of earlier pipes leak only on fd exhaustion */
	if (want_fd3 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0)
		return -1;
	int m[4] = {p[0][1], p[1][0], p[2][0], s[0]}, t[4] = {p[0][0], p[1][1], p[2][1], s[1]};
	memcpy(mine, m, sizeof m);
	memcpy(theirs, t, sizeof t);
	return 0;
}

static void close_all(int fds[4])
{
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static struct child *child_slot(uint16_t id)
{
	if (child_find(id))
		return NULL;
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (!children[i].used)
			return &children[i];
	return NULL;
}

/* Wait for the exec report: EOF means exec succeeded (the CLOEXEC pipe closed), else stage and errno. */
static void exec_outcome(int report, uint16_t id, const char *cwd, const char *argv0)
{
	int msg[2];
	ssize_t n;
	do
		n = read(report, msg, sizeof msg);
	while (n < 0 && errno == EINTR);
	close(report);
	if (n != (ssize_t)sizeof msg)
		return;
	char what[512];
	snprintf(what, sizeof what, "%s %.400s", msg[0] == 0 ? "chdir" : "exec", msg[0] == 0 ? cwd : argv0);
	send_text(F_STDERR, id, "hostd: %s: %s\n", what, strerror(msg[1]));
	/* The child exits 127 itself: the reaper sends its EXIT. */
}

/* Fork and exec `req` into slot `c`; on failure the reason goes to the host (STDERR + EXIT 127). */
static void spawn_into(struct child *c, uint16_t id, const struct spawn_req *req)
{
	int mine[4] = {-1, -1, -1, -1}, theirs[4] = {-1, -1, -1, -1}, report[2];
	if (make_stdio(req->fd3, mine, theirs) != 0 || cloexec_pipe(report) != 0) {
		int err = errno;
		close_all(mine);
		close_all(theirs);
		return spawn_failed(id, "spawn: pipe", err);
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(report[0]);
		exec_child(theirs, report[1], req->cwd, req->env, req->argv);
	}
	int err = errno;
	close_all(theirs);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		close_all(mine);
		return spawn_failed(id, "spawn: fork", err);
	}
	*c = (struct child){.used = 1, .id = id, .pid = pid, .fd_in = mine[0], .fd_out = mine[1],
			    .fd_err = mine[2], .fd_3 = mine[3]};
	for (int i = 0; i < 4; i++)
		nonblocking(mine[i]);
	exec_outcome(report[0], id, req->cwd, req->argv[0]);
}

void child_spawn(uint16_t id, const char *payload, size_t len)
{
	static char *strs[MAX_STRINGS];
	struct spawn_req req;
	char *copy = malloc(len + 1);
	if (!copy)
		return spawn_failed(id, "spawn", ENOMEM);
	memcpy(copy, payload, len);
	copy[len] = 0;
	struct child *c = child_slot(id);
	if (split_spawn(copy, len, strs, &req) != 0)
		spawn_failed(id, "spawn: malformed SPAWN payload (no argv)", EINVAL);
	else if (!c)
		spawn_failed(id, "spawn: child id in use or too many children", EBUSY);
	else
		spawn_into(c, id, &req);
	free(copy);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void child_input(uint16_t id, int fd3, const char *data, size_t len)
{
	struct child *c = child_find(id);
	if (!c || (fd3 ? c->fd_3 : c->fd_in) < 0)
		return;
	struct buf *q = fd3 ? &c->fd3_q : &c->in_q;
	if (buf_used(q) + len > CHILD_INPUT_CAP || buf_append(q, data, len) != 0) {
		send_text(F_STDERR, id, "hostd: %zu bytes of input dropped: the child does not read them\n", len);
		return;
	}
	child_flush(c, fd3 ? 3 : 0);
}

void child_close_stdin(uint16_t id)
{
	struct child *c = child_find(id);
	if (!c)
		return;
	c->close_in_pending = 1;
	child_flush(c, 0);
}

void child_kill(uint16_t id, uint32_t sig)
{
	struct child *c = child_find(id);
	if (c && sig < 65)
		kill(-c->pid, (int)sig);
}

/* Write what is queued for the child's stdin (which = 0) or fd 3 (which = 3) without blocking. */
void child_flush(struct child *c, int which)
{
	int *fd = which == 3 ? &c->fd_3 : &c->fd_in;
	struct buf *q = which == 3 ? &c->fd3_q : &c->in_q;
	while (*fd >= 0 && buf_used(q) > 0) {
		ssize_t n = write(*fd, q->data + q->head, buf_used(q));
		if (n > 0) {
			buf_consume(q, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		} else {
			buf_free(q); /* EPIPE: the child closed its end; nobody will read this */
			if (which == 0)
				close_fd(fd);
			return;
		}
	}
	if (which == 0 && c->close_in_pending)
		close_fd(fd);
}

/* Relay one chunk of the child's stdout (1), stderr (2) or fd 3 (3); returns the bytes read, 0 at the end. */
ssize_t child_read(struct child *c, int which)
{
	static char chunk[READ_CHUNK];
	int *fd = which == 1 ? &c->fd_out : which == 2 ? &c->fd_err : &c->fd_3;
	if (*fd < 0)
		return 0;
	ssize_t n = read(*fd, chunk, sizeof chunk);
	if (n > 0) {
		send_frame(which == 1 ? F_STDOUT : which == 2 ? F_STDERR : F_FD3_OUT, c->id, chunk, (size_t)n);
		return n;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(fd);
	return n < 0 && errno == EINTR ? 1 : 0;
}

static void child_free(struct child *c)
{
	close_fd(&c->fd_in);
	close_fd(&c->fd_out);
	close_fd(&c->fd_err);
	close_fd(&c->fd_3);
	buf_free(&c->in_q);
	buf_free(&c->fd3_q);
	c->used = 0;
}

/* The child has exited: relay what its pipes still hold (bounded), then EXIT, then forget it. */
static void child_exited(struct child *c, int status)
{
	for (int which = 1; which <= 3; which++) {
		size_t total = 0;
		ssize_t n;
		while (total < FINAL_DRAIN_MAX && (n = child_read(c, which)) > 0)
			total += (size_t)n;
	}
	/* A member of its group that outlived the leader would be nobody's: sweep it. */
	kill(-c->pid, SIGKILL);
	if (WIFSIGNALED(status)) {
		const char *name = sigabbrev_np(WTERMSIG(status));
		if (name)
			send_text(F_EXIT, c->id, "signaled SIG%s", name);
		else
			send_text(F_EXIT, c->id, "signaled SIG%d", WTERMSIG(status));
	} else {
		send_text(F_EXIT, c->id, "exited %d", WEXITSTATUS(status));
	}
	child_free(c);
}

void children_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = NULL;
		for (int i = 0; i < MAX_CHILDREN && !c; i++)
			if (children[i].used && children[i].pid == pid)
				c = &children[i];
		/* Helpers of requests (jobs) report through their pipe: their status is not needed. */
		if (c)
			child_exited(c, status);
	}
}

void children_kill_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].used)
			kill(-children[i].pid, SIGKILL);
}

size_t children_list(char *out, size_t cap)
{
	size_t len = 0;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (!children[i].used)
			continue;
		int n = snprintf(out + len, cap - len, "%s%u", len ? "," : "", children[i].id);
		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
	return len;
}
