/*
 * esf_shim.c: ES client -> eslogger-shaped JSON Lines -> bounded ring -> Python.
 *
 * The ES handler runs serially per client on ES's own thread (endpoint-security.md
 * §7.1, §8).  It only formats the message into a per-client scratch buffer and
 * copies that line into the ring under a mutex: no Python, no I/O, no hashing
 * (§16).  When the ring is full the handler waits for the reader, exactly as
 * eslogger blocks on its stdout pipe; the kernel queue then fills and the kernel
 * drops, which the message's seq_num/global_seq_num gaps report downstream.
 *
 * Lines carry only what osq_esf.decode reads (no stat blocks, no fds), in
 * eslogger's key names, so the whole pipeline (decode, rules, lineage, seq-gap
 * accounting) runs unchanged.  Strings are ES tokens (length, not NUL-terminated,
 * §4); invalid UTF-8 becomes U+FFFD so a line is always valid JSON.
 */
#include "esf_shim.h"

#include <EndpointSecurity/EndpointSecurity.h>
#include <bsm/libbsm.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ESF_MAX_TYPES 256
#define ESF_NAME_LEN 40
#define ESF_WRAP 0xFFFFFFFFu /* ring record header: the rest of the buffer is unused */

struct esf_client {
    es_client_t *es;
    pthread_mutex_t lock;
    pthread_cond_t has_data;
    pthread_cond_t has_room;
    bool stopping;
    /* the ring: records of [uint32 length][line], never split across the end */
    char *ring;
    size_t cap, head, tail, used;
    esf_stats stats;
    /* handler-only state (the handler is serial per client) */
    char *scratch;
    size_t scratch_len, scratch_cap;
    bool scratch_oom;
    struct esf_time_cache {
        time_t sec;
        bool valid;
        size_t len;
        char text[40];
    } times[2]; /* 0: message time, 1: process start times */
    char names[ESF_MAX_TYPES][ESF_NAME_LEN];
};

int esf_version(void) { return ESF_SHIM_VERSION; }

int esf_is_simulator(void) {
#ifdef ESF_SIMULATED_ES
    return 1;
#else
    return 0;
#endif
}

const char *esf_new_client_result_name(int result) {
    switch (result) {
    case ES_NEW_CLIENT_RESULT_SUCCESS: return "ES_NEW_CLIENT_RESULT_SUCCESS";
    case ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT: return "ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT";
    case ES_NEW_CLIENT_RESULT_ERR_INTERNAL: return "ES_NEW_CLIENT_RESULT_ERR_INTERNAL";
    case ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED: return "ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED";
    case ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED: return "ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED";
    case ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED: return "ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED";
    case ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS: return "ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS";
    default: return "ES_NEW_CLIENT_RESULT_UNKNOWN";
    }
}

/* -- JSON writing into the scratch buffer ------------------------------------------ */

static void out_reserve(esf_client *c, size_t more) {
    if (c->scratch_oom || c->scratch_len + more <= c->scratch_cap)
        return;
    size_t cap = c->scratch_cap ? c->scratch_cap : 4096;
    while (cap < c->scratch_len + more)
        cap *= 2;
    char *p = realloc(c->scratch, cap);
    if (p == NULL) {
        c->scratch_oom = true;
        return;
    }
    c->scratch = p;
    c->scratch_cap = cap;
}

static void out_raw(esf_client *c, const char *s, size_t n) {
    out_reserve(c, n);
    if (c->scratch_oom)
        return;
    memcpy(c->scratch + c->scratch_len, s, n);
    c->scratch_len += n;
}

#define OUT_LIT(c, lit) out_raw((c), (lit), sizeof(lit) - 1)

/* Integers by hand: snprintf per field cost most of a message's formatting time. */
static void out_u64(esf_client *c, unsigned long long v) {
    char t[20];
    int i = 20;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_raw(c, t + i, (size_t)(20 - i));
}

static void out_i64(esf_client *c, long long v) {
    if (v < 0) {
        OUT_LIT(c, "-");
        out_u64(c, 0ULL - (unsigned long long)v);
    } else
        out_u64(c, (unsigned long long)v);
}

/* A JSON key (with its leading comma or brace) and an integer. */
#define OUT_KEY_I(c, key, v) (OUT_LIT((c), key), out_i64((c), (long long)(v)))
#define OUT_KEY_U(c, key, v) (OUT_LIT((c), key), out_u64((c), (unsigned long long)(v)))

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char b = s[0];
    size_t len;
    unsigned int cp;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) { len = 2; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { len = 3; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { len = 4; cp = b & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static void out_string(esf_client *c, const char *data, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)data;
    out_reserve(c, n + 2);
    OUT_LIT(c, "\"");
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n;) {
        unsigned char b = s[i];
        if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
            run++, i++;
            continue;
        }
        size_t len = b >= 0x80 ? utf8_seq(s + i, n - i) : 0;
        if (len) {
            run += len, i += len;
            continue;
        }
        if (run) {
            out_raw(c, (const char *)s + i - run, run);
            run = 0;
        }
        if (b == '"') OUT_LIT(c, "\\\"");
        else if (b == '\\') OUT_LIT(c, "\\\\");
        else if (b == '\n') OUT_LIT(c, "\\n");
        else if (b == '\t') OUT_LIT(c, "\\t");
        else if (b == '\r') OUT_LIT(c, "\\r");
        else if (b < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 15]};
            out_raw(c, u, 6);
        } else
            OUT_LIT(c, "\\ufffd"); /* a byte that starts no valid UTF-8 sequence */
        i++;
    }
    if (run)
        out_raw(c, (const char *)s + n - run, run);
    OUT_LIT(c, "\"");
}

static void out_token(esf_client *c, es_string_token_t t) {
    out_string(c, t.data ? t.data : "", t.data ? t.length : 0);
}

/* A token, or null when it is empty (eslogger writes team_id null). */
static void out_token_or_null(esf_client *c, es_string_token_t t) {
    if (t.data == NULL || t.length == 0)
        OUT_LIT(c, "null");
    else
        out_token(c, t);
}

static void out_bool(esf_client *c, bool v) {
    if (v) OUT_LIT(c, "true");
    else OUT_LIT(c, "false");
}

/* RFC 3339 UTC with `digits` fractional digits, as eslogger writes times.  The
   seconds part is cached per slot: consecutive messages mostly share their second. */
static void out_time(esf_client *c, int slot, time_t sec, long frac, int digits) {
    struct esf_time_cache *tc = &c->times[slot];
    if (!tc->valid || tc->sec != sec) {
        struct tm tm;
        if (gmtime_r(&sec, &tm) == NULL)
            memset(&tm, 0, sizeof tm);
        snprintf(tc->text, sizeof tc->text, "\"%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        tc->len = strlen(tc->text);
        tc->sec = sec;
        tc->valid = true;
    }
    out_raw(c, tc->text, tc->len);
    char t[10];
    for (int i = digits - 1; i >= 0; i--) {
        t[i] = (char)('0' + (frac < 0 ? 0 : frac % 10));
        frac /= 10;
    }
    out_raw(c, t, (size_t)digits);
    OUT_LIT(c, "Z\"");
}

static void out_audit_token(esf_client *c, audit_token_t t) {
    OUT_KEY_U(c, "{\"auid\":", (unsigned)audit_token_to_auid(t));
    OUT_KEY_U(c, ",\"euid\":", (unsigned)audit_token_to_euid(t));
    OUT_KEY_U(c, ",\"egid\":", (unsigned)audit_token_to_egid(t));
    OUT_KEY_U(c, ",\"ruid\":", (unsigned)audit_token_to_ruid(t));
    OUT_KEY_U(c, ",\"rgid\":", (unsigned)audit_token_to_rgid(t));
    OUT_KEY_I(c, ",\"pid\":", audit_token_to_pid(t));
    OUT_KEY_I(c, ",\"asid\":", audit_token_to_asid(t));
    OUT_KEY_I(c, ",\"pidversion\":", audit_token_to_pidversion(t));
    OUT_LIT(c, "}");
}

static void out_file(esf_client *c, const es_file_t *f) {
    if (f == NULL) {
        OUT_LIT(c, "null");
        return;
    }
    OUT_LIT(c, "{\"path\":");
    out_token(c, f->path);
    OUT_LIT(c, ",\"path_truncated\":");
    out_bool(c, f->path_truncated);
    OUT_LIT(c, "}");
}

static void out_process(esf_client *c, const es_process_t *p, uint32_t version) {
    static const char hex[] = "0123456789ABCDEF";
    if (p == NULL) {
        OUT_LIT(c, "null");
        return;
    }
    OUT_LIT(c, "{\"audit_token\":");
    out_audit_token(c, p->audit_token);
    OUT_KEY_I(c, ",\"ppid\":", p->ppid);
    OUT_KEY_I(c, ",\"original_ppid\":", p->original_ppid);
    OUT_KEY_I(c, ",\"group_id\":", p->group_id);
    OUT_KEY_I(c, ",\"session_id\":", p->session_id);
    OUT_KEY_U(c, ",\"codesigning_flags\":", (unsigned)p->codesigning_flags);
    OUT_LIT(c, ",\"is_platform_binary\":");
    out_bool(c, p->is_platform_binary);
    OUT_LIT(c, ",\"is_es_client\":");
    out_bool(c, p->is_es_client);
    char cd[40];
    for (int i = 0; i < 20; i++) {
        cd[2 * i] = hex[p->cdhash[i] >> 4];
        cd[2 * i + 1] = hex[p->cdhash[i] & 15];
    }
    OUT_LIT(c, ",\"cdhash\":\"");
    out_raw(c, cd, 40);
    OUT_LIT(c, "\",\"signing_id\":");
    out_token_or_null(c, p->signing_id);
    OUT_LIT(c, ",\"team_id\":");
    out_token_or_null(c, p->team_id);
    OUT_LIT(c, ",\"executable\":");
    out_file(c, p->executable);
    if (version >= 2) {
        OUT_LIT(c, ",\"tty\":");
        out_file(c, p->tty);
    }
    if (version >= 3) {
        OUT_LIT(c, ",\"start_time\":");
        out_time(c, 1, p->start_time.tv_sec, (long)p->start_time.tv_usec, 6);
    }
    if (version >= 4) {
        OUT_LIT(c, ",\"responsible_audit_token\":");
        out_audit_token(c, p->responsible_audit_token);
        OUT_LIT(c, ",\"parent_audit_token\":");
        out_audit_token(c, p->parent_audit_token);
    }
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 260000
    if (version >= 10)
        OUT_KEY_I(c, ",\"cs_validation_category\":", (int)p->cs_validation_category);
#endif
    OUT_LIT(c, "}");
}

static void out_exec(esf_client *c, const es_event_exec_t *e, uint32_t version) {
    OUT_LIT(c, "{\"target\":");
    out_process(c, e->target, version);
    OUT_LIT(c, ",\"args\":[");
    uint32_t n = es_exec_arg_count(e);
    for (uint32_t i = 0; i < n; i++) {
        if (i) OUT_LIT(c, ",");
        out_token(c, es_exec_arg(e, i));
    }
    OUT_LIT(c, "],\"env\":[");
    n = es_exec_env_count(e);
    for (uint32_t i = 0; i < n; i++) {
        if (i) OUT_LIT(c, ",");
        out_token(c, es_exec_env(e, i));
    }
    OUT_LIT(c, "]");
    if (version >= 2) {
        OUT_LIT(c, ",\"script\":");
        out_file(c, e->script);
    }
    if (version >= 3) {
        OUT_LIT(c, ",\"cwd\":");
        out_file(c, e->cwd);
    }
    if (version >= 4)
        OUT_KEY_I(c, ",\"last_fd\":", e->last_fd);
    if (version >= 6) {
        OUT_KEY_I(c, ",\"image_cputype\":", e->image_cputype);
        OUT_KEY_I(c, ",\"image_cpusubtype\":", e->image_cpusubtype);
    }
    if (version >= 7) { /* declared since the macOS 13.3 SDK; filled from message v7 (macOS 14) */
        OUT_LIT(c, ",\"dyld_exec_path\":");
        out_token(c, e->dyld_exec_path);
    }
    OUT_LIT(c, "}");
}

static void out_event(esf_client *c, const es_message_t *m) {
    uint32_t v = m->version;
    switch (m->event_type) {
    case ES_EVENT_TYPE_NOTIFY_EXEC:
        out_exec(c, &m->event.exec, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OPEN:
        OUT_KEY_I(c, "{\"fflag\":", m->event.open.fflag);
        OUT_LIT(c, ",\"file\":");
        out_file(c, m->event.open.file);
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_WRITE:
        OUT_LIT(c, "{\"target\":");
        out_file(c, m->event.write.target);
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_FORK:
        OUT_LIT(c, "{\"child\":");
        out_process(c, m->event.fork.child, v);
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_EXIT:
        OUT_KEY_I(c, "{\"stat\":", m->event.exit.stat);
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN:
        OUT_KEY_U(c, "{\"user_client_type\":", m->event.iokit_open.user_client_type);
        OUT_LIT(c, ",\"user_client_class\":");
        out_token(c, m->event.iokit_open.user_client_class);
#if __MAC_OS_X_VERSION_MAX_ALLOWED >= 260000
        if (v >= 10) {
            OUT_KEY_U(c, ",\"parent_registry_id\":", m->event.iokit_open.parent_registry_id);
            OUT_LIT(c, ",\"parent_path\":");
            out_token(c, m->event.iokit_open.parent_path);
        }
#endif
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_CLOSE:
        OUT_LIT(c, "{\"modified\":");
        out_bool(c, m->event.close.modified);
        OUT_LIT(c, ",\"target\":");
        out_file(c, m->event.close.target);
        OUT_LIT(c, "}");
        break;
    case ES_EVENT_TYPE_NOTIFY_UNLINK:
        OUT_LIT(c, "{\"target\":");
        out_file(c, m->event.unlink.target);
        OUT_LIT(c, ",\"parent_dir\":");
        out_file(c, m->event.unlink.parent_dir);
        OUT_LIT(c, "}");
        break;
    default:
        /* Types without a table land in es_other_events with their name only. */
        OUT_LIT(c, "{}");
    }
}

static void format_message(esf_client *c, const es_message_t *m) {
    uint32_t v = m->version;
    unsigned type = (unsigned)m->event_type;
    c->scratch_len = 0;
    c->scratch_oom = false;
    OUT_KEY_U(c, "{\"schema_version\":1,\"version\":", v);
    OUT_LIT(c, ",\"time\":");
    out_time(c, 0, m->time.tv_sec, m->time.tv_nsec, 9);
    OUT_KEY_U(c, ",\"mach_time\":", m->mach_time);
    OUT_KEY_U(c, ",\"event_type\":", type);
    OUT_KEY_I(c, ",\"action_type\":", m->action_type);
    if (v >= 2)
        OUT_KEY_U(c, ",\"seq_num\":", m->seq_num);
    if (v >= 4) {
        OUT_KEY_U(c, ",\"global_seq_num\":", m->global_seq_num);
        if (m->thread) {
            OUT_KEY_U(c, ",\"thread\":{\"thread_id\":", m->thread->thread_id);
            OUT_LIT(c, "}");
        } else
            OUT_LIT(c, ",\"thread\":null");
    }
    OUT_LIT(c, ",\"process\":");
    out_process(c, m->process, v);
    OUT_LIT(c, ",\"event\":{\"");
    const char *name = type < ESF_MAX_TYPES && c->names[type][0] ? c->names[type] : "unknown";
    out_raw(c, name, strlen(name));
    OUT_LIT(c, "\":");
    out_event(c, m);
    OUT_LIT(c, "}}\n");
}

/* -- the ring ------------------------------------------------------------------------ */

/* Append one line; waits while the ring is full.  Called with the lock held. */
static void ring_put(esf_client *c, const char *line, uint32_t len) {
    size_t need = 4 + (size_t)len;
    if (need > c->cap / 2) {
        c->stats.oversize++;
        return;
    }
    size_t waste;
    for (;;) {
        /* Recomputed after each wait: an emptied ring starts again at the front. */
        size_t end_space = c->cap - c->tail;
        waste = end_space < need ? end_space : 0;
        if (c->stopping || c->cap - c->used >= waste + need)
            break;
        c->stats.waits++;
        pthread_cond_wait(&c->has_room, &c->lock);
    }
    if (c->stopping)
        return;
    if (waste) {
        if (waste >= 4) {
            uint32_t mark = ESF_WRAP;
            memcpy(c->ring + c->tail, &mark, 4);
        }
        c->used += waste;
        c->tail = 0;
    }
    memcpy(c->ring + c->tail, &len, 4);
    memcpy(c->ring + c->tail + 4, line, len);
    c->tail += need;
    if (c->tail == c->cap)
        c->tail = 0;
    c->used += need;
    c->stats.lines++;
    c->stats.bytes += len;
    pthread_cond_signal(&c->has_data);
}

static void on_message(void *context, es_client_t *es, const es_message_t *m) {
    esf_client *c = context;
    (void)es;
    if (__atomic_load_n(&c->stopping, __ATOMIC_RELAXED)) /* ring_put checks again under the lock */
        return;
    format_message(c, m);
    pthread_mutex_lock(&c->lock);
    c->stats.messages++;
    if (c->scratch_oom || c->scratch_len > UINT32_MAX)
        c->stats.out_of_memory++;
    else
        ring_put(c, c->scratch, (uint32_t)c->scratch_len);
    pthread_mutex_unlock(&c->lock);
}

#ifdef ESF_SIMULATED_ES
#define ESF_HANDLER(ctx) ((es_handler_block_t){on_message, (ctx)})
#else
/* The block captures the pointer by value; ES copies the block for the client's life. */
#define ESF_HANDLER(ctx) ^(es_client_t *es_, const es_message_t *m_) { on_message((ctx), es_, m_); }
#endif

size_t esf_drain(esf_client *c, char *buf, size_t cap, size_t max_lines, int timeout_ms) {
    size_t out = 0, lines = 0;
    pthread_mutex_lock(&c->lock);
    if (c->used == 0 && timeout_ms > 0 && !c->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (c->used == 0 && !c->stopping)
            if (pthread_cond_timedwait(&c->has_data, &c->lock, &until) == ETIMEDOUT)
                break;
    }
    while (c->used > 0 && lines < max_lines) {
        size_t end_space = c->cap - c->head;
        uint32_t len = ESF_WRAP;
        if (end_space >= 4)
            memcpy(&len, c->ring + c->head, 4);
        if (len == ESF_WRAP) { /* the writer skipped the end of the buffer */
            c->used -= end_space;
            c->head = 0;
            continue;
        }
        if (out + len > cap)
            break;
        memcpy(buf + out, c->ring + c->head + 4, len);
        out += len;
        lines++;
        c->head += 4 + (size_t)len;
        if (c->head == c->cap)
            c->head = 0;
        c->used -= 4 + (size_t)len;
    }
    if (c->used == 0)
        c->head = c->tail = 0; /* start again at the front: fewer wraps */
    if (lines)
        pthread_cond_signal(&c->has_room);
    pthread_mutex_unlock(&c->lock);
    return out;
}

/* -- the client ---------------------------------------------------------------------- */

esf_client *esf_client_new(size_t ring_bytes, int *result) {
    esf_client *c = calloc(1, sizeof *c);
    if (ring_bytes < 4096)
        ring_bytes = 4096;
    if (c == NULL || (c->ring = malloc(ring_bytes)) == NULL) {
        free(c);
        *result = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
        return NULL;
    }
    c->cap = ring_bytes;
    c->stats.ring_capacity = ring_bytes;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->has_data, NULL);
    pthread_cond_init(&c->has_room, NULL);
    es_new_client_result_t r = es_new_client(&c->es, ESF_HANDLER(c));
    *result = (int)r;
    if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
        pthread_cond_destroy(&c->has_room);
        pthread_cond_destroy(&c->has_data);
        pthread_mutex_destroy(&c->lock);
        free(c->ring);
        free(c);
        return NULL;
    }
    return c;
}

int esf_subscribe(esf_client *c, const uint32_t *types, const char *const *names, size_t count) {
    es_event_type_t evs[ESF_MAX_TYPES];
    if (count > ESF_MAX_TYPES)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (types[i] >= ESF_MAX_TYPES)
            return -1;
        snprintf(c->names[types[i]], ESF_NAME_LEN, "%s", names[i]);
        evs[i] = (es_event_type_t)types[i];
    }
    return es_subscribe(c->es, evs, (uint32_t)count) == ES_RETURN_SUCCESS ? 0 : -1;
}

int esf_mute_path(esf_client *c, const char *path, int type, const uint32_t *types, size_t count) {
    es_event_type_t evs[ESF_MAX_TYPES];
    if (count == 0)
        return es_mute_path(c->es, path, (es_mute_path_type_t)type) == ES_RETURN_SUCCESS ? 0 : -1;
    if (count > ESF_MAX_TYPES)
        return -1;
    for (size_t i = 0; i < count; i++)
        evs[i] = (es_event_type_t)types[i];
    return es_mute_path_events(c->es, path, (es_mute_path_type_t)type, evs, count) == ES_RETURN_SUCCESS ? 0 : -1;
}

int esf_unmute_all_paths(esf_client *c) {
    return es_unmute_all_paths(c->es) == ES_RETURN_SUCCESS ? 0 : -1;
}

int esf_unmute_all_target_paths(esf_client *c) {
    return es_unmute_all_target_paths(c->es) == ES_RETURN_SUCCESS ? 0 : -1;
}

int esf_set_inverted(esf_client *c, int inversion_type, int inverted) {
    es_mute_inverted_return_t now = es_muting_inverted(c->es, (es_mute_inversion_type_t)inversion_type);
    if (now == ES_MUTE_INVERTED_ERROR)
        return -1;
    if ((now == ES_MUTE_INVERTED) == (inverted != 0))
        return 0;
    return es_invert_muting(c->es, (es_mute_inversion_type_t)inversion_type) == ES_RETURN_SUCCESS ? 0 : -1;
}

void esf_get_stats(esf_client *c, esf_stats *out) {
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->ring_used = c->used;
    pthread_mutex_unlock(&c->lock);
}

const void *esf_es_client(esf_client *c) { return c->es; }

int esf_client_stop(esf_client *c) {
    return es_unsubscribe_all(c->es) == ES_RETURN_SUCCESS ? 0 : -1;
}

void esf_client_delete(esf_client *c) {
    if (c == NULL)
        return;
    /* A handler waiting for room must return before ES can let the client go. */
    pthread_mutex_lock(&c->lock);
    __atomic_store_n(&c->stopping, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&c->has_room);
    pthread_cond_broadcast(&c->has_data);
    pthread_mutex_unlock(&c->lock);
    es_unsubscribe_all(c->es);
    es_delete_client(c->es);
    pthread_cond_destroy(&c->has_room);
    pthread_cond_destroy(&c->has_data);
    pthread_mutex_destroy(&c->lock);
    free(c->scratch);
    free(c->ring);
    free(c);
}
