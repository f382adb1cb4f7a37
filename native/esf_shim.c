/*
 * esf_shim.c: ES client -> eslogger-shaped JSON Lines -> bounded ring -> Python.
 *
 * The ES handler runs serially per client on ES's own thread.  It only formats the
 * message into a per-client scratch buffer and copies that line into the ring under
 * a mutex: no Python, no I/O.  When the ring is full the handler waits for the
 * reader, exactly as eslogger blocks on its stdout pipe; the kernel queue then
 * fills and the kernel drops, which the messages' seq_num/global_seq_num gaps
 * report downstream.
 *
 * Lines carry eslogger's keys for every event type this file formats (the C field
 * names of the es_event_*_t structs), gated by message version like eslogger's
 * output, so the whole pipeline (decode, rules, lineage, seq-gap accounting) runs
 * unchanged.  Two deliberate differences: file stat blocks hold only st_uid,
 * st_gid, st_mode, st_size and st_birthtimespec, and a string value that would
 * overflow the line's budget is cut (exec then says so in args_truncated /
 * env_truncated).  A type this build cannot format (newer than the SDK it was
 * compiled against, or unknown) is counted per type and writes no line.
 *
 * Strings are ES tokens (length, not NUL-terminated); bytes that are not UTF-8
 * become U+FFFD, so a line is always valid JSON.
 *
 * Availability: the build targets macOS 11.  Calls from macOS 12 and 13 run only
 * behind __builtin_available, with the macOS 11 fallback or ESF_UNSUPPORTED.
 * Event types and fields newer than the SDK are behind
 * __MAC_OS_X_VERSION_MAX_ALLOWED guards.
 */
#include "esf_shim.h"

#include <EndpointSecurity/EndpointSecurity.h>
#include <bsm/libbsm.h>
#include <mach/mach.h>
#include <sys/proc_info.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef ESF_ALLOC_CLIENT /* the simulator puts the client on guard pages */
#define ESF_ALLOC_CLIENT(size) calloc(1, (size))
#define ESF_FREE_CLIENT(p, size) free(p)
#endif

#define ESF_MAX_TYPES 256
#define ESF_NAME_LEN 40
#define ESF_MAX_ANCHORS 64
#define ESF_MAX_DEPTH 24
#define ESF_WRAP 0xFFFFFFFFu /* ring record header: the rest of the buffer is unused */

#define SDK_AT_LEAST(v) (__MAC_OS_X_VERSION_MAX_ALLOWED >= (v))

struct esf_client {
    es_client_t *es;
    unsigned slot; /* its anchor */
    pthread_mutex_t lock;
    pthread_cond_t has_data;
    pthread_cond_t has_room;
    bool stopping;
    /* the ring: records of [uint32 length][line], never split across the end */
    char *ring;
    size_t cap, head, tail, used;
    esf_stats stats;
    uint64_t unformatted[ESF_MAX_TYPES];
    /* handler-only state (the handler is serial per client) */
    char *scratch;
    size_t scratch_len, scratch_cap;
    bool scratch_oom;
    size_t budget;    /* escaped string bytes the current line may still take */
    size_t value_cap; /* ... and one value */
    uint64_t cuts;    /* values cut so far */
    unsigned depth;
    bool first[ESF_MAX_DEPTH]; /* no member written yet at this nesting level */
    struct esf_time_cache {
        time_t sec;
        bool valid;
        size_t len;
        char text[40];
    } times[3]; /* 0: message time, 1: process start times, 2: the rest */
    char (*names)[ESF_NAME_LEN];
};

/* -- anchors: what a handler call may touch, whatever happened to its client ------------
 *
 * Apple does not promise that no handler call comes after es_delete_client returns.
 * So the handler block captures no client pointer, only an anchor slot and the
 * anchor's generation.  Anchors live for the whole process; deleting a client bumps
 * its anchor's generation after waiting for the calls in flight, so a later call
 * finds a stale generation and touches nothing of the freed client.  An anchor whose
 * es_delete_client failed is never reused: that client may still call.
 */
static struct esf_anchor {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    uint32_t gen;
    unsigned busy;
    esf_client *client;
    bool used, retired;
} g_anchors[ESF_MAX_ANCHORS];
static pthread_mutex_t g_anchors_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_anchors_ready;
static uint64_t g_late_messages;

static int anchor_take(esf_client *c) {
    int slot = -1;
    pthread_mutex_lock(&g_anchors_lock);
    if (!g_anchors_ready) {
        for (int i = 0; i < ESF_MAX_ANCHORS; i++) {
            pthread_mutex_init(&g_anchors[i].lock, NULL);
            pthread_cond_init(&g_anchors[i].idle, NULL);
        }
        g_anchors_ready = true;
    }
    for (int i = 0; i < ESF_MAX_ANCHORS && slot < 0; i++)
        if (!g_anchors[i].used)
            slot = i;
    if (slot >= 0) {
        struct esf_anchor *a = &g_anchors[slot];
        pthread_mutex_lock(&a->lock);
        a->used = true;
        a->client = c;
        pthread_mutex_unlock(&a->lock);
    }
    pthread_mutex_unlock(&g_anchors_lock);
    return slot;
}

/* No new handler call reaches `slot`'s client; wait for those in flight. */
static void anchor_close(unsigned slot) {
    struct esf_anchor *a = &g_anchors[slot];
    pthread_mutex_lock(&a->lock);
    a->client = NULL;
    while (a->busy)
        pthread_cond_wait(&a->idle, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

static void anchor_release(unsigned slot, bool retire) {
    struct esf_anchor *a = &g_anchors[slot];
    pthread_mutex_lock(&g_anchors_lock);
    pthread_mutex_lock(&a->lock);
    a->gen++;
    a->retired = retire;
    a->used = retire;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_unlock(&g_anchors_lock);
}

uint64_t esf_late_messages(void) { return __atomic_load_n(&g_late_messages, __ATOMIC_RELAXED); }

int esf_version(void) { return ESF_SHIM_VERSION; }

int esf_is_simulator(void) {
#ifdef ESF_SIMULATED_ES
    return 1;
#else
    return 0;
#endif
}

int esf_capabilities(void) {
    int caps = 0;
    if (__builtin_available(macOS 12.0, *))
        caps |= ESF_CAP_PATH_EVENTS;
    if (__builtin_available(macOS 13.0, *))
        caps |= ESF_CAP_TARGET_PATHS | ESF_CAP_INVERSION;
    return caps;
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
static void v_uint(esf_client *c, unsigned long long v) {
    char t[20];
    int i = 20;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_raw(c, t + i, (size_t)(20 - i));
}

static void v_int(esf_client *c, long long v) {
    if (v < 0) {
        OUT_LIT(c, "-");
        v_uint(c, 0ULL - (unsigned long long)v);
    } else
        v_uint(c, (unsigned long long)v);
}

static void v_bool(esf_client *c, bool v) {
    if (v) OUT_LIT(c, "true");
    else OUT_LIT(c, "false");
}

static void v_null(esf_client *c) { OUT_LIT(c, "null"); }

/* Objects and arrays keep a "first member" flag per level, so keys need no comma logic. */
static void open_(esf_client *c, char ch) {
    out_raw(c, &ch, 1);
    if (c->depth + 1 < ESF_MAX_DEPTH)
        c->depth++;
    c->first[c->depth] = true;
}

static void close_(esf_client *c, char ch) {
    out_raw(c, &ch, 1);
    if (c->depth)
        c->depth--;
}

#define OBJ(c) open_((c), '{')
#define END(c) close_((c), '}')
#define ARR(c) open_((c), '[')
#define ARR_END(c) close_((c), ']')

/* `lit` is ,"key": -- its comma is skipped for the first member. */
static void key(esf_client *c, const char *lit, size_t n) {
    if (c->first[c->depth]) {
        c->first[c->depth] = false;
        out_raw(c, lit + 1, n - 1);
    } else
        out_raw(c, lit, n);
}

#define K(c, k) key((c), ",\"" k "\":", sizeof(",\"" k "\":") - 1)

static void elem(esf_client *c) {
    if (c->first[c->depth])
        c->first[c->depth] = false;
    else
        OUT_LIT(c, ",");
}

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

/* The escaped form of the byte (or UTF-8 sequence) at s: its text in `tmp` or at s. */
static size_t escaped(const unsigned char *s, size_t n, size_t *in, char tmp[6], const char **text) {
    static const char hex[] = "0123456789abcdef";
    unsigned char b = s[0];
    if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
        *in = 1, *text = (const char *)s;
        return 1;
    }
    size_t len = b >= 0x80 ? utf8_seq(s, n) : 0;
    if (len) {
        *in = len, *text = (const char *)s;
        return len;
    }
    *in = 1, *text = tmp;
    switch (b) {
    case '"': memcpy(tmp, "\\\"", 2); return 2;
    case '\\': memcpy(tmp, "\\\\", 2); return 2;
    case '\n': memcpy(tmp, "\\n", 2); return 2;
    case '\t': memcpy(tmp, "\\t", 2); return 2;
    case '\r': memcpy(tmp, "\\r", 2); return 2;
    default:
        if (b < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 15]};
            memcpy(tmp, u, 6);
        } else
            memcpy(tmp, "\\ufffd", 6); /* a byte that starts no valid UTF-8 sequence */
        return 6;
    }
}

/* A JSON string of at most `limit` bytes (quotes included): escaping can turn one
   byte into six, so user-controlled text is cut where it would exceed the budget. */
static bool out_string(esf_client *c, const char *data, size_t n, size_t limit) {
    const unsigned char *s = (const unsigned char *)data;
    OUT_LIT(c, "\"");
    bool cut = false;
    if (n <= (limit - 2) / 6) { /* cannot exceed: copy plain runs in one go */
        out_reserve(c, n + 1);
        size_t run = 0;
        for (size_t i = 0; i < n;) {
            unsigned char b = s[i];
            if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') { /* the common case, inline */
                run++, i++;
                continue;
            }
            char tmp[6];
            const char *text;
            size_t in, len = escaped(s + i, n - i, &in, tmp, &text);
            if (text != tmp) {
                run += in, i += in;
                continue;
            }
            if (run)
                out_raw(c, (const char *)s + i - run, run);
            run = 0;
            out_raw(c, tmp, len);
            i++;
        }
        if (run)
            out_raw(c, (const char *)s + n - run, run);
    } else {
        size_t room = limit - 2;
        for (size_t i = 0; i < n;) {
            char tmp[6];
            const char *text;
            size_t in, len = escaped(s + i, n - i, &in, tmp, &text);
            if (len > room) {
                cut = true;
                break;
            }
            out_raw(c, text, len);
            room -= len, i += in;
        }
    }
    OUT_LIT(c, "\"");
    return cut;
}

/* A string within the line's budget (ESF budget: see esf_client_new). */
static void v_strn(esf_client *c, const char *data, size_t n) {
    size_t limit = c->value_cap < c->budget ? c->value_cap : c->budget;
    if (limit < 2)
        limit = 2;
    size_t before = c->scratch_len;
    if (out_string(c, data ? data : "", data ? n : 0, limit))
        c->cuts++;
    size_t used = c->scratch_len - before;
    c->budget = used < c->budget ? c->budget - used : 0;
}

static void v_str(esf_client *c, es_string_token_t t) { v_strn(c, t.data, t.data ? t.length : 0); }

/* A token, or null when it is empty (an optional string ES left out). */
static void v_str_or_null(esf_client *c, es_string_token_t t) {
    if (t.data == NULL || t.length == 0)
        v_null(c);
    else
        v_str(c, t);
}

/* A fixed char array (statfs names), up to its first NUL. */
static void v_chars(esf_client *c, const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n])
        n++;
    v_strn(c, s, n);
}

static void v_hex(esf_client *c, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    char t[64];
    OUT_LIT(c, "\"");
    for (size_t i = 0; i < n; i += 32) {
        size_t k = n - i < 32 ? n - i : 32;
        for (size_t j = 0; j < k; j++) {
            t[2 * j] = hex[p[i + j] >> 4];
            t[2 * j + 1] = hex[p[i + j] & 15];
        }
        out_raw(c, t, 2 * k);
    }
    OUT_LIT(c, "\"");
}

/* RFC 3339 UTC with `digits` fractional digits, as eslogger writes times.  The
   seconds part is cached per slot: consecutive messages mostly share their second. */
static void v_time(esf_client *c, int slot, time_t sec, long frac, int digits) {
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

static void v_timespec(esf_client *c, struct timespec ts) { v_time(c, 2, ts.tv_sec, ts.tv_nsec, 9); }

static void v_token(esf_client *c, audit_token_t t) {
    OBJ(c);
    K(c, "auid"), v_uint(c, (unsigned)audit_token_to_auid(t));
    K(c, "euid"), v_uint(c, (unsigned)audit_token_to_euid(t));
    K(c, "egid"), v_uint(c, (unsigned)audit_token_to_egid(t));
    K(c, "ruid"), v_uint(c, (unsigned)audit_token_to_ruid(t));
    K(c, "rgid"), v_uint(c, (unsigned)audit_token_to_rgid(t));
    K(c, "pid"), v_int(c, audit_token_to_pid(t));
    K(c, "asid"), v_int(c, audit_token_to_asid(t));
    K(c, "pidversion"), v_int(c, audit_token_to_pidversion(t));
    END(c);
}

static void v_token_ptr(esf_client *c, const audit_token_t *t) {
    if (t == NULL)
        v_null(c);
    else
        v_token(c, *t);
}

/* Only the stat keys the tables use (native/README.md). */
static void v_file(esf_client *c, const es_file_t *f) {
    if (f == NULL) {
        v_null(c);
        return;
    }
    OBJ(c);
    K(c, "path"), v_str(c, f->path);
    K(c, "path_truncated"), v_bool(c, f->path_truncated);
    K(c, "stat"), OBJ(c);
    K(c, "st_uid"), v_uint(c, (unsigned long long)f->stat.st_uid);
    K(c, "st_gid"), v_uint(c, (unsigned long long)f->stat.st_gid);
    K(c, "st_mode"), v_uint(c, (unsigned long long)f->stat.st_mode);
    K(c, "st_size"), v_int(c, (long long)f->stat.st_size);
    K(c, "st_birthtimespec"), v_timespec(c, f->stat.st_birthtimespec);
    END(c);
    END(c);
}

static void v_process(esf_client *c, const es_process_t *p, uint32_t version) {
    if (p == NULL) {
        v_null(c);
        return;
    }
    OBJ(c);
    K(c, "audit_token"), v_token(c, p->audit_token);
    K(c, "ppid"), v_int(c, p->ppid);
    K(c, "original_ppid"), v_int(c, p->original_ppid);
    K(c, "group_id"), v_int(c, p->group_id);
    K(c, "session_id"), v_int(c, p->session_id);
    K(c, "codesigning_flags"), v_uint(c, p->codesigning_flags);
    K(c, "is_platform_binary"), v_bool(c, p->is_platform_binary);
    K(c, "is_es_client"), v_bool(c, p->is_es_client);
    K(c, "cdhash"), v_hex(c, p->cdhash, sizeof p->cdhash);
    K(c, "signing_id"), v_str(c, p->signing_id);
    K(c, "team_id"), v_str_or_null(c, p->team_id);
    K(c, "executable"), v_file(c, p->executable);
    if (version >= 2)
        K(c, "tty"), v_file(c, p->tty);
    if (version >= 3)
        K(c, "start_time"), v_time(c, 1, p->start_time.tv_sec, (long)p->start_time.tv_usec, 6);
    if (version >= 4) {
        K(c, "responsible_audit_token"), v_token(c, p->responsible_audit_token);
        K(c, "parent_audit_token"), v_token(c, p->parent_audit_token);
    }
#if SDK_AT_LEAST(260000)
    if (version >= 10)
        K(c, "cs_validation_category"), v_int(c, (int)p->cs_validation_category);
#endif
    END(c);
}

static void v_statfs(esf_client *c, const struct statfs *s) {
    if (s == NULL) {
        v_null(c);
        return;
    }
    OBJ(c);
    K(c, "f_bsize"), v_uint(c, s->f_bsize);
    K(c, "f_iosize"), v_int(c, s->f_iosize);
    K(c, "f_blocks"), v_uint(c, s->f_blocks);
    K(c, "f_bfree"), v_uint(c, s->f_bfree);
    K(c, "f_bavail"), v_uint(c, s->f_bavail);
    K(c, "f_files"), v_uint(c, s->f_files);
    K(c, "f_ffree"), v_uint(c, s->f_ffree);
    K(c, "f_fsid"), ARR(c);
    elem(c), v_int(c, s->f_fsid.val[0]);
    elem(c), v_int(c, s->f_fsid.val[1]);
    ARR_END(c);
    K(c, "f_owner"), v_uint(c, s->f_owner);
    K(c, "f_type"), v_uint(c, s->f_type);
    K(c, "f_flags"), v_uint(c, s->f_flags);
    K(c, "f_fssubtype"), v_uint(c, s->f_fssubtype);
    K(c, "f_fstypename"), v_chars(c, s->f_fstypename, sizeof s->f_fstypename);
    K(c, "f_mntonname"), v_chars(c, s->f_mntonname, sizeof s->f_mntonname);
    K(c, "f_mntfromname"), v_chars(c, s->f_mntfromname, sizeof s->f_mntfromname);
    K(c, "f_flags_ext"), v_uint(c, s->f_flags_ext);
    END(c);
}

static void v_attrlist(esf_client *c, const struct attrlist *a) {
    OBJ(c);
    K(c, "bitmapcount"), v_uint(c, a->bitmapcount);
    K(c, "reserved"), v_uint(c, a->reserved);
    K(c, "commonattr"), v_uint(c, a->commonattr);
    K(c, "volattr"), v_uint(c, a->volattr);
    K(c, "dirattr"), v_uint(c, a->dirattr);
    K(c, "fileattr"), v_uint(c, a->fileattr);
    K(c, "forkattr"), v_uint(c, a->forkattr);
    END(c);
}

/* An ACL as acl_to_text(3) writes it.  ES's acl_t must not be handed to <sys/acl.h>
   directly; Apple's note says to copy it out and back in first. */
static void v_acl(esf_client *c, acl_t acl) {
    char *text = NULL;
    if (acl != NULL) {
        ssize_t size = acl_size(acl);
        void *buf = size > 0 ? malloc((size_t)size) : NULL;
        if (buf != NULL && acl_copy_ext(buf, acl, size) > 0) {
            acl_t copy = acl_copy_int(buf);
            if (copy != NULL) {
                text = acl_to_text(copy, NULL);
                acl_free(copy);
            }
        }
        free(buf);
    }
    if (text == NULL)
        v_null(c);
    else
        v_strn(c, text, strlen(text)), acl_free(text);
}

/* A (uid or gid) union behind a has_ flag: null when ES has none. */
#define V_OPT_ID(c, has, value) ((has) ? v_uint((c), (unsigned)(value)) : v_null(c))

/* -- event bodies ---------------------------------------------------------------------- */

static void body_exec(esf_client *c, const es_event_exec_t *e, uint32_t v) {
    OBJ(c);
    K(c, "target"), v_process(c, e->target, v);
    uint64_t cuts = c->cuts;
    K(c, "args"), ARR(c);
    for (uint32_t i = 0, n = es_exec_arg_count(e); i < n; i++)
        elem(c), v_str(c, es_exec_arg(e, i));
    ARR_END(c);
    bool args_cut = c->cuts != cuts;
    cuts = c->cuts;
    K(c, "env"), ARR(c);
    for (uint32_t i = 0, n = es_exec_env_count(e); i < n; i++)
        elem(c), v_str(c, es_exec_env(e, i));
    ARR_END(c);
    bool env_cut = c->cuts != cuts;
    if (v >= 2)
        K(c, "script"), v_file(c, e->script);
    if (v >= 3)
        K(c, "cwd"), v_file(c, e->cwd);
    if (v >= 4) {
        K(c, "last_fd"), v_int(c, e->last_fd);
        K(c, "fds"), ARR(c);
        for (uint32_t i = 0, n = es_exec_fd_count(e); i < n; i++) {
            const es_fd_t *fd = es_exec_fd(e, i);
            elem(c), OBJ(c);
            K(c, "fd"), v_int(c, fd->fd);
            K(c, "fdtype"), v_uint(c, fd->fdtype);
            if (fd->fdtype == PROX_FDTYPE_PIPE)
                K(c, "pipe"), OBJ(c), K(c, "pipe_id"), v_uint(c, fd->pipe.pipe_id), END(c);
            END(c);
        }
        ARR_END(c);
    }
    if (v >= 6) {
        K(c, "image_cputype"), v_int(c, e->image_cputype);
        K(c, "image_cpusubtype"), v_int(c, e->image_cpusubtype);
    }
    if (v >= 7) /* declared since the macOS 13.3 SDK; filled from message v7 (macOS 14) */
        K(c, "dyld_exec_path"), v_str(c, e->dyld_exec_path);
    /* Not eslogger's: present only when a value was cut to fit the line. */
    if (args_cut)
        K(c, "args_truncated"), v_bool(c, true);
    if (env_cut)
        K(c, "env_truncated"), v_bool(c, true);
    END(c);
}

/* create and rename: {"existing_file": file} or {"new_path": {dir, filename[, mode]}}. */
#define V_DESTINATION(c, d, with_mode)                                                   \
    do {                                                                                 \
        K(c, "destination_type"), v_int(c, (int)(d).destination_type);                   \
        K(c, "destination"), OBJ(c);                                                     \
        if ((d).destination_type == ES_DESTINATION_TYPE_EXISTING_FILE)                   \
            K(c, "existing_file"), v_file(c, (d).destination.existing_file);             \
        else {                                                                           \
            K(c, "new_path"), OBJ(c);                                                    \
            K(c, "dir"), v_file(c, (d).destination.new_path.dir);                        \
            K(c, "filename"), v_str(c, (d).destination.new_path.filename);               \
            with_mode;                                                                   \
            END(c);                                                                      \
        }                                                                                \
        END(c);                                                                          \
    } while (0)

static void body_authentication(esf_client *c, const es_event_authentication_t *a, uint32_t v) {
    (void)v;
    OBJ(c);
    K(c, "success"), v_bool(c, a->success);
    K(c, "type"), v_int(c, (int)a->type);
    K(c, "data"), OBJ(c);
    switch (a->type) {
    case ES_AUTHENTICATION_TYPE_OD: {
        const es_event_authentication_od_t *d = a->data.od;
        K(c, "od"), OBJ(c);
        K(c, "instigator"), v_process(c, d->instigator, v);
        K(c, "record_type"), v_str(c, d->record_type);
        K(c, "record_name"), v_str(c, d->record_name);
        K(c, "node_name"), v_str(c, d->node_name);
        K(c, "db_path"), v_str_or_null(c, d->db_path);
#if SDK_AT_LEAST(150000)
        if (v >= 8)
            K(c, "instigator_token"), v_token(c, d->instigator_token);
#endif
        END(c);
        break;
    }
    case ES_AUTHENTICATION_TYPE_TOUCHID: {
        const es_event_authentication_touchid_t *d = a->data.touchid;
        K(c, "touchid"), OBJ(c);
        K(c, "instigator"), v_process(c, d->instigator, v);
        K(c, "touchid_mode"), v_int(c, (int)d->touchid_mode);
        K(c, "uid"), V_OPT_ID(c, d->has_uid, d->uid.uid);
#if SDK_AT_LEAST(150000)
        if (v >= 8)
            K(c, "instigator_token"), v_token(c, d->instigator_token);
#endif
        END(c);
        break;
    }
    case ES_AUTHENTICATION_TYPE_TOKEN: {
        const es_event_authentication_token_t *d = a->data.token;
        K(c, "token"), OBJ(c);
        K(c, "instigator"), v_process(c, d->instigator, v);
        K(c, "pubkey_hash"), v_str(c, d->pubkey_hash);
        K(c, "token_id"), v_str(c, d->token_id);
        K(c, "kerberos_principal"), v_str_or_null(c, d->kerberos_principal);
#if SDK_AT_LEAST(150000)
        if (v >= 8)
            K(c, "instigator_token"), v_token(c, d->instigator_token);
#endif
        END(c);
        break;
    }
    case ES_AUTHENTICATION_TYPE_AUTO_UNLOCK: {
        const es_event_authentication_auto_unlock_t *d = a->data.auto_unlock;
        K(c, "auto_unlock"), OBJ(c);
        K(c, "username"), v_str(c, d->username);
        K(c, "type"), v_int(c, (int)d->type);
        END(c);
        break;
    }
    default: /* a newer kind: its data layout is unknown here */
        break;
    }
    END(c);
    END(c);
}

static void body_btm_item(esf_client *c, const es_btm_launch_item_t *i) {
    OBJ(c);
    K(c, "item_type"), v_int(c, (int)i->item_type);
    K(c, "legacy"), v_bool(c, i->legacy);
    K(c, "managed"), v_bool(c, i->managed);
    K(c, "uid"), v_uint(c, i->uid);
    K(c, "item_url"), v_str(c, i->item_url);
    K(c, "app_url"), v_str_or_null(c, i->app_url);
    END(c);
}

#if SDK_AT_LEAST(140000)
/* A UUID as NSUUID writes it: upper case, 8-4-4-4-12. */
static void v_uuid(esf_client *c, const unsigned char *u) {
    static const char hex[] = "0123456789ABCDEF";
    char t[36];
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            t[k++] = '-';
        t[k++] = hex[u[i] >> 4];
        t[k++] = hex[u[i] & 15];
    }
    OUT_LIT(c, "\"");
    out_raw(c, t, k);
    OUT_LIT(c, "\"");
}

static void v_tokens(esf_client *c, const es_string_token_t *list, size_t n) {
    ARR(c);
    for (size_t i = 0; list != NULL && i < n; i++)
        elem(c), v_str(c, list[i]);
    ARR_END(c);
}

static void body_profile(esf_client *c, const es_profile_t *p) {
    OBJ(c);
    K(c, "identifier"), v_str(c, p->identifier);
    K(c, "uuid"), v_str(c, p->uuid);
    K(c, "install_source"), v_int(c, (int)p->install_source);
    K(c, "organization"), v_str(c, p->organization);
    K(c, "display_name"), v_str(c, p->display_name);
    K(c, "scope"), v_str(c, p->scope);
    END(c);
}

/* The instigator (process or null) and, from message v8, its token: od_*, profile_*. */
#if SDK_AT_LEAST(150000)
#define V_INSTIGATOR(c, e, v)                                                            \
    (K(c, "instigator"), v_process(c, (e)->instigator, v),                               \
     (v) >= 8 ? (K(c, "instigator_token"), v_token(c, (e)->instigator_token)) : (void)0)
#else
#define V_INSTIGATOR(c, e, v) (K(c, "instigator"), v_process(c, (e)->instigator, v))
#endif

static void v_od_member_value(esf_client *c, es_od_member_type_t type, const void *value) {
    if (type == ES_OD_MEMBER_TYPE_USER_NAME)
        v_str(c, *(const es_string_token_t *)value);
    else
        v_uuid(c, (const unsigned char *)value);
}

/* od_* events share instigator, error_code, node_name, db_path and the token. */
#define OD_HEAD(c, e, v) (V_INSTIGATOR(c, e, v), K(c, "error_code"), v_int(c, (e)->error_code))
#define OD_TAIL(c, e) (K(c, "node_name"), v_str(c, (e)->node_name), K(c, "db_path"), v_str_or_null(c, (e)->db_path))

/* The od_* structs are distinct types with the same members: one macro body each. */
#define BODY_OD_NAMED(c, e, v, name_key, name)                                           \
    do {                                                                                 \
        OBJ(c);                                                                          \
        OD_HEAD(c, e, v);                                                                \
        K(c, name_key), v_str(c, (e)->name);                                             \
        OD_TAIL(c, e);                                                                   \
        END(c);                                                                          \
    } while (0)

#define BODY_OD_MEMBER(c, e, v)                                                          \
    do {                                                                                 \
        OBJ(c);                                                                          \
        OD_HEAD(c, e, v);                                                                \
        K(c, "group_name"), v_str(c, (e)->group_name);                                   \
        K(c, "member"), OBJ(c);                                                          \
        K(c, "member_type"), v_int(c, (int)(e)->member->member_type);                    \
        K(c, "member_value");                                                            \
        v_od_member_value(c, (e)->member->member_type, &(e)->member->member_value);      \
        END(c);                                                                          \
        OD_TAIL(c, e);                                                                   \
        END(c);                                                                          \
    } while (0)

#define BODY_OD_ATTRIBUTE_VALUE(c, e, v)                                                 \
    do {                                                                                 \
        OBJ(c);                                                                          \
        OD_HEAD(c, e, v);                                                                \
        K(c, "record_type"), v_int(c, (int)(e)->record_type);                            \
        K(c, "record_name"), v_str(c, (e)->record_name);                                 \
        K(c, "attribute_name"), v_str(c, (e)->attribute_name);                           \
        K(c, "attribute_value"), v_str(c, (e)->attribute_value);                         \
        OD_TAIL(c, e);                                                                   \
        END(c);                                                                          \
    } while (0)

static void body_authorization_tokens(esf_client *c, const audit_token_t *instigator, const audit_token_t *petitioner,
                                      uint32_t v) {
#if SDK_AT_LEAST(150000)
    if (v >= 8) {
        K(c, "instigator_token"), v_token(c, *instigator);
        K(c, "petitioner_token"), v_token(c, *petitioner);
    }
#else
    (void)c, (void)instigator, (void)petitioner, (void)v;
#endif
}
#endif /* SDK 14 */

/* One body per event type; false when this build cannot format the type. */
static bool out_event(esf_client *c, const es_message_t *m) {
    const es_events_t *ev = &m->event;
    uint32_t v = m->version;
    switch (m->event_type) {
    case ES_EVENT_TYPE_NOTIFY_EXEC:
        body_exec(c, &ev->exec, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OPEN:
        OBJ(c), K(c, "fflag"), v_int(c, ev->open.fflag), K(c, "file"), v_file(c, ev->open.file), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_FORK:
        OBJ(c), K(c, "child"), v_process(c, ev->fork.child, v), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_CLOSE:
        OBJ(c);
        K(c, "modified"), v_bool(c, ev->close.modified);
        K(c, "target"), v_file(c, ev->close.target);
        if (v >= 6)
            K(c, "was_mapped_writable"), v_bool(c, ev->close.was_mapped_writable);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_CREATE:
        OBJ(c);
        V_DESTINATION(c, ev->create, (K(c, "mode"), v_uint(c, ev->create.destination.new_path.mode)));
        if (v >= 2)
            K(c, "acl"), v_acl(c, ev->create.acl);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_RENAME:
        OBJ(c);
        K(c, "source"), v_file(c, ev->rename.source);
        V_DESTINATION(c, ev->rename, (void)0);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_EXCHANGEDATA:
        OBJ(c), K(c, "file1"), v_file(c, ev->exchangedata.file1), K(c, "file2"), v_file(c, ev->exchangedata.file2),
            END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_EXIT:
        OBJ(c), K(c, "stat"), v_int(c, ev->exit.stat), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_GET_TASK:
    case ES_EVENT_TYPE_NOTIFY_GET_TASK_READ:
    case ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT:
    case ES_EVENT_TYPE_NOTIFY_GET_TASK_NAME: {
        /* The four structs are the same layout; read through the one of the type. */
        const es_process_t *target = m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK ? ev->get_task.target
                                   : m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK_READ ? ev->get_task_read.target
                                   : m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT ? ev->get_task_inspect.target
                                   : ev->get_task_name.target;
        int type = m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK ? (int)ev->get_task.type
                 : m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK_READ ? (int)ev->get_task_read.type
                 : m->event_type == ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT ? (int)ev->get_task_inspect.type
                 : (int)ev->get_task_name.type;
        OBJ(c);
        K(c, "target"), v_process(c, target, v);
        if (v >= 5)
            K(c, "type"), v_int(c, type);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_KEXTLOAD:
        OBJ(c), K(c, "identifier"), v_str(c, ev->kextload.identifier), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD:
        OBJ(c), K(c, "identifier"), v_str(c, ev->kextunload.identifier), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LINK:
        OBJ(c);
        K(c, "source"), v_file(c, ev->link.source);
        K(c, "target_dir"), v_file(c, ev->link.target_dir);
        K(c, "target_filename"), v_str(c, ev->link.target_filename);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_MMAP:
        OBJ(c);
        K(c, "protection"), v_int(c, ev->mmap.protection);
        K(c, "max_protection"), v_int(c, ev->mmap.max_protection);
        K(c, "flags"), v_int(c, ev->mmap.flags);
        K(c, "file_pos"), v_uint(c, ev->mmap.file_pos);
        K(c, "source"), v_file(c, ev->mmap.source);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_MPROTECT:
        OBJ(c);
        K(c, "protection"), v_int(c, ev->mprotect.protection);
        K(c, "address"), v_uint(c, ev->mprotect.address);
        K(c, "size"), v_uint(c, ev->mprotect.size);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_MOUNT:
        OBJ(c);
        K(c, "statfs"), v_statfs(c, ev->mount.statfs);
#if SDK_AT_LEAST(150000)
        if (v >= 8)
            K(c, "disposition"), v_int(c, (int)ev->mount.disposition);
#endif
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_UNMOUNT:
        OBJ(c), K(c, "statfs"), v_statfs(c, ev->unmount.statfs), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_REMOUNT:
        OBJ(c);
        K(c, "statfs"), v_statfs(c, ev->remount.statfs);
#if SDK_AT_LEAST(150000)
        if (v >= 8) {
            K(c, "remount_flags"), v_uint(c, ev->remount.remount_flags);
            K(c, "disposition"), v_int(c, (int)ev->remount.disposition);
        }
#endif
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN:
        OBJ(c);
        K(c, "user_client_type"), v_uint(c, ev->iokit_open.user_client_type);
        K(c, "user_client_class"), v_str(c, ev->iokit_open.user_client_class);
#if SDK_AT_LEAST(260000)
        if (v >= 10) {
            K(c, "parent_registry_id"), v_uint(c, ev->iokit_open.parent_registry_id);
            K(c, "parent_path"), v_str(c, ev->iokit_open.parent_path);
        }
#endif
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETATTRLIST:
        OBJ(c), K(c, "attrlist"), v_attrlist(c, &ev->setattrlist.attrlist), K(c, "target"),
            v_file(c, ev->setattrlist.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_GETATTRLIST:
        OBJ(c), K(c, "attrlist"), v_attrlist(c, &ev->getattrlist.attrlist), K(c, "target"),
            v_file(c, ev->getattrlist.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SEARCHFS:
        OBJ(c), K(c, "attrlist"), v_attrlist(c, &ev->searchfs.attrlist), K(c, "target"),
            v_file(c, ev->searchfs.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETEXTATTR:
        OBJ(c), K(c, "target"), v_file(c, ev->setextattr.target), K(c, "extattr"), v_str(c, ev->setextattr.extattr),
            END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_GETEXTATTR:
        OBJ(c), K(c, "target"), v_file(c, ev->getextattr.target), K(c, "extattr"), v_str(c, ev->getextattr.extattr),
            END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR:
        OBJ(c), K(c, "target"), v_file(c, ev->deleteextattr.target), K(c, "extattr"),
            v_str(c, ev->deleteextattr.extattr), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETFLAGS:
        OBJ(c), K(c, "flags"), v_uint(c, ev->setflags.flags), K(c, "target"), v_file(c, ev->setflags.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETMODE:
        OBJ(c), K(c, "mode"), v_uint(c, ev->setmode.mode), K(c, "target"), v_file(c, ev->setmode.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETOWNER:
        OBJ(c), K(c, "uid"), v_uint(c, ev->setowner.uid), K(c, "gid"), v_uint(c, ev->setowner.gid), K(c, "target"),
            v_file(c, ev->setowner.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SIGNAL:
        OBJ(c);
        K(c, "sig"), v_int(c, ev->signal.sig);
        K(c, "target"), v_process(c, ev->signal.target, v);
#if SDK_AT_LEAST(150400)
        if (v >= 9)
            K(c, "instigator"), v_process(c, ev->signal.instigator, v);
#endif
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_UNLINK:
        OBJ(c), K(c, "target"), v_file(c, ev->unlink.target), K(c, "parent_dir"), v_file(c, ev->unlink.parent_dir),
            END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_WRITE:
        OBJ(c), K(c, "target"), v_file(c, ev->write.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_MATERIALIZE:
        OBJ(c);
        K(c, "instigator"), v_process(c, ev->file_provider_materialize.instigator, v);
        K(c, "source"), v_file(c, ev->file_provider_materialize.source);
        K(c, "target"), v_file(c, ev->file_provider_materialize.target);
#if SDK_AT_LEAST(150000)
        if (v >= 8)
            K(c, "instigator_token"), v_token(c, ev->file_provider_materialize.instigator_token);
#endif
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_UPDATE:
        OBJ(c), K(c, "source"), v_file(c, ev->file_provider_update.source), K(c, "target_path"),
            v_str(c, ev->file_provider_update.target_path), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_READLINK:
        OBJ(c), K(c, "source"), v_file(c, ev->readlink.source), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_TRUNCATE:
        OBJ(c), K(c, "target"), v_file(c, ev->truncate.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LOOKUP:
        OBJ(c), K(c, "source_dir"), v_file(c, ev->lookup.source_dir), K(c, "relative_target"),
            v_str(c, ev->lookup.relative_target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_CHDIR:
        OBJ(c), K(c, "target"), v_file(c, ev->chdir.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_STAT:
        OBJ(c), K(c, "target"), v_file(c, ev->stat.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_ACCESS:
        OBJ(c), K(c, "mode"), v_int(c, ev->access.mode), K(c, "target"), v_file(c, ev->access.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_CHROOT:
        OBJ(c), K(c, "target"), v_file(c, ev->chroot.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_UTIMES:
        OBJ(c);
        K(c, "target"), v_file(c, ev->utimes.target);
        K(c, "atime"), v_timespec(c, ev->utimes.atime);
        K(c, "mtime"), v_timespec(c, ev->utimes.mtime);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_CLONE:
        OBJ(c);
        K(c, "source"), v_file(c, ev->clone.source);
        K(c, "target_dir"), v_file(c, ev->clone.target_dir);
        K(c, "target_name"), v_str(c, ev->clone.target_name);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_COPYFILE:
        OBJ(c);
        K(c, "source"), v_file(c, ev->copyfile.source);
        K(c, "target_file"), v_file(c, ev->copyfile.target_file);
        K(c, "target_dir"), v_file(c, ev->copyfile.target_dir);
        K(c, "target_name"), v_str(c, ev->copyfile.target_name);
        K(c, "mode"), v_uint(c, ev->copyfile.mode);
        K(c, "flags"), v_int(c, ev->copyfile.flags);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_FCNTL:
        OBJ(c), K(c, "target"), v_file(c, ev->fcntl.target), K(c, "cmd"), v_int(c, ev->fcntl.cmd), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LISTEXTATTR:
        OBJ(c), K(c, "target"), v_file(c, ev->listextattr.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_READDIR:
        OBJ(c), K(c, "target"), v_file(c, ev->readdir.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_FSGETPATH:
        OBJ(c), K(c, "target"), v_file(c, ev->fsgetpath.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_DUP:
        OBJ(c), K(c, "target"), v_file(c, ev->dup.target), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETTIME:
    case ES_EVENT_TYPE_NOTIFY_CS_INVALIDATED: /* both carry no fields */
        OBJ(c), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_UIPC_BIND:
        OBJ(c);
        K(c, "dir"), v_file(c, ev->uipc_bind.dir);
        K(c, "filename"), v_str(c, ev->uipc_bind.filename);
        K(c, "mode"), v_uint(c, ev->uipc_bind.mode);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT:
        OBJ(c);
        K(c, "file"), v_file(c, ev->uipc_connect.file);
        K(c, "domain"), v_int(c, ev->uipc_connect.domain);
        K(c, "type"), v_int(c, ev->uipc_connect.type);
        K(c, "protocol"), v_int(c, ev->uipc_connect.protocol);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETACL:
        OBJ(c);
        K(c, "target"), v_file(c, ev->setacl.target);
        K(c, "set_or_clear"), v_int(c, (int)ev->setacl.set_or_clear);
        /* The one-arm union is written like create's acl: its text, or null when cleared
         * (osq_esf/data/eslogger-keys-derived.json states the assumption). */
        K(c, "acl");
        if (ev->setacl.set_or_clear == ES_SET)
            v_acl(c, ev->setacl.acl.set);
        else
            v_null(c);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_PTY_GRANT:
        OBJ(c), K(c, "dev"), v_int(c, ev->pty_grant.dev), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_PTY_CLOSE:
        OBJ(c), K(c, "dev"), v_int(c, ev->pty_close.dev), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_PROC_CHECK:
        OBJ(c);
        K(c, "target"), v_process(c, ev->proc_check.target, v);
        K(c, "type"), v_int(c, (int)ev->proc_check.type);
        K(c, "flavor"), v_int(c, ev->proc_check.flavor);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_PROC_SUSPEND_RESUME:
        OBJ(c);
        K(c, "target"), v_process(c, ev->proc_suspend_resume.target, v);
        K(c, "type"), v_int(c, (int)ev->proc_suspend_resume.type);
        END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_TRACE:
        OBJ(c), K(c, "target"), v_process(c, ev->trace.target, v), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE: {
        const es_thread_state_t *ts = ev->remote_thread_create.thread_state;
        OBJ(c);
        K(c, "target"), v_process(c, ev->remote_thread_create.target, v);
        K(c, "thread_state");
        if (ts == NULL)
            v_null(c);
        else /* eslogger leaves the machine state itself out as null */
            OBJ(c), K(c, "flavor"), v_int(c, ts->flavor), K(c, "state"), v_null(c), END(c);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_SETUID:
        OBJ(c), K(c, "uid"), v_uint(c, ev->setuid.uid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETGID:
        OBJ(c), K(c, "gid"), v_uint(c, ev->setgid.gid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETEUID:
        OBJ(c), K(c, "euid"), v_uint(c, ev->seteuid.euid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETEGID:
        OBJ(c), K(c, "egid"), v_uint(c, ev->setegid.egid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETREUID:
        OBJ(c), K(c, "ruid"), v_uint(c, ev->setreuid.ruid), K(c, "euid"), v_uint(c, ev->setreuid.euid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SETREGID:
        OBJ(c), K(c, "rgid"), v_uint(c, ev->setregid.rgid), K(c, "egid"), v_uint(c, ev->setregid.egid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_AUTHENTICATION:
        body_authentication(c, ev->authentication, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_XP_MALWARE_DETECTED: {
        const es_event_xp_malware_detected_t *e = ev->xp_malware_detected;
        OBJ(c);
        K(c, "signature_version"), v_str(c, e->signature_version);
        K(c, "malware_identifier"), v_str(c, e->malware_identifier);
        K(c, "incident_identifier"), v_str(c, e->incident_identifier);
        K(c, "detected_path"), v_str(c, e->detected_path);
#if SDK_AT_LEAST(260000)
        if (v >= 10)
            K(c, "detected_executable"), v_str(c, e->detected_executable);
#endif
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_XP_MALWARE_REMEDIATED: {
        const es_event_xp_malware_remediated_t *e = ev->xp_malware_remediated;
        OBJ(c);
        K(c, "signature_version"), v_str(c, e->signature_version);
        K(c, "malware_identifier"), v_str(c, e->malware_identifier);
        K(c, "incident_identifier"), v_str(c, e->incident_identifier);
        K(c, "action_type"), v_str(c, e->action_type);
        K(c, "success"), v_bool(c, e->success);
        K(c, "result_description"), v_str(c, e->result_description);
        K(c, "remediated_path"), v_str_or_null(c, e->remediated_path);
        K(c, "remediated_process_audit_token"), v_token_ptr(c, e->remediated_process_audit_token);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGIN:
        OBJ(c), K(c, "username"), v_str(c, ev->lw_session_login->username), K(c, "graphical_session_id"),
            v_uint(c, ev->lw_session_login->graphical_session_id), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGOUT:
        OBJ(c), K(c, "username"), v_str(c, ev->lw_session_logout->username), K(c, "graphical_session_id"),
            v_uint(c, ev->lw_session_logout->graphical_session_id), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOCK:
        OBJ(c), K(c, "username"), v_str(c, ev->lw_session_lock->username), K(c, "graphical_session_id"),
            v_uint(c, ev->lw_session_lock->graphical_session_id), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_LW_SESSION_UNLOCK:
        OBJ(c), K(c, "username"), v_str(c, ev->lw_session_unlock->username), K(c, "graphical_session_id"),
            v_uint(c, ev->lw_session_unlock->graphical_session_id), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_SCREENSHARING_ATTACH: {
        const es_event_screensharing_attach_t *e = ev->screensharing_attach;
        OBJ(c);
        K(c, "success"), v_bool(c, e->success);
        K(c, "source_address_type"), v_int(c, (int)e->source_address_type);
        K(c, "source_address"), v_str_or_null(c, e->source_address);
        K(c, "viewer_appleid"), v_str_or_null(c, e->viewer_appleid);
        K(c, "authentication_type"), v_str(c, e->authentication_type);
        K(c, "authentication_username"), v_str_or_null(c, e->authentication_username);
        K(c, "session_username"), v_str_or_null(c, e->session_username);
        K(c, "existing_session"), v_bool(c, e->existing_session);
        K(c, "graphical_session_id"), v_uint(c, e->graphical_session_id);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_SCREENSHARING_DETACH: {
        const es_event_screensharing_detach_t *e = ev->screensharing_detach;
        OBJ(c);
        K(c, "source_address_type"), v_int(c, (int)e->source_address_type);
        K(c, "source_address"), v_str_or_null(c, e->source_address);
        K(c, "viewer_appleid"), v_str_or_null(c, e->viewer_appleid);
        K(c, "graphical_session_id"), v_uint(c, e->graphical_session_id);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGIN: {
        const es_event_openssh_login_t *e = ev->openssh_login;
        OBJ(c);
        K(c, "success"), v_bool(c, e->success);
        K(c, "result_type"), v_int(c, (int)e->result_type);
        K(c, "source_address_type"), v_int(c, (int)e->source_address_type);
        K(c, "source_address"), v_str(c, e->source_address);
        K(c, "username"), v_str(c, e->username);
        K(c, "uid"), V_OPT_ID(c, e->has_uid, e->uid.uid);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGOUT: {
        const es_event_openssh_logout_t *e = ev->openssh_logout;
        OBJ(c);
        K(c, "source_address_type"), v_int(c, (int)e->source_address_type);
        K(c, "source_address"), v_str(c, e->source_address);
        K(c, "username"), v_str(c, e->username);
        K(c, "uid"), v_uint(c, e->uid);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_LOGIN_LOGIN: {
        const es_event_login_login_t *e = ev->login_login;
        OBJ(c);
        K(c, "success"), v_bool(c, e->success);
        K(c, "failure_message"), v_str_or_null(c, e->failure_message);
        K(c, "username"), v_str(c, e->username);
        K(c, "uid"), V_OPT_ID(c, e->has_uid, e->uid.uid);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_LOGIN_LOGOUT:
        OBJ(c), K(c, "username"), v_str(c, ev->login_logout->username), K(c, "uid"),
            v_uint(c, ev->login_logout->uid), END(c);
        break;
    case ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_ADD: {
        const es_event_btm_launch_item_add_t *e = ev->btm_launch_item_add;
        OBJ(c);
        K(c, "instigator"), v_process(c, e->instigator, v);
        K(c, "app"), v_process(c, e->app, v);
        K(c, "item"), body_btm_item(c, e->item);
        K(c, "executable_path"), v_str_or_null(c, e->executable_path);
#if SDK_AT_LEAST(150000)
        if (v >= 8) {
            K(c, "instigator_token"), v_token_ptr(c, e->instigator_token);
            K(c, "app_token"), v_token_ptr(c, e->app_token);
        }
#endif
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_REMOVE: {
        const es_event_btm_launch_item_remove_t *e = ev->btm_launch_item_remove;
        OBJ(c);
        K(c, "instigator"), v_process(c, e->instigator, v);
        K(c, "app"), v_process(c, e->app, v);
        K(c, "item"), body_btm_item(c, e->item);
#if SDK_AT_LEAST(150000)
        if (v >= 8) {
            K(c, "instigator_token"), v_token_ptr(c, e->instigator_token);
            K(c, "app_token"), v_token_ptr(c, e->app_token);
        }
#endif
        END(c);
        break;
    }
#if SDK_AT_LEAST(140000)
    case ES_EVENT_TYPE_NOTIFY_PROFILE_ADD: {
        const es_event_profile_add_t *e = ev->profile_add;
        OBJ(c);
        V_INSTIGATOR(c, e, v);
        K(c, "is_update"), v_bool(c, e->is_update);
        K(c, "profile"), body_profile(c, e->profile);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_PROFILE_REMOVE: {
        const es_event_profile_remove_t *e = ev->profile_remove;
        OBJ(c);
        V_INSTIGATOR(c, e, v);
        K(c, "profile"), body_profile(c, e->profile);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_SU: {
        const es_event_su_t *e = ev->su;
        OBJ(c);
        K(c, "success"), v_bool(c, e->success);
        K(c, "failure_message"), v_str_or_null(c, e->failure_message);
        K(c, "from_uid"), v_uint(c, e->from_uid);
        K(c, "from_username"), v_str(c, e->from_username);
        K(c, "to_uid"), V_OPT_ID(c, e->has_to_uid, e->to_uid.uid);
        K(c, "to_username"), v_str_or_null(c, e->to_username);
        K(c, "shell"), v_str_or_null(c, e->shell);
        K(c, "argc"), v_uint(c, e->argc);
        K(c, "argv"), v_tokens(c, e->argv, e->argc);
        K(c, "env_count"), v_uint(c, e->env_count);
        K(c, "env"), v_tokens(c, e->env, e->env_count);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_SUDO: {
        const es_event_sudo_t *e = ev->sudo;
        OBJ(c);
        K(c, "success"), v_bool(c, e->success);
        K(c, "reject_info");
        if (e->reject_info == NULL)
            v_null(c);
        else {
            OBJ(c);
            K(c, "plugin_name"), v_str(c, e->reject_info->plugin_name);
            K(c, "plugin_type"), v_int(c, (int)e->reject_info->plugin_type);
            K(c, "failure_message"), v_str(c, e->reject_info->failure_message);
            END(c);
        }
        K(c, "from_uid"), V_OPT_ID(c, e->has_from_uid, e->from_uid.uid);
        K(c, "from_username"), v_str_or_null(c, e->from_username);
        K(c, "to_uid"), V_OPT_ID(c, e->has_to_uid, e->to_uid.uid);
        K(c, "to_username"), v_str_or_null(c, e->to_username);
        K(c, "command"), v_str_or_null(c, e->command);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_PETITION: {
        const es_event_authorization_petition_t *e = ev->authorization_petition;
        OBJ(c);
        K(c, "instigator"), v_process(c, e->instigator, v);
        K(c, "petitioner"), v_process(c, e->petitioner, v);
        K(c, "flags"), v_uint(c, e->flags);
        K(c, "right_count"), v_uint(c, e->right_count);
        K(c, "rights"), v_tokens(c, e->rights, e->right_count);
        body_authorization_tokens(c, &e->instigator_token, &e->petitioner_token, v);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_JUDGEMENT: {
        const es_event_authorization_judgement_t *e = ev->authorization_judgement;
        OBJ(c);
        K(c, "instigator"), v_process(c, e->instigator, v);
        K(c, "petitioner"), v_process(c, e->petitioner, v);
        K(c, "return_code"), v_int(c, e->return_code);
        K(c, "result_count"), v_uint(c, e->result_count);
        K(c, "results"), ARR(c);
        for (size_t i = 0; e->results != NULL && i < e->result_count; i++) {
            elem(c), OBJ(c);
            K(c, "right_name"), v_str(c, e->results[i].right_name);
            K(c, "rule_class"), v_int(c, (int)e->results[i].rule_class);
            K(c, "granted"), v_bool(c, e->results[i].granted);
            END(c);
        }
        ARR_END(c);
        body_authorization_tokens(c, &e->instigator_token, &e->petitioner_token, v);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_OD_GROUP_ADD:
        BODY_OD_MEMBER(c, ev->od_group_add, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_GROUP_REMOVE:
        BODY_OD_MEMBER(c, ev->od_group_remove, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_GROUP_SET: {
        const es_event_od_group_set_t *e = ev->od_group_set;
        const es_od_member_id_array_t *ms = e->members;
        OBJ(c);
        OD_HEAD(c, e, v);
        K(c, "group_name"), v_str(c, e->group_name);
        K(c, "members"), OBJ(c);
        K(c, "member_type"), v_int(c, (int)ms->member_type);
        K(c, "member_count"), v_uint(c, ms->member_count);
        K(c, "member_array"), ARR(c);
        for (size_t i = 0; i < ms->member_count; i++) {
            elem(c);
            if (ms->member_type == ES_OD_MEMBER_TYPE_USER_NAME)
                v_str(c, ms->member_array.names[i]);
            else
                v_uuid(c, ms->member_array.uuids[i]);
        }
        ARR_END(c);
        END(c);
        OD_TAIL(c, e);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_OD_MODIFY_PASSWORD: {
        const es_event_od_modify_password_t *e = ev->od_modify_password;
        OBJ(c);
        OD_HEAD(c, e, v);
        K(c, "account_type"), v_int(c, (int)e->account_type);
        K(c, "account_name"), v_str(c, e->account_name);
        OD_TAIL(c, e);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_OD_DISABLE_USER:
        BODY_OD_NAMED(c, ev->od_disable_user, v, "user_name", user_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_ENABLE_USER:
        BODY_OD_NAMED(c, ev->od_enable_user, v, "user_name", user_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_CREATE_USER:
        BODY_OD_NAMED(c, ev->od_create_user, v, "user_name", user_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_DELETE_USER:
        BODY_OD_NAMED(c, ev->od_delete_user, v, "user_name", user_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_CREATE_GROUP:
        BODY_OD_NAMED(c, ev->od_create_group, v, "group_name", group_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_DELETE_GROUP:
        BODY_OD_NAMED(c, ev->od_delete_group, v, "group_name", group_name);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_ADD:
        BODY_OD_ATTRIBUTE_VALUE(c, ev->od_attribute_value_add, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE:
        BODY_OD_ATTRIBUTE_VALUE(c, ev->od_attribute_value_remove, v);
        break;
    case ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_SET: {
        const es_event_od_attribute_set_t *e = ev->od_attribute_set;
        OBJ(c);
        OD_HEAD(c, e, v);
        K(c, "record_type"), v_int(c, (int)e->record_type);
        K(c, "record_name"), v_str(c, e->record_name);
        K(c, "attribute_name"), v_str(c, e->attribute_name);
        K(c, "attribute_value_count"), v_uint(c, e->attribute_value_count);
        K(c, "attribute_values"), v_tokens(c, e->attribute_values, e->attribute_value_count);
        OD_TAIL(c, e);
        END(c);
        break;
    }
    case ES_EVENT_TYPE_NOTIFY_XPC_CONNECT:
        OBJ(c), K(c, "service_name"), v_str(c, ev->xpc_connect->service_name), K(c, "service_domain_type"),
            v_int(c, (int)ev->xpc_connect->service_domain_type), END(c);
        break;
#endif /* SDK 14 */
#if SDK_AT_LEAST(150000)
    case ES_EVENT_TYPE_NOTIFY_GATEKEEPER_USER_OVERRIDE: {
        const es_event_gatekeeper_user_override_t *e = ev->gatekeeper_user_override;
        OBJ(c);
        K(c, "file_type"), v_int(c, (int)e->file_type);
        K(c, "file");
        if (e->file_type == ES_GATEKEEPER_USER_OVERRIDE_FILE_TYPE_PATH)
            v_str(c, e->file.file_path);
        else
            v_file(c, e->file.file);
        K(c, "sha256");
        if (e->sha256 == NULL)
            v_null(c);
        else
            v_hex(c, *e->sha256, sizeof *e->sha256);
        K(c, "signing_info");
        if (e->signing_info == NULL)
            v_null(c);
        else {
            OBJ(c);
            K(c, "cdhash"), v_hex(c, e->signing_info->cdhash, sizeof e->signing_info->cdhash);
            K(c, "signing_id"), v_str_or_null(c, e->signing_info->signing_id);
            K(c, "team_id"), v_str_or_null(c, e->signing_info->team_id);
            END(c);
        }
        END(c);
        break;
    }
#endif
#if SDK_AT_LEAST(150400)
    case ES_EVENT_TYPE_NOTIFY_TCC_MODIFY: {
        const es_event_tcc_modify_t *e = ev->tcc_modify;
        OBJ(c);
        K(c, "service"), v_str(c, e->service);
        K(c, "identity"), v_str(c, e->identity);
        K(c, "identity_type"), v_int(c, (int)e->identity_type);
        K(c, "update_type"), v_int(c, (int)e->update_type);
        K(c, "instigator_token"), v_token(c, e->instigator_token);
        K(c, "instigator"), v_process(c, e->instigator, v);
        K(c, "responsible_token"), v_token_ptr(c, e->responsible_token);
        K(c, "responsible"), v_process(c, e->responsible, v);
        K(c, "right"), v_int(c, (int)e->right);
        K(c, "reason"), v_int(c, (int)e->reason);
        END(c);
        break;
    }
#endif
    default:
        return false;
    }
    return true;
}

/* The whole line in the scratch buffer; false (and no line) for a type this build
   cannot format or has no name for. */
static bool format_message(esf_client *c, const es_message_t *m) {
    uint32_t v = m->version;
    unsigned type = (unsigned)m->event_type;
    if (type >= ESF_MAX_TYPES || c->names[type][0] == 0)
        return false;
    size_t max_line = c->cap / 2 - 4;
    c->scratch_len = 0;
    c->scratch_oom = false;
    c->budget = max_line / 2;    /* every string of the line together */
    c->value_cap = max_line / 4; /* one string */
    c->depth = 0;
    OBJ(c);
    K(c, "schema_version"), v_uint(c, 1);
    K(c, "version"), v_uint(c, v);
    K(c, "time"), v_time(c, 0, m->time.tv_sec, m->time.tv_nsec, 9);
    K(c, "mach_time"), v_uint(c, m->mach_time);
    K(c, "event_type"), v_uint(c, type);
    K(c, "action_type"), v_int(c, (int)m->action_type);
    K(c, "action"), OBJ(c), K(c, "result"), OBJ(c);
    K(c, "result_type"), v_int(c, (int)m->action.notify.result_type);
    K(c, "result"), OBJ(c);
    if (m->action.notify.result_type == ES_RESULT_TYPE_FLAGS)
        K(c, "flags"), v_uint(c, m->action.notify.result.flags);
    else
        K(c, "auth"), v_int(c, (int)m->action.notify.result.auth);
    END(c), END(c), END(c);
    if (v >= 2)
        K(c, "seq_num"), v_uint(c, m->seq_num);
    if (v >= 4) {
        K(c, "global_seq_num"), v_uint(c, m->global_seq_num);
        K(c, "thread");
        if (m->thread)
            OBJ(c), K(c, "thread_id"), v_uint(c, m->thread->thread_id), END(c);
        else
            v_null(c);
    }
    K(c, "process"), v_process(c, m->process, v);
    K(c, "event"), OBJ(c);
    elem(c); /* the type's name as key: not a literal, so written by hand */
    OUT_LIT(c, "\"");
    out_raw(c, c->names[type], strlen(c->names[type]));
    OUT_LIT(c, "\":");
    if (!out_event(c, m))
        return false;
    END(c);
    END(c);
    OUT_LIT(c, "\n");
    return true;
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

/* AUTH types are never subscribed (esf_subscribe); should one arrive anyway, it is
   allowed at once, so the kernel never kills the client for a missed deadline. */
static void answer_auth(es_client_t *es, const es_message_t *m) {
    if (m->event_type == ES_EVENT_TYPE_AUTH_OPEN)
        es_respond_flags_result(es, m, UINT32_MAX, false);
    else
        es_respond_auth_result(es, m, ES_AUTH_RESULT_ALLOW, false);
}

static void handle(esf_client *c, es_client_t *es, const es_message_t *m) {
    if (m->action_type == ES_ACTION_TYPE_AUTH) {
        answer_auth(es, m);
        pthread_mutex_lock(&c->lock);
        c->stats.auth_answered++;
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (__atomic_load_n(&c->stopping, __ATOMIC_RELAXED)) /* ring_put checks again under the lock */
        return;
    uint64_t cuts = c->cuts;
    bool formatted = format_message(c, m);
    pthread_mutex_lock(&c->lock);
    c->stats.messages++;
    if (!formatted) {
        c->stats.unformatted++;
        if ((unsigned)m->event_type < ESF_MAX_TYPES)
            c->unformatted[m->event_type]++;
    } else if (c->scratch_oom || c->scratch_len > UINT32_MAX)
        c->stats.out_of_memory++;
    else {
        if (c->cuts != cuts)
            c->stats.truncated++;
        ring_put(c, c->scratch, (uint32_t)c->scratch_len);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_message(unsigned slot, uint32_t gen, es_client_t *es, const es_message_t *m) {
    struct esf_anchor *a = &g_anchors[slot];
    pthread_mutex_lock(&a->lock);
    esf_client *c = a->gen == gen ? a->client : NULL;
    if (c != NULL)
        a->busy++;
    pthread_mutex_unlock(&a->lock);
    if (c == NULL) { /* its client is being deleted or gone: touch nothing of it */
        __atomic_add_fetch(&g_late_messages, 1, __ATOMIC_RELAXED);
        if (m->action_type == ES_ACTION_TYPE_AUTH)
            answer_auth(es, m);
        return;
    }
    handle(c, es, m);
    pthread_mutex_lock(&a->lock);
    if (--a->busy == 0)
        pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->lock);
}

#ifdef ESF_SIMULATED_ES
static void sim_handler(void *context, es_client_t *es, const es_message_t *m) {
    uintptr_t v = (uintptr_t)context;
    on_message((unsigned)(v % ESF_MAX_ANCHORS), (uint32_t)(v / ESF_MAX_ANCHORS), es, m);
}
#define ESF_HANDLER(slot, gen) \
    ((es_handler_block_t){sim_handler, (void *)((uintptr_t)(gen) * ESF_MAX_ANCHORS + (slot))})
#else
/* The block captures two integers by value, never the client. */
#define ESF_HANDLER(slot, gen) ^(es_client_t *es_, const es_message_t *m_) { on_message((slot), (gen), es_, m_); }
#endif

/* Wait (locked) until a line is there, the client stops, or timeout_ms passed on a
   clock that wall-clock changes do not move. */
static void wait_for_data(esf_client *c, int timeout_ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long long left_ns = (long long)timeout_ms * 1000000LL;
    while (c->used == 0 && !c->stopping && left_ns > 0) {
#if defined(__APPLE__)
        struct timespec rel = {(time_t)(left_ns / 1000000000LL), (long)(left_ns % 1000000000LL)};
        pthread_cond_timedwait_relative_np(&c->has_data, &c->lock, &rel);
#else /* has_data uses CLOCK_MONOTONIC (esf_client_new) */
        struct timespec until = start;
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->has_data, &c->lock, &until);
#endif
        clock_gettime(CLOCK_MONOTONIC, &now);
        left_ns = (long long)timeout_ms * 1000000LL - ((long long)(now.tv_sec - start.tv_sec) * 1000000000LL +
                                                       (now.tv_nsec - start.tv_nsec));
    }
}

size_t esf_drain(esf_client *c, char *buf, size_t cap, size_t max_lines, int timeout_ms, size_t *need) {
    size_t out = 0, lines = 0;
    if (need)
        *need = 0;
    pthread_mutex_lock(&c->lock);
    if (c->used == 0 && timeout_ms > 0)
        wait_for_data(c, timeout_ms);
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
        if (out + len > cap) {
            if (out == 0 && need) /* the caller's buffer cannot hold even this one */
                *need = len;
            break;
        }
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

static void free_client(esf_client *c) {
    pthread_cond_destroy(&c->has_room);
    pthread_cond_destroy(&c->has_data);
    pthread_mutex_destroy(&c->lock);
    free(c->scratch);
    free(c->ring);
    free(c->names);
    ESF_FREE_CLIENT(c, sizeof *c);
}

/* Events this process causes (its own opens, execs of helpers) would feed back into it. */
static bool mute_self(es_client_t *es) {
    audit_token_t self;
    mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
    if (task_info(mach_task_self(), TASK_AUDIT_TOKEN, (task_info_t)&self, &count) != KERN_SUCCESS)
        return false;
    return es_mute_process(es, &self) == ES_RETURN_SUCCESS;
}

esf_client *esf_client_new(size_t ring_bytes, int *result) {
    esf_client *c = ESF_ALLOC_CLIENT(sizeof *c);
    if (ring_bytes < 4096)
        ring_bytes = 4096;
    *result = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
    if (c == NULL)
        return NULL;
    c->ring = malloc(ring_bytes);
    c->names = calloc(ESF_MAX_TYPES, sizeof *c->names);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
#if !defined(__APPLE__)
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* Apple waits with a relative timeout */
#endif
    pthread_cond_init(&c->has_data, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&c->has_room, NULL);
    int slot = c->ring && c->names ? anchor_take(c) : -1;
    if (slot < 0) { /* out of memory, or more live clients than anchors */
        free_client(c);
        return NULL;
    }
    c->slot = (unsigned)slot;
    c->cap = ring_bytes;
    c->stats.ring_capacity = ring_bytes;
    es_new_client_result_t r = es_new_client(&c->es, ESF_HANDLER((unsigned)slot, g_anchors[slot].gen));
    *result = (int)r;
    if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
        anchor_close(c->slot);
        anchor_release(c->slot, false);
        free_client(c);
        return NULL;
    }
    c->stats.self_muted = mute_self(c->es);
    return c;
}

/* Every AUTH type of the API: the shim never subscribes them (D7 in native/README.md). */
static bool is_auth_type(uint32_t t) {
    switch (t) {
    case ES_EVENT_TYPE_AUTH_EXEC: case ES_EVENT_TYPE_AUTH_OPEN: case ES_EVENT_TYPE_AUTH_KEXTLOAD:
    case ES_EVENT_TYPE_AUTH_MMAP: case ES_EVENT_TYPE_AUTH_MPROTECT: case ES_EVENT_TYPE_AUTH_MOUNT:
    case ES_EVENT_TYPE_AUTH_RENAME: case ES_EVENT_TYPE_AUTH_SIGNAL: case ES_EVENT_TYPE_AUTH_UNLINK:
    case ES_EVENT_TYPE_AUTH_FILE_PROVIDER_MATERIALIZE: case ES_EVENT_TYPE_AUTH_FILE_PROVIDER_UPDATE:
    case ES_EVENT_TYPE_AUTH_READLINK: case ES_EVENT_TYPE_AUTH_TRUNCATE: case ES_EVENT_TYPE_AUTH_LINK:
    case ES_EVENT_TYPE_AUTH_CREATE: case ES_EVENT_TYPE_AUTH_SETATTRLIST: case ES_EVENT_TYPE_AUTH_SETEXTATTR:
    case ES_EVENT_TYPE_AUTH_SETFLAGS: case ES_EVENT_TYPE_AUTH_SETMODE: case ES_EVENT_TYPE_AUTH_SETOWNER:
    case ES_EVENT_TYPE_AUTH_CHDIR: case ES_EVENT_TYPE_AUTH_GETATTRLIST: case ES_EVENT_TYPE_AUTH_CHROOT:
    case ES_EVENT_TYPE_AUTH_UTIMES: case ES_EVENT_TYPE_AUTH_CLONE: case ES_EVENT_TYPE_AUTH_GETEXTATTR:
    case ES_EVENT_TYPE_AUTH_LISTEXTATTR: case ES_EVENT_TYPE_AUTH_READDIR: case ES_EVENT_TYPE_AUTH_DELETEEXTATTR:
    case ES_EVENT_TYPE_AUTH_FSGETPATH: case ES_EVENT_TYPE_AUTH_SETTIME: case ES_EVENT_TYPE_AUTH_UIPC_BIND:
    case ES_EVENT_TYPE_AUTH_UIPC_CONNECT: case ES_EVENT_TYPE_AUTH_EXCHANGEDATA: case ES_EVENT_TYPE_AUTH_SETACL:
    case ES_EVENT_TYPE_AUTH_PROC_CHECK: case ES_EVENT_TYPE_AUTH_GET_TASK: case ES_EVENT_TYPE_AUTH_SEARCHFS:
    case ES_EVENT_TYPE_AUTH_FCNTL: case ES_EVENT_TYPE_AUTH_IOKIT_OPEN: case ES_EVENT_TYPE_AUTH_PROC_SUSPEND_RESUME:
    case ES_EVENT_TYPE_AUTH_REMOUNT: case ES_EVENT_TYPE_AUTH_GET_TASK_READ: case ES_EVENT_TYPE_AUTH_COPYFILE:
        return true;
    default:
        return false;
    }
}

int esf_subscribe(esf_client *c, const uint32_t *types, const char *const *names, size_t count) {
    es_event_type_t evs[ESF_MAX_TYPES];
    if (count > ESF_MAX_TYPES)
        return ESF_UNSUPPORTED;
    for (size_t i = 0; i < count; i++)
        if (types[i] >= ESF_MAX_TYPES || is_auth_type(types[i]))
            return ESF_UNSUPPORTED;
    for (size_t i = 0; i < count; i++) {
        snprintf(c->names[types[i]], ESF_NAME_LEN, "%s", names[i]);
        evs[i] = (es_event_type_t)types[i];
    }
    return es_subscribe(c->es, evs, (uint32_t)count) == ES_RETURN_SUCCESS ? ESF_OK : ESF_ES_ERROR;
}

#define ES_RESULT(call) ((call) == ES_RETURN_SUCCESS ? ESF_OK : ESF_ES_ERROR)

int esf_mute_path(esf_client *c, const char *path, int type, const uint32_t *types, size_t count) {
    es_event_type_t evs[ESF_MAX_TYPES];
    if (type < 0 || type > 3 || count > ESF_MAX_TYPES)
        return ESF_UNSUPPORTED;
    if (type >= 2) { /* ES_MUTE_PATH_TYPE_TARGET_PREFIX/_LITERAL came with macOS 13 */
        if (__builtin_available(macOS 13.0, *)) {
        } else
            return ESF_UNSUPPORTED;
    }
    for (size_t i = 0; i < count; i++)
        evs[i] = (es_event_type_t)types[i];
    if (__builtin_available(macOS 12.0, *)) {
        if (count == 0)
            return ES_RESULT(es_mute_path(c->es, path, (es_mute_path_type_t)type));
        return ES_RESULT(es_mute_path_events(c->es, path, (es_mute_path_type_t)type, evs, count));
    }
    if (count != 0) /* macOS 11 mutes a path for every event type or not at all */
        return ESF_UNSUPPORTED;
#ifdef __clang__ /* the macOS 11 calls, deprecated from 12: only reached on 11 */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#endif
    if (type == 0)
        return ES_RESULT(es_mute_path_prefix(c->es, path));
    return ES_RESULT(es_mute_path_literal(c->es, path));
#ifdef __clang__
#pragma clang diagnostic pop
#endif
}

int esf_unmute_path(esf_client *c, const char *path, int type, const uint32_t *types, size_t count) {
    es_event_type_t evs[ESF_MAX_TYPES];
    if (type < 0 || type > 3 || count > ESF_MAX_TYPES)
        return ESF_UNSUPPORTED;
    if (type >= 2) {
        if (__builtin_available(macOS 13.0, *)) {
        } else
            return ESF_UNSUPPORTED;
    }
    for (size_t i = 0; i < count; i++)
        evs[i] = (es_event_type_t)types[i];
    if (__builtin_available(macOS 12.0, *)) {
        if (count == 0)
            return ES_RESULT(es_unmute_path(c->es, path, (es_mute_path_type_t)type));
        return ES_RESULT(es_unmute_path_events(c->es, path, (es_mute_path_type_t)type, evs, count));
    }
    return ESF_UNSUPPORTED;
}

int esf_unmute_all_paths(esf_client *c) { return ES_RESULT(es_unmute_all_paths(c->es)); }

int esf_unmute_all_target_paths(esf_client *c) {
    if (__builtin_available(macOS 13.0, *))
        return ES_RESULT(es_unmute_all_target_paths(c->es));
    return ESF_UNSUPPORTED;
}

int esf_set_inverted(esf_client *c, int inversion_type, int inverted) {
    if (inversion_type < 0 || inversion_type > 2)
        return ESF_UNSUPPORTED;
    if (__builtin_available(macOS 13.0, *)) {
        es_mute_inverted_return_t now = es_muting_inverted(c->es, (es_mute_inversion_type_t)inversion_type);
        if (now == ES_MUTE_INVERTED_ERROR)
            return ESF_ES_ERROR;
        if ((now == ES_MUTE_INVERTED) == (inverted != 0))
            return ESF_OK;
        return ES_RESULT(es_invert_muting(c->es, (es_mute_inversion_type_t)inversion_type));
    }
    return ESF_UNSUPPORTED;
}

void esf_get_stats(esf_client *c, esf_stats *out) {
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->ring_used = c->used;
    pthread_mutex_unlock(&c->lock);
}

size_t esf_get_unformatted(esf_client *c, uint64_t *counts, size_t n) {
    if (n > ESF_MAX_TYPES)
        n = ESF_MAX_TYPES;
    pthread_mutex_lock(&c->lock);
    memcpy(counts, c->unformatted, n * sizeof *counts);
    pthread_mutex_unlock(&c->lock);
    return n;
}

const void *esf_es_client(esf_client *c) { return c->es; }

int esf_client_stop(esf_client *c) { return ES_RESULT(es_unsubscribe_all(c->es)); }

int esf_client_delete(esf_client *c) {
    if (c == NULL)
        return ESF_OK;
    /* A handler waiting for room must return before ES can let the client go. */
    pthread_mutex_lock(&c->lock);
    __atomic_store_n(&c->stopping, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&c->has_room);
    pthread_cond_broadcast(&c->has_data);
    pthread_mutex_unlock(&c->lock);
    es_unsubscribe_all(c->es);
    es_return_t r = es_delete_client(c->es);
    /* Calls in flight finish; any later one (Apple allows it) finds a new generation. */
    anchor_close(c->slot);
    anchor_release(c->slot, r != ES_RETURN_SUCCESS);
    free_client(c);
    return r == ES_RETURN_SUCCESS ? ESF_OK : ESF_ES_ERROR;
}
