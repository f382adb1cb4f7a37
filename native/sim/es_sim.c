/*
 * A simulated libEndpointSecurity for Linux tests of native/esf_shim.c.
 *
 * Each client has its own handler thread fed by a FIFO, like ES's serial delivery
 * (endpoint-security.md §7.1).  es_sim_deliver() builds a message from flat
 * parameters, applies the client's subscriptions, path mutes and inversion the
 * way §9 describes (process path by executable, target path for open, write,
 * close, unlink and exec's new image), and queues it.  Every ES call is written
 * to a log that tests read with es_sim_calls().
 */
#include "es_sim.h"

#include <EndpointSecurity/EndpointSecurity.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_TYPES 256

/* -- audit tokens (libbsm) ----------------------------------------------------------- */

uid_t audit_token_to_auid(audit_token_t t) { return t.val[0]; }
uid_t audit_token_to_euid(audit_token_t t) { return t.val[1]; }
gid_t audit_token_to_egid(audit_token_t t) { return t.val[2]; }
uid_t audit_token_to_ruid(audit_token_t t) { return t.val[3]; }
gid_t audit_token_to_rgid(audit_token_t t) { return t.val[4]; }
pid_t audit_token_to_pid(audit_token_t t) { return (pid_t)t.val[5]; }
au_asid_t audit_token_to_asid(audit_token_t t) { return (au_asid_t)t.val[6]; }
int audit_token_to_pidversion(audit_token_t t) { return (int)t.val[7]; }

/* -- the call log ------------------------------------------------------------------------ */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_log;
static size_t g_log_len, g_log_cap;
static int g_next_result = ES_NEW_CLIENT_RESULT_SUCCESS;
static int g_next_id = 1;

static void sim_log(const char *fmt, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&g_lock);
    if (g_log_len + n > g_log_cap) {
        size_t cap = g_log_cap ? g_log_cap * 2 : 8192;
        while (cap < g_log_len + n)
            cap *= 2;
        char *p = realloc(g_log, cap);
        if (p) {
            g_log = p;
            g_log_cap = cap;
        }
    }
    if (g_log_len + n <= g_log_cap) {
        memcpy(g_log + g_log_len, line, n);
        g_log_len += n;
    }
    pthread_mutex_unlock(&g_lock);
}

static void events_text(char *buf, size_t cap, const es_event_type_t *events, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && off + 12 < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ",%u" : "%u", (unsigned)events[i]);
}

void es_sim_reset(void) {
    pthread_mutex_lock(&g_lock);
    g_log_len = 0;
    g_next_result = ES_NEW_CLIENT_RESULT_SUCCESS;
    pthread_mutex_unlock(&g_lock);
}

void es_sim_set_new_client_result(int result) {
    pthread_mutex_lock(&g_lock);
    g_next_result = result;
    pthread_mutex_unlock(&g_lock);
}

size_t es_sim_calls(char *buf, size_t cap) {
    pthread_mutex_lock(&g_lock);
    size_t n = g_log_len < cap ? g_log_len : cap;
    memcpy(buf, g_log, n);
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* -- messages ------------------------------------------------------------------------- */

typedef struct sim_msg {
    struct sim_msg *next;
    es_message_t *msg;
    es_process_t process, target;
    es_file_t files[8];
    int nfiles;
    es_thread_t thread;
    es_string_token_t *args, *env;
    uint32_t argc, envc;
    char *strings[16];
    int nstrings;
    char *blocks[2];
} sim_msg;

static sim_msg *owner_of(const es_event_exec_t *e) {
    const es_message_t *m = (const es_message_t *)((const char *)e - offsetof(es_message_t, event));
    return (sim_msg *)(uintptr_t)m->opaque[0];
}

uint32_t es_exec_arg_count(const es_event_exec_t *e) { return owner_of(e)->argc; }
uint32_t es_exec_env_count(const es_event_exec_t *e) { return owner_of(e)->envc; }

es_string_token_t es_exec_arg(const es_event_exec_t *e, uint32_t i) {
    sim_msg *s = owner_of(e);
    return i < s->argc ? s->args[i] : (es_string_token_t){0, NULL};
}

es_string_token_t es_exec_env(const es_event_exec_t *e, uint32_t i) {
    sim_msg *s = owner_of(e);
    return i < s->envc ? s->env[i] : (es_string_token_t){0, NULL};
}

/* A token over a private copy; deliberately without a NUL after `length` bytes
   being relied on: the copy has one, the shim must not need it. */
static es_string_token_t sim_token(sim_msg *s, const char *text) {
    if (text == NULL || s->nstrings == 16)
        return (es_string_token_t){0, NULL};
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    memcpy(copy, text, n + 1);
    s->strings[s->nstrings++] = copy;
    return (es_string_token_t){n, copy};
}

static es_file_t *sim_file(sim_msg *s, const char *path) {
    if (path == NULL || s->nfiles == 8)
        return NULL;
    es_file_t *f = &s->files[s->nfiles++];
    f->path = sim_token(s, path);
    return f;
}

static audit_token_t sim_audit(const es_sim_process *p, int32_t pid, int32_t pidversion) {
    audit_token_t t = {{p->auid, p->euid, p->egid, p->ruid, p->rgid, (unsigned)pid, (unsigned)p->asid,
                        (unsigned)pidversion}};
    return t;
}

static void sim_process(sim_msg *s, es_process_t *out, const es_sim_process *p) {
    out->audit_token = sim_audit(p, p->pid, p->pidversion);
    out->ppid = p->ppid;
    out->original_ppid = p->original_ppid;
    out->group_id = p->group_id;
    out->session_id = p->session_id;
    out->codesigning_flags = p->codesigning_flags;
    out->is_platform_binary = p->is_platform_binary != 0;
    out->is_es_client = p->is_es_client != 0;
    memcpy(out->cdhash, p->cdhash, 20);
    out->signing_id = sim_token(s, p->signing_id);
    out->team_id = sim_token(s, p->team_id);
    out->executable = sim_file(s, p->path ? p->path : "");
    out->tty = sim_file(s, p->tty);
    out->start_time.tv_sec = (time_t)p->start_sec;
    out->start_time.tv_usec = p->start_usec;
    out->responsible_audit_token = sim_audit(p, p->responsible_pid, p->responsible_pidversion);
    out->parent_audit_token = sim_audit(p, p->parent_pid, p->parent_pidversion);
    out->cs_validation_category = (es_cs_validation_category_t)p->cs_validation_category;
}

static es_string_token_t *sim_list(sim_msg *s, int slot, const char *packed, uint32_t n) {
    if (n == 0 || packed == NULL)
        return NULL;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += strlen(packed + total) + 1;
    char *copy = malloc(total);
    memcpy(copy, packed, total);
    s->blocks[slot] = copy;
    es_string_token_t *list = calloc(n, sizeof *list);
    for (uint32_t i = 0, off = 0; i < n; i++) {
        list[i].length = strlen(copy + off);
        list[i].data = copy + off;
        off += (uint32_t)list[i].length + 1;
    }
    return list;
}

static void sim_free(sim_msg *s) {
    for (int i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    free(s->blocks[0]);
    free(s->blocks[1]);
    free(s->args);
    free(s->env);
    free(s->msg);
    free(s);
}

static sim_msg *sim_build(const es_sim_event *ev) {
    sim_msg *s = calloc(1, sizeof *s);
    es_message_t *m = calloc(1, sizeof *m + sizeof(uint64_t));
    s->msg = m;
    m->opaque[0] = (uint64_t)(uintptr_t)s; /* es_exec_arg() finds the lists through it */
    m->version = ev->version;
    m->time.tv_sec = (time_t)ev->time_sec;
    m->time.tv_nsec = ev->time_nsec;
    m->mach_time = ev->mach_time;
    m->seq_num = ev->seq_num;
    m->global_seq_num = ev->global_seq_num;
    m->action_type = ES_ACTION_TYPE_NOTIFY;
    m->event_type = (es_event_type_t)ev->event_type;
    sim_process(s, &s->process, &ev->process);
    m->process = &s->process;
    if (ev->thread_id) {
        s->thread.thread_id = ev->thread_id;
        m->thread = &s->thread;
    }
    switch (ev->event_type) {
    case ES_EVENT_TYPE_NOTIFY_EXEC:
        sim_process(s, &s->target, &ev->target);
        m->event.exec.target = &s->target;
        m->event.exec.dyld_exec_path = sim_token(s, ev->dyld_exec_path);
        m->event.exec.script = sim_file(s, ev->script);
        m->event.exec.cwd = sim_file(s, ev->cwd);
        m->event.exec.last_fd = ev->last_fd;
        m->event.exec.image_cputype = ev->cputype;
        m->event.exec.image_cpusubtype = ev->cpusubtype;
        s->args = sim_list(s, 0, ev->args, ev->argc);
        s->argc = s->args ? ev->argc : 0;
        s->env = sim_list(s, 1, ev->env, ev->envc);
        s->envc = s->env ? ev->envc : 0;
        break;
    case ES_EVENT_TYPE_NOTIFY_OPEN:
        m->event.open.fflag = ev->fflag;
        m->event.open.file = sim_file(s, ev->path);
        break;
    case ES_EVENT_TYPE_NOTIFY_WRITE:
        m->event.write.target = sim_file(s, ev->path);
        break;
    case ES_EVENT_TYPE_NOTIFY_CLOSE:
        m->event.close.target = sim_file(s, ev->path);
        break;
    case ES_EVENT_TYPE_NOTIFY_UNLINK:
        m->event.unlink.target = sim_file(s, ev->path);
        break;
    case ES_EVENT_TYPE_NOTIFY_FORK:
        sim_process(s, &s->target, &ev->target);
        m->event.fork.child = &s->target;
        break;
    case ES_EVENT_TYPE_NOTIFY_EXIT:
        m->event.exit.stat = ev->stat;
        break;
    case ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN:
        m->event.iokit_open.user_client_type = ev->user_client_type;
        m->event.iokit_open.user_client_class = sim_token(s, ev->user_client_class);
        m->event.iokit_open.parent_registry_id = ev->parent_registry_id;
        m->event.iokit_open.parent_path = sim_token(s, ev->parent_path);
        break;
    default:
        break;
    }
    return s;
}

/* -- clients ----------------------------------------------------------------------------- */

typedef struct mute {
    struct mute *next;
    char *path;
    es_mute_path_type_t type;
    unsigned char events[SIM_TYPES]; /* all ones for es_mute_path */
} mute;

struct es_client_s {
    int id;
    es_handler_block_t handler;
    pthread_t thread, creator;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    sim_msg *first, *last;
    int busy; /* queued + in the handler */
    int stop;
    unsigned char subscribed[SIM_TYPES];
    mute *mutes;
    int inverted[3];
};

static void *sim_delivery(void *arg) {
    es_client_t *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stop && c->first == NULL)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        sim_msg *s = c->first;
        c->first = s->next;
        if (c->first == NULL)
            c->last = NULL;
        pthread_mutex_unlock(&c->lock);
        c->handler.fn(c->handler.context, c, s->msg);
        sim_free(s);
        pthread_mutex_lock(&c->lock);
        if (--c->busy == 0)
            pthread_cond_broadcast(&c->idle);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

es_new_client_result_t es_new_client(es_client_t **client, es_handler_block_t handler) {
    pthread_mutex_lock(&g_lock);
    int result = g_next_result;
    int id = g_next_id++;
    pthread_mutex_unlock(&g_lock);
    if (client == NULL || handler.fn == NULL)
        result = ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT;
    if (result != ES_NEW_CLIENT_RESULT_SUCCESS) {
        sim_log("new_client - %d", result);
        return (es_new_client_result_t)result;
    }
    es_client_t *c = calloc(1, sizeof *c);
    c->id = id;
    c->handler = handler;
    c->creator = pthread_self();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->idle, NULL);
    if (pthread_create(&c->thread, NULL, sim_delivery, c) != 0) {
        free(c);
        return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
    }
    *client = c;
    sim_log("new_client %d 0", id);
    return ES_NEW_CLIENT_RESULT_SUCCESS;
}

es_return_t es_delete_client(es_client_t *c) {
    if (c == NULL)
        return ES_RETURN_ERROR;
    int same = pthread_equal(c->creator, pthread_self());
    sim_log("delete_client %d same_thread=%d", c->id, same);
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sim_log("joined %d", c->id);
    while (c->first) { /* messages never handled die with the client */
        sim_msg *s = c->first;
        c->first = s->next;
        sim_free(s);
    }
    while (c->mutes) {
        mute *m = c->mutes;
        c->mutes = m->next;
        free(m->path);
        free(m);
    }
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return ES_RETURN_SUCCESS;
}

es_return_t es_subscribe(es_client_t *c, const es_event_type_t *events, uint32_t n) {
    char text[2048];
    events_text(text, sizeof text, events, n);
    sim_log("subscribe %d %s", c->id, text);
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned)events[i] < SIM_TYPES)
            c->subscribed[events[i]] = 1;
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_unsubscribe_all(es_client_t *c) {
    sim_log("unsubscribe_all %d", c->id);
    pthread_mutex_lock(&c->lock);
    memset(c->subscribed, 0, sizeof c->subscribed);
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

static es_return_t add_mute(es_client_t *c, const char *path, es_mute_path_type_t type, const es_event_type_t *events,
                            size_t n) {
    if (path == NULL || (unsigned)type > ES_MUTE_PATH_TYPE_TARGET_LITERAL)
        return ES_RETURN_ERROR;
    mute *m = calloc(1, sizeof *m);
    m->path = strdup(path);
    m->type = type;
    if (events == NULL)
        memset(m->events, 1, sizeof m->events);
    for (size_t i = 0; events && i < n; i++)
        if ((unsigned)events[i] < SIM_TYPES)
            m->events[events[i]] = 1;
    pthread_mutex_lock(&c->lock);
    m->next = c->mutes;
    c->mutes = m;
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_mute_path(es_client_t *c, const char *path, es_mute_path_type_t type) {
    sim_log("mute_path %d %d %s", c->id, (int)type, path ? path : "(null)");
    return add_mute(c, path, type, NULL, 0);
}

es_return_t es_mute_path_events(es_client_t *c, const char *path, es_mute_path_type_t type,
                                const es_event_type_t *events, size_t n) {
    char text[2048];
    events_text(text, sizeof text, events, n);
    sim_log("mute_path_events %d %d %s %s", c->id, (int)type, path ? path : "(null)", text);
    return add_mute(c, path, type, events, n);
}

static es_return_t unmute_where(es_client_t *c, int target) {
    pthread_mutex_lock(&c->lock);
    mute **p = &c->mutes;
    while (*p) {
        mute *m = *p;
        int is_target = m->type == ES_MUTE_PATH_TYPE_TARGET_PREFIX || m->type == ES_MUTE_PATH_TYPE_TARGET_LITERAL;
        if (is_target == target) {
            *p = m->next;
            free(m->path);
            free(m);
        } else
            p = &m->next;
    }
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_unmute_all_paths(es_client_t *c) {
    sim_log("unmute_all_paths %d", c->id);
    return unmute_where(c, 0);
}

es_return_t es_unmute_all_target_paths(es_client_t *c) {
    sim_log("unmute_all_target_paths %d", c->id);
    return unmute_where(c, 1);
}

es_return_t es_invert_muting(es_client_t *c, es_mute_inversion_type_t type) {
    if ((unsigned)type > ES_MUTE_INVERSION_TYPE_TARGET_PATH)
        return ES_RETURN_ERROR;
    pthread_mutex_lock(&c->lock);
    c->inverted[type] = !c->inverted[type];
    int now = c->inverted[type];
    pthread_mutex_unlock(&c->lock);
    sim_log("invert_muting %d %d -> %d", c->id, (int)type, now);
    return ES_RETURN_SUCCESS;
}

es_mute_inverted_return_t es_muting_inverted(es_client_t *c, es_mute_inversion_type_t type) {
    if ((unsigned)type > ES_MUTE_INVERSION_TYPE_TARGET_PATH)
        return ES_MUTE_INVERTED_ERROR;
    pthread_mutex_lock(&c->lock);
    int now = c->inverted[type];
    pthread_mutex_unlock(&c->lock);
    return now ? ES_MUTE_INVERTED : ES_MUTE_NOT_INVERTED;
}

/* -- delivery ------------------------------------------------------------------------------ */

static int path_matches(const mute *m, const char *path) {
    if (path == NULL)
        return 0;
    if (m->type == ES_MUTE_PATH_TYPE_PREFIX || m->type == ES_MUTE_PATH_TYPE_TARGET_PREFIX)
        return strncmp(path, m->path, strlen(m->path)) == 0;
    return strcmp(path, m->path) == 0;
}

static const char *target_path_of(const es_sim_event *ev) {
    switch (ev->event_type) {
    case ES_EVENT_TYPE_NOTIFY_EXEC: return ev->target.path;
    case ES_EVENT_TYPE_NOTIFY_OPEN:
    case ES_EVENT_TYPE_NOTIFY_WRITE:
    case ES_EVENT_TYPE_NOTIFY_CLOSE:
    case ES_EVENT_TYPE_NOTIFY_UNLINK: return ev->path;
    default: return NULL;
    }
}

/* §9: the process-path and target-path dimensions, each possibly inverted.  Called locked. */
static int is_muted(es_client_t *c, const es_sim_event *ev) {
    unsigned t = ev->event_type;
    const char *target = target_path_of(ev);
    int by_path = 0, by_target = 0;
    for (mute *m = c->mutes; m; m = m->next) {
        if (!m->events[t])
            continue;
        if (m->type == ES_MUTE_PATH_TYPE_PREFIX || m->type == ES_MUTE_PATH_TYPE_LITERAL)
            by_path |= path_matches(m, ev->process.path);
        else
            by_target |= path_matches(m, target);
    }
    if (c->inverted[ES_MUTE_INVERSION_TYPE_PATH] ? !by_path : by_path)
        return 1;
    if (target != NULL && (c->inverted[ES_MUTE_INVERSION_TYPE_TARGET_PATH] ? !by_target : by_target))
        return 1;
    return 0;
}

int es_sim_deliver(const void *client, const es_sim_event *ev) {
    es_client_t *c = (es_client_t *)client;
    if (c == NULL || ev == NULL || ev->event_type >= SIM_TYPES)
        return -1;
    pthread_mutex_lock(&c->lock);
    int verdict = !c->subscribed[ev->event_type] ? 1 : is_muted(c, ev) ? 2 : 0;
    pthread_mutex_unlock(&c->lock);
    if (verdict)
        return verdict;
    sim_msg *s = sim_build(ev);
    pthread_mutex_lock(&c->lock);
    if (c->last)
        c->last->next = s;
    else
        c->first = s;
    c->last = s;
    c->busy++;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int es_sim_wait_idle(const void *client, int timeout_ms) {
    es_client_t *c = (es_client_t *)client;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    while (c->busy > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->idle, &c->lock, &until);
    int busy = c->busy;
    pthread_mutex_unlock(&c->lock);
    return busy > 0 ? -1 : 0;
}
