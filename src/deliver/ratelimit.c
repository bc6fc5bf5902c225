/*
 * ratelimit.c - how fast each target may be sent to: a token bucket per
 * target (its rate_limit, route/config.h), and a pause the target's own
 * answers ask for (a 429, Retry-After, a service's rate-limit headers).
 *
 * The delivery thread asks, before it claims a target's due deliveries,
 * how many it may start now (hr_deliver__rate_room); it claims no more
 * than that, takes a token for each request it starts, and sleeps until
 * the next token is due when the bucket was what held it back, so a
 * limited target with a backlog neither busy-waits nor waits a whole
 * claim interval. A pause covers the whole target, not only the delivery
 * whose answer asked for it: every request to that target waits.
 *
 * Buckets are kept by target name, so a reload keeps their tokens (a
 * changed limit applies from the next look); only the delivery thread
 * touches them.
 */
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "deliver/engine.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SUB "deliver"

static rate_bucket *bucket_find(hr_deliver *d, const char *name)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        if (strcmp(d->buckets[i].name, name) == 0)
            return &d->buckets[i];
    return NULL;
}

/* The target's bucket, new and full when it has none yet. */
static rate_bucket *bucket_of(hr_deliver *d, const char *name, int64_t now_us)
{
    rate_bucket *b = bucket_find(d, name);
    if (b != NULL)
        return b;
    if (d->nbuckets == d->capbuckets) {
        d->capbuckets = d->capbuckets ? d->capbuckets * 2 : 8;
        d->buckets = hr_realloc(d->buckets, d->capbuckets * sizeof(*d->buckets));
    }
    b = &d->buckets[d->nbuckets++];
    memset(b, 0, sizeof(*b));
    b->name = hr_strdup(name);
    b->tokens = -1; /* filled to the burst on first use */
    b->at_us = now_us;
    return b;
}

/* Adds the tokens earned since the bucket was last looked at, up to its
 * burst. A target without a limit has no tokens to count. */
static void refill(rate_bucket *b, const hr_rate_limit *r, int64_t now_us)
{
    double per_us = (double)r->count / ((double)r->per_ms * 1000.0);
    double burst = (double)r->burst;

    if (b->tokens < 0)
        b->tokens = burst;
    if (now_us > b->at_us)
        b->tokens += (double)(now_us - b->at_us) * per_us;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_us = now_us > b->at_us ? now_us : b->at_us;
}

/* Asks the thread to look again at `when` (monotonic us). */
static void wake_at(hr_deliver *d, int64_t when)
{
    if (when < d->rate_wake_us)
        d->rate_wake_us = when;
}

size_t hr_deliver__rate_room(hr_deliver *d, const hr_target *t, size_t want)
{
    int64_t now = hr_time_mono_us();
    const hr_rate_limit *r = &t->rate_limit;
    rate_bucket *b = bucket_find(d, t->name);
    size_t room;

    if (b == NULL && r->count <= 0)
        return want; /* no limit, and never paused */
    if (b == NULL)
        b = bucket_of(d, t->name, now);
    if (b->paused_until_us > now) {
        wake_at(d, b->paused_until_us);
        return 0;
    }
    if (r->count <= 0)
        return want;
    refill(b, r, now);
    room = b->tokens >= 1.0 ? (size_t)b->tokens : 0;
    if (room >= want)
        return want;
    /* Held back by the bucket: look again when the next token is earned. */
    double per_us = (double)r->count / ((double)r->per_ms * 1000.0);
    wake_at(d, now + (int64_t)((1.0 - (b->tokens - (double)room)) / per_us) + 1);
    return room;
}

void hr_deliver__rate_take(hr_deliver *d, const hr_target *t)
{
    rate_bucket *b;

    if (t->rate_limit.count <= 0)
        return;
    b = bucket_of(d, t->name, hr_time_mono_us());
    refill(b, &t->rate_limit, hr_time_mono_us());
    b->tokens -= 1.0;
}

void hr_deliver__rate_pause(hr_deliver *d, const char *target, int64_t wait_ms, const char *why)
{
    int64_t now = hr_time_mono_us(), until;
    char delay[32];
    rate_bucket *b;

    if (wait_ms <= 0)
        return;
    b = bucket_of(d, target, now);
    until = now + wait_ms * 1000;
    if (until <= b->paused_until_us)
        return;
    b->paused_until_us = until;
    /* The bucket starts again empty after the pause, so the target is not
     * sent a burst the moment it said to slow down. */
    b->tokens = 0;
    b->at_us = until;
    hr_log_info(SUB, "target %s asked herald to slow down (%s): no request to it for %s", target,
                why, hr_deliver__human_delay(wait_ms, delay, sizeof(delay)));
}

void hr_deliver__rate_clear(hr_deliver *d)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        free(d->buckets[i].name);
    free(d->buckets);
    d->buckets = NULL;
    d->nbuckets = d->capbuckets = 0;
}
