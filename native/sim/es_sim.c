/*
 * A simulated libEndpointSecurity for Linux tests of native/esf_shim.c.
 *
 * It is deliberately no kinder than the real API (native/README.md, "The strict
 * simulator"):
 * - each client has a bounded kernel queue and its own handler thread; a message
 *   that finds the queue full is dropped, and its seq_num (per event type) and
 *   global_seq_num (per client) are used up all the same, so the drop shows only as
 *   a gap, exactly as with ES;
 * - any call can be made to fail (es_sim_fail), es_new_client can return every
 *   result code;
 * - the handler may run once more after es_delete_client returned
 *   (es_sim_set_late_message);
 * - a new client starts with the default mute set the test installed
 *   (es_sim_add_default_mute: Apple's real ones are in tests/data/);
 * - an AUTH message must be answered before its deadline, or the client is killed;
 * - a function the simulated macOS does not have is a violation (es_sim_set_os_version);
 * - so is a moment when inverted process-path muting selects nothing for a subscribed
 *   type: every event of that type vanishes, with no sequence gap to show it.
 * Violations are what a Mac would punish with a crash or a killed client; tests read
 * them with es_sim_violations and fail on any.  Every ES call is logged (es_sim_calls).
 */
#include "es_sim.h"

#include <EndpointSecurity/EndpointSecurity.h>
#include <mach/mach.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#undef clock_gettime /* the simulator itself reads the real clocks */

#define SIM_TYPES 256
#define SIM_SELF_PIDVERSION 1

/* -- logs -------------------------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len, cap;
} sim_text;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_text g_calls, g_violations;

static void text_add(sim_text *t, const char *fmt, va_list ap) {
    char line[4096];
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&g_lock);
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8192;
        while (cap < t->len + n)
            cap *= 2;
        char *p = realloc(t->text, cap);
        if (p) {
            t->text = p;
            t->cap = cap;
        }
    }
    if (t->len + n <= t->cap) {
        memcpy(t->text + t->len, line, n);
        t->len += n;
    }
    pthread_mutex_unlock(&g_lock);
}

static void sim_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_add(&g_calls, fmt, ap);
    va_end(ap);
}

static void violation(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_add(&g_violations, fmt, ap);
    va_end(ap);
}

static size_t text_copy(sim_text *t, char *buf, size_t cap) {
    pthread_mutex_lock(&g_lock);
    size_t n = t->len < cap ? t->len : cap;
    if (n)
        memcpy(buf, t->text, n);
    pthread_mutex_unlock(&g_lock);
    return n;
}

size_t es_sim_calls(char *buf, size_t cap) { return text_copy(&g_calls, buf, cap); }
size_t es_sim_violations(char *buf, size_t cap) { return text_copy(&g_violations, buf, cap); }

static void events_text(char *buf, size_t cap, const es_event_type_t *events, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && off + 12 < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ",%u" : "%u", (unsigned)events[i]);
}

/* -- settings ------------------------------------------------------------------------------ */

typedef struct default_mute {
    struct default_mute *next;
    char *path;
    int type;
    unsigned char events[SIM_TYPES];
} default_mute;

static struct {
    int os_major, os_minor;
    int next_result;
    size_t queue_limit;
    int auth_deadline_ms;
    default_mute *defaults;
    struct failure {
        char call[48];
        int times;
    } failures[32];
    int next_id;
    long long wall_offset;
} g = {26, 0, ES_NEW_CLIENT_RESULT_SUCCESS, 1024, 100, NULL, {{"", 0}}, 1, 0};

/* The late handler call after es_delete_client (at most one at a time).  `go` is set
   by es_sim_wait_late, which tests call once es_delete_client's caller has returned
   and released whatever it released: only then does the late call run. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int go, done;
} g_late = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 1};

void es_sim_reset(void) {
    pthread_mutex_lock(&g_lock);
    g_calls.len = g_violations.len = 0;
    g.os_major = 26;
    g.os_minor = 0;
    g.next_result = ES_NEW_CLIENT_RESULT_SUCCESS;
    g.queue_limit = 1024;
    g.auth_deadline_ms = 100;
    g.wall_offset = 0;
    memset(g.failures, 0, sizeof g.failures);
    while (g.defaults) {
        default_mute *d = g.defaults;
        g.defaults = d->next;
        free(d->path);
        free(d);
    }
    pthread_mutex_unlock(&g_lock);
}

void es_sim_set_os_version(int major, int minor) {
    pthread_mutex_lock(&g_lock);
    g.os_major = major;
    g.os_minor = minor;
    pthread_mutex_unlock(&g_lock);
}

void es_sim_set_wall_clock_offset(long long seconds) {
    pthread_mutex_lock(&g_lock);
    g.wall_offset = seconds;
    pthread_mutex_unlock(&g_lock);
}

int es_sim_clock_gettime(clockid_t clock, struct timespec *ts) {
    int rc = clock_gettime(clock, ts);
    if (rc == 0 && clock == CLOCK_REALTIME) {
        pthread_mutex_lock(&g_lock);
        ts->tv_sec += (time_t)g.wall_offset;
        pthread_mutex_unlock(&g_lock);
    }
    return rc;
}

void es_sim_set_new_client_result(int result) {
    pthread_mutex_lock(&g_lock);
    g.next_result = result;
    pthread_mutex_unlock(&g_lock);
}

void es_sim_set_queue_limit(size_t limit) {
    pthread_mutex_lock(&g_lock);
    g.queue_limit = limit ? limit : 1;
    pthread_mutex_unlock(&g_lock);
}

void es_sim_set_auth_deadline_ms(int ms) {
    pthread_mutex_lock(&g_lock);
    g.auth_deadline_ms = ms;
    pthread_mutex_unlock(&g_lock);
}

void es_sim_fail(const char *call, int times) {
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < sizeof g.failures / sizeof g.failures[0]; i++) {
        struct failure *f = &g.failures[i];
        if (f->times == 0 || strcmp(f->call, call) == 0) {
            snprintf(f->call, sizeof f->call, "%s", call);
            f->times = times;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

/* Whether this call of `call` is one the test asked to fail. */
static int should_fail(const char *call) {
    int fail = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < sizeof g.failures / sizeof g.failures[0]; i++) {
        struct failure *f = &g.failures[i];
        if (f->times > 0 && strcmp(f->call, call) == 0) {
            f->times--;
            fail = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return fail;
}

void es_sim_add_default_mute(const char *path, int type, const uint32_t *events, size_t count) {
    default_mute *d = calloc(1, sizeof *d);
    d->path = strdup(path);
    d->type = type;
    for (size_t i = 0; i < count; i++)
        if (events[i] < SIM_TYPES)
            d->events[events[i]] = 1;
    pthread_mutex_lock(&g_lock);
    d->next = g.defaults;
    g.defaults = d;
    pthread_mutex_unlock(&g_lock);
}

static int os_at_least(int major, int minor) {
    pthread_mutex_lock(&g_lock);
    int ok = g.os_major > major || (g.os_major == major && g.os_minor >= minor);
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* "macOS 13.0" (the stringised __builtin_available argument). */
int es_sim_available(const char *os_version) {
    int major = 0, minor = 0;
    const char *p = strpbrk(os_version, "0123456789");
    if (p == NULL || sscanf(p, "%d.%d", &major, &minor) < 1)
        return 0;
    return os_at_least(major, minor);
}

/* A call the simulated macOS lacks: on a Mac, a crash through a NULL weak symbol. */
static int unavailable(const char *call, int major, int minor) {
    if (os_at_least(major, minor))
        return 0;
    violation("%s called on macOS %d.%d; it needs macOS %d.%d", call, g.os_major, g.os_minor, major, minor);
    return 1;
}

/* -- memory the shim frees: a guard page afterwards ---------------------------------------- */

void *es_sim_guarded_alloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (size + page - 1) / page * page;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p; /* zero-filled, like calloc */
}

void es_sim_guarded_free(void *p, size_t size) {
    if (p == NULL)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* Never unmapped: a later access faults instead of finding a new owner. */
    mprotect(p, (size + page - 1) / page * page, PROT_NONE);
}

/* -- libbsm, mach, acl --------------------------------------------------------------------- */

uid_t audit_token_to_auid(audit_token_t t) { return t.val[0]; }
uid_t audit_token_to_euid(audit_token_t t) { return t.val[1]; }
gid_t audit_token_to_egid(audit_token_t t) { return t.val[2]; }
uid_t audit_token_to_ruid(audit_token_t t) { return t.val[3]; }
gid_t audit_token_to_rgid(audit_token_t t) { return t.val[4]; }
pid_t audit_token_to_pid(audit_token_t t) { return (pid_t)t.val[5]; }
au_asid_t audit_token_to_asid(audit_token_t t) { return (au_asid_t)t.val[6]; }
int audit_token_to_pidversion(audit_token_t t) { return (int)t.val[7]; }

mach_port_t mach_task_self(void) { return 1; }

/* This process's token: its real pid and pidversion SIM_SELF_PIDVERSION. */
kern_return_t task_info(mach_port_t task, task_flavor_t flavor, task_info_t info, mach_msg_type_number_t *count) {
    if (task != 1 || flavor != TASK_AUDIT_TOKEN || *count < TASK_AUDIT_TOKEN_COUNT)
        return 4; /* KERN_INVALID_ARGUMENT */
    audit_token_t t = {{(unsigned)getuid(), (unsigned)geteuid(), (unsigned)getegid(), (unsigned)getuid(),
                        (unsigned)getgid(), (unsigned)getpid(), 100000, SIM_SELF_PIDVERSION}};
    memcpy(info, &t, sizeof t);
    *count = TASK_AUDIT_TOKEN_COUNT;
    return KERN_SUCCESS;
}

/* An acl_t is the text after its header, in one allocation, so acl_free frees either. */
ssize_t acl_size(acl_t acl) { return acl && acl->text ? (ssize_t)strlen(acl->text) + 1 : -1; }

ssize_t acl_copy_ext(void *buf, acl_t acl, ssize_t size) {
    ssize_t n = acl_size(acl);
    if (n < 0 || size < n)
        return -1;
    memcpy(buf, acl->text, (size_t)n);
    return n;
}

acl_t acl_copy_int(const void *buf) {
    size_t n = strlen(buf) + 1;
    struct _acl *a = malloc(sizeof *a + n);
    if (a == NULL)
        return NULL;
    memcpy(a + 1, buf, n);
    a->text = (const char *)(a + 1);
    return a;
}

char *acl_to_text(acl_t acl, ssize_t *len) {
    if (acl == NULL || acl->text == NULL)
        return NULL;
    if (len)
        *len = (ssize_t)strlen(acl->text);
    return strdup(acl->text);
}

int acl_free(void *obj) {
    free(obj);
    return 0;
}

/* -- exec lists ---------------------------------------------------------------------------- */

static const es_sim_exec_lists *lists_of(const es_event_exec_t *e) {
    const es_message_t *m = (const es_message_t *)((const char *)e - offsetof(es_message_t, event));
    return (const es_sim_exec_lists *)(uintptr_t)m->opaque[0];
}

uint32_t es_exec_arg_count(const es_event_exec_t *e) { return lists_of(e) ? lists_of(e)->argc : 0; }
uint32_t es_exec_env_count(const es_event_exec_t *e) { return lists_of(e) ? lists_of(e)->envc : 0; }

uint32_t es_exec_fd_count(const es_event_exec_t *e) {
    if (unavailable("es_exec_fd_count", 11, 0))
        return 0;
    return lists_of(e) ? lists_of(e)->fdc : 0;
}

static es_string_token_t out_of_range(const char *what, uint32_t i) {
    violation("%s(%u) read past the end (undefined behaviour on a Mac)", what, i);
    return (es_string_token_t){0, NULL};
}

es_string_token_t es_exec_arg(const es_event_exec_t *e, uint32_t i) {
    const es_sim_exec_lists *l = lists_of(e);
    return l && i < l->argc ? l->args[i] : out_of_range("es_exec_arg", i);
}

es_string_token_t es_exec_env(const es_event_exec_t *e, uint32_t i) {
    const es_sim_exec_lists *l = lists_of(e);
    return l && i < l->envc ? l->env[i] : out_of_range("es_exec_env", i);
}

const es_fd_t *es_exec_fd(const es_event_exec_t *e, uint32_t i) {
    static const es_fd_t none;
    const es_sim_exec_lists *l = lists_of(e);
    if (unavailable("es_exec_fd", 11, 0))
        return &none;
    if (l && i < l->fdc)
        return &l->fds[i];
    out_of_range("es_exec_fd", i);
    return &none;
}

/* -- clients ------------------------------------------------------------------------------- */

typedef struct sim_msg {
    struct sim_msg *next;
    es_message_t msg; /* a copy of the caller's top-level struct */
    uint64_t deadline_ns;
    int answered;
} sim_msg;

typedef struct mute {
    struct mute *next;
    char *path;
    es_mute_path_type_t type;
    unsigned char events[SIM_TYPES];
} mute;

typedef struct muted_process {
    struct muted_process *next;
    audit_token_t token;
} muted_process;

struct es_client_s {
    int id;
    es_handler_block_t handler;
    pthread_t thread, creator;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    sim_msg *first, *last, *current;
    size_t queued, limit;
    int busy; /* queued + in the handler */
    int stop, dead;
    unsigned char subscribed[SIM_TYPES];
    mute *mutes;
    muted_process *muted_processes;
    int inverted[3];
    uint64_t seq[SIM_TYPES], global_seq, dropped;
    sim_msg *late;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int is_auth(const es_message_t *m) { return m->action_type == ES_ACTION_TYPE_AUTH; }

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
        c->queued--;
        c->current = s;
        pthread_mutex_unlock(&c->lock);
        c->handler.fn(c->handler.context, c, &s->msg);
        pthread_mutex_lock(&c->lock);
        c->current = NULL;
        if (is_auth(&s->msg) && (!s->answered || now_ns() > s->deadline_ns)) {
            /* The kernel kills a client that misses an AUTH deadline. */
            violation("client %d: AUTH message of type %u %s; the kernel kills the client", c->id,
                      (unsigned)s->msg.event_type, s->answered ? "answered after its deadline" : "never answered");
            c->dead = 1;
        }
        free(s);
        if (--c->busy == 0)
            pthread_cond_broadcast(&c->idle);
        if (c->dead) {
            while (c->first) {
                sim_msg *d = c->first;
                c->first = d->next;
                free(d);
                c->busy--;
            }
            c->last = NULL;
            c->queued = 0;
            pthread_cond_broadcast(&c->idle);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void add_mute_locked(es_client_t *c, const char *path, es_mute_path_type_t type, const unsigned char *events) {
    for (mute *m = c->mutes; m; m = m->next)
        if (m->type == type && strcmp(m->path, path) == 0) {
            for (int i = 0; i < SIM_TYPES; i++)
                m->events[i] |= events[i];
            return;
        }
    mute *m = calloc(1, sizeof *m);
    m->path = strdup(path);
    m->type = type;
    memcpy(m->events, events, SIM_TYPES);
    m->next = c->mutes;
    c->mutes = m;
}

es_new_client_result_t es_new_client(es_client_t **client, es_handler_block_t handler) {
    pthread_mutex_lock(&g_lock);
    int result = g.next_result;
    int id = g.next_id++;
    size_t limit = g.queue_limit;
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
    c->limit = limit;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->idle, NULL);
    pthread_mutex_lock(&g_lock);
    for (default_mute *d = g.defaults; d; d = d->next)
        add_mute_locked(c, d->path, (es_mute_path_type_t)d->type, d->events);
    pthread_mutex_unlock(&g_lock);
    if (pthread_create(&c->thread, NULL, sim_delivery, c) != 0) {
        free(c);
        return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
    }
    *client = c;
    sim_log("new_client %d 0", id);
    return ES_NEW_CLIENT_RESULT_SUCCESS;
}

static void free_client(es_client_t *c) {
    while (c->first) {
        sim_msg *s = c->first;
        c->first = s->next;
        free(s);
    }
    while (c->mutes) {
        mute *m = c->mutes;
        c->mutes = m->next;
        free(m->path);
        free(m);
    }
    while (c->muted_processes) {
        muted_process *p = c->muted_processes;
        c->muted_processes = p->next;
        free(p);
    }
    free(c->late);
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The handler's one call after es_delete_client has returned (Apple does not promise
   there is none), then the client's memory goes. */
static void *late_call(void *arg) {
    es_client_t *c = arg;
    pthread_mutex_lock(&g_late.lock);
    while (!g_late.go)
        pthread_cond_wait(&g_late.cond, &g_late.lock);
    pthread_mutex_unlock(&g_late.lock);
    c->handler.fn(c->handler.context, c, &c->late->msg);
    sim_log("late_handler %d returned", c->id);
    free_client(c);
    pthread_mutex_lock(&g_late.lock);
    g_late.done = 1;
    pthread_cond_broadcast(&g_late.cond);
    pthread_mutex_unlock(&g_late.lock);
    return NULL;
}

es_return_t es_delete_client(es_client_t *c) {
    if (c == NULL)
        return ES_RETURN_ERROR;
    int same = pthread_equal(c->creator, pthread_self());
    sim_log("delete_client %d same_thread=%d", c->id, same);
    if (!same)
        violation("client %d: es_delete_client called from a thread that did not create the client", c->id);
    if (should_fail("delete_client")) {
        sim_log("delete_client %d failed", c->id);
        return ES_RETURN_ERROR; /* the client lives on */
    }
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sim_log("joined %d", c->id);
    if (c->late == NULL) {
        free_client(c);
        return ES_RETURN_SUCCESS;
    }
    pthread_t t;
    pthread_mutex_lock(&g_late.lock);
    g_late.go = g_late.done = 0;
    pthread_mutex_unlock(&g_late.lock);
    if (pthread_create(&t, NULL, late_call, c) != 0) {
        free_client(c);
        return ES_RETURN_SUCCESS;
    }
    pthread_detach(t);
    return ES_RETURN_SUCCESS;
}

void es_sim_set_late_message(const void *client, const es_message_t *message) {
    es_client_t *c = (es_client_t *)client;
    sim_msg *s = calloc(1, sizeof *s);
    s->msg = *message;
    pthread_mutex_lock(&c->lock);
    free(c->late);
    c->late = s;
    pthread_mutex_unlock(&c->lock);
}

int es_sim_wait_late(int timeout_ms) {
    uint64_t until = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&g_late.lock);
    g_late.go = 1;
    pthread_cond_broadcast(&g_late.cond);
    while (!g_late.done && now_ns() < until) {
        pthread_mutex_unlock(&g_late.lock);
        usleep(1000);
        pthread_mutex_lock(&g_late.lock);
    }
    int done = g_late.done;
    pthread_mutex_unlock(&g_late.lock);
    return done ? 0 : -1;
}

es_return_t es_subscribe(es_client_t *c, const es_event_type_t *events, uint32_t n) {
    char text[2048];
    events_text(text, sizeof text, events, n);
    if (should_fail("subscribe")) {
        sim_log("subscribe %d %s failed", c->id, text);
        return ES_RETURN_ERROR;
    }
    sim_log("subscribe %d %s", c->id, text);
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned)events[i] < SIM_TYPES)
            c->subscribed[events[i]] = 1;
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

int es_sim_subscribe(const void *client, uint32_t event_type) {
    es_event_type_t t = (es_event_type_t)event_type;
    return es_subscribe((es_client_t *)client, &t, 1) == ES_RETURN_SUCCESS ? 0 : -1;
}

es_return_t es_unsubscribe_all(es_client_t *c) {
    sim_log("unsubscribe_all %d", c->id);
    if (should_fail("unsubscribe_all"))
        return ES_RETURN_ERROR;
    pthread_mutex_lock(&c->lock);
    memset(c->subscribed, 0, sizeof c->subscribed);
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

static es_respond_result_t respond(es_client_t *c, const es_message_t *m, int flags_api, const char *how) {
    es_respond_result_t r = ES_RESPOND_RESULT_SUCCESS;
    pthread_mutex_lock(&c->lock);
    sim_msg *s = c->current;
    if (s == NULL || &s->msg != m)
        r = ES_RESPOND_RESULT_NOT_FOUND;
    else if (!is_auth(m) || flags_api != (m->event_type == ES_EVENT_TYPE_AUTH_OPEN))
        r = ES_RESPOND_RESULT_ERR_EVENT_TYPE; /* AUTH_OPEN takes flags, every other AUTH type a result */
    else if (s->answered)
        r = ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE;
    else
        s->answered = 1;
    pthread_mutex_unlock(&c->lock);
    sim_log("%s %d %u -> %d", how, c->id, (unsigned)m->event_type, (int)r);
    return r;
}

es_respond_result_t es_respond_auth_result(es_client_t *c, const es_message_t *m, es_auth_result_t result,
                                           bool cache) {
    (void)result, (void)cache;
    return respond(c, m, 0, "respond_auth_result");
}

es_respond_result_t es_respond_flags_result(es_client_t *c, const es_message_t *m, uint32_t flags, bool cache) {
    (void)flags, (void)cache;
    return respond(c, m, 1, "respond_flags_result");
}

es_return_t es_mute_process(es_client_t *c, const audit_token_t *token) {
    sim_log("mute_process %d %u", c->id, token->val[5]);
    if (should_fail("mute_process"))
        return ES_RETURN_ERROR;
    muted_process *p = calloc(1, sizeof *p);
    p->token = *token;
    pthread_mutex_lock(&c->lock);
    p->next = c->muted_processes;
    c->muted_processes = p;
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

static int is_target_type(es_mute_path_type_t type) {
    return type == ES_MUTE_PATH_TYPE_TARGET_PREFIX || type == ES_MUTE_PATH_TYPE_TARGET_LITERAL;
}

/* "<call> <client> <type> <path> <events or *>" in the call log. */
static void log_path_call(es_client_t *c, const char *call, const char *path, es_mute_path_type_t type,
                          const es_event_type_t *events, size_t n) {
    char text[2048];
    if (events)
        events_text(text, sizeof text, events, n);
    else
        snprintf(text, sizeof text, "*");
    sim_log("%s %d %d %s %s", call, c->id, (int)type, path ? path : "(null)", text);
}

static es_return_t mute_call(es_client_t *c, const char *call, const char *path, es_mute_path_type_t type,
                             const es_event_type_t *events, size_t n) {
    log_path_call(c, call, path, type, events, n);
    if (path == NULL || (unsigned)type > ES_MUTE_PATH_TYPE_TARGET_LITERAL)
        return ES_RETURN_ERROR;
    if (is_target_type(type) && unavailable("target path mute types", 13, 0))
        return ES_RETURN_ERROR;
    if (should_fail(call))
        return ES_RETURN_ERROR;
    unsigned char set[SIM_TYPES];
    memset(set, events == NULL, sizeof set);
    for (size_t i = 0; events && i < n; i++)
        if ((unsigned)events[i] < SIM_TYPES)
            set[events[i]] = 1;
    pthread_mutex_lock(&c->lock);
    add_mute_locked(c, path, type, set);
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_mute_path_prefix(es_client_t *c, const char *path) {
    return mute_call(c, "mute_path_prefix", path, ES_MUTE_PATH_TYPE_PREFIX, NULL, 0);
}

es_return_t es_mute_path_literal(es_client_t *c, const char *path) {
    return mute_call(c, "mute_path_literal", path, ES_MUTE_PATH_TYPE_LITERAL, NULL, 0);
}

es_return_t es_mute_path(es_client_t *c, const char *path, es_mute_path_type_t type) {
    if (unavailable("es_mute_path", 12, 0))
        return ES_RETURN_ERROR;
    return mute_call(c, "mute_path", path, type, NULL, 0);
}

es_return_t es_mute_path_events(es_client_t *c, const char *path, es_mute_path_type_t type,
                                const es_event_type_t *events, size_t n) {
    if (unavailable("es_mute_path_events", 12, 0))
        return ES_RETURN_ERROR;
    return mute_call(c, "mute_path_events", path, type, events, n);
}

/* With process-path inversion on, the mute set is a selection: a subscribed type
   whose selection an unmute empties is muted whole, its events lost without a
   sequence gap (what add-before-remove avoids).  Called locked, around the unmute. */
static void selected_types(es_client_t *c, unsigned char *out) {
    memset(out, 0, SIM_TYPES);
    for (mute *m = c->mutes; m; m = m->next)
        if (!is_target_type(m->type))
            for (int t = 0; t < SIM_TYPES; t++)
                out[t] |= m->events[t];
}

static void check_selection(es_client_t *c, const unsigned char *before, const char *after) {
    unsigned char now[SIM_TYPES];
    if (!c->inverted[ES_MUTE_INVERSION_TYPE_PATH])
        return;
    selected_types(c, now);
    for (int t = 0; t < SIM_TYPES; t++)
        if (c->subscribed[t] && before[t] && !now[t])
            violation("client %d: after %s, inverted path muting selects nothing of subscribed type %d: "
                      "its events vanish without a sequence gap", c->id, after, t);
}

static es_return_t unmute_call(es_client_t *c, const char *call, const char *path, es_mute_path_type_t type,
                               const es_event_type_t *events, size_t n) {
    log_path_call(c, call, path, type, events, n);
    if (unavailable(call, 12, 0) || (is_target_type(type) && unavailable("target path mute types", 13, 0)))
        return ES_RETURN_ERROR;
    if (path == NULL || should_fail(call))
        return ES_RETURN_ERROR;
    unsigned char before[SIM_TYPES];
    pthread_mutex_lock(&c->lock);
    selected_types(c, before);
    for (mute **p = &c->mutes; *p; p = &(*p)->next) {
        mute *m = *p;
        if (m->type != type || strcmp(m->path, path) != 0)
            continue;
        int left = 0;
        for (int i = 0; i < SIM_TYPES; i++) {
            int drop = events == NULL;
            for (size_t j = 0; events && j < n; j++)
                drop |= (unsigned)events[j] == (unsigned)i;
            if (drop)
                m->events[i] = 0;
            left |= m->events[i];
        }
        if (!left) {
            *p = m->next;
            free(m->path);
            free(m);
        }
        break;
    }
    check_selection(c, before, call);
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_unmute_path(es_client_t *c, const char *path, es_mute_path_type_t type) {
    return unmute_call(c, "unmute_path", path, type, NULL, 0);
}

es_return_t es_unmute_path_events(es_client_t *c, const char *path, es_mute_path_type_t type,
                                  const es_event_type_t *events, size_t n) {
    return unmute_call(c, "unmute_path_events", path, type, events, n);
}

static es_return_t unmute_where(es_client_t *c, int target, const char *call) {
    unsigned char before[SIM_TYPES];
    pthread_mutex_lock(&c->lock);
    selected_types(c, before);
    mute **p = &c->mutes;
    while (*p) {
        mute *m = *p;
        if (is_target_type(m->type) == target) {
            *p = m->next;
            free(m->path);
            free(m);
        } else
            p = &m->next;
    }
    check_selection(c, before, call);
    pthread_mutex_unlock(&c->lock);
    return ES_RETURN_SUCCESS;
}

es_return_t es_unmute_all_paths(es_client_t *c) {
    sim_log("unmute_all_paths %d", c->id);
    if (should_fail("unmute_all_paths"))
        return ES_RETURN_ERROR;
    return unmute_where(c, 0, "unmute_all_paths");
}

es_return_t es_unmute_all_target_paths(es_client_t *c) {
    sim_log("unmute_all_target_paths %d", c->id);
    if (unavailable("es_unmute_all_target_paths", 13, 0) || should_fail("unmute_all_target_paths"))
        return ES_RETURN_ERROR;
    return unmute_where(c, 1, "unmute_all_target_paths");
}

es_return_t es_invert_muting(es_client_t *c, es_mute_inversion_type_t type) {
    if (unavailable("es_invert_muting", 13, 0) || (unsigned)type > ES_MUTE_INVERSION_TYPE_TARGET_PATH ||
        should_fail("invert_muting"))
        return ES_RETURN_ERROR;
    pthread_mutex_lock(&c->lock);
    c->inverted[type] = !c->inverted[type];
    int now = c->inverted[type];
    pthread_mutex_unlock(&c->lock);
    sim_log("invert_muting %d %d -> %d", c->id, (int)type, now);
    return ES_RETURN_SUCCESS;
}

es_mute_inverted_return_t es_muting_inverted(es_client_t *c, es_mute_inversion_type_t type) {
    if (unavailable("es_muting_inverted", 13, 0) || (unsigned)type > ES_MUTE_INVERSION_TYPE_TARGET_PATH ||
        should_fail("muting_inverted"))
        return ES_MUTE_INVERTED_ERROR;
    pthread_mutex_lock(&c->lock);
    int now = c->inverted[type];
    pthread_mutex_unlock(&c->lock);
    return now ? ES_MUTE_INVERTED : ES_MUTE_NOT_INVERTED;
}

size_t es_sim_muted_paths(const void *client, char *buf, size_t cap) {
    es_client_t *c = (es_client_t *)client;
    size_t off = 0;
    pthread_mutex_lock(&c->lock);
    for (mute *m = c->mutes; m && off < cap; m = m->next) {
        int n = snprintf(buf + off, cap - off, "%d %s ", (int)m->type, m->path);
        off += n > 0 ? (size_t)n : 0;
        const char *sep = "";
        for (int i = 0; i < SIM_TYPES && off < cap; i++)
            if (m->events[i]) {
                n = snprintf(buf + off, cap - off, "%s%d", sep, i);
                off += n > 0 ? (size_t)n : 0;
                sep = ",";
            }
        if (off < cap)
            buf[off++] = '\n';
    }
    pthread_mutex_unlock(&c->lock);
    return off < cap ? off : cap;
}

/* -- the kernel's side ----------------------------------------------------------------------- */

static const char *token_text(es_string_token_t t) { return t.data; } /* tests' strings end in NUL */

static const char *file_path(const es_file_t *f) { return f ? token_text(f->path) : NULL; }

static const char *target_path_of(const es_message_t *m) {
    switch (m->event_type) {
    case ES_EVENT_TYPE_NOTIFY_EXEC: return m->event.exec.target ? file_path(m->event.exec.target->executable) : NULL;
    case ES_EVENT_TYPE_NOTIFY_OPEN: return file_path(m->event.open.file);
    case ES_EVENT_TYPE_NOTIFY_WRITE: return file_path(m->event.write.target);
    case ES_EVENT_TYPE_NOTIFY_CLOSE: return file_path(m->event.close.target);
    case ES_EVENT_TYPE_NOTIFY_UNLINK: return file_path(m->event.unlink.target);
    default: return NULL;
    }
}

static int path_matches(const mute *m, const char *path) {
    if (path == NULL)
        return 0;
    if (m->type == ES_MUTE_PATH_TYPE_PREFIX || m->type == ES_MUTE_PATH_TYPE_TARGET_PREFIX)
        return strncmp(path, m->path, strlen(m->path)) == 0;
    return strcmp(path, m->path) == 0;
}

/* Process mutes, then the process-path and target-path dimensions, each possibly
   inverted (Apple's muting flow chart).  Called locked. */
static int is_muted(es_client_t *c, const es_message_t *msg) {
    unsigned t = msg->event_type;
    const audit_token_t *tok = msg->process ? &msg->process->audit_token : NULL;
    for (muted_process *p = c->muted_processes; p && tok; p = p->next)
        if (p->token.val[5] == tok->val[5] && p->token.val[7] == tok->val[7])
            return 1;
    const char *process_path = msg->process ? file_path(msg->process->executable) : NULL;
    const char *target = target_path_of(msg);
    int by_path = 0, by_target = 0;
    for (mute *m = c->mutes; m; m = m->next) {
        if (t >= SIM_TYPES || !m->events[t])
            continue;
        if (is_target_type(m->type))
            by_target |= path_matches(m, target);
        else
            by_path |= path_matches(m, process_path);
    }
    if (c->inverted[ES_MUTE_INVERSION_TYPE_PATH] ? !by_path : by_path)
        return 1;
    if (target != NULL && (c->inverted[ES_MUTE_INVERSION_TYPE_TARGET_PATH] ? !by_target : by_target))
        return 1;
    return 0;
}

int es_sim_deliver(const void *client, const es_message_t *message) {
    es_client_t *c = (es_client_t *)client;
    if (c == NULL || message == NULL || (unsigned)message->event_type >= SIM_TYPES)
        return -1;
    unsigned t = message->event_type;
    pthread_mutex_lock(&c->lock);
    int verdict = c->dead ? 4 : !c->subscribed[t] ? 1 : is_muted(c, message) ? 2 : 0;
    if (verdict) {
        pthread_mutex_unlock(&c->lock);
        return verdict;
    }
    uint64_t seq = c->seq[t]++, gseq = c->global_seq++;
    if (c->queued >= c->limit) {
        c->dropped++;
        pthread_mutex_unlock(&c->lock);
        return 3;
    }
    sim_msg *s = calloc(1, sizeof *s);
    s->msg = *message;
    s->msg.seq_num = seq;
    s->msg.global_seq_num = gseq;
    if (is_auth(message)) {
        pthread_mutex_lock(&g_lock);
        uint64_t ms = (uint64_t)g.auth_deadline_ms;
        pthread_mutex_unlock(&g_lock);
        s->deadline_ns = now_ns() + ms * 1000000ull;
        s->msg.deadline = s->deadline_ns;
    }
    if (c->last)
        c->last->next = s;
    else
        c->first = s;
    c->last = s;
    c->queued++;
    c->busy++;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void es_sim_drop(const void *client, uint32_t event_type, uint64_t count) {
    es_client_t *c = (es_client_t *)client;
    if (event_type >= SIM_TYPES)
        return;
    pthread_mutex_lock(&c->lock);
    c->seq[event_type] += count;
    c->global_seq += count;
    c->dropped += count;
    pthread_mutex_unlock(&c->lock);
}

uint64_t es_sim_dropped(const void *client) {
    es_client_t *c = (es_client_t *)client;
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->dropped;
    pthread_mutex_unlock(&c->lock);
    return n;
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
