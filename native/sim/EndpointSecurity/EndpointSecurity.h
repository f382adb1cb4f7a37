/*
 * Simulated <EndpointSecurity/EndpointSecurity.h> for building and testing the
 * shim on Linux.  It is osq-esf's own: the subset of types and functions that
 * native/esf_shim.c uses, with the names, field order and types listed in
 * /work/shared/reference/endpoint-security.md §2-§9 (written from those tables,
 * not from Apple's header, which is never copied or committed).  Layouts only
 * have to agree with native/sim/es_sim.c; the real layouts are checked by
 * compiling the same shim against Apple's SDK (native/check-sdk.sh).
 *
 * One deliberate difference: Linux C has no blocks, so es_handler_block_t is a
 * function pointer plus context here; esf_shim.c's ESF_HANDLER macro builds a
 * block on Apple and this struct in the simulator.
 */
#ifndef ESF_SIM_ENDPOINTSECURITY_H
#define ESF_SIM_ENDPOINTSECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <bsm/libbsm.h>

#define ESF_SIMULATED_ES 1
/* The simulator models the newest messages (v10: macOS 26 fields). */
#ifndef __MAC_OS_X_VERSION_MAX_ALLOWED
#define __MAC_OS_X_VERSION_MAX_ALLOWED 260000
#endif

typedef int cpu_type_t;
typedef int cpu_subtype_t;

/* §4: tokens and files.  data is NOT NUL-terminated: always use length. */
typedef struct {
    size_t length;
    const char *data;
} es_string_token_t;

typedef struct {
    size_t size;
    const uint8_t *data;
} es_token_t;

typedef struct {
    es_string_token_t path;
    bool path_truncated;
    struct stat stat;
} es_file_t;

typedef uint8_t es_cdhash_t[20];

typedef enum {
    ES_CS_VALIDATION_CATEGORY_INVALID = 0,
} es_cs_validation_category_t;

/* §3 */
typedef struct {
    audit_token_t audit_token;
    pid_t ppid;
    pid_t original_ppid;
    pid_t group_id;
    pid_t session_id;
    uint32_t codesigning_flags;
    bool is_platform_binary;
    bool is_es_client;
    es_cdhash_t cdhash;
    es_string_token_t signing_id;
    es_string_token_t team_id;
    es_file_t *executable;
    es_file_t *tty;
    struct timeval start_time;
    audit_token_t responsible_audit_token;
    audit_token_t parent_audit_token;
    es_cs_validation_category_t cs_validation_category;
} es_process_t;

typedef struct {
    uint64_t thread_id;
} es_thread_t;

/* §6: the values the shim names (the rest travel as numbers). */
typedef enum {
    ES_EVENT_TYPE_NOTIFY_EXEC = 9,
    ES_EVENT_TYPE_NOTIFY_OPEN = 10,
    ES_EVENT_TYPE_NOTIFY_FORK = 11,
    ES_EVENT_TYPE_NOTIFY_CLOSE = 12,
    ES_EVENT_TYPE_NOTIFY_EXIT = 15,
    ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN = 24,
    ES_EVENT_TYPE_NOTIFY_UNLINK = 32,
    ES_EVENT_TYPE_NOTIFY_WRITE = 33,
    ES_EVENT_TYPE_LAST = 148,
} es_event_type_t;

typedef enum {
    ES_ACTION_TYPE_AUTH = 0,
    ES_ACTION_TYPE_NOTIFY = 1,
} es_action_type_t;

/* §5: the event structs the shim reads. */
typedef struct {
    es_process_t *target;
    es_string_token_t dyld_exec_path; /* v7 */
    union {
        uint8_t reserved[64];
        struct {
            es_file_t *script; /* v2 */
            es_file_t *cwd;    /* v3 */
            int last_fd;       /* v4 */
            cpu_type_t image_cputype;       /* v6 */
            cpu_subtype_t image_cpusubtype; /* v6 */
        };
    };
} es_event_exec_t;

typedef struct {
    int32_t fflag;
    es_file_t *file;
    uint8_t reserved[64];
} es_event_open_t;

typedef struct {
    es_file_t *target;
    uint8_t reserved[64];
} es_event_write_t;

typedef struct {
    bool modified;
    es_file_t *target;
    bool was_mapped_writable; /* v6 */
} es_event_close_t;

typedef struct {
    es_file_t *target;
    es_file_t *parent_dir;
    uint8_t reserved[64];
} es_event_unlink_t;

typedef struct {
    es_process_t *child;
    uint8_t reserved[64];
} es_event_fork_t;

typedef struct {
    int stat;
    uint8_t reserved[64];
} es_event_exit_t;

typedef struct {
    uint32_t user_client_type;
    es_string_token_t user_client_class;
    uint64_t parent_registry_id;   /* v10 */
    es_string_token_t parent_path; /* v10 */
} es_event_iokit_open_t;

typedef union {
    es_event_exec_t exec;
    es_event_open_t open;
    es_event_fork_t fork;
    es_event_close_t close;
    es_event_exit_t exit;
    es_event_iokit_open_t iokit_open;
    es_event_unlink_t unlink;
    es_event_write_t write;
    uint8_t reserved[256];
} es_events_t;

typedef struct {
    uint8_t reserved[32];
} es_event_id_t;

typedef struct {
    uint32_t result_type;
    uint8_t reserved[32];
} es_result_t;

/* §2.1 */
typedef struct {
    uint32_t version;
    struct timespec time;
    uint64_t mach_time;
    uint64_t deadline;
    es_process_t *process;
    uint64_t seq_num; /* v2 */
    es_action_type_t action_type;
    union {
        es_event_id_t auth;
        es_result_t notify;
    } action;
    es_event_type_t event_type;
    es_events_t event;
    es_thread_t *thread;     /* v4 */
    uint64_t global_seq_num; /* v4 */
    uint64_t opaque[];
} es_message_t;

/* §7 */
typedef struct es_client_s es_client_t;

typedef enum {
    ES_NEW_CLIENT_RESULT_SUCCESS = 0,
    ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT = 1,
    ES_NEW_CLIENT_RESULT_ERR_INTERNAL = 2,
    ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED = 3,
    ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED = 4,
    ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED = 5,
    ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS = 6,
} es_new_client_result_t;

typedef enum {
    ES_RETURN_SUCCESS = 0,
    ES_RETURN_ERROR = 1,
} es_return_t;

/* §9.1 */
typedef enum {
    ES_MUTE_PATH_TYPE_PREFIX = 0,
    ES_MUTE_PATH_TYPE_LITERAL = 1,
    ES_MUTE_PATH_TYPE_TARGET_PREFIX = 2,
    ES_MUTE_PATH_TYPE_TARGET_LITERAL = 3,
} es_mute_path_type_t;

typedef enum {
    ES_MUTE_INVERSION_TYPE_PROCESS = 0,
    ES_MUTE_INVERSION_TYPE_PATH = 1,
    ES_MUTE_INVERSION_TYPE_TARGET_PATH = 2,
} es_mute_inversion_type_t;

typedef enum {
    ES_MUTE_INVERTED = 0,
    ES_MUTE_NOT_INVERTED = 1,
    ES_MUTE_INVERTED_ERROR = 2,
} es_mute_inverted_return_t;

/* The simulator's stand-in for a block (see the comment at the top). */
typedef struct {
    void (*fn)(void *context, es_client_t *client, const es_message_t *message);
    void *context;
} es_handler_block_t;

es_new_client_result_t es_new_client(es_client_t **client, es_handler_block_t handler);
es_return_t es_delete_client(es_client_t *client);
es_return_t es_subscribe(es_client_t *client, const es_event_type_t *events, uint32_t event_count);
es_return_t es_unsubscribe_all(es_client_t *client);
es_return_t es_mute_path(es_client_t *client, const char *path, es_mute_path_type_t type);
es_return_t es_mute_path_events(es_client_t *client, const char *path, es_mute_path_type_t type,
                                const es_event_type_t *events, size_t event_count);
es_return_t es_unmute_all_paths(es_client_t *client);
es_return_t es_unmute_all_target_paths(es_client_t *client);
es_return_t es_invert_muting(es_client_t *client, es_mute_inversion_type_t mute_type);
es_mute_inverted_return_t es_muting_inverted(es_client_t *client, es_mute_inversion_type_t mute_type);

uint32_t es_exec_arg_count(const es_event_exec_t *event);
uint32_t es_exec_env_count(const es_event_exec_t *event);
es_string_token_t es_exec_arg(const es_event_exec_t *event, uint32_t index);
es_string_token_t es_exec_env(const es_event_exec_t *event, uint32_t index);

#endif
