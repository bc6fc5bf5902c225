/*
 * health.h - a target's health as the store and the delivery engine both
 * see it: the record kept per target (healthy, failing, circuit open,
 * disabled; paused beside them), the policy that moves it (the circuit's
 * settings), and the one function that decides what an attempt's outcome,
 * or an operator's action, does to it.
 *
 * The store keeps one record per target and moves it in the same
 * transaction as the attempt that moved it (store/items.c), so the record
 * is state, read in O(1), never recomputed from the attempts. The delivery
 * engine reads the records to decide what it may claim (deliver/health.c).
 * This file is pure: no I/O, no clock, no globals.
 */
#ifndef HR_EVENT_HEALTH_H
#define HR_EVENT_HEALTH_H

#include "event/delivery.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HR_HEALTH_HEALTHY = 0, /* the last attempt that counted succeeded (or none yet) */
    HR_HEALTH_FAILING,     /* failing, fewer than the policy's failures in a row */
    HR_HEALTH_OPEN,        /* the circuit is open: only a probe now and then */
    HR_HEALTH_DISABLED,    /* a 410, or failing longer than disable_after: held until enabled */
} hr_health_state;

/* What happened to a target, as its health event names it. */
typedef enum {
    HR_CHANGE_NONE = 0,
    HR_CHANGE_OPENED,
    HR_CHANGE_CLOSED,
    HR_CHANGE_DISABLED,
    HR_CHANGE_ENABLED,
    HR_CHANGE_PAUSED,
    HR_CHANGE_RESUMED,
    HR_CHANGE_DEAD, /* one of its deliveries became a dead letter */
} hr_health_change;

/* An operator's action on a target (API, CLI). */
typedef enum { HR_ACTION_PAUSE = 1, HR_ACTION_RESUME, HR_ACTION_ENABLE } hr_health_action;

#define HR_HEALTH_TARGET_MAX 128
#define HR_HEALTH_TEXT_MAX 256

typedef struct hr_target_health {
    char target[HR_HEALTH_TARGET_MAX];
    hr_health_state state;
    bool paused; /* by an operator; kept apart from state so resume restores it */
    int64_t consecutive_failures;
    int64_t failing_since;     /* ms; 0 while healthy */
    int64_t last_success_at;   /* ms; 0: never */
    int64_t last_failure_at;   /* ms; 0: never */
    int64_t opened_at;         /* ms; when the circuit last opened */
    int64_t next_probe_at;     /* ms; while open: when the next probe may start */
    int64_t probe_interval_ms; /* while open: the wait after the next failed probe */
    int64_t updated_at;        /* ms */
    int64_t version;           /* grows with every write: the engine sees a probe recorded */
    char last_error[HR_HEALTH_TEXT_MAX];
    char disabled_reason[HR_HEALTH_TEXT_MAX];
} hr_target_health;

/* A fresh record for target: healthy, nothing seen. */
void hr_health_init(hr_target_health *h, const char *target);

/* "healthy", "failing", "open", "disabled"; and back (-1: unknown). */
const char *hr_health_state_name(hr_health_state s);
int hr_health_state_from_name(const char *name);
/* What people see: "paused" when paused and not disabled, else the state's name. */
const char *hr_health_shown(const hr_target_health *h);
/* "circuit-opened", "circuit-closed", "disabled", "enabled", "paused",
 * "resumed", "delivery-dead"; NULL for none. */
const char *hr_health_change_name(hr_health_change c);

/*
 * Moves h by one attempt's outcome a (a->policy says when the circuit
 * opens and disables) at now. Returns what changed, with why in reason:
 *   - a 410 disables at once;
 *   - a delivered attempt closes an open circuit and clears the failures;
 *   - a retryable failure (but 429, which only asks to slow down) counts:
 *     at policy.failures in a row the circuit opens, with a probe after
 *     probe_initial; each failed probe (an attempt started after the
 *     circuit opened) doubles the wait up to probe_max; failing for
 *     longer than disable_after disables the target;
 *   - a dead letter changes nothing but is named (HR_CHANGE_DEAD), unless
 *     its event is one of herald's own health events (no loop).
 */
hr_health_change hr_health_after_attempt(hr_target_health *h, const hr_attempt *a, int64_t now,
                                         char *reason, size_t size);

/* Moves h by an operator's action. Returns what changed (none when the
 * action changes nothing: resuming a target that is not paused). Enabling
 * a target that is not disabled only clears its failures. */
hr_health_change hr_health_act(hr_target_health *h, hr_health_action act, int64_t now, char *reason,
                               size_t size);

/* Whether the change lets held deliveries flow again (closed, enabled,
 * resumed): the store then makes them due at once, oldest first. */
bool hr_health_releases(hr_health_change c);

#endif
