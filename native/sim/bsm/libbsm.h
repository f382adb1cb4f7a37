/*
 * Simulated <bsm/libbsm.h> for Linux tests: the audit token and the accessors the
 * shim uses, with the eight token values in the order auid, euid, egid, ruid, rgid,
 * pid, asid, pidversion (the order of libbsm's accessors and of eslogger's array
 * form).  osq-esf's own, not Apple's header.
 */
#ifndef ESF_SIM_LIBBSM_H
#define ESF_SIM_LIBBSM_H

#include <sys/types.h>

typedef struct {
    unsigned int val[8];
} audit_token_t;

typedef int au_asid_t;

uid_t audit_token_to_auid(audit_token_t token);
uid_t audit_token_to_euid(audit_token_t token);
gid_t audit_token_to_egid(audit_token_t token);
uid_t audit_token_to_ruid(audit_token_t token);
gid_t audit_token_to_rgid(audit_token_t token);
pid_t audit_token_to_pid(audit_token_t token);
au_asid_t audit_token_to_asid(audit_token_t token);
int audit_token_to_pidversion(audit_token_t token);

#endif
