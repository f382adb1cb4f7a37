/*
 * osq-esf's C layer over libEndpointSecurity: one ES client per client group,
 * whose handler serialises each message to one eslogger-shaped JSON line in a
 * bounded ring that Python drains in batches (native/README.md).
 *
 * The API between the markers is plain C with no Apple types: native/build.py
 * hands it to cffi as the cdef, so there is one declaration of it.
 */
#ifndef ESF_SHIM_H
#define ESF_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define ESF_SHIM_VERSION 2

/* cdef-begin */
typedef struct esf_client esf_client;

typedef struct {
    uint64_t messages;      /* messages the handler saw */
    uint64_t lines;         /* lines written to the ring */
    uint64_t bytes;         /* bytes written to the ring */
    uint64_t waits;         /* times the handler waited for room (the reader was behind) */
    uint64_t oversize;      /* lines longer than half the ring: lost (a seq gap shows them) */
    uint64_t out_of_memory; /* lines lost to a failed allocation */
    uint64_t unformatted;   /* messages of a type this build cannot format: no line (per type: esf_get_unformatted) */
    uint64_t truncated;     /* lines with a string value cut to fit (exec flags its args/env) */
    uint64_t auth_answered; /* AUTH messages answered ALLOW at once (never subscribed: a safety net) */
    uint64_t self_muted;    /* 1 when es_mute_process of this process succeeded */
    uint64_t ring_used;     /* bytes in the ring now */
    uint64_t ring_capacity;
} esf_stats;

/* What the running macOS lets the shim ask of ES (esf_capabilities). */
enum {
    ESF_CAP_PATH_EVENTS = 1,  /* macOS 12: per-event path mutes, es_unmute_path_events */
    ESF_CAP_TARGET_PATHS = 2, /* macOS 13: target-path mutes */
    ESF_CAP_INVERSION = 4,    /* macOS 13: es_invert_muting */
};

/* esf_mute_path and friends: 0 done, -1 ES refused, -2 not on this macOS (or bad arguments). */
enum { ESF_OK = 0, ESF_ES_ERROR = -1, ESF_UNSUPPORTED = -2 };

int esf_version(void);
int esf_is_simulator(void);
int esf_capabilities(void);
const char *esf_new_client_result_name(int result);

/* Create the ES client (and mute this process in it); NULL with *result set to the
   es_new_client_result_t on failure. */
esf_client *esf_client_new(size_t ring_bytes, int *result);
/* Name each type's JSON key, then es_subscribe: call last, after the mutes.  AUTH
   types are refused (-2): nothing here answers them within their deadline. */
int esf_subscribe(esf_client *client, const uint32_t *types, const char *const *names, size_t count);
/* Mute `path` (an es_mute_path_type_t) for `types`, or for every type when count is 0
   (the only form macOS 11 has). */
int esf_mute_path(esf_client *client, const char *path, int type, const uint32_t *types, size_t count);
/* Undo one esf_mute_path (macOS 12+). */
int esf_unmute_path(esf_client *client, const char *path, int type, const uint32_t *types, size_t count);
int esf_unmute_all_paths(esf_client *client);
int esf_unmute_all_target_paths(esf_client *client);
/* Bring an es_mute_inversion_type_t to the wanted state (es_invert_muting toggles). */
int esf_set_inverted(esf_client *client, int inversion_type, int inverted);
/* Copy whole lines (each ending in \n) into buf: at most cap bytes and max_lines lines;
   waits up to timeout_ms (monotonic) for the first one.  Returns the bytes copied.
   When the next line alone is longer than cap, nothing is copied and *need is set to
   its length (0 otherwise): call again with a buffer that large. */
size_t esf_drain(esf_client *client, char *buf, size_t cap, size_t max_lines, int timeout_ms, size_t *need);
void esf_get_stats(esf_client *client, esf_stats *out);
/* Per event type, the messages that could not be formatted: counts[type] for
   type < n.  Returns how many entries were written. */
size_t esf_get_unformatted(esf_client *client, uint64_t *counts, size_t n);
/* Handler calls for clients already deleted (ignored; nothing was touched). */
uint64_t esf_late_messages(void);
const void *esf_es_client(esf_client *client);
/* es_unsubscribe_all: no new messages; what is queued can still be drained. */
int esf_client_stop(esf_client *client);
/* Release a waiting handler, es_delete_client, free.  Call from the creating thread.
   0, or -1 when es_delete_client failed (the memory is released all the same: a
   handler call that still comes finds nothing to touch). */
int esf_client_delete(esf_client *client);
/* cdef-end */

#endif
