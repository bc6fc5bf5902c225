/*
 * order.c - ordered delivery in the engine: the keys in flight, and
 * superseding.
 *
 * The store hands out an ordered delivery only as the head of its key
 * (store.h): no older delivery with its target and key still waits. This
 * file is the engine's own guard on top of that rule: it remembers the
 * (target, key) of every busy ordered delivery (from its start until its
 * record is written) and does not start another delivery of a key in
 * flight, whatever the store answered (a replay that made an older one
 * due again, say). Such a job is dropped for this round and claimed again
 * later (on PostgreSQL, once its lease ends).
 *
 * A job the store found superseded (latest_wins, job->superseded_by) is
 * never sent: it is recorded as superseded at once, with the newer
 * delivery's id as the reason, and counted per target for /metrics.
 *
 * Delivery thread only, like everything in hr_deliver.
 */
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "deliver/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "deliver"

bool hr_deliver__order_held(const hr_deliver *d, const hr_delivery_job *job)
{
    if (job->order_key == NULL)
        return false;
    for (size_t i = 0; i < d->nkeys; i++) {
        const key_in_flight *k = &d->keys[i];
        if (k->id != job->id && strcmp(k->key, job->order_key) == 0 &&
            strcmp(k->target, job->target) == 0)
            return true;
    }
    return false;
}

void hr_deliver__order_track(hr_deliver *d, const hr_delivery_job *job)
{
    if (job->order_key == NULL)
        return;
    for (size_t i = 0; i < d->nkeys; i++)
        if (d->keys[i].id == job->id)
            return;
    if (d->nkeys == d->capkeys) {
        d->capkeys = d->capkeys ? d->capkeys * 2 : 16;
        d->keys = hr_realloc(d->keys, d->capkeys * sizeof(*d->keys));
    }
    d->keys[d->nkeys].id = job->id;
    d->keys[d->nkeys].target = hr_strdup(job->target);
    d->keys[d->nkeys].key = hr_strdup(job->order_key);
    d->nkeys++;
}

bool hr_deliver__order_forget(hr_deliver *d, int64_t id)
{
    for (size_t i = 0; i < d->nkeys; i++) {
        if (d->keys[i].id != id)
            continue;
        free(d->keys[i].target);
        free(d->keys[i].key);
        d->keys[i] = d->keys[--d->nkeys];
        return true;
    }
    return false;
}

void hr_deliver__order_clear(hr_deliver *d)
{
    while (d->nkeys > 0)
        hr_deliver__order_forget(d, d->keys[d->nkeys - 1].id);
    free(d->keys);
    d->keys = NULL;
    d->capkeys = 0;
}

bool hr_deliver__order_supersede(hr_deliver *d, const hr_delivery_job *job)
{
    char why[128];
    hr_attempt a = {0};

    if (job->superseded_by <= 0)
        return false;
    snprintf(why, sizeof(why), "superseded by delivery %lld (newer, with the same order key)",
             (long long)job->superseded_by);
    a.delivery_id = job->id;
    a.attempt = job->attempt > 1 ? job->attempt - 1 : 0; /* none was made */
    a.claim_token = job->claim_token;
    a.started_at = hr_time_now_ms();
    a.error = why;
    a.outcome = HR_OUTCOME_SUPERSEDED;
    hr_log_info(SUB, "delivery %lld to %s: %s", (long long)job->id, job->target, why);
    hr_metrics_superseded(job->target);
    hr_deliver__record(d, &a);
    return true;
}
