/*
 * Simulated <EndpointSecurity/EndpointSecurity.h> for building and testing the shim
 * on Linux.  It is osq-esf's own: the types and functions native/esf_shim.c uses,
 * with the names, field order and types of Apple's public Endpoint Security API as
 * documented by Apple (developer.apple.com/documentation/endpointsecurity) and by
 * HarfangLab's endpoint-sec crate; the event numbers come from
 * osq_esf/data/es_event_types.csv.  Apple's header text is never copied here.  Layouts
 * only have to agree with native/sim/es_sim.c and the tests, which build messages
 * with cffi from the declarations between the cdef markers; the real layouts are
 * checked by compiling the same shim against Apple's SDK (native/check-sdk.sh).
 *
 * Differences from Apple's API, all deliberate:
 * - Linux C has no blocks, so es_handler_block_t is a function pointer plus context;
 *   esf_shim.c's ESF_HANDLER macro builds a block on Apple and this struct here.
 * - __builtin_available (clang on Apple) is a macro that asks the simulator which
 *   macOS it pretends to be (es_sim_set_os_version), so the shim's availability
 *   checks run unchanged in tests.
 * - clock_gettime(CLOCK_REALTIME) can be made to jump (es_sim_set_wall_clock_offset).
 * - es_file_t.stat is a struct with the Apple stat field names the shim writes, and
 *   struct statfs has Apple's fields; acl_t points to a simulated ACL with its text.
 * - es_message_t.opaque has one element: the simulator keeps the exec argument,
 *   environment and fd lists there (es_sim_exec_lists).
 * The simulator models the newest messages (v10, macOS 26).
 */
#ifndef ESF_SIM_ENDPOINTSECURITY_H
#define ESF_SIM_ENDPOINTSECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <sys/time.h>

#include <bsm/libbsm.h>

#define ESF_SIMULATED_ES 1
#ifndef __MAC_OS_X_VERSION_MAX_ALLOWED
#define __MAC_OS_X_VERSION_MAX_ALLOWED 260000
#endif

/* `__builtin_available(macOS 13.0, *)` -> does the simulated macOS have 13.0? */
int es_sim_available(const char *os_version);
#define __builtin_available(os_version, star) es_sim_available(#os_version)

/* The wall clock as the shim sees it, shifted by es_sim_set_wall_clock_offset: a
   jump of the system clock must not stretch or cut the shim's timeouts. */
int es_sim_clock_gettime(clockid_t clock, struct timespec *ts);
#define clock_gettime es_sim_clock_gettime

/* Deallocation of the shim's client struct through guard pages: a use after free
   faults at once instead of reading stale memory (es_sim.c). */
void *es_sim_guarded_alloc(size_t size);
void es_sim_guarded_free(void *p, size_t size);
#define ESF_ALLOC_CLIENT(size) es_sim_guarded_alloc(size)
#define ESF_FREE_CLIENT(p, size) es_sim_guarded_free((p), (size))

typedef int cpu_type_t;
typedef int cpu_subtype_t;
typedef uint64_t user_addr_t;
typedef uint64_t user_size_t;
typedef unsigned char uuid_t[16];

/* cdef-begin */
/* Tokens and files.  data is NOT NUL-terminated: always use length. */
typedef struct {
    size_t length;
    const char *data;
} es_string_token_t;

typedef struct {
    size_t size;
    const uint8_t *data;
} es_token_t;

typedef struct {
    dev_t st_dev;
    mode_t st_mode;
    uint64_t st_ino;
    uid_t st_uid;
    gid_t st_gid;
    struct timespec st_mtimespec;
    struct timespec st_birthtimespec;
    int64_t st_size;
    uint32_t st_flags;
} es_sim_stat;

typedef struct {
    es_string_token_t path;
    bool path_truncated;
    es_sim_stat stat;
} es_file_t;

typedef uint8_t es_cdhash_t[20];
typedef uint8_t es_sha256_t[32];

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
    es_file_t *tty;                      /* v2 */
    struct timeval start_time;           /* v3 */
    audit_token_t responsible_audit_token; /* v4 */
    audit_token_t parent_audit_token;    /* v4 */
    int cs_validation_category;          /* v10 */
} es_process_t;

typedef struct {
    uint64_t thread_id;
} es_thread_t;

typedef struct {
    int flavor;
    es_token_t state;
} es_thread_state_t;

typedef struct {
    int32_t fd;
    uint32_t fdtype;
    union {
        struct {
            uint64_t pipe_id;
        } pipe;
    };
} es_fd_t;

typedef enum {
    /* macOS 10.15.0 */
    ES_EVENT_TYPE_AUTH_EXEC = 0,
    ES_EVENT_TYPE_AUTH_OPEN = 1,
    ES_EVENT_TYPE_AUTH_KEXTLOAD = 2,
    ES_EVENT_TYPE_AUTH_MMAP = 3,
    ES_EVENT_TYPE_AUTH_MPROTECT = 4,
    ES_EVENT_TYPE_AUTH_MOUNT = 5,
    ES_EVENT_TYPE_AUTH_RENAME = 6,
    ES_EVENT_TYPE_AUTH_SIGNAL = 7,
    ES_EVENT_TYPE_AUTH_UNLINK = 8,
    ES_EVENT_TYPE_NOTIFY_EXEC = 9,
    ES_EVENT_TYPE_NOTIFY_OPEN = 10,
    ES_EVENT_TYPE_NOTIFY_FORK = 11,
    ES_EVENT_TYPE_NOTIFY_CLOSE = 12,
    ES_EVENT_TYPE_NOTIFY_CREATE = 13,
    ES_EVENT_TYPE_NOTIFY_EXCHANGEDATA = 14,
    ES_EVENT_TYPE_NOTIFY_EXIT = 15,
    ES_EVENT_TYPE_NOTIFY_GET_TASK = 16,
    ES_EVENT_TYPE_NOTIFY_KEXTLOAD = 17,
    ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD = 18,
    ES_EVENT_TYPE_NOTIFY_LINK = 19,
    ES_EVENT_TYPE_NOTIFY_MMAP = 20,
    ES_EVENT_TYPE_NOTIFY_MPROTECT = 21,
    ES_EVENT_TYPE_NOTIFY_MOUNT = 22,
    ES_EVENT_TYPE_NOTIFY_UNMOUNT = 23,
    ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN = 24,
    ES_EVENT_TYPE_NOTIFY_RENAME = 25,
    ES_EVENT_TYPE_NOTIFY_SETATTRLIST = 26,
    ES_EVENT_TYPE_NOTIFY_SETEXTATTR = 27,
    ES_EVENT_TYPE_NOTIFY_SETFLAGS = 28,
    ES_EVENT_TYPE_NOTIFY_SETMODE = 29,
    ES_EVENT_TYPE_NOTIFY_SETOWNER = 30,
    ES_EVENT_TYPE_NOTIFY_SIGNAL = 31,
    ES_EVENT_TYPE_NOTIFY_UNLINK = 32,
    ES_EVENT_TYPE_NOTIFY_WRITE = 33,
    ES_EVENT_TYPE_AUTH_FILE_PROVIDER_MATERIALIZE = 34,
    ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_MATERIALIZE = 35,
    ES_EVENT_TYPE_AUTH_FILE_PROVIDER_UPDATE = 36,
    ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_UPDATE = 37,
    ES_EVENT_TYPE_AUTH_READLINK = 38,
    ES_EVENT_TYPE_NOTIFY_READLINK = 39,
    ES_EVENT_TYPE_AUTH_TRUNCATE = 40,
    ES_EVENT_TYPE_NOTIFY_TRUNCATE = 41,
    ES_EVENT_TYPE_AUTH_LINK = 42,
    ES_EVENT_TYPE_NOTIFY_LOOKUP = 43,
    ES_EVENT_TYPE_AUTH_CREATE = 44,
    ES_EVENT_TYPE_AUTH_SETATTRLIST = 45,
    ES_EVENT_TYPE_AUTH_SETEXTATTR = 46,
    ES_EVENT_TYPE_AUTH_SETFLAGS = 47,
    ES_EVENT_TYPE_AUTH_SETMODE = 48,
    ES_EVENT_TYPE_AUTH_SETOWNER = 49,
    /* macOS 10.15.1 */
    ES_EVENT_TYPE_AUTH_CHDIR = 50,
    ES_EVENT_TYPE_NOTIFY_CHDIR = 51,
    ES_EVENT_TYPE_AUTH_GETATTRLIST = 52,
    ES_EVENT_TYPE_NOTIFY_GETATTRLIST = 53,
    ES_EVENT_TYPE_NOTIFY_STAT = 54,
    ES_EVENT_TYPE_NOTIFY_ACCESS = 55,
    ES_EVENT_TYPE_AUTH_CHROOT = 56,
    ES_EVENT_TYPE_NOTIFY_CHROOT = 57,
    ES_EVENT_TYPE_AUTH_UTIMES = 58,
    ES_EVENT_TYPE_NOTIFY_UTIMES = 59,
    ES_EVENT_TYPE_AUTH_CLONE = 60,
    ES_EVENT_TYPE_NOTIFY_CLONE = 61,
    ES_EVENT_TYPE_NOTIFY_FCNTL = 62,
    ES_EVENT_TYPE_AUTH_GETEXTATTR = 63,
    ES_EVENT_TYPE_NOTIFY_GETEXTATTR = 64,
    ES_EVENT_TYPE_AUTH_LISTEXTATTR = 65,
    ES_EVENT_TYPE_NOTIFY_LISTEXTATTR = 66,
    ES_EVENT_TYPE_AUTH_READDIR = 67,
    ES_EVENT_TYPE_NOTIFY_READDIR = 68,
    ES_EVENT_TYPE_AUTH_DELETEEXTATTR = 69,
    ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR = 70,
    ES_EVENT_TYPE_AUTH_FSGETPATH = 71,
    ES_EVENT_TYPE_NOTIFY_FSGETPATH = 72,
    ES_EVENT_TYPE_NOTIFY_DUP = 73,
    ES_EVENT_TYPE_AUTH_SETTIME = 74,
    ES_EVENT_TYPE_NOTIFY_SETTIME = 75,
    ES_EVENT_TYPE_NOTIFY_UIPC_BIND = 76,
    ES_EVENT_TYPE_AUTH_UIPC_BIND = 77,
    ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT = 78,
    ES_EVENT_TYPE_AUTH_UIPC_CONNECT = 79,
    ES_EVENT_TYPE_AUTH_EXCHANGEDATA = 80,
    ES_EVENT_TYPE_AUTH_SETACL = 81,
    ES_EVENT_TYPE_NOTIFY_SETACL = 82,
    /* macOS 10.15.4 */
    ES_EVENT_TYPE_NOTIFY_PTY_GRANT = 83,
    ES_EVENT_TYPE_NOTIFY_PTY_CLOSE = 84,
    ES_EVENT_TYPE_AUTH_PROC_CHECK = 85,
    ES_EVENT_TYPE_NOTIFY_PROC_CHECK = 86,
    ES_EVENT_TYPE_AUTH_GET_TASK = 87,
    /* macOS 11.0.0 */
    ES_EVENT_TYPE_AUTH_SEARCHFS = 88,
    ES_EVENT_TYPE_NOTIFY_SEARCHFS = 89,
    ES_EVENT_TYPE_AUTH_FCNTL = 90,
    ES_EVENT_TYPE_AUTH_IOKIT_OPEN = 91,
    ES_EVENT_TYPE_AUTH_PROC_SUSPEND_RESUME = 92,
    ES_EVENT_TYPE_NOTIFY_PROC_SUSPEND_RESUME = 93,
    ES_EVENT_TYPE_NOTIFY_CS_INVALIDATED = 94,
    ES_EVENT_TYPE_NOTIFY_GET_TASK_NAME = 95,
    ES_EVENT_TYPE_NOTIFY_TRACE = 96,
    ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE = 97,
    ES_EVENT_TYPE_AUTH_REMOUNT = 98,
    ES_EVENT_TYPE_NOTIFY_REMOUNT = 99,
    /* macOS 11.3.0 */
    ES_EVENT_TYPE_AUTH_GET_TASK_READ = 100,
    ES_EVENT_TYPE_NOTIFY_GET_TASK_READ = 101,
    ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT = 102,
    /* macOS 12.0.0 */
    ES_EVENT_TYPE_NOTIFY_SETUID = 103,
    ES_EVENT_TYPE_NOTIFY_SETGID = 104,
    ES_EVENT_TYPE_NOTIFY_SETEUID = 105,
    ES_EVENT_TYPE_NOTIFY_SETEGID = 106,
    ES_EVENT_TYPE_NOTIFY_SETREUID = 107,
    ES_EVENT_TYPE_NOTIFY_SETREGID = 108,
    ES_EVENT_TYPE_AUTH_COPYFILE = 109,
    ES_EVENT_TYPE_NOTIFY_COPYFILE = 110,
    /* macOS 13.0.0 */
    ES_EVENT_TYPE_NOTIFY_AUTHENTICATION = 111,
    ES_EVENT_TYPE_NOTIFY_XP_MALWARE_DETECTED = 112,
    ES_EVENT_TYPE_NOTIFY_XP_MALWARE_REMEDIATED = 113,
    ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGIN = 114,
    ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGOUT = 115,
    ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOCK = 116,
    ES_EVENT_TYPE_NOTIFY_LW_SESSION_UNLOCK = 117,
    ES_EVENT_TYPE_NOTIFY_SCREENSHARING_ATTACH = 118,
    ES_EVENT_TYPE_NOTIFY_SCREENSHARING_DETACH = 119,
    ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGIN = 120,
    ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGOUT = 121,
    ES_EVENT_TYPE_NOTIFY_LOGIN_LOGIN = 122,
    ES_EVENT_TYPE_NOTIFY_LOGIN_LOGOUT = 123,
    ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_ADD = 124,
    ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_REMOVE = 125,
    /* macOS 14.0.0 */
    ES_EVENT_TYPE_NOTIFY_PROFILE_ADD = 126,
    ES_EVENT_TYPE_NOTIFY_PROFILE_REMOVE = 127,
    ES_EVENT_TYPE_NOTIFY_SU = 128,
    ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_PETITION = 129,
    ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_JUDGEMENT = 130,
    ES_EVENT_TYPE_NOTIFY_SUDO = 131,
    ES_EVENT_TYPE_NOTIFY_OD_GROUP_ADD = 132,
    ES_EVENT_TYPE_NOTIFY_OD_GROUP_REMOVE = 133,
    ES_EVENT_TYPE_NOTIFY_OD_GROUP_SET = 134,
    ES_EVENT_TYPE_NOTIFY_OD_MODIFY_PASSWORD = 135,
    ES_EVENT_TYPE_NOTIFY_OD_DISABLE_USER = 136,
    ES_EVENT_TYPE_NOTIFY_OD_ENABLE_USER = 137,
    ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_ADD = 138,
    ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE = 139,
    ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_SET = 140,
    ES_EVENT_TYPE_NOTIFY_OD_CREATE_USER = 141,
    ES_EVENT_TYPE_NOTIFY_OD_CREATE_GROUP = 142,
    ES_EVENT_TYPE_NOTIFY_OD_DELETE_USER = 143,
    ES_EVENT_TYPE_NOTIFY_OD_DELETE_GROUP = 144,
    ES_EVENT_TYPE_NOTIFY_XPC_CONNECT = 145,
    /* macOS 15.0.0 */
    ES_EVENT_TYPE_NOTIFY_GATEKEEPER_USER_OVERRIDE = 146,
    /* macOS 15.4.0 */
    ES_EVENT_TYPE_NOTIFY_TCC_MODIFY = 147,
    ES_EVENT_TYPE_LAST = 148,
} es_event_type_t;

typedef enum {
    ES_ACTION_TYPE_AUTH = 0,
    ES_ACTION_TYPE_NOTIFY = 1,
} es_action_type_t;

typedef enum {
    ES_AUTH_RESULT_ALLOW = 0,
    ES_AUTH_RESULT_DENY = 1,
} es_auth_result_t;

typedef enum {
    ES_RESULT_TYPE_AUTH = 0,
    ES_RESULT_TYPE_FLAGS = 1,
} es_result_type_t;

typedef enum {
    ES_DESTINATION_TYPE_EXISTING_FILE = 0,
    ES_DESTINATION_TYPE_NEW_PATH = 1,
} es_destination_type_t;

typedef enum {
    ES_AUTHENTICATION_TYPE_OD = 0,
    ES_AUTHENTICATION_TYPE_TOUCHID = 1,
    ES_AUTHENTICATION_TYPE_TOKEN = 2,
    ES_AUTHENTICATION_TYPE_AUTO_UNLOCK = 3,
    ES_AUTHENTICATION_TYPE_LAST = 4,
} es_authentication_type_t;

typedef enum {
    ES_OD_MEMBER_TYPE_USER_NAME = 0,
    ES_OD_MEMBER_TYPE_USER_UUID = 1,
    ES_OD_MEMBER_TYPE_GROUP_UUID = 2,
} es_od_member_type_t;

typedef enum {
    ES_GATEKEEPER_USER_OVERRIDE_FILE_TYPE_PATH = 0,
    ES_GATEKEEPER_USER_OVERRIDE_FILE_TYPE_FILE = 1,
} es_gatekeeper_user_override_file_type_t;

typedef enum {
    ES_SET = 0,
    ES_CLEAR = 1,
} es_set_or_clear_t;

struct _acl {
    const char *text;
};
typedef struct _acl *acl_t;

struct attrlist {
    unsigned short bitmapcount;
    uint16_t reserved;
    uint32_t commonattr;
    uint32_t volattr;
    uint32_t dirattr;
    uint32_t fileattr;
    uint32_t forkattr;
};

struct statfs {
    uint32_t f_bsize;
    int32_t f_iosize;
    uint64_t f_blocks;
    uint64_t f_bfree;
    uint64_t f_bavail;
    uint64_t f_files;
    uint64_t f_ffree;
    struct {
        int32_t val[2];
    } f_fsid;
    uid_t f_owner;
    uint32_t f_type;
    uint32_t f_flags;
    uint32_t f_fssubtype;
    char f_fstypename[16];
    char f_mntonname[1024];
    char f_mntfromname[1024];
    uint32_t f_flags_ext;
    uint32_t f_reserved[7];
};

/* Events before macOS 13: structs inside the message. */
typedef struct {
    es_process_t *target;
    es_string_token_t dyld_exec_path; /* v7 */
    union {
        uint8_t reserved[64];
        struct {
            es_file_t *script;              /* v2 */
            es_file_t *cwd;                 /* v3 */
            int last_fd;                    /* v4 */
            cpu_type_t image_cputype;       /* v6 */
            cpu_subtype_t image_cpusubtype; /* v6 */
        };
    };
} es_event_exec_t;

typedef struct { int32_t fflag; es_file_t *file; } es_event_open_t;
typedef struct { es_string_token_t identifier; } es_event_kextload_t;
typedef struct { es_string_token_t identifier; } es_event_kextunload_t;
typedef struct { es_file_t *target; es_file_t *parent_dir; } es_event_unlink_t;
typedef struct {
    int32_t protection;
    int32_t max_protection;
    int32_t flags;
    uint64_t file_pos;
    es_file_t *source;
} es_event_mmap_t;
typedef struct { es_file_t *source; es_file_t *target_dir; es_string_token_t target_filename; } es_event_link_t;
typedef struct { struct statfs *statfs; int disposition; /* v8 */ } es_event_mount_t;
typedef struct { struct statfs *statfs; } es_event_unmount_t;
typedef struct { struct statfs *statfs; uint64_t remount_flags; int disposition; /* both v8 */ } es_event_remount_t;
typedef struct { es_process_t *child; } es_event_fork_t;
typedef struct { int32_t protection; user_addr_t address; user_size_t size; } es_event_mprotect_t;
typedef struct { int sig; es_process_t *target; es_process_t *instigator; /* v9 */ } es_event_signal_t;
typedef struct {
    es_file_t *source;
    es_destination_type_t destination_type;
    union {
        es_file_t *existing_file;
        struct {
            es_file_t *dir;
            es_string_token_t filename;
        } new_path;
    } destination;
} es_event_rename_t;
typedef struct { es_file_t *target; es_string_token_t extattr; } es_event_setextattr_t;
typedef struct { es_file_t *target; es_string_token_t extattr; } es_event_getextattr_t;
typedef struct { es_file_t *target; es_string_token_t extattr; } es_event_deleteextattr_t;
typedef struct { mode_t mode; es_file_t *target; } es_event_setmode_t;
typedef struct { uint32_t flags; es_file_t *target; } es_event_setflags_t;
typedef struct { uid_t uid; gid_t gid; es_file_t *target; } es_event_setowner_t;
typedef struct {
    bool modified;
    es_file_t *target;
    union {
        uint8_t reserved[64];
        struct {
            bool was_mapped_writable; /* v6 */
        };
    };
} es_event_close_t;
typedef struct {
    es_destination_type_t destination_type;
    union {
        es_file_t *existing_file;
        struct {
            es_file_t *dir;
            es_string_token_t filename;
            mode_t mode;
        } new_path;
    } destination;
    uint8_t reserved2[16];
    union {
        uint8_t reserved[48];
        struct {
            acl_t acl; /* v2 */
        };
    };
} es_event_create_t;
typedef struct { int stat; } es_event_exit_t;
typedef struct { es_file_t *file1; es_file_t *file2; } es_event_exchangedata_t;
typedef struct { es_file_t *target; } es_event_write_t;
typedef struct { es_file_t *target; } es_event_truncate_t;
typedef struct { es_file_t *target; } es_event_chdir_t;
typedef struct { es_file_t *target; } es_event_stat_t;
typedef struct { es_file_t *target; } es_event_chroot_t;
typedef struct { es_file_t *target; } es_event_listextattr_t;
typedef struct {
    uint32_t user_client_type;
    es_string_token_t user_client_class;
    uint64_t parent_registry_id;   /* v10 */
    es_string_token_t parent_path; /* v10 */
} es_event_iokit_open_t;
typedef struct { es_process_t *target; int type; /* v5 */ } es_event_get_task_t;
typedef struct { es_process_t *target; int type; /* v5 */ } es_event_get_task_read_t;
typedef struct { es_process_t *target; int type; /* v5 */ } es_event_get_task_inspect_t;
typedef struct { es_process_t *target; int type; /* v5 */ } es_event_get_task_name_t;
typedef struct { struct attrlist attrlist; es_file_t *target; } es_event_getattrlist_t;
typedef struct { struct attrlist attrlist; es_file_t *target; } es_event_setattrlist_t;
typedef struct { es_file_t *source; es_string_token_t target_path; } es_event_file_provider_update_t;
typedef struct {
    es_process_t *instigator;
    es_file_t *source;
    es_file_t *target;
    audit_token_t instigator_token; /* v8 */
} es_event_file_provider_materialize_t;
typedef struct { es_file_t *source; } es_event_readlink_t;
typedef struct { es_file_t *source_dir; es_string_token_t relative_target; } es_event_lookup_t;
typedef struct { int32_t mode; es_file_t *target; } es_event_access_t;
typedef struct { es_file_t *target; struct timespec atime; struct timespec mtime; } es_event_utimes_t;
typedef struct { es_file_t *source; es_file_t *target_dir; es_string_token_t target_name; } es_event_clone_t;
typedef struct {
    es_file_t *source;
    es_file_t *target_file;
    es_file_t *target_dir;
    es_string_token_t target_name;
    mode_t mode;
    int32_t flags;
} es_event_copyfile_t;
typedef struct { es_file_t *target; int32_t cmd; } es_event_fcntl_t;
typedef struct { es_file_t *target; } es_event_readdir_t;
typedef struct { es_file_t *target; } es_event_fsgetpath_t;
typedef struct { uint8_t reserved[64]; } es_event_settime_t;
typedef struct { es_file_t *target; } es_event_dup_t;
typedef struct { es_file_t *dir; es_string_token_t filename; mode_t mode; } es_event_uipc_bind_t;
typedef struct { es_file_t *file; int domain; int type; int protocol; } es_event_uipc_connect_t;
typedef struct {
    es_file_t *target;
    es_set_or_clear_t set_or_clear;
    union {
        acl_t set;
    } acl;
} es_event_setacl_t;
typedef struct { dev_t dev; } es_event_pty_grant_t;
typedef struct { dev_t dev; } es_event_pty_close_t;
typedef struct { es_process_t *target; int type; int flavor; } es_event_proc_check_t;
typedef struct { struct attrlist attrlist; es_file_t *target; } es_event_searchfs_t;
typedef struct { es_process_t *target; int type; } es_event_proc_suspend_resume_t;
typedef struct { uint8_t reserved[64]; } es_event_cs_invalidated_t;
typedef struct { es_process_t *target; } es_event_trace_t;
typedef struct { es_process_t *target; es_thread_state_t *thread_state; } es_event_remote_thread_create_t;
typedef struct { uid_t uid; } es_event_setuid_t;
typedef struct { uid_t gid; } es_event_setgid_t;
typedef struct { uid_t euid; } es_event_seteuid_t;
typedef struct { uid_t egid; } es_event_setegid_t;
typedef struct { uid_t ruid; uid_t euid; } es_event_setreuid_t;
typedef struct { uid_t rgid; uid_t egid; } es_event_setregid_t;

/* Events since macOS 13: pointers inside the message. */
typedef struct {
    es_process_t *instigator;
    es_string_token_t record_type;
    es_string_token_t record_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_authentication_od_t;
typedef struct {
    es_process_t *instigator;
    int touchid_mode;
    bool has_uid;
    union {
        uid_t uid;
    } uid;
    audit_token_t instigator_token; /* v8 */
} es_event_authentication_touchid_t;
typedef struct {
    es_process_t *instigator;
    es_string_token_t pubkey_hash;
    es_string_token_t token_id;
    es_string_token_t kerberos_principal;
    audit_token_t instigator_token; /* v8 */
} es_event_authentication_token_t;
typedef struct { es_string_token_t username; int type; } es_event_authentication_auto_unlock_t;
typedef struct {
    bool success;
    es_authentication_type_t type;
    union {
        es_event_authentication_od_t *od;
        es_event_authentication_touchid_t *touchid;
        es_event_authentication_token_t *token;
        es_event_authentication_auto_unlock_t *auto_unlock;
    } data;
} es_event_authentication_t;
typedef struct {
    es_string_token_t signature_version;
    es_string_token_t malware_identifier;
    es_string_token_t incident_identifier;
    es_string_token_t detected_path;
    es_string_token_t detected_executable; /* v10 */
} es_event_xp_malware_detected_t;
typedef struct {
    es_string_token_t signature_version;
    es_string_token_t malware_identifier;
    es_string_token_t incident_identifier;
    es_string_token_t action_type;
    bool success;
    es_string_token_t result_description;
    es_string_token_t remediated_path;
    audit_token_t *remediated_process_audit_token;
} es_event_xp_malware_remediated_t;
typedef uint32_t es_graphical_session_id_t;
typedef struct { es_string_token_t username; es_graphical_session_id_t graphical_session_id; } es_event_lw_session_login_t;
typedef struct { es_string_token_t username; es_graphical_session_id_t graphical_session_id; } es_event_lw_session_logout_t;
typedef struct { es_string_token_t username; es_graphical_session_id_t graphical_session_id; } es_event_lw_session_lock_t;
typedef struct { es_string_token_t username; es_graphical_session_id_t graphical_session_id; } es_event_lw_session_unlock_t;
typedef struct {
    bool success;
    int source_address_type;
    es_string_token_t source_address;
    es_string_token_t viewer_appleid;
    es_string_token_t authentication_type;
    es_string_token_t authentication_username;
    es_string_token_t session_username;
    bool existing_session;
    es_graphical_session_id_t graphical_session_id;
} es_event_screensharing_attach_t;
typedef struct {
    int source_address_type;
    es_string_token_t source_address;
    es_string_token_t viewer_appleid;
    es_graphical_session_id_t graphical_session_id;
} es_event_screensharing_detach_t;
typedef struct {
    bool success;
    int result_type;
    int source_address_type;
    es_string_token_t source_address;
    es_string_token_t username;
    bool has_uid;
    union {
        uid_t uid;
    } uid;
} es_event_openssh_login_t;
typedef struct {
    int source_address_type;
    es_string_token_t source_address;
    es_string_token_t username;
    uid_t uid;
} es_event_openssh_logout_t;
typedef struct {
    bool success;
    es_string_token_t failure_message;
    es_string_token_t username;
    bool has_uid;
    union {
        uid_t uid;
    } uid;
} es_event_login_login_t;
typedef struct { es_string_token_t username; uid_t uid; } es_event_login_logout_t;
typedef struct {
    int item_type;
    bool legacy;
    bool managed;
    uid_t uid;
    es_string_token_t item_url;
    es_string_token_t app_url;
} es_btm_launch_item_t;
typedef struct {
    es_process_t *instigator;
    es_process_t *app;
    es_btm_launch_item_t *item;
    es_string_token_t executable_path;
    audit_token_t *instigator_token; /* v8 */
    audit_token_t *app_token;        /* v8 */
} es_event_btm_launch_item_add_t;
typedef struct {
    es_process_t *instigator;
    es_process_t *app;
    es_btm_launch_item_t *item;
    audit_token_t *instigator_token; /* v8 */
    audit_token_t *app_token;        /* v8 */
} es_event_btm_launch_item_remove_t;

/* macOS 14 and later. */
typedef struct {
    es_string_token_t identifier;
    es_string_token_t uuid;
    int install_source;
    es_string_token_t organization;
    es_string_token_t display_name;
    es_string_token_t scope;
} es_profile_t;
typedef struct {
    es_process_t *instigator;
    bool is_update;
    es_profile_t *profile;
    audit_token_t instigator_token; /* v8 */
} es_event_profile_add_t;
typedef struct {
    es_process_t *instigator;
    es_profile_t *profile;
    audit_token_t instigator_token; /* v8 */
} es_event_profile_remove_t;
typedef struct {
    bool success;
    es_string_token_t failure_message;
    uid_t from_uid;
    es_string_token_t from_username;
    bool has_to_uid;
    union {
        uid_t uid;
    } to_uid;
    es_string_token_t to_username;
    es_string_token_t shell;
    size_t argc;
    es_string_token_t *argv;
    size_t env_count;
    es_string_token_t *env;
} es_event_su_t;
typedef struct {
    es_string_token_t plugin_name;
    int plugin_type;
    es_string_token_t failure_message;
} es_sudo_reject_info_t;
typedef struct {
    bool success;
    es_sudo_reject_info_t *reject_info;
    bool has_from_uid;
    union {
        uid_t uid;
    } from_uid;
    es_string_token_t from_username;
    bool has_to_uid;
    union {
        uid_t uid;
    } to_uid;
    es_string_token_t to_username;
    es_string_token_t command;
} es_event_sudo_t;
typedef struct {
    es_process_t *instigator;
    es_process_t *petitioner;
    uint32_t flags;
    size_t right_count;
    es_string_token_t *rights;
    audit_token_t instigator_token; /* v8 */
    audit_token_t petitioner_token; /* v8 */
} es_event_authorization_petition_t;
typedef struct {
    es_string_token_t right_name;
    int rule_class;
    bool granted;
} es_authorization_result_t;
typedef struct {
    es_process_t *instigator;
    es_process_t *petitioner;
    int return_code;
    size_t result_count;
    es_authorization_result_t *results;
    audit_token_t instigator_token; /* v8 */
    audit_token_t petitioner_token; /* v8 */
} es_event_authorization_judgement_t;
typedef struct {
    es_od_member_type_t member_type;
    union {
        uuid_t uuid;
        es_string_token_t name;
    } member_value;
} es_od_member_id_t;
typedef struct {
    es_od_member_type_t member_type;
    size_t member_count;
    union {
        uuid_t *uuids;
        es_string_token_t *names;
    } member_array;
} es_od_member_id_array_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t group_name;
    es_od_member_id_t *member;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_group_add_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t group_name;
    es_od_member_id_t *member;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_group_remove_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t group_name;
    es_od_member_id_array_t *members;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_group_set_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    int account_type;
    es_string_token_t account_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_modify_password_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t user_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_disable_user_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t user_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_enable_user_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t user_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_create_user_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t user_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_delete_user_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    int record_type;
    es_string_token_t record_name;
    es_string_token_t attribute_name;
    es_string_token_t attribute_value;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_attribute_value_add_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    int record_type;
    es_string_token_t record_name;
    es_string_token_t attribute_name;
    es_string_token_t attribute_value;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_attribute_value_remove_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    int record_type;
    es_string_token_t record_name;
    es_string_token_t attribute_name;
    size_t attribute_value_count;
    es_string_token_t *attribute_values;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_attribute_set_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t group_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_create_group_t;
typedef struct {
    es_process_t *instigator;
    int error_code;
    es_string_token_t group_name;
    es_string_token_t node_name;
    es_string_token_t db_path;
    audit_token_t instigator_token; /* v8 */
} es_event_od_delete_group_t;
typedef struct {
    es_string_token_t service_name;
    int service_domain_type;
} es_event_xpc_connect_t;
typedef struct {
    es_cdhash_t cdhash;
    es_string_token_t signing_id;
    es_string_token_t team_id;
} es_signed_file_info_t;
typedef struct {
    es_gatekeeper_user_override_file_type_t file_type;
    union {
        es_string_token_t file_path;
        es_file_t *file;
    } file;
    es_sha256_t *sha256;
    es_signed_file_info_t *signing_info;
} es_event_gatekeeper_user_override_t;
typedef struct {
    es_string_token_t service;
    es_string_token_t identity;
    int identity_type;
    int update_type;
    audit_token_t instigator_token;
    es_process_t *instigator;
    audit_token_t *responsible_token;
    es_process_t *responsible;
    int right;
    int reason;
} es_event_tcc_modify_t;

typedef union {
    es_event_access_t access;
    es_event_chdir_t chdir;
    es_event_chroot_t chroot;
    es_event_clone_t clone;
    es_event_close_t close;
    es_event_copyfile_t copyfile;
    es_event_create_t create;
    es_event_cs_invalidated_t cs_invalidated;
    es_event_deleteextattr_t deleteextattr;
    es_event_dup_t dup;
    es_event_exchangedata_t exchangedata;
    es_event_exec_t exec;
    es_event_exit_t exit;
    es_event_file_provider_materialize_t file_provider_materialize;
    es_event_file_provider_update_t file_provider_update;
    es_event_fcntl_t fcntl;
    es_event_fork_t fork;
    es_event_fsgetpath_t fsgetpath;
    es_event_get_task_t get_task;
    es_event_get_task_read_t get_task_read;
    es_event_get_task_inspect_t get_task_inspect;
    es_event_get_task_name_t get_task_name;
    es_event_getattrlist_t getattrlist;
    es_event_getextattr_t getextattr;
    es_event_iokit_open_t iokit_open;
    es_event_kextload_t kextload;
    es_event_kextunload_t kextunload;
    es_event_link_t link;
    es_event_listextattr_t listextattr;
    es_event_lookup_t lookup;
    es_event_mmap_t mmap;
    es_event_mount_t mount;
    es_event_mprotect_t mprotect;
    es_event_open_t open;
    es_event_proc_check_t proc_check;
    es_event_proc_suspend_resume_t proc_suspend_resume;
    es_event_pty_close_t pty_close;
    es_event_pty_grant_t pty_grant;
    es_event_readdir_t readdir;
    es_event_readlink_t readlink;
    es_event_remote_thread_create_t remote_thread_create;
    es_event_remount_t remount;
    es_event_rename_t rename;
    es_event_searchfs_t searchfs;
    es_event_setacl_t setacl;
    es_event_setattrlist_t setattrlist;
    es_event_setextattr_t setextattr;
    es_event_setflags_t setflags;
    es_event_setmode_t setmode;
    es_event_setowner_t setowner;
    es_event_settime_t settime;
    es_event_setuid_t setuid;
    es_event_setgid_t setgid;
    es_event_seteuid_t seteuid;
    es_event_setegid_t setegid;
    es_event_setreuid_t setreuid;
    es_event_setregid_t setregid;
    es_event_signal_t signal;
    es_event_stat_t stat;
    es_event_trace_t trace;
    es_event_truncate_t truncate;
    es_event_uipc_bind_t uipc_bind;
    es_event_uipc_connect_t uipc_connect;
    es_event_unlink_t unlink;
    es_event_unmount_t unmount;
    es_event_utimes_t utimes;
    es_event_write_t write;
    es_event_authentication_t *authentication;
    es_event_xp_malware_detected_t *xp_malware_detected;
    es_event_xp_malware_remediated_t *xp_malware_remediated;
    es_event_lw_session_login_t *lw_session_login;
    es_event_lw_session_logout_t *lw_session_logout;
    es_event_lw_session_lock_t *lw_session_lock;
    es_event_lw_session_unlock_t *lw_session_unlock;
    es_event_screensharing_attach_t *screensharing_attach;
    es_event_screensharing_detach_t *screensharing_detach;
    es_event_openssh_login_t *openssh_login;
    es_event_openssh_logout_t *openssh_logout;
    es_event_login_login_t *login_login;
    es_event_login_logout_t *login_logout;
    es_event_btm_launch_item_add_t *btm_launch_item_add;
    es_event_btm_launch_item_remove_t *btm_launch_item_remove;
    es_event_profile_add_t *profile_add;
    es_event_profile_remove_t *profile_remove;
    es_event_su_t *su;
    es_event_authorization_petition_t *authorization_petition;
    es_event_authorization_judgement_t *authorization_judgement;
    es_event_sudo_t *sudo;
    es_event_od_group_add_t *od_group_add;
    es_event_od_group_remove_t *od_group_remove;
    es_event_od_group_set_t *od_group_set;
    es_event_od_modify_password_t *od_modify_password;
    es_event_od_disable_user_t *od_disable_user;
    es_event_od_enable_user_t *od_enable_user;
    es_event_od_attribute_value_add_t *od_attribute_value_add;
    es_event_od_attribute_value_remove_t *od_attribute_value_remove;
    es_event_od_attribute_set_t *od_attribute_set;
    es_event_od_create_user_t *od_create_user;
    es_event_od_create_group_t *od_create_group;
    es_event_od_delete_user_t *od_delete_user;
    es_event_od_delete_group_t *od_delete_group;
    es_event_xpc_connect_t *xpc_connect;
    es_event_gatekeeper_user_override_t *gatekeeper_user_override;
    es_event_tcc_modify_t *tcc_modify;
} es_events_t;

typedef struct {
    uint8_t reserved[32];
} es_event_id_t;

typedef struct {
    es_result_type_t result_type;
    union {
        es_auth_result_t auth;
        uint32_t flags;
        uint8_t reserved[32];
    } result;
} es_result_t;

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
    uint64_t opaque[1];      /* the simulator's es_sim_exec_lists (exec only) */
} es_message_t;

/* What es_exec_arg/env/fd read: the test builds it and points opaque[0] at it. */
typedef struct {
    uint32_t argc;
    es_string_token_t *args;
    uint32_t envc;
    es_string_token_t *env;
    uint32_t fdc;
    es_fd_t *fds;
} es_sim_exec_lists;

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

typedef enum {
    ES_RESPOND_RESULT_SUCCESS = 0,
    ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT = 1,
    ES_RESPOND_RESULT_ERR_INTERNAL = 2,
    ES_RESPOND_RESULT_NOT_FOUND = 3,
    ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE = 4,
    ES_RESPOND_RESULT_ERR_EVENT_TYPE = 5,
} es_respond_result_t;

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
    ES_MUTE_INVERSION_TYPE_LAST = 3,
} es_mute_inversion_type_t;

typedef enum {
    ES_MUTE_INVERTED = 0,
    ES_MUTE_NOT_INVERTED = 1,
    ES_MUTE_INVERTED_ERROR = 2,
} es_mute_inverted_return_t;
/* cdef-end */

typedef struct es_client_s es_client_t;

/* The simulator's stand-in for a block (see the comment at the top). */
typedef struct {
    void (*fn)(void *context, es_client_t *client, const es_message_t *message);
    void *context;
} es_handler_block_t;

/* The client API.  Availability as in Apple's documentation: the simulator records
   a call the simulated macOS does not have as a violation (a crash on a real Mac). */
es_new_client_result_t es_new_client(es_client_t **client, es_handler_block_t handler); /* 10.15 */
es_return_t es_delete_client(es_client_t *client);                                       /* 10.15 */
es_return_t es_subscribe(es_client_t *client, const es_event_type_t *events, uint32_t event_count);
es_return_t es_unsubscribe_all(es_client_t *client);
es_respond_result_t es_respond_auth_result(es_client_t *client, const es_message_t *message, es_auth_result_t result,
                                           bool cache);
es_respond_result_t es_respond_flags_result(es_client_t *client, const es_message_t *message,
                                            uint32_t authorized_flags, bool cache);
es_return_t es_mute_process(es_client_t *client, const audit_token_t *audit_token);
es_return_t es_mute_path_prefix(es_client_t *client, const char *path_prefix);   /* 10.15, deprecated 12.0 */
es_return_t es_mute_path_literal(es_client_t *client, const char *path_literal); /* 10.15, deprecated 12.0 */
es_return_t es_mute_path(es_client_t *client, const char *path, es_mute_path_type_t type); /* 12.0 */
es_return_t es_mute_path_events(es_client_t *client, const char *path, es_mute_path_type_t type,
                                const es_event_type_t *events, size_t event_count); /* 12.0 */
es_return_t es_unmute_path(es_client_t *client, const char *path, es_mute_path_type_t type); /* 12.0 */
es_return_t es_unmute_path_events(es_client_t *client, const char *path, es_mute_path_type_t type,
                                  const es_event_type_t *events, size_t event_count); /* 12.0 */
es_return_t es_unmute_all_paths(es_client_t *client);                                /* 10.15 */
es_return_t es_unmute_all_target_paths(es_client_t *client);                         /* 13.0 */
es_return_t es_invert_muting(es_client_t *client, es_mute_inversion_type_t mute_type); /* 13.0 */
es_mute_inverted_return_t es_muting_inverted(es_client_t *client, es_mute_inversion_type_t mute_type); /* 13.0 */

uint32_t es_exec_arg_count(const es_event_exec_t *event);
uint32_t es_exec_env_count(const es_event_exec_t *event);
uint32_t es_exec_fd_count(const es_event_exec_t *event); /* 11.0 */
es_string_token_t es_exec_arg(const es_event_exec_t *event, uint32_t index);
es_string_token_t es_exec_env(const es_event_exec_t *event, uint32_t index);
const es_fd_t *es_exec_fd(const es_event_exec_t *event, uint32_t index); /* 11.0 */

/* <sys/acl.h>: what the shim needs to turn an ES acl_t into text. */
ssize_t acl_size(acl_t acl);
ssize_t acl_copy_ext(void *buf, acl_t acl, ssize_t size);
acl_t acl_copy_int(const void *buf);
char *acl_to_text(acl_t acl, ssize_t *len);
int acl_free(void *obj);

#endif
