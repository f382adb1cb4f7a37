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

#define ESF_SHIM_VERSION 1

/* cdef-begin */
typedef struct esf_client esf_client;

typedef struct {
    uint64_t messages;      /* messages the handler saw */
    uint64_t lines;         /* lines written to the ring */
    uint64_t bytes;         /* bytes written to the ring */
    uint64_t waits;         /* times the handler waited for room (the reader was behind) */
    uint64_t oversize;      /* lines longer than half the ring: lost (a seq gap shows them) */
    uint64_t out_of_memory; /* lines lost to a failed allocation */
    uint64_t ring_used;     /* bytes in the ring now */
    uint64_t ring_capacity;
} esf_stats;

int esf_version(void);
int esf_is_simulator(void);
const char *esf_new_client_result_name(int result);

/* Create the ES client; NULL with *result set to the es_new_client_result_t on failure. */
esf_client *esf_client_new(size_t ring_bytes, int *result);
/* Name each type's JSON key, then es_subscribe: call last, after the mutes. */
int esf_subscribe(esf_client *client, const uint32_t *types, const char *const *names, size_t count);
/* es_mute_path (count == 0) or es_mute_path_events; type is an es_mute_path_type_t. */
int esf_mute_path(esf_client *client, const char *path, int type, const uint32_t *types, size_t count);
int esf_unmute_all_paths(esf_client *client);
int esf_unmute_all_target_paths(esf_client *client);
/* Bring an es_mute_inversion_type_t to the wanted state (es_invert_muting toggles). */
int esf_set_inverted(esf_client *client, int inversion_type, int inverted);
/* Copy whole lines (each ending in \n) into buf: at most cap bytes and max_lines lines;
   waits up to timeout_ms for the first one.  Returns the bytes copied. */
size_t esf_drain(esf_client *client, char *buf, size_t cap, size_t max_lines, int timeout_ms);
void esf_get_stats(esf_client *client, esf_stats *out);
const void *esf_es_client(esf_client *client);
/* es_unsubscribe_all: no new messages; what is queued can still be drained. */
int esf_client_stop(esf_client *client);
/* Release a waiting handler, es_delete_client, free.  Call from the creating thread. */
void esf_client_delete(esf_client *client);
/* cdef-end */

#endif
