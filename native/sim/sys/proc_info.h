/* Simulated <sys/proc_info.h>: the libproc fd type the shim names (pipes carry a pipe_id). */
#ifndef ESF_SIM_PROC_INFO_H
#define ESF_SIM_PROC_INFO_H
#define PROX_FDTYPE_VNODE 1
#define PROX_FDTYPE_PIPE 6
#endif
