/*
 * hostd: the disposable host's agent. It runs inside the QEMU-TCG VM that plays the node, talks to ezone
 * over one virtio-serial port (`ezone.hostd`) and spawns, feeds, kills and reaps the enclaves' processes.
 * Frames: 8-byte header [u8 type][u8 0][u16 LE channel][u32 LE length] + payload (<= 65536 bytes); the
 * TypeScript side is src/backends/disposable-host/hostd-protocol.ts.
 */
#ifndef HOSTD_H
#define HOSTD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum frame_type {
	F_SPAWN = 1,
	F_STDIN = 2,
	F_KILL = 3,
	F_INSMOD = 4,
	F_PROBE = 5,
	F_CLOSE_STDIN = 7,
	F_FD3_IN = 8,
	F_HELLO = 9,
	F_STDOUT = 16,
	F_STDERR = 17,
	F_FD3_OUT = 18,
	F_EXIT = 19,
	F_HEARTBEAT = 20,
	F_RESULT = 21,
	F_HELLO_REPLY = 22,
};

#define HEADER_BYTES 8
#define MAX_PAYLOAD 65536
/* Output read from a child per frame: one frame then fits one virtio-serial write (32 KiB at most). */
#define READ_CHUNK 16384
#define MAX_CHILDREN 128
#define MAX_JOBS 16
/* Bytes waiting for a child's stdin or fd 3 beyond which further input is dropped (and said so). */
#define CHILD_INPUT_CAP (256 * 1024)

/* A growable byte buffer with a consumed prefix. */
struct buf {
	char *data;
	size_t len;
	size_t head;
	size_t cap;
};

int buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
static inline size_t buf_used(const struct buf *b) { return b->len - b->head; }

/* One spawned child: the leader of its own session and process group. */
struct child {
	int used;
	uint16_t id;
	pid_t pid;
	int fd_in, fd_out, fd_err, fd_3; /* hostd's ends; -1 once closed */
	struct buf in_q, fd3_q;
	int close_in_pending;
};

/* A helper process computing one RESULT (INSMOD, PROBE) so a slow or crashing request never stalls hostd. */
struct job {
	int used;
	uint16_t request;
	pid_t pid;
	int fd;
	char result[4096];
	size_t len;
};

extern struct child children[MAX_CHILDREN];
extern struct job jobs[MAX_JOBS];

/* Queue a frame for the host. Output (STDOUT...) may be dropped when the queue is full; control frames not. */
void send_frame(uint8_t type, uint16_t channel, const void *payload, size_t len);
void send_text(uint8_t type, uint16_t channel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whether children's output may be read now (false while a connected host is slow to drain the queue). */
int output_allowed(void);
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void child_spawn(uint16_t id, const char *payload, size_t len);
void child_input(uint16_t id, int fd3, const char *data, size_t len);
void child_close_stdin(uint16_t id);
void child_kill(uint16_t id, uint32_t sig);
ssize_t child_read(struct child *c, int which);
void child_flush(struct child *c, int which);
void children_reap(void);
void children_kill_all(void);
size_t children_list(char *out, size_t cap);

void job_start(uint16_t request, int kind, const char *payload, size_t len);
void job_read(struct job *j);

#endif
