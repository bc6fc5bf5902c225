/*
 * writer.c - the store's writer, the same for every engine: the queue, the
 * group commit, what an event's transaction holds (its transition, state,
 * revision and deliveries) and the completions.
 *
 * Threads and what they touch:
 *   - callers of hr_store_submit (HTTP workers) build the item on their own
 *     thread and only touch the queue, under qlock;
 *   - the writer thread owns the engine's writer side; it takes batches off
 *     the queue under qlock and runs them without it;
 *   - reads go straight to the engine (store/json.c), which keeps its own
 *     read connections.
 *
 * An item's completion runs only after the transaction holding it has
 * committed (or failed), on the writer thread, exactly once.
 */
#include "store/event_doc.h"
#include "store/writer.h"

#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "store/json.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "store"

const hr_store_engine *hr_store__engine(hr_store *s, void **db)
{
    *db = s->db;
    return s->eng;
}

/* ---- The queue ---------------------------------------------------------- */

void hr_store__item_free(item *it)
{
    if (it == NULL)
        return;
    if (it->prepared != NULL)
        it->prepared_free(it->prepared);
    free(it->doc);
    free(it->rev_doc);
    free(it->package_name);
    json_decref(it->settings);
    free((char *)it->attempt.error);
    free((char *)it->attempt.excerpt);
    free((char *)it->attempt.service_ref);
    free((char *)it->attempt.request_headers);
    free((char *)it->reset.target);
    free((char *)it->reset.state);
    free((char *)it->attempt.target);
    free(it);
}

/* Appends it to the queue and wakes the writer; on failure it is freed. */
static int enqueue(hr_store *s, item *it, hr_error *err)
{
    int rc = HR_OK;
    pthread_mutex_lock(&s->qlock);
    if (s->closing) {
        rc = hr_error_set(err, HR_ECLOSED,
                          "store: herald is shutting down and takes no more "
                          "events; send it again once herald is back");
    } else if (s->queued >= s->max_queue) {
        rc = hr_error_set(err, HR_ETOOBIG, "store queue is full (%zu events waiting)", s->queued);
    } else {
        if (s->tail != NULL)
            s->tail->next = it;
        else
            s->head = it;
        s->tail = it;
        s->queued++;
        s->pending++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->qlock);
    if (rc != HR_OK)
        hr_store__item_free(it);
    return rc;
}

/* The router's work done here, on the submitting thread (a test event
 * skips the router). */
static void prepare(hr_store *s, item *it)
{
    hr_store_prepare_fn fn;
    void *ctx;
    if (it->ev->test_target != NULL)
        return;
    pthread_mutex_lock(&s->qlock);
    fn = s->prepare_fn;
    ctx = s->prepare_ctx;
    it->prepared_free = s->prepared_free;
    pthread_mutex_unlock(&s->qlock);
    if (fn != NULL)
        it->prepared = fn(ctx, it->ev, it->doc, it->doc_len);
}

void hr_store_set_prepare(hr_store *s, hr_store_prepare_fn fn, void (*free_fn)(void *made),
                          void *ctx, void (*free_ctx)(void *ctx))
{
    struct prepare_kept *k = NULL;
    if (ctx != NULL && free_ctx != NULL) {
        k = hr_malloc(sizeof(*k));
        k->ctx = ctx;
        k->free_ctx = free_ctx;
    }
    pthread_mutex_lock(&s->qlock);
    s->prepare_fn = fn;
    s->prepared_free = free_fn;
    s->prepare_ctx = ctx;
    if (k != NULL) {
        k->next = s->prepare_kept;
        s->prepare_kept = k;
    }
    pthread_mutex_unlock(&s->qlock);
}

int hr_store_submit(hr_store *s, hr_event *ev, hr_store_done_fn done, void *ctx, hr_error *err)
{
    item *it;

    if (ev == NULL || ev->source == NULL || ev->kind == NULL)
        return hr_error_set(err, HR_EINVAL, "store: an event needs a source and a kind");
    if (strcmp(ev->kind, HR_KIND_STAGE_STATUS) == 0 &&
        (ev->pipeline_name == NULL || ev->stage_name == NULL))
        return hr_error_set(err, HR_EINVAL,
                            "store: a stage-status event needs a pipeline name and a stage name");
    if (ev->has_build && ev->build.job_name == NULL)
        return hr_error_set(err, HR_EINVAL, "store: a build-status event needs a job name");
    if (ev->has_package && (ev->package.repository == NULL || ev->package.package == NULL ||
                            ev->package.revision == NULL || ev->package.timestamp == HR_TIME_NONE))
        return hr_error_set(err, HR_EINVAL,
                            "store: a package revision needs a repository, a package, a "
                            "revision and a timestamp");
    if (ev->raw_len > HR_MAX_BODY_BYTES)
        return hr_error_set(err, HR_ETOOBIG,
                            "store: the event's body is %zu bytes; at most %u "
                            "are stored",
                            ev->raw_len, HR_MAX_BODY_BYTES);
    if (ev->received_at == 0)
        ev->received_at = hr_time_now_ms();

    /* The store owns id and transition: the stored document leaves them
     * out and readers add them from their columns. It is written in one
     * pass into one buffer (event/doc.c), no tree. */
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_EVENT;
    it->ev = ev;
    it->doc = hr_store__doc_string(ev, &it->doc_len);
    if (it->doc == NULL) {
        hr_store__item_free(it);
        return hr_error_set(err, HR_ETOOBIG, "store: the event's JSON form is over %u bytes",
                            HR_MAX_EVENT_DOC_BYTES);
    }
    prepare(s, it);
    if (ev->has_package) {
        json_t *rev = hr_store_revision_doc(&ev->package);
        size_t n = strlen(ev->package.repository) + strlen(ev->package.package) + 2;
        it->rev_doc = json_dumps(rev, JSON_COMPACT);
        json_decref(rev);
        it->package_name = hr_malloc(n);
        snprintf(it->package_name, n, "%s/%s", ev->package.repository, ev->package.package);
        if (it->rev_doc == NULL) {
            hr_store__item_free(it);
            return hr_error_set(err, HR_ENOMEM, "store: cannot serialise the revision");
        }
    }
    if (it->doc_len > INT_MAX) {
        hr_store__item_free(it);
        return hr_error_set(err, HR_ETOOBIG, "store: the event's JSON form is too large");
    }
    it->done = done;
    it->ctx = ctx;
    return enqueue(s, it, err);
}

int hr_store_health(hr_store *s, hr_error *why)
{
    int rc = HR_OK;
    pthread_mutex_lock(&s->qlock);
    if (s->write_failing) {
        rc = s->write_error.code != HR_OK ? s->write_error.code : HR_ESTORE;
        if (why != NULL)
            *why = s->write_error;
    }
    pthread_mutex_unlock(&s->qlock);
    return rc;
}

size_t hr_store_queue_depth(hr_store *s)
{
    size_t n;
    pthread_mutex_lock(&s->qlock);
    n = s->pending;
    pthread_mutex_unlock(&s->qlock);
    return n;
}

/* A completion that a synchronous caller waits on. */
typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    int status;
    hr_error err;
} waiter;

static void waiter_init(waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->finished = 0;
    w->status = HR_OK;
    hr_error_clear(&w->err);
}

static void waiter_done(void *ctx, int status, const hr_error *err)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (err != NULL)
        w->err = *err;
    w->finished = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for the completion, copies its error and returns its status. */
static int waiter_wait(waiter *w, hr_error *err)
{
    pthread_mutex_lock(&w->lock);
    while (!w->finished)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    if (w->status != HR_OK && err != NULL)
        *err = w->err;
    return w->status;
}

int hr_store_put(hr_store *s, hr_event *ev, hr_error *err)
{
    waiter w;
    int rc;
    waiter_init(&w);
    rc = hr_store_submit(s, ev, waiter_done, &w, err);
    if (rc != HR_OK) {
        pthread_cond_destroy(&w.cond);
        pthread_mutex_destroy(&w.lock);
        return rc;
    }
    return waiter_wait(&w, err);
}

/* Queues it for the writer and waits for its completion; returns its
 * status. it is the writer's from here on (freed on failure too). */
static int enqueue_wait(hr_store *s, item *it, hr_error *err)
{
    waiter w;
    int rc;
    waiter_init(&w);
    it->done = waiter_done;
    it->ctx = &w;
    rc = enqueue(s, it, err);
    if (rc != HR_OK) {
        pthread_cond_destroy(&w.cond);
        pthread_mutex_destroy(&w.lock);
        return rc;
    }
    return waiter_wait(&w, err);
}

int hr_store_put_settings(hr_store *s, const json_t *settings, hr_error *err)
{
    item *it;

    if (!json_is_object(settings))
        return hr_error_set(err, HR_EINVAL, "store: settings must be a JSON object; got %s",
                            hr_json_type_name(settings));
    for (void *i = json_object_iter((json_t *)settings); i != NULL;
         i = json_object_iter_next((json_t *)settings, i)) {
        const char *key = json_object_iter_key(i);
        json_t *value = json_object_iter_value(i);
        if (!json_is_string(value))
            return hr_error_set(err, HR_EINVAL,
                                "store: setting \"%.100s\" must be a string; got %s", key,
                                hr_json_type_name(value));
        if (json_string_length(value) > HR_MAX_SETTING_BYTES)
            return hr_error_set(err, HR_EINVAL,
                                "store: setting \"%.100s\" is %zu bytes; at most %u are allowed",
                                key, json_string_length(value), HR_MAX_SETTING_BYTES);
    }
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_SETTINGS;
    it->settings = json_deep_copy(settings);
    if (it->settings == NULL) {
        hr_store__item_free(it);
        return hr_error_set(err, HR_ENOMEM, "store: cannot copy the settings");
    }
    return enqueue_wait(s, it, err);
}

/* ---- The writer --------------------------------------------------------- */

/* Clears what running an item set, so that it can run again. */
static void rewind_items(item *batch)
{
    for (item *it = batch; it != NULL; it = it->next) {
        it->status = HR_OK;
        hr_error_clear(&it->err);
        it->id = 0;
        it->transition = HR_TRANSITION_NONE;
        it->repeat = it->duplicate = it->made_due = 0;
        it->ndeliveries = it->count = 0;
        memset(&it->health, 0, sizeof(it->health));
    }
}

/*
 * The batch through the engine's pipelined transaction (begin_piped), with
 * no savepoint per item: the common case, where every item succeeds, waits
 * for the database least. Returns 1 when the batch is settled: committed,
 * or failed as a whole (*aborted, with *cause) where running it again is
 * not safe. Returns 0 when nothing of it committed and it is to run again
 * item by item (run_items): an item failed, and which one cannot be told
 * from a pipeline, or only the savepoints can keep the others.
 */
static int run_piped(hr_store *s, item *batch, int *aborted, hr_error *cause)
{
    const hr_event *events[HR_MAX_STORE_BATCH];
    size_t nevents = 0;
    int failed = 0;

    for (item *it = batch; it != NULL && nevents < HR_MAX_STORE_BATCH; it = it->next)
        if (it->type == ITEM_EVENT)
            events[nevents++] = it->ev;
    if (s->eng->begin_piped(s->db, events, nevents, cause) != HR_OK) {
        s->eng->rollback(s->db);
        hr_error_clear(cause);
        return 0;
    }
    for (item *it = batch; it != NULL && !failed; it = it->next) {
        if ((it->status = hr_store__run_item(s, it)) != HR_OK) {
            *cause = it->err;
            failed = 1;
        }
    }
    if (!failed && hr_store__health_batch(s, batch, cause) != HR_OK)
        failed = 1;
    if (!failed && s->eng->commit(s->db, cause) == HR_OK)
        return 1;
    s->eng->rollback(s->db);
    if (s->eng->redo(s->db)) {
        rewind_items(batch);
        hr_error_clear(cause);
        return 0;
    }
    *aborted = 1;
    return 1;
}

/*
 * The batch item by item: each runs on its own (the engine's item_begin
 * and item_end: a savepoint), so an item that fails (and only it) is
 * undone. A failure that ends the transaction (begin, commit, or the
 * engine losing everything after an I/O error) fails every item. Returns
 * whether the transaction was lost (*cause says why).
 */
static int run_items(hr_store *s, item *batch, hr_error *cause)
{
    int aborted = 0;
    item *it;

    if (s->eng->begin(s->db, batch->type == ITEM_PRUNE, cause) != HR_OK)
        aborted = 1;
    for (it = batch; it != NULL && !aborted; it = it->next) {
        int rc;
        if (s->eng->item_begin(s->db, cause) != HR_OK) {
            aborted = 1;
            break;
        }
        rc = hr_store__run_item(s, it);
        if (rc == HR_OK) {
            if (s->eng->item_end(s->db, 1, cause) != HR_OK)
                aborted = 1;
            continue;
        }
        it->status = rc;
        if (s->eng->lost(s->db)) {
            *cause = it->err;
            aborted = 1;
        } else if (s->eng->item_end(s->db, 0, cause) != HR_OK) {
            aborted = 1;
        } else if (cause->code == HR_OK) {
            *cause = it->err;
        }
    }
    if (!aborted && hr_store__health_batch(s, batch, cause) != HR_OK)
        aborted = 1;
    if (!aborted && s->eng->commit(s->db, cause) != HR_OK)
        aborted = 1;
    if (aborted)
        s->eng->rollback(s->db);
    return aborted;
}

/*
 * Runs one batch in one transaction: pipelined where the engine can
 * (run_piped), else, or again after a failure there, item by item
 * (run_items), so that one failing item fails alone either way. Sets each
 * item's status; returns the number of items that failed. *latency_us is
 * begin..commit, both runs included. A prune chunk comes alone
 * (writer_main), as a bulk transaction, never pipelined: it moves its
 * cursors as it goes.
 */
static size_t run_batch(hr_store *s, item *batch, int64_t *latency_us, hr_error *cause)
{
    int64_t t0 = hr_time_mono_us();
    size_t nfailed = 0;
    int aborted = 0, settled = 0;

    hr_error_clear(cause);
    if (s->eng->begin_piped != NULL && batch->type != ITEM_PRUNE)
        settled = run_piped(s, batch, &aborted, cause);
    if (!settled)
        aborted = run_items(s, batch, cause);
    *latency_us = hr_time_mono_us() - t0;

    for (item *it = batch; it != NULL; it = it->next) {
        if (aborted && it->status == HR_OK) {
            it->status = cause->code;
            it->err = *cause;
        }
        /* A conflict is the caller's mistake, answered as such, not a
         * store that cannot write. */
        if (it->status != HR_OK && it->status != HR_ECONFLICT)
            nfailed++;
    }
    return nfailed;
}

/* The new events a finished batch stored: repeats of a request id and
 * duplicates of a package revision store none. */
static size_t events_stored(const item *batch)
{
    size_t n = 0;
    for (const item *it = batch; it != NULL; it = it->next)
        n += it->type == ITEM_EVENT && it->status == HR_OK && !it->repeat && !it->duplicate;
    return n;
}

/* Calls every completion of a finished batch, in order, and frees the
 * items. Returns whether the batch made deliveries due. */
static int complete(item *batch)
{
    item *it, *next;
    int due = 0;
    for (it = batch; it != NULL; it = next) {
        next = it->next;
        if (it->type == ITEM_EVENT) {
            it->ev->id = it->status == HR_OK ? it->id : 0;
            it->ev->transition = it->status == HR_OK ? it->transition : HR_TRANSITION_NONE;
            if (it->ev->has_package)
                it->ev->package.duplicate = it->status == HR_OK && it->duplicate;
            it->ev->repeat = it->status == HR_OK && it->repeat;
            due |= it->status == HR_OK && it->ndeliveries > 0;
        }
        if (it->type == ITEM_RESET && it->status == HR_OK) {
            *it->count_out = it->count;
            due |= it->count > 0 && !it->reset.drop && !it->reset.dry_run;
        }
        if (it->type == ITEM_PRUNE && it->status == HR_OK)
            *it->prune_out = it->prune;
        if (it->type == ITEM_HEALTH && it->status == HR_OK && it->health_out != NULL)
            *it->health_out = it->health;
        due |= it->status == HR_OK && it->made_due;
        if (it->type == ITEM_ATTEMPT)
            it->attempt_done(it->ctx, it->status);
        else if (it->done != NULL)
            it->done(it->ctx, it->status, it->status == HR_OK ? NULL : &it->err);
        hr_store__item_free(it);
    }
    return due;
}

static void *writer_main(void *arg)
{
    hr_store *s = arg;

    /* Named so that per-thread profiles (top -H, perf -t, bench/writer.sh)
     * find it. */
    pthread_setname_np(pthread_self(), "hr-writer");
    pthread_mutex_lock(&s->qlock);
    for (;;) {
        item *batch, *last;
        size_t n = 0, nfailed, remaining;
        int64_t latency_us;
        hr_error cause;

        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->wake, &s->qlock);
        if (s->head == NULL)
            break;
        /* A prune chunk is a transaction of its own (run_batch). */
        batch = last = s->head;
        for (n = 1; n < s->max_batch && last->next != NULL && last->type != ITEM_PRUNE &&
                    last->next->type != ITEM_PRUNE;
             n++)
            last = last->next;
        s->head = last->next;
        if (s->head == NULL)
            s->tail = NULL;
        last->next = NULL;
        s->queued -= n;
        hr_store_route_fn old_fn = NULL;
        void *old_ctx = NULL;
        void (*old_free)(void *) = NULL;
        if (s->route_swap) {
            old_fn = s->route_fn;
            old_ctx = s->route_ctx;
            old_free = s->route_free;
            s->route_fn = s->next_route_fn;
            s->route_ctx = s->next_route_ctx;
            s->route_free = s->next_route_free;
            s->route_swap = 0;
        }
        pthread_mutex_unlock(&s->qlock);
        /* The old router was last used by the previous batch, on this
         * thread; it is freed here too (jq state is not thread-safe). */
        if (old_fn != NULL && old_free != NULL)
            old_free(old_ctx);

        nfailed = run_batch(s, batch, &latency_us, &cause);
        if (nfailed == 0 && s->fail_streak > 0) {
            hr_log_info(SUB, "commits succeed again after %zu failed batches", s->fail_streak);
            s->fail_streak = 0;
        } else if (nfailed > 0 && s->fail_streak++ == 0) {
            hr_log_warn(SUB,
                        "%zu of %zu items in a batch were not stored: %s (further failures "
                        "are not logged until a batch commits again)",
                        nfailed, n, cause.msg);
        }
        /* A prune's transaction is not counted; the batch size counts
         * events alone, not the attempts and resets sharing their
         * transaction. */
        if (nfailed < n && batch->type != ITEM_PRUNE)
            hr_metrics_commit(events_stored(batch), latency_us);
        pthread_mutex_lock(&s->qlock);
        s->write_failing = nfailed > 0;
        s->write_error = cause;
        pthread_mutex_unlock(&s->qlock);
        if (complete(batch)) {
            if (s->notify_fn != NULL)
                s->notify_fn(s->notify_ctx);
            /* The other instances on the store hear of it once the answers
             * are out, never from inside the batch's transaction. */
            if (s->eng->announce != NULL)
                s->eng->announce(s->db);
        }

        pthread_mutex_lock(&s->qlock);
        s->pending -= n;
        remaining = s->queued;
        if (s->pending == 0)
            pthread_cond_broadcast(&s->idle);
        hr_metrics_queue_depth(remaining);
    }
    pthread_mutex_unlock(&s->qlock);
    return NULL;
}

/* ---- Open and close ----------------------------------------------------- */

/* Another instance made deliveries due (called on the engine's listener
 * thread): this one's delivery engine is woken as after a commit of its
 * own. Under qlock, so that once hr_store_set_notify(s, NULL, NULL)
 * returns no call is running. */
static void remote_due(void *ctx)
{
    hr_store *s = ctx;
    pthread_mutex_lock(&s->qlock);
    if (s->notify_fn != NULL)
        s->notify_fn(s->notify_ctx);
    pthread_mutex_unlock(&s->qlock);
}

/* Releases everything; the writer must have stopped. */
static void store_free(hr_store *s)
{
    if (s->route_free != NULL)
        s->route_free(s->route_ctx);
    if (s->route_swap && s->next_route_free != NULL)
        s->next_route_free(s->next_route_ctx);
    if (s->eng != NULL)
        s->eng->close(s->db);
    while (s->prepare_kept != NULL) {
        struct prepare_kept *k = s->prepare_kept;
        s->prepare_kept = k->next;
        k->free_ctx(k->ctx);
        free(k);
    }
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->idle);
    free(s);
}

int hr_store_open(const hr_store_options *opt, hr_store **out, hr_error *err)
{
    hr_store *s = NULL;
    int ret;

    const hr_store_engine *eng = &hr_store__sqlite;

    if (opt != NULL && opt->uri != NULL) {
        if (strncmp(opt->uri, "postgresql://", 13) != 0 &&
            strncmp(opt->uri, "postgres://", 11) != 0)
            return hr_error_set(err, HR_EINVAL,
                                "store: the store must be a PostgreSQL URI (postgresql://...) "
                                "or a data folder");
        eng = &hr_store__pg;
    } else if (opt == NULL || opt->dir == NULL || opt->dir[0] == '\0') {
        return hr_error_set(err, HR_EINVAL, "store: no data folder given");
    }
    if (opt->max_queue > HR_MAX_STORE_QUEUE || opt->max_batch > HR_MAX_STORE_BATCH)
        return hr_error_set(err, HR_EINVAL,
                            "store: max_queue may be at most %d and max_batch at most %d",
                            HR_MAX_STORE_QUEUE, HR_MAX_STORE_BATCH);

    s = hr_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->max_queue = opt->max_queue ? opt->max_queue : HR_MAX_STORE_QUEUE;
    s->max_batch = opt->max_batch ? opt->max_batch : HR_MAX_STORE_BATCH;

    ret = eng->open(opt, &s->db, &s->where, err);
    if (ret != HR_OK)
        goto out;
    s->eng = eng;
    /* Without it deliveries other instances accept are still found, by the
     * delivery engine's poll, only later. */
    if (eng->watch != NULL && eng->watch(s->db, remote_due, s, err) != HR_OK)
        hr_log_warn(SUB, "%s", err->msg);
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    if (rc != 0) {
        ret = hr_error_set(err, HR_EIO, "store: cannot start the writer thread: %s", strerror(rc));
        goto out;
    }
    s->writer_running = 1;
    *out = s;
    s = NULL;
out:
    if (s != NULL)
        store_free(s);
    return ret;
}

void hr_store_drain(hr_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->qlock);
    s->closing = 1;
    pthread_cond_signal(&s->wake);
    while (s->pending > 0)
        pthread_cond_wait(&s->idle, &s->qlock);
    pthread_mutex_unlock(&s->qlock);
}

void hr_store_close(hr_store *s)
{
    if (s == NULL)
        return;
    hr_store_drain(s);
    if (s->writer_running)
        pthread_join(s->writer, NULL);
    hr_log_info(SUB, "closed %s", s->where);
    store_free(s);
}

/* ---- Deliveries --------------------------------------------------------- */

void hr_store_set_router(hr_store *s, hr_store_route_fn fn, void *ctx, void (*free_ctx)(void *ctx))
{
    void (*drop)(void *) = NULL;
    void *drop_ctx = NULL;
    pthread_mutex_lock(&s->qlock);
    if (s->route_swap) { /* replaced before the writer ever used it */
        drop = s->next_route_free;
        drop_ctx = s->next_route_ctx;
    }
    s->next_route_fn = fn;
    s->next_route_ctx = ctx;
    s->next_route_free = free_ctx;
    s->route_swap = 1;
    pthread_mutex_unlock(&s->qlock);
    if (drop != NULL)
        drop(drop_ctx);
}

void hr_store_set_notify(hr_store *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->qlock);
    s->notify_fn = fn;
    s->notify_ctx = ctx;
    pthread_mutex_unlock(&s->qlock);
}

void hr_store_record_attempt(hr_store *s, const hr_attempt *a, void (*done)(void *arg, int status),
                             void *arg)
{
    item *it = hr_calloc(1, sizeof(*it));
    hr_error err;
    it->type = ITEM_ATTEMPT;
    it->attempt = *a;
    it->attempt.error = hr_strdup(a->error);
    it->attempt.excerpt = hr_strdup(a->excerpt);
    it->attempt.service_ref = hr_strdup(a->service_ref);
    it->attempt.request_headers = hr_strdup(a->request_headers);
    it->attempt.target = hr_strdup(a->target);
    it->attempt_done = done;
    it->ctx = arg;
    if (enqueue(s, it, &err) != HR_OK) {
        /* Not recorded: the delivery stays due and is attempted again. */
        hr_log_warn(SUB, "cannot record attempt %d of delivery %lld: %s", a->attempt,
                    (long long)a->delivery_id, err.msg);
        done(arg, err.code);
    }
}

int hr_store_reset_deliveries(hr_store *s, const hr_delivery_reset *r, size_t *count, hr_error *err)
{
    item *it;
    if (r->id <= 0 && r->target == NULL && r->state == NULL && r->since <= 0 && r->until <= 0)
        return hr_error_set(err, HR_EINVAL,
                            "store: a reset names a delivery, a target, a state or a time range");
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_RESET;
    it->reset = *r;
    it->reset.target = hr_strdup(r->target);
    it->reset.state = hr_strdup(r->state);
    it->count_out = count;
    *count = 0;
    return enqueue_wait(s, it, err);
}

int hr_store_target_act(hr_store *s, const char *target, hr_health_action act,
                        hr_target_health *out, hr_error *err)
{
    item *it;
    if (target == NULL || target[0] == '\0' || strlen(target) >= HR_HEALTH_TARGET_MAX)
        return hr_error_set(err, HR_EINVAL, "store: a target's action needs the target's name");
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_HEALTH;
    it->reset.target = hr_strdup(target);
    it->action = act;
    it->health_out = out;
    return enqueue_wait(s, it, err);
}

int hr_store__prune_chunk(hr_store *s, hr_prune_chunk *p, hr_error *err)
{
    item *it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_PRUNE;
    it->prune = *p;
    it->prune.events = it->prune.deliveries = it->prune.attempts = 0;
    it->prune_out = p;
    return enqueue_wait(s, it, err);
}
