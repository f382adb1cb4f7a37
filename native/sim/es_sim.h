/*
 * Test hooks of the simulated libEndpointSecurity (native/sim/es_sim.c).  Only the
 * simulator build of _esf_native exposes them; native/build.py reads the cdef from
 * between the markers.
 *
 * The simulator is strict where the real API is unforgiving: a bounded kernel queue
 * per client that drops and numbers messages the way ES does, calls that fail on
 * demand, a handler that may run once more after es_delete_client returns, Apple's
 * default mute set, AUTH deadlines, and calls the simulated macOS does not have.
 * What a real Mac would punish with a crash or a killed client is recorded as a
 * violation (es_sim_violations); the tests fail on any.
 */
#ifndef ESF_ES_SIM_H
#define ESF_ES_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <EndpointSecurity/EndpointSecurity.h>

/* cdef-begin */
/* Back to the defaults: macOS 26.0, every call succeeds, queue limit 1024, AUTH
   deadline 100 ms, no default mute set, no late handler; empty logs. */
void es_sim_reset(void);
/* The macOS that __builtin_available and the API's availability see. */
void es_sim_set_os_version(int major, int minor);
/* What es_new_client returns from now on (an es_new_client_result_t). */
void es_sim_set_new_client_result(int result);
/* The next `times` calls of `call` ("subscribe", "mute_path_events", "delete_client",
   ... the es_ name without its prefix) fail with ES_RETURN_ERROR. */
void es_sim_fail(const char *call, int times);
/* Shift CLOCK_REALTIME as the shim sees it, like a system clock change. */
void es_sim_set_wall_clock_offset(long long seconds);
/* Kernel queue length of clients created from now on (messages waiting for the handler). */
void es_sim_set_queue_limit(size_t limit);
/* Milliseconds a handler has to answer an AUTH message. */
void es_sim_set_auth_deadline_ms(int ms);
/* An entry of the default mute set every new client starts with. */
void es_sim_add_default_mute(const char *path, int type, const uint32_t *events, size_t count);
/* Make the kernel generate a message for the client, as a syscall would: checks the
   subscription and the mutes, numbers it (seq_num per type, global_seq_num), then
   queues a copy of the top-level struct (what it points to stays the caller's).
   0 queued; 1 not subscribed; 2 muted; 3 dropped (queue full: the numbers advanced);
   4 the client is dead (killed for a missed deadline); -1 bad arguments. */
int es_sim_deliver(const void *client, const es_message_t *message);
/* Subscribe the client to one type behind the shim's back (es_subscribe as any code
   in the process could call it): how a test gets an AUTH message to the handler. */
int es_sim_subscribe(const void *client, uint32_t event_type);
/* `count` messages of `event_type` dropped by the kernel (their numbers are used up). */
void es_sim_drop(const void *client, uint32_t event_type, uint64_t count);
uint64_t es_sim_dropped(const void *client);
/* Wait until the client's queue is empty and its handler returned: 0, or -1 on timeout. */
int es_sim_wait_idle(const void *client, int timeout_ms);
/* After es_delete_client returns, call the handler once more with this message. */
void es_sim_set_late_message(const void *client, const es_message_t *message);
/* Let that late call run (the caller of es_delete_client has returned) and wait for
   it to return: 0, or -1 on timeout. */
int es_sim_wait_late(int timeout_ms);
/* The client's path mutes, one per line: "<type> <path> <event,...>". */
size_t es_sim_muted_paths(const void *client, char *buf, size_t cap);
/* The ES calls made so far, one per line ("subscribe 1 9,11,15"). */
size_t es_sim_calls(char *buf, size_t cap);
/* What a real Mac would not have let pass, one per line; "" when none. */
size_t es_sim_violations(char *buf, size_t cap);
/* cdef-end */

#endif
