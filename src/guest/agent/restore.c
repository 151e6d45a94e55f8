// SPDX-License-Identifier: MIT
/*
 * Snapshot restore support. A run restored from a saved VM is an exact clone of every other run restored
 * from it; these commands make each run its own:
 *
 *   RESUME seed=<hex>   mix the run's seed into the kernel RNG (write to /dev/urandom), restart the
 *                       heartbeat sequence at 0 and answer READY again (restored=1)
 *   RAND                print 16 random bytes (getrandom): two restored runs must differ
 *   MARK <token>        leave a marker file in the guest; PEEK prints it (independence tests: run N+1
 *   PEEK                must never see run N's marker)
 */
#define _GNU_SOURCE
#include "agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define MARK_PATH "/tmp/ezone-mark"

static void resume(const char *args)
{
	char seed[80] = "";
	if (!kv_get(args, "seed", seed, sizeof(seed)) || !is_token(seed)) {
		emit("ERROR RESUME needs seed=<token>");
		return;
	}
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* Written data is mixed into the pool (not credited): enough to make clones diverge. */
		ssize_t w = write(fd, seed, strlen(seed));
		(void)w;
		close(fd);
	}
	agent_restart_heartbeat();
	emit("READY ezone-agent/1 hb=%d restored=1", agent_heartbeat_ms());
}

static void rand_cmd(const char *args)
{
	(void)args;
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		emit("ERROR RAND getrandom failed");
		return;
	}
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	emit("RAND %s", hex);
}

static void mark(const char *args)
{
	if (!is_token(args)) {
		emit("ERROR MARK needs a token");
		return;
	}
	int fd = open(MARK_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, args, strlen(args)) < 0)
		emit("ERROR MARK could not write " MARK_PATH);
	else
		emit("MARKED %s", args);
	if (fd >= 0)
		close(fd);
}

static void peek(const char *args)
{
	(void)args;
	char buf[64] = "";
	int fd = open(MARK_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	emit("MARK-SEEN %s", n > 0 ? buf : "none");
}

__attribute__((constructor)) static void register_restore(void)
{
	agent_register_command("RESUME", resume);
	agent_register_command("RAND", rand_cmd);
	agent_register_command("MARK", mark);
	agent_register_command("PEEK", peek);
}
