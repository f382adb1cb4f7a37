/*
 * Simulated <mach/mach.h>: only what the shim uses to read its own audit token
 * (task_info with TASK_AUDIT_TOKEN), answered by native/sim/es_sim.c with this
 * process's pid.  osq-esf's own, written from Apple's documented API.
 */
#ifndef ESF_SIM_MACH_H
#define ESF_SIM_MACH_H

typedef int kern_return_t;
typedef unsigned int mach_port_t;
typedef unsigned int mach_msg_type_number_t;
typedef int *task_info_t;
typedef unsigned int task_flavor_t;

#define KERN_SUCCESS 0
#define TASK_AUDIT_TOKEN 15
#define TASK_AUDIT_TOKEN_COUNT 8u

mach_port_t mach_task_self(void);
kern_return_t task_info(mach_port_t task, task_flavor_t flavor, task_info_t info, mach_msg_type_number_t *count);

#endif
