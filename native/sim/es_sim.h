/*
 * Test hooks of the simulated libEndpointSecurity (native/sim/es_sim.c).  Only the
 * simulator build of _esf_native exposes them; native/build.py reads the cdef from
 * between the markers.
 */
#ifndef ESF_ES_SIM_H
#define ESF_ES_SIM_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
typedef struct {
    const char *path; /* executable */
    int32_t pid, pidversion, ppid, original_ppid, group_id, session_id;
    uint32_t auid, euid, egid, ruid, rgid;
    int32_t asid;
    uint32_t codesigning_flags;
    int is_platform_binary, is_es_client;
    const char *signing_id, *team_id; /* NULL: empty token */
    const char *tty;                  /* NULL: no tty */
    uint8_t cdhash[20];
    int64_t start_sec;
    int32_t start_usec;
    int32_t parent_pid, parent_pidversion, responsible_pid, responsible_pidversion;
    int32_t cs_validation_category;
} es_sim_process;

typedef struct {
    uint32_t event_type, version;
    uint64_t seq_num, global_seq_num, mach_time;
    uint64_t thread_id; /* 0: message without a thread */
    int64_t time_sec;
    int32_t time_nsec;
    es_sim_process process;
    es_sim_process target; /* exec: the new image; fork: the child */
    const char *args;      /* argc NUL-terminated strings back to back */
    uint32_t argc;
    const char *env;
    uint32_t envc;
    const char *cwd, *script, *dyld_exec_path; /* NULL: absent */
    int32_t last_fd, cputype, cpusubtype;
    int32_t fflag;
    const char *path; /* open: file; write, close, unlink: target */
    int32_t stat;
    uint32_t user_client_type;
    const char *user_client_class;
    uint64_t parent_registry_id;
    const char *parent_path;
} es_sim_event;

/* Forget clients' call log; es_new_client succeeds again. */
void es_sim_reset(void);
/* What es_new_client returns from now on (an es_new_client_result_t). */
void es_sim_set_new_client_result(int result);
/* Queue a message for the client's handler thread, as the kernel would.
   0 queued; 1 type not subscribed; 2 muted (the client's mutes and inversion); -1 error. */
int es_sim_deliver(const void *client, const es_sim_event *event);
/* Wait until the client's queue is empty and its handler returned: 0, or -1 on timeout. */
int es_sim_wait_idle(const void *client, int timeout_ms);
/* The ES calls made so far, one per line ("subscribe 1 9,11,15"). */
size_t es_sim_calls(char *buf, size_t cap);
/* cdef-end */

#endif
