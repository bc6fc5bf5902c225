/*
 * deliver.c - the delivery thread: claims due deliveries, has them rendered
 * (request.c) and sent through one libcurl multi handle (transfer.c), and
 * hands every attempt back to the source. deliver/engine.h lists the
 * engine's files.
 *
 * Threads and what they touch:
 *   - the delivery thread owns everything in hr_deliver except `sh`, the
 *     atomic flags and `multi`'s wake-up: the transfers, the compiled
 *     templates (jq is not thread-safe), the busy set, the per-target
 *     counts and the settings snapshot;
 *   - hr_deliver_wake (any thread) sets `woken` and calls
 *     curl_multi_wakeup, which libcurl allows from any thread;
 *   - hr_deliver_reload (any thread) hands the config over in `sh` and
 *     waits until the thread has switched to it;
 *   - the source's done callbacks (any thread, possibly after stop) touch
 *     only `sh`, a small refcounted struct: the engine holds one reference
 *     and every record not yet done holds one. Stop marks it closed, and
 *     the last reference frees it, so a late callback never touches freed
 *     memory and stop never waits for the store.
 *
 * A delivery id is "busy" from the moment its request starts (or its
 * render fails) until its record is done; busy ids are never started
 * again, even though the source still returns them as due meanwhile.
 * A record the source could not write (a full disk) keeps its id busy:
 * the engine holds the attempt's outcome and hands it to the source
 * again, waiting longer each time (RECORD_RETRY_MIN_MS doubling up to
 * RECORD_RETRY_MAX_MS), until it is written. Sending the delivery again
 * instead would repeat it as fast as the source refuses. Held records
 * count against max_in_flight like requests, so while nothing can be
 * written the engine stops starting new ones. Records merely waiting for
 * the writer's commit do not: up to RECORDS_AWAITED_FACTOR times
 * max_in_flight of them, the engine keeps sending while the store syncs.
 *
 * Nothing here logs a URL, a header value or a body: URLs carry tokens
 * (Slack, Teams) and headers carry credentials.
 */
#include "deliver/deliver.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "deliver/engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "deliver"
/* The longest wait between two looks at the source for due deliveries. */
#define CLAIM_INTERVAL_MS 1000
/* A claimed delivery's lease beyond its request's timeout, for recording the
 * outcome (where instances share a store). */
#define LEASE_MARGIN_MS 10000
/* A record the source could not write is handed to it again after this
 * long, doubling with each failure up to the maximum. */
#define RECORD_RETRY_MIN_MS 1000
#define RECORD_RETRY_MAX_MS 30000
/* Records handed to the source and not yet written (waiting for the
 * writer's next commit: an fsync) may reach this many times max_in_flight
 * before the engine waits for them; requests keep going meanwhile. */
#define RECORDS_AWAITED_FACTOR 4

/* ---- The part shared with done callbacks ------------------------------ */

static void done_node_free(done_node *n)
{
    if (n == NULL)
        return;
    free((char *)n->attempt.error);
    free((char *)n->attempt.excerpt);
    free((char *)n->attempt.service_ref);
    free((char *)n->attempt.request_headers);
    free((char *)n->attempt.target);
    free(n);
}

static void shared_free(shared *sh)
{
    if (sh == NULL)
        return;
    pthread_mutex_destroy(&sh->lock);
    pthread_cond_destroy(&sh->switched);
    free(sh);
}
/* ---- Small helpers ---------------------------------------------------- */

/* xorshift64*: jitter needs no cryptographic quality, only spread. */
double hr_deliver__random(hr_deliver *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* "10s", "2m", "350ms": how long until a retry, for log lines. */
const char *hr_deliver__human_delay(int64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%lldms", (long long)max64(ms, 0));
    else if (ms < 120 * 1000)
        snprintf(buf, size, "%llds", (long long)((ms + 500) / 1000));
    else if (ms < 2 * 3600 * 1000)
        snprintf(buf, size, "%lldm", (long long)((ms + 30000) / 60000));
    else
        snprintf(buf, size, "%lldh", (long long)((ms + 1800000) / 3600000));
    return buf;
}

/* ---- Backoff ---------------------------------------------------------- */

int64_t hr_deliver_backoff_ms(const hr_delivery_settings *s, int next_attempt, double rnd)
{
    int64_t max = max64(s->backoff_max_ms, 0);
    int64_t ms = max64(s->backoff_initial_ms, 0);

    for (int i = 2; i < next_attempt && ms < max; i++)
        ms = ms > INT64_MAX / 2 ? INT64_MAX : ms * 2;
    if (ms > max)
        ms = max;
    if (rnd < 0 || rnd >= 1)
        rnd = 0.5;
    return (int64_t)((double)ms * (0.8 + 0.4 * rnd));
}

/* ---- The busy set and per-target counts ------------------------------- */

/* Where id is, or where it would go, in the sorted busy set. */
static size_t busy_pos(const hr_deliver *d, int64_t id)
{
    size_t lo = 0, hi = d->nbusy;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->busy[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool busy_has(const hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    return i < d->nbusy && d->busy[i] == id;
}

void hr_deliver__busy_add(hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    if (i < d->nbusy && d->busy[i] == id)
        return;
    if (d->nbusy == d->capbusy) {
        d->capbusy = d->capbusy ? d->capbusy * 2 : 64;
        d->busy = hr_realloc(d->busy, d->capbusy * sizeof(*d->busy));
    }
    memmove(d->busy + i + 1, d->busy + i, (d->nbusy - i) * sizeof(*d->busy));
    d->busy[i] = id;
    d->nbusy++;
}

static void busy_remove(hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    if (i >= d->nbusy || d->busy[i] != id)
        return;
    memmove(d->busy + i, d->busy + i + 1, (d->nbusy - i - 1) * sizeof(*d->busy));
    d->nbusy--;
}

static target_count *count_find(hr_deliver *d, const char *name)
{
    for (size_t i = 0; i < d->ncounts; i++)
        if (strcmp(d->counts[i].name, name) == 0)
            return &d->counts[i];
    return NULL;
}

static int count_of(hr_deliver *d, const char *name)
{
    target_count *c = count_find(d, name);
    return c ? c->n : 0;
}

void hr_deliver__count_add(hr_deliver *d, const char *name, int delta)
{
    target_count *c = count_find(d, name);
    if (c == NULL) {
        if (delta <= 0)
            return;
        if (d->ncounts == d->capcounts) {
            d->capcounts = d->capcounts ? d->capcounts * 2 : 8;
            d->counts = hr_realloc(d->counts, d->capcounts * sizeof(*d->counts));
        }
        c = &d->counts[d->ncounts++];
        c->name = hr_strdup(name);
        c->n = 0;
    }
    c->n += delta;
    if (c->n <= 0) {
        free(c->name);
        *c = d->counts[--d->ncounts];
    }
}

/* ---- Records ---------------------------------------------------------- */

static void on_record_done(void *arg, int status)
{
    done_node *n = arg;
    shared *sh = n->sh;
    bool last = false;

    n->status = status;
    pthread_mutex_lock(&sh->lock);
    if (!sh->closed) {
        n->next = sh->done;
        sh->done = n;
        curl_multi_wakeup(sh->multi);
        n = NULL;
    } else {
        last = --sh->refs == 0;
    }
    pthread_mutex_unlock(&sh->lock);
    done_node_free(n);
    if (last)
        shared_free(sh);
}

/* Hands n's attempt to the source (again). */
static void hand_over(hr_deliver *d, done_node *n)
{
    pthread_mutex_lock(&d->sh->lock);
    d->sh->refs++;
    pthread_mutex_unlock(&d->sh->lock);
    d->src.record(d->src.ctx, &n->attempt, on_record_done, n);
}

/* Hands a to the source; a->delivery_id stays busy until it is written. */
void hr_deliver__record(hr_deliver *d, const hr_attempt *a)
{
    done_node *n = hr_calloc(1, sizeof(*n));
    n->sh = d->sh;
    n->attempt = *a;
    n->attempt.error = a->error != NULL ? hr_strdup(a->error) : NULL;
    n->attempt.excerpt = a->excerpt != NULL ? hr_strdup(a->excerpt) : NULL;
    n->attempt.service_ref = hr_strdup(a->service_ref);
    n->attempt.request_headers = a->request_headers != NULL ? hr_strdup(a->request_headers) : NULL;
    n->attempt.target = a->target != NULL ? hr_strdup(a->target) : NULL;
    hr_deliver__busy_add(d, a->delivery_id);
    hand_over(d, n);
}

/* Keeps a record the source could not write, to hand it over again
 * later. Only its first failure is logged: the store logs its own. */
static void hold(hr_deliver *d, done_node *n)
{
    int64_t wait = RECORD_RETRY_MIN_MS;
    char delay[32];

    for (int i = 0; i < n->failures && wait < RECORD_RETRY_MAX_MS; i++)
        wait *= 2;
    if (wait > RECORD_RETRY_MAX_MS)
        wait = RECORD_RETRY_MAX_MS;
    if (n->failures++ == 0)
        hr_log_warn(SUB,
                    "the store could not record attempt %d of delivery %lld (%s); herald keeps "
                    "its outcome, does not send the delivery again meanwhile, and tries to "
                    "record it again in %s",
                    n->attempt.attempt, (long long)n->attempt.delivery_id, hr_error_name(n->status),
                    hr_deliver__human_delay(wait, delay, sizeof(delay)));
    n->next_try_us = hr_time_mono_us() + wait * 1000;
    n->next = d->held;
    d->held = n;
}

/* Hands the held records whose time has come to the source again.
 * Returns the time of the next one still held (INT64_MAX: none). */
static int64_t retry_held(hr_deliver *d)
{
    int64_t now = hr_time_mono_us(), next = INT64_MAX;
    done_node **p = &d->held;

    /* A record the source refuses at once comes back through take_done,
     * like any other, and is held again there. */
    while (*p != NULL) {
        done_node *n = *p;
        if (n->next_try_us <= now) {
            *p = n->next;
            n->next = NULL;
            hand_over(d, n);
        } else {
            next = n->next_try_us < next ? n->next_try_us : next;
            p = &n->next;
        }
    }
    return next;
}

/* Takes the records done since the last look: frees the ids of those
 * written, holds the others. */
static void take_done(hr_deliver *d)
{
    done_node *list, *next;
    unsigned n = 0;

    pthread_mutex_lock(&d->sh->lock);
    list = d->sh->done;
    d->sh->done = NULL;
    for (done_node *p = list; p != NULL; p = p->next)
        n++;
    d->sh->refs -= n;
    pthread_mutex_unlock(&d->sh->lock);
    for (; list != NULL; list = next) {
        next = list->next;
        if (list->status != HR_OK) {
            hold(d, list);
            continue;
        }
        if (list->failures > 0)
            hr_log_info(SUB, "attempt %d of delivery %lld is recorded after %d failed tries",
                        list->attempt.attempt, (long long)list->attempt.delivery_id,
                        list->failures);
        busy_remove(d, list->attempt.delivery_id);
        /* A key's record written may make its next delivery due: look
         * now, not at the next interval. */
        if (hr_deliver__order_forget(d, list->attempt.delivery_id))
            d->claim_soon = true;
        done_node_free(list);
    }
    /* A probe's record moves its target's next probe: look again. */
    if (n > 0 && (d->claim_blocked || d->nprobes > 0))
        d->claim_soon = true;
}

/* Records a delivery its service declined (the event is not for the
 * target): skipped, final, nothing sent. */
void hr_deliver__record_skipped(hr_deliver *d, const hr_delivery_job *job, const char *why)
{
    hr_attempt a = {0};

    a.delivery_id = job->id;
    a.attempt = job->attempt;
    a.claim_token = job->claim_token;
    a.started_at = hr_time_now_ms();
    a.error = why;
    a.outcome = HR_OUTCOME_SKIPPED;
    hr_log_debug(SUB, "delivery %lld to %s: skipped: %s", (long long)job->id, job->target, why);
    hr_metrics_skipped(job->target);
    hr_deliver__record(d, &a);
}

/* Records a delivery that cannot even be sent: dead at once. */
void hr_deliver__record_dead(hr_deliver *d, const hr_delivery_job *job, const char *why)
{
    char msg[HR_ERROR_MSG_MAX + 64];
    hr_attempt a = {0};

    snprintf(msg, sizeof(msg), "cannot render the request: %s", why);
    a.delivery_id = job->id;
    a.attempt = job->attempt;
    a.claim_token = job->claim_token;
    a.started_at = hr_time_now_ms();
    a.error = msg;
    a.outcome = HR_OUTCOME_DEAD;
    /* A configured target's dead letter is told (a target-health event). */
    if (hr_config_target(d->cfg, job->target) != NULL) {
        a.target = job->target;
        a.own_event = hr_deliver__own_event(job);
    }
    hr_log_info(SUB, "delivery %lld to %s: %s, dead", (long long)job->id, job->target, msg);
    hr_deliver__record(d, &a);
}

/* ---- Claiming --------------------------------------------------------- */

/* Starts the claimed jobs that are not busy, whose key (if any) is not in
 * flight, and whose target is known and under its cap; a job for a target
 * the configuration no longer names is dead, and one the store found
 * superseded is recorded so (order.c). Frees the jobs. */
static void start_claimed(hr_deliver *d, hr_delivery_job *jobs, size_t n)
{
    size_t max = (size_t)d->set->s.max_in_flight;
    for (size_t i = 0; i < n; i++) {
        const hr_delivery_job *job = &jobs[i];
        bool was_busy = busy_has(d, job->id);
        if (!was_busy && d->nxfers < max && !hr_deliver__order_held(d, job)) {
            const hr_target *t = hr_config_target(d->cfg, job->target);
            if (t == NULL) {
                char why[300];
                snprintf(why, sizeof(why), "no target is named %.200s in the configuration",
                         job->target);
                hr_deliver__record_dead(d, job, why);
            } else if (hr_deliver__order_supersede(d, job)) {
                /* recorded, never sent */
            } else if (count_of(d, job->target) < d->set->per_target_cap &&
                       hr_deliver__start_job(d, t, job)) {
                hr_deliver__rate_take(d, t);
                hr_deliver__health_started(d, job->target);
            }
            if (busy_has(d, job->id))
                hr_deliver__order_track(d, job);
        }
        /* Claimed but neither started nor recorded (no slot, its key or its
         * run's lookup busy): handed back at once, so a leased claim does
         * not hold it for a whole lease. */
        if (!was_busy && !busy_has(d, job->id) && job->claim_token != 0 && d->src.unclaim != NULL)
            d->src.unclaim(d->src.ctx, job->id, job->claim_token);
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
}

/*
 * Asks the source for due deliveries, target by target: each target under
 * its cap asks for as many as it has room for (an index range in the
 * store), skipping the deliveries already busy. A target with a long
 * backlog at its cap is not asked at all, so it costs the others nothing;
 * and when only a request's end woke the engine (lazy), nor is one with
 * less than half its cap free while it has requests in flight: each of
 * those wakes the engine as it ends, and one look for many deliveries
 * costs little more than a look for one. (A hung request must not keep
 * its target under its cap: new deliveries and the interval look eagerly.)
 * Once per CLAIM_INTERVAL_MS, deliveries of targets that are no longer
 * configured are looked for too, and recorded as dead.
 */
static void claim_and_start(hr_deliver *d, bool lazy)
{
    size_t max = (size_t)d->set->s.max_in_flight;
    size_t awaiting = d->nbusy - d->nxfers, nheld = 0;
    /* A request ends within its timeout; the margin covers recording it. */
    hr_claim_query q = {.now = hr_time_now_ms(),
                        .skip_ids = d->busy,
                        .lease_ms = d->set->s.timeout_ms + LEASE_MARGIN_MS};
    hr_error err;

    for (const done_node *h = d->held; h != NULL; h = h->next)
        nheld++;
    d->claim_blocked = nheld >= max || awaiting >= max * RECORDS_AWAITED_FACTOR;
    if (d->nxfers + nheld >= max || d->claim_blocked)
        return;
    hr_deliver__health_refresh(d);
    for (size_t i = 0; i < d->cfg->ntargets && d->nxfers < max; i++) {
        const char *name = d->cfg->targets[i].name;
        size_t have = (size_t)count_of(d, name), cap = (size_t)d->set->per_target_cap;
        hr_delivery_job *jobs = NULL;
        size_t n = 0;
        if (have >= cap || (lazy && have > 0 && cap - have < (cap + 1) / 2))
            continue;
        q.target = name;
        q.run_order = hr_service_keeps_run(&d->cfg->targets[i]);
        q.no_raw = !hr_deliver__needs_raw(&d->cfg->targets[i]);
        q.n_skip_ids = d->nbusy;
        q.skip_ids = d->busy;
        q.max = cap - have < max - d->nxfers - nheld ? cap - have : max - d->nxfers - nheld;
        q.max = hr_deliver__rate_room(d, &d->cfg->targets[i], q.max);
        q.max = hr_deliver__health_room(d, name, q.max, (int)have);
        if (q.max == 0)
            continue;
        hr_error_clear(&err);
        if (d->src.claim(d->src.ctx, &q, &jobs, &n, &err) != HR_OK) {
            hr_log_warn(SUB, "cannot look for due deliveries: %s", err.msg);
            return;
        }
        start_claimed(d, jobs, n);
    }
    if (hr_time_mono_us() >= d->next_orphan_check_us) {
        const char **names = hr_calloc(d->cfg->ntargets + 1, sizeof(*names));
        hr_delivery_job *jobs = NULL;
        size_t n = 0;
        for (size_t i = 0; i < d->cfg->ntargets; i++)
            names[i] = d->cfg->targets[i].name;
        q.target = NULL;
        q.run_order = 0;
        q.no_raw = 0;
        q.other_than = names;
        q.n_other_than = d->cfg->ntargets;
        q.skip_ids = d->busy;
        q.n_skip_ids = d->nbusy;
        q.max = max;
        hr_error_clear(&err);
        if (d->src.claim(d->src.ctx, &q, &jobs, &n, &err) == HR_OK)
            start_claimed(d, jobs, n);
        else
            hr_log_warn(SUB, "cannot look for due deliveries: %s", err.msg);
        free(names);
        d->next_orphan_check_us = hr_time_mono_us() + CLAIM_INTERVAL_MS * 1000;
    }
}

/* ---- The thread ------------------------------------------------------- */

/* Switches to a config handed over by hr_deliver_reload, if any. */
static void apply_reload(hr_deliver *d)
{
    const hr_config *cfg = NULL;
    uint64_t seq;

    pthread_mutex_lock(&d->sh->lock);
    seq = d->sh->reload_seq;
    if (seq != d->sh->applied_seq)
        cfg = d->sh->next_cfg;
    pthread_mutex_unlock(&d->sh->lock);
    if (cfg == NULL)
        return;
    hr_deliver__use_config(d, cfg);
    d->claim_soon = true;
    pthread_mutex_lock(&d->sh->lock);
    d->sh->applied_seq = seq;
    pthread_cond_broadcast(&d->sh->switched);
    pthread_mutex_unlock(&d->sh->lock);
}

static void *run(void *arg)
{
    hr_deliver *d = arg;
    int64_t next_claim_us = 0;

    pthread_setname_np(pthread_self(), "herald-deliver"); /* for profiles */

    while (!atomic_load(&d->stopping)) {
        int running, timeout_ms;
        int64_t next_held_us;
        CURLMcode mc;

        take_done(d);
        next_held_us = retry_held(d);
        apply_reload(d);
        bool eager = atomic_exchange(&d->woken, false) || d->claim_soon ||
                     hr_time_mono_us() >= next_claim_us;
        if (eager || d->claim_after_xfer) {
            d->claim_soon = d->claim_after_xfer = false;
            d->rate_wake_us = INT64_MAX;
            claim_and_start(d, !eager);
            /* A rate-limited target with more to send is looked at again
             * when its next token is due, not a whole interval later. */
            next_claim_us = hr_time_mono_us() + CLAIM_INTERVAL_MS * 1000;
            if (d->rate_wake_us < next_claim_us)
                next_claim_us = d->rate_wake_us;
            if (hr_deliver__health_wake_us(d) < next_claim_us)
                next_claim_us = hr_deliver__health_wake_us(d);
        }
        mc = curl_multi_perform(d->multi, &running);
        if (mc != CURLM_OK)
            hr_log_error(SUB, "libcurl: %s", curl_multi_strerror(mc));
        hr_deliver__collect(d);
        if (d->claim_soon || d->claim_after_xfer || atomic_load(&d->woken)) {
            timeout_ms = 0;
        } else {
            int64_t wake = next_held_us < next_claim_us ? next_held_us : next_claim_us;
            int64_t left = (wake - hr_time_mono_us() + 999) / 1000;
            timeout_ms = (int)(left < 0 ? 0 : left > CLAIM_INTERVAL_MS ? CLAIM_INTERVAL_MS : left);
        }
        mc = curl_multi_poll(d->multi, NULL, 0, timeout_ms, NULL);
        if (mc != CURLM_OK)
            hr_log_error(SUB, "libcurl: %s", curl_multi_strerror(mc));
    }

    /* Requests in flight are abandoned: their deliveries stay due, so they
     * are sent again after a restart. */
    while (d->xfers != NULL) {
        xfer *x = d->xfers;
        curl_multi_remove_handle(d->multi, x->easy);
        hr_deliver__xfer_unlink(d, x);
        hr_deliver__xfer_free(x);
    }
    hr_gocd_lookup_free(d->lookup, d->multi);
    d->lookup = NULL;
    /* So are the outcomes the store could not write: those deliveries are
     * due in the store, and sent again after the next start. */
    while (d->held != NULL) {
        done_node *n = d->held;
        d->held = n->next;
        done_node_free(n);
    }
    hr_deliver__cache_clear(d);
    hr_deliver__rate_clear(d);
    free(d->cache);
    for (size_t i = 0; i < d->ncounts; i++)
        free(d->counts[i].name);
    free(d->counts);
    free(d->busy);
    hr_deliver__order_clear(d);
    hr_deliver__health_free(d);
    hr_deliver__settings_unref(d->set);
    d->set = NULL;

    pthread_mutex_lock(&d->sh->lock);
    d->sh->ended = true;
    pthread_cond_broadcast(&d->sh->switched);
    pthread_mutex_unlock(&d->sh->lock);
    return NULL;
}

int hr_deliver_start(const hr_config *cfg, const hr_deliver_source *src, hr_deliver **out,
                     hr_error *err)
{
    hr_deliver *d = hr_calloc(1, sizeof(*d));
    shared *sh = hr_calloc(1, sizeof(*sh));
    int rc;

    d->src = *src;
    d->sh = sh;
    d->rng = ((uint64_t)hr_time_mono_us() << 1) ^ (uint64_t)(uintptr_t)d ^ 0x9E3779B97F4A7C15ull;
    if (d->rng == 0)
        d->rng = 1;
    atomic_init(&d->stopping, false);
    atomic_init(&d->woken, false);
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->switched, NULL);
    sh->refs = 1;
    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        rc = hr_error_set(err, HR_ENOMEM, "cannot create libcurl's multi handle");
        goto fail;
    }
    sh->multi = d->multi;
    d->lookup = hr_gocd_lookup_new();
    hr_deliver__use_config(d, cfg);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        rc = hr_error_set(err, HR_EIO, "cannot start the delivery thread");
        goto fail;
    }
    *out = d;
    return HR_OK;
fail:
    hr_deliver__settings_unref(d->set);
    hr_gocd_lookup_free(d->lookup, d->multi);
    curl_multi_cleanup(d->multi);
    shared_free(sh);
    free(d);
    return rc;
}

void hr_deliver_wake(hr_deliver *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->woken, true);
    curl_multi_wakeup(d->multi);
}

void hr_deliver_reload(hr_deliver *d, const hr_config *cfg)
{
    uint64_t seq;

    if (d == NULL)
        return;
    pthread_mutex_lock(&d->sh->lock);
    d->sh->next_cfg = cfg;
    seq = ++d->sh->reload_seq;
    curl_multi_wakeup(d->multi);
    while (d->sh->applied_seq < seq && !d->sh->ended)
        pthread_cond_wait(&d->sh->switched, &d->sh->lock);
    pthread_mutex_unlock(&d->sh->lock);
}

void hr_deliver_stop(hr_deliver *d)
{
    shared *sh;
    done_node *list, *next;
    bool last;

    if (d == NULL)
        return;
    sh = d->sh;
    atomic_store(&d->stopping, true);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);

    /* From here, done callbacks drop their node instead of waking the
     * (soon freed) multi handle; the last reference frees sh. */
    pthread_mutex_lock(&sh->lock);
    sh->closed = true;
    list = sh->done;
    sh->done = NULL;
    for (done_node *p = list; p != NULL; p = p->next)
        sh->refs--;
    last = --sh->refs == 0;
    pthread_mutex_unlock(&sh->lock);
    for (; list != NULL; list = next) {
        next = list->next;
        done_node_free(list);
    }
    curl_multi_cleanup(d->multi);
    if (last)
        shared_free(sh);
    free(d);
}
