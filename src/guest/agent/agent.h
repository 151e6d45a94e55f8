// SPDX-License-Identifier: MIT
/*
 * ezone-agent's extension interface. Every other .c file in this folder is compiled into the agent and
 * registers its commands and faults from a constructor, so features are added without editing the core:
 *
 *   static void bench(const char *args) { ... emit("BENCH ..."); }
 *   __attribute__((constructor)) static void reg(void) { agent_register_command("BENCH", bench); }
 */
#ifndef EZONE_AGENT_H
#define EZONE_AGENT_H

#include <stddef.h>

#define AGENT_LINE_MAX 512

/** A command handler: `args` is the rest of the line after the verb (may be ""). */
typedef void (*agent_command_fn)(const char *args);

/**
 * A fault trigger. It must print `FIRED <fault> nonce=<nonce>` (agent_fired) immediately before
 * triggering, or `INJECT-FAILED ...` when it cannot. `args` is the whole INJECT argument list.
 */
typedef void (*agent_fault_fn)(const char *fault, const char *nonce, unsigned delay_ms, const char *args);

/**
 * Called after each line the agent emits, with the line without its newline (e.g. the syslog channel
 * copies heartbeats to a second channel). A hook runs in the agent's only thread: it must not block and
 * must not call emit().
 */
typedef void (*agent_line_hook_fn)(const char *line, size_t len);

void agent_register_command(const char *verb, agent_command_fn fn);
void agent_register_fault(const char *fault, agent_fault_fn fn);
void agent_register_line_hook(agent_line_hook_fn fn);

/** One write(2) per line, so agent lines never interleave mid-line. Appends the newline. */
void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_fired(const char *fault, const char *nonce);
/**
 * Run `body` in a child of a supervisor process after `delay_ms`, having printed FIRED; the supervisor
 * prints the CHILD line with how the child ended (faults-user.c). Returns at once in the agent.
 */
void agent_run_child(const char *fault, const char *nonce, unsigned delay_ms, void (*body)(void));
void agent_inject_failed(const char *fault, int err, const char *what);

long long uptime_ms(void);
/** Value of "key=" in a space-separated list into out; 0 when absent. */
int kv_get(const char *list, const char *key, char *out, size_t outlen);
/** Only [A-Za-z0-9_.-]: safe for module parameters and paths. */
int is_token(const char *s);
/** The heartbeat interval in ms, and a restart of the heartbeat sequence at 0 from now (snapshot restore). */
int agent_heartbeat_ms(void);
void agent_restart_heartbeat(void);
/** The agent's key=value configuration: /proc/cmdline in a VM, `--cmdline "..."` for a process enclave. */
const char *agent_config(void);

#endif
