/*
 * jq_sandbox.h - shared by jq.c and jq_sandbox.c only: the prelude that
 * keeps a program from the process (every program is compiled as
 * hr__jq_prelude followed by the program, on the program's first line), and the watchdog that gives
 * each run its budget (HR_MAX_JQ_RUN_MS of the running thread's CPU time, src/core/limits.h).
 */
#ifndef HR_ROUTE_JQ_SANDBOX_H
#define HR_ROUTE_JQ_SANDBOX_H

#include <jq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Threads that run jq get this much stack: libjq frees and compares
 * values recursively, and a program can nest a value a few hundred
 * thousand levels deep within its budget (8 MiB, the usual default,
 * overflows at about 250,000). Only the pages used are ever committed. */
#define HR__JQ_STACK_BYTES (64u * 1024u * 1024u)

extern const char hr__jq_prelude[];
extern const size_t hr__jq_prelude_len;

/* One program's standing with the watchdog. All but jq change only under
 * the watchdog's lock. */
typedef struct hr__jq_watch {
    jq_state *jq; /* set once, before the first run */
    struct hr__jq_watch *prev, *next;
    clockid_t cpu;      /* the running thread's CPU-time clock */
    int64_t cpu_start;  /* its reading when the run began, in us */
    int64_t next_check; /* monotonic us: when to look at the run again */
    bool armed;         /* watched: the watchdog may halt it */
    bool fired;         /* the watchdog halted this run */
} hr__jq_watch;

/* Call right after jq_start, on the thread that runs the program: its
 * budget starts now. The watchdog thread starts with the first call. */
void hr__jq_watch_arm(hr__jq_watch *w);
/* Call when jq_next returns, before touching the jq_state again: from
 * here the watchdog leaves it alone. Returns whether it halted the run. */
bool hr__jq_watch_disarm(hr__jq_watch *w);
/* libjq's input callback, with the watch as its data: only the prelude's
 * halt and halt_error reach it, just before the program halts itself. */
jv hr__jq_watch_on_input(jq_state *jq, void *data);

#endif
