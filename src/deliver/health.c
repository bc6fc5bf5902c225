/*
 * health.c - what the delivery engine does with its targets' health
 * (event/health.h): which targets it may claim for, the one probe of a
 * target whose circuit is open, what each attempt carries to the store so
 * that the writer can move the target's record, and which deliveries are
 * held rather than given up.
 *
 * The records are the store's (moved in each attempt's transaction, and
 * by operators: pause, resume, enable); the engine reads them all once per
 * claim round (one small query) and keeps that snapshot. A probe is
 * remembered with the record's version when it started: until the store
 * has recorded it (the version moved), no other probe starts, even though
 * the snapshot still says a probe is due.
 *
 * Delivery thread only.
 */
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "deliver/engine.h"

#include <stdio.h>
#include <string.h>

#define SUB "deliver"

/* The snapshot's record for name, or NULL (a target nothing was recorded
 * for yet: healthy). */
static const hr_target_health *find(const hr_deliver *d, const char *name)
{
    for (size_t i = 0; i < d->nhealth; i++)
        if (strcmp(d->health[i].target, name) == 0)
            return &d->health[i];
    return NULL;
}

static probe_mark *find_probe(hr_deliver *d, const char *name)
{
    for (size_t i = 0; i < d->nprobes; i++)
        if (strcmp(d->probes[i].target, name) == 0)
            return &d->probes[i];
    return NULL;
}

void hr_deliver__health_refresh(hr_deliver *d)
{
    hr_target_health *list = NULL;
    size_t n = 0;
    hr_error err;

    if (d->src.health == NULL)
        return;
    hr_error_clear(&err);
    if (d->src.health(d->src.ctx, &list, &n, &err) != HR_OK) {
        /* The last snapshot stands: better than forgetting a pause. */
        hr_log_warn(SUB, "cannot read the targets' health: %s", err.msg);
        return;
    }
    free(d->health);
    d->health = list;
    d->nhealth = n;
    /* A probe the store has recorded (its target's record moved on) no
     * longer holds the next one back. */
    for (size_t i = 0; i < d->nprobes;) {
        const hr_target_health *h = find(d, d->probes[i].target);
        if (h == NULL || h->version != d->probes[i].version || h->state != HR_HEALTH_OPEN)
            d->probes[i] = d->probes[--d->nprobes];
        else
            i++;
    }
}

size_t hr_deliver__health_room(hr_deliver *d, const char *target, size_t room, int in_flight)
{
    const hr_target_health *h = find(d, target);

    if (h == NULL || room == 0)
        return room;
    if (h->paused || h->state == HR_HEALTH_DISABLED)
        return 0;
    if (h->state == HR_HEALTH_OPEN) {
        /* One probe at a time, once its time has come. */
        if (in_flight > 0 || find_probe(d, target) != NULL || hr_time_now_ms() < h->next_probe_at)
            return 0;
        return 1;
    }
    /* Here the rate limiter (issue 16's rate_limit:) narrows room too. */
    return room;
}

int64_t hr_deliver__health_wake_us(hr_deliver *d)
{
    int64_t now = hr_time_now_ms(), next = INT64_MAX;

    /* Only a probe still to come: one already due but held back (a request
     * in flight) waits for the next round, not in a busy loop. */
    for (size_t i = 0; i < d->nhealth; i++) {
        const hr_target_health *h = &d->health[i];
        if (h->state == HR_HEALTH_OPEN && !h->paused && h->next_probe_at > now &&
            h->next_probe_at < next && find_probe(d, h->target) == NULL)
            next = h->next_probe_at;
    }
    return next == INT64_MAX ? INT64_MAX : hr_time_mono_us() + (next - now) * 1000;
}

void hr_deliver__health_started(hr_deliver *d, const char *target)
{
    const hr_target_health *h = find(d, target);

    if (h == NULL || h->state != HR_HEALTH_OPEN || find_probe(d, target) != NULL)
        return;
    if (d->nprobes == d->capprobes) {
        d->capprobes = d->capprobes ? d->capprobes * 2 : 4;
        d->probes = hr_realloc(d->probes, d->capprobes * sizeof(*d->probes));
    }
    snprintf(d->probes[d->nprobes].target, sizeof(d->probes[d->nprobes].target), "%s", target);
    d->probes[d->nprobes].version = h->version;
    d->nprobes++;
    hr_log_info(SUB,
                "%s: its circuit is open after %lld failures in a row; probing it with one "
                "delivery",
                target, (long long)h->consecutive_failures);
}

void hr_deliver__health_judge(hr_deliver *d, const xfer *x, hr_attempt *a, int64_t now)
{
    const hr_target *t = hr_config_target(d->cfg, x->target);
    hr_circuit_settings c;

    hr_config_circuit(d->cfg, t, &c);
    a->target = x->target;
    a->policy.failures = c.failures;
    a->policy.probe_initial_ms = c.probe_initial_ms;
    a->policy.probe_max_ms = c.probe_max_ms;
    a->policy.disable_after_ms = c.disable_after_ms;
    a->own_event = x->own_event;
    /* 410 Gone disables the target (the store decides that); the delivery
     * itself is held with the others until an operator enables the target
     * or drops them, not dead. */
    if (a->status == 410 && a->outcome != HR_OUTCOME_DELIVERED) {
        a->outcome = HR_OUTCOME_RETRY;
        a->next_at = now;
    }
}

bool hr_deliver__health_holds(hr_deliver *d, const xfer *x)
{
    const hr_target_health *h = find(d, x->target);
    hr_circuit_settings c;

    /* The target fails as a whole (at least as many failures in a row as
     * this delivery has had attempts, or its circuit open): the attempts
     * were the target's outage, not this delivery's fault, so it waits
     * with the others instead of becoming a dead letter. */
    if (h == NULL)
        return false;
    /* Without a circuit (failures: 0) nothing would bound the attempts of
     * a target that stays down: max_attempts does, as before. */
    hr_config_circuit(d->cfg, hr_config_target(d->cfg, x->target), &c);
    if (c.failures == 0)
        return false;
    return h->state == HR_HEALTH_OPEN || h->state == HR_HEALTH_DISABLED || h->paused ||
           h->consecutive_failures + 1 >= x->attempt;
}

void hr_deliver__health_free(hr_deliver *d)
{
    free(d->health);
    free(d->probes);
    d->health = NULL;
    d->probes = NULL;
    d->nhealth = d->nprobes = d->capprobes = 0;
}

bool hr_deliver__own_event(const hr_delivery_job *job)
{
    /* Only herald's own events (HR_SOURCE_HERALD) are of this kind. */
    return job->kind != NULL && strcmp(job->kind, HR_KIND_TARGET_HEALTH) == 0;
}
