/*
 * health.c - how an attempt's outcome, or an operator's action, moves a
 * target's health record (event/health.h). Pure: the store calls it inside
 * the attempt's transaction.
 */
#include "event/health.h"

#include "core/timefmt.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {"healthy", "failing", "open", "disabled"};

static const char *const change_names[] = {
    NULL,      "circuit-opened", "circuit-closed", "disabled",
    "enabled", "paused",         "resumed",        "delivery-dead",
};

void hr_health_init(hr_target_health *h, const char *target)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->target, sizeof(h->target), "%s", target != NULL ? target : "");
}

const char *hr_health_state_name(hr_health_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "healthy";
}

int hr_health_state_from_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (strcmp(state_names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *hr_health_shown(const hr_target_health *h)
{
    if (h->paused && h->state != HR_HEALTH_DISABLED)
        return "paused";
    return hr_health_state_name(h->state);
}

const char *hr_health_change_name(hr_health_change c)
{
    return (unsigned)c < sizeof(change_names) / sizeof(change_names[0]) ? change_names[c] : NULL;
}

bool hr_health_releases(hr_health_change c)
{
    return c == HR_CHANGE_CLOSED || c == HR_CHANGE_ENABLED || c == HR_CHANGE_RESUMED;
}

/* Copies src, cut short at a character's start so that what is kept stays
 * UTF-8 (errors quote answers; JSON needs whole characters). */
static void set_text(char *dst, size_t size, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

/* A failure that counts against the target: the circuit and disabling. */
static hr_health_change count_failure(hr_target_health *h, const hr_attempt *a, int64_t now,
                                      char *reason, size_t size)
{
    const hr_health_policy *p = &a->policy;
    char since[32];

    h->consecutive_failures++;
    h->last_failure_at = now;
    if (h->failing_since == 0)
        h->failing_since = a->started_at > 0 && a->started_at < now ? a->started_at : now;
    if (h->state == HR_HEALTH_DISABLED)
        return HR_CHANGE_NONE;
    if (p->disable_after_ms > 0 && now - h->failing_since >= p->disable_after_ms) {
        hr_time_format(h->failing_since, since, sizeof(since));
        snprintf(h->disabled_reason, sizeof(h->disabled_reason),
                 "failing continuously since %s (%lld failures in a row): longer than "
                 "disable_after",
                 since, (long long)h->consecutive_failures);
        h->state = HR_HEALTH_DISABLED;
        snprintf(reason, size, "%s", h->disabled_reason);
        return HR_CHANGE_DISABLED;
    }
    if (h->state == HR_HEALTH_OPEN) {
        /* Only a probe (started after the circuit opened) moves the next
         * probe; requests already in flight when it opened do not. */
        if (a->started_at >= h->opened_at) {
            int64_t wait = h->probe_interval_ms > 0 ? h->probe_interval_ms : p->probe_initial_ms;
            h->next_probe_at = now + wait;
            h->probe_interval_ms = wait > p->probe_max_ms / 2 ? p->probe_max_ms : wait * 2;
        }
        return HR_CHANGE_NONE;
    }
    h->state = HR_HEALTH_FAILING;
    if (p->failures > 0 && h->consecutive_failures >= p->failures) {
        h->state = HR_HEALTH_OPEN;
        h->opened_at = now;
        h->next_probe_at = now + p->probe_initial_ms;
        h->probe_interval_ms =
            p->probe_initial_ms > p->probe_max_ms / 2 ? p->probe_max_ms : p->probe_initial_ms * 2;
        snprintf(reason, size, "%lld failures in a row; the last: %s",
                 (long long)h->consecutive_failures, h->last_error);
        return HR_CHANGE_OPENED;
    }
    return HR_CHANGE_NONE;
}

hr_health_change hr_health_after_attempt(hr_target_health *h, const hr_attempt *a, int64_t now,
                                         char *reason, size_t size)
{
    reason[0] = '\0';
    h->updated_at = now;
    h->version++;
    if (a->status == 410) {
        set_text(h->last_error, sizeof(h->last_error), a->error);
        h->last_failure_at = now;
        if (h->state == HR_HEALTH_DISABLED)
            return HR_CHANGE_NONE;
        h->state = HR_HEALTH_DISABLED;
        set_text(h->disabled_reason, sizeof(h->disabled_reason),
                 "the target answered 410 Gone: it asks not to be sent anything more");
        snprintf(reason, size, "%s", h->disabled_reason);
        return HR_CHANGE_DISABLED;
    }
    if (a->outcome == HR_OUTCOME_DELIVERED) {
        hr_health_state before = h->state;
        int64_t failures = h->consecutive_failures;
        h->consecutive_failures = 0;
        h->failing_since = 0;
        h->last_success_at = now;
        h->next_probe_at = 0;
        h->probe_interval_ms = 0;
        if (h->state == HR_HEALTH_DISABLED)
            return HR_CHANGE_NONE; /* an attempt in flight when it was disabled */
        h->state = HR_HEALTH_HEALTHY;
        if (before == HR_HEALTH_OPEN) {
            snprintf(reason, size, "a probe was delivered after %lld failures in a row",
                     (long long)failures);
            return HR_CHANGE_CLOSED;
        }
        return HR_CHANGE_NONE;
    }
    if (a->outcome == HR_OUTCOME_RETRY && a->status != 429) {
        set_text(h->last_error, sizeof(h->last_error), a->error);
        return count_failure(h, a, now, reason, size);
    }
    if (a->outcome == HR_OUTCOME_DEAD && !a->own_event) {
        snprintf(reason, size, "delivery %lld is dead after %d attempts: %s",
                 (long long)a->delivery_id, a->attempt, a->error != NULL ? a->error : "");
        return HR_CHANGE_DEAD;
    }
    return HR_CHANGE_NONE;
}

hr_health_change hr_health_act(hr_target_health *h, hr_health_action act, int64_t now, char *reason,
                               size_t size)
{
    reason[0] = '\0';
    h->updated_at = now;
    h->version++;
    switch (act) {
    case HR_ACTION_PAUSE:
        if (h->paused)
            return HR_CHANGE_NONE;
        h->paused = true;
        snprintf(reason, size, "paused by an operator");
        return HR_CHANGE_PAUSED;
    case HR_ACTION_RESUME:
        if (!h->paused)
            return HR_CHANGE_NONE;
        h->paused = false;
        snprintf(reason, size, "resumed by an operator");
        return HR_CHANGE_RESUMED;
    case HR_ACTION_ENABLE: {
        bool was = h->state == HR_HEALTH_DISABLED;
        h->state = HR_HEALTH_HEALTHY;
        h->consecutive_failures = 0;
        h->failing_since = 0;
        h->next_probe_at = 0;
        h->probe_interval_ms = 0;
        h->disabled_reason[0] = '\0';
        if (!was)
            return HR_CHANGE_NONE;
        snprintf(reason, size, "enabled by an operator");
        return HR_CHANGE_ENABLED;
    }
    }
    return HR_CHANGE_NONE;
}
