/*
 * store.h - herald's durable store: events, per-stage state, settings,
 * deliveries.
 *
 * One writer thread owns the engine's write side. Callers submit events
 * to a bounded queue; the writer takes everything waiting (up to
 * HR_MAX_STORE_BATCH) and commits it in one transaction (group commit),
 * so an event whose completion reported HR_OK is durable (on SQLite: on
 * disk, and it survives kill -9 and power loss). In the same transaction
 * the writer reads and updates the stage's last completed result, which
 * decides the event's transition (broken, fixed, ...). Readers never wait
 * for the writer; what they read the API gets as JSON (store/json.h).
 *
 * The store is the same for every engine (store/writer.c, retention.c,
 * json.c); an engine is a table of functions (store/engine.h). SQLite
 * (store/sqlite.h) keeps DIR/herald.db, locked so that one herald has
 * the folder.
 */
#ifndef HR_STORE_STORE_H
#define HR_STORE_STORE_H

#include "core/error.h"
#include "event/delivery.h"
#include "event/event.h"
#include "event/health.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_store hr_store;

typedef struct hr_store_options {
    /* Which engine: a PostgreSQL connection URI (postgresql://... or
     * postgres://..., any libpq URI; borrowed) selects PostgreSQL, and dir
     * is then not used; NULL selects SQLite in dir. */
    const char *uri;
    const char *dir;  /* borrowed; created if missing (mode 0700), locked while open */
    int sync_normal;  /* 0: synchronous=FULL (default); 1: NORMAL (benchmarks only) */
    size_t max_queue; /* 0: HR_MAX_STORE_QUEUE */
    size_t max_batch; /* 0: HR_MAX_STORE_BATCH */
    int readers;      /* read connections, 1 to 64; 0: 4 */
    /*
     * A cap on the database's size, in pages of 4 KiB; 0: no cap. Operators
     * may set it so herald cannot fill the disk. It maps to PRAGMA
     * max_page_count on the writer connection and cannot shrink a database
     * below its current size. Past it, events fail as on a full disk
     * ("database or disk is full") and nothing of them is stored; reopen
     * with a higher cap (or none) and the store works again.
     */
    size_t max_pages;
} hr_store_options;

/* Opens (creating and migrating) the database and starts the writer.
 * *out is new; close it with hr_store_close. HR_EINVAL for bad options
 * (max_queue above HR_MAX_STORE_QUEUE, max_batch above HR_MAX_STORE_BATCH),
 * HR_EIO when the folder cannot be made, HR_ESTORE when SQLite refuses. */
int hr_store_open(const hr_store_options *opt, hr_store **out, hr_error *err);

/* Stops accepting (later submits fail with HR_ECLOSED) and waits until
 * everything already queued is committed and every completion has run.
 * Reads keep working until hr_store_close. Never call it from a completion.
 * NULL is fine. */
void hr_store_drain(hr_store *s);

/* Drains (as above), joins the writer and closes every connection. No read
 * may be running or start. NULL is fine. */
void hr_store_close(hr_store *s);

/*
 * Completion of one submitted event, called exactly once on the writer
 * thread: status HR_OK when committed (ev->id and ev->transition are then
 * set), or a negative code with err saying why (for example "database or
 * disk is full"). err is NULL on success and borrowed for the call only.
 * Keep it short: it runs on the writer, and it must not wait for the store
 * (hr_store_put, hr_store_drain) or it waits for itself.
 */
typedef void (*hr_store_done_fn)(void *ctx, int status, const hr_error *err);

/*
 * Queues ev for the next commit. ev is borrowed and must stay alive and
 * unchanged until done runs. The normalised JSON and everything else the
 * writer needs is prepared here, on the caller's thread; received_at is set
 * to now when it is 0. done may be NULL. Returns HR_OK, or HR_EINVAL when ev
 * lacks a source or kind (or a stage event its pipeline or stage name),
 * HR_ETOOBIG when max_queue events are waiting, HR_ECLOSED while closing; on
 * failure done is never called and ev is untouched but for received_at.
 */
int hr_store_submit(hr_store *s, hr_event *ev, hr_store_done_fn done, void *ctx, hr_error *err);

/* Submits ev and waits for its completion; returns its status (and on
 * HR_OK, ev->id and ev->transition are set). */
int hr_store_put(hr_store *s, hr_event *ev, hr_error *err);

/* Events submitted and not yet completed. */
size_t hr_store_queue_depth(hr_store *s);

/* HR_OK while writes succeed; once the writer's last batch failed to
 * write (a full disk, a read-only file system, an I/O error), that
 * failure's code, with why (may be NULL) saying what SQLite said. The
 * next batch that writes makes it HR_OK again. Any thread. */
int hr_store_health(hr_store *s, hr_error *why);

/* The GoCD plugin settings: a flat object of string values. put replaces
 * them all (through the writer, durably; hr_store_get_settings in
 * store/json.h reads them). put returns HR_EINVAL when a value is not a
 * string or is longer than HR_MAX_SETTING_BYTES; settings is borrowed. */
int hr_store_put_settings(hr_store *s, const json_t *settings, hr_error *err);

typedef struct hr_event_query {
    const char *source, *kind, *pipeline, *stage, *result; /* NULL: any */
    int64_t before_id; /* cursor: only events with id < before_id; 0: from the newest */
    size_t limit;      /* 1 .. HR_MAX_API_PAGE; values outside are clamped */
    int with_warnings; /* 1: only events stored with warnings */
    /* One transition's name (hr_transition_name); NULL: any. The caller
     * checks it: the engine puts it into its SQL as a constant. */
    const char *transition;
    /* received_at in [since, until) ms; 0: open. Ids grow with time, so an
     * engine turns each bound into an id bound with one seek on an index of
     * received_at, and walks only the events between. */
    int64_t since, until;
    /* Only events with id > after_id; 0: any. What a page left open asks
     * for: the walk covers the rows newer than it has, however sparse its
     * filter. */
    int64_t after_id;
} hr_event_query;

/* A page of a list ordered by a key of names (stages: pipeline, stage;
 * jobs: source, job, branch; packages: repository, package), as the API
 * pages them: the rows whose key comes after `after`, in key order. Keys
 * only move forward, so a walk sees each row that stays once, whatever is
 * added or changed between pages. */
typedef struct hr_key_query {
    const char *after[3]; /* the last key listed, nafter parts; nafter 0: from the first */
    size_t nafter;
    const char *last_result; /* stages and jobs: only this last result; NULL: any */
    const char *repository;  /* packages: only this repository; NULL: any */
    size_t limit;            /* 1 .. HR_MAX_API_PAGE; values outside are clamped */
} hr_key_query;

/* ---- Deliveries ----------------------------------------------------------
 *
 * A delivery is one (event, target) pair, or one per subject when the
 * router says so (a commit-status target's changed git materials):
 * created by the writer in the event's own transaction from the router's
 * decision, then attempted by
 * the delivery engine until it is delivered or dead. States: pending (no
 * attempt yet), retrying, delivered, dead, skipped (not for its target),
 * superseded.
 *
 * Ordered delivery: a delivery created with an order key is due only while
 * no older delivery (lower id) with the same target and key is pending or
 * retrying (in flight included: it stays so until its attempt is
 * recorded), so a key's deliveries go one at a time in acceptance order,
 * and a key whose head waits for a retry holds back only itself. With
 * latest_wins, a key's head that is not in flight while a newer delivery
 * with its key waits is handed out superseded (hr_delivery_job), and
 * recorded so (never sent): the claim decides it, from the store's rows,
 * so it holds across kill -9 and restarts.
 */

/* Where one event goes: one (route, target) pair, with the delivery's
 * order key (NULL: unordered), whether the newest delivery of a key
 * supersedes the older ones still waiting, and what the delivery reports
 * on when its target reports the event on several things (NULL: the
 * event as a whole; route.h's hr_match). The strings stay valid until the
 * router's next call. */
typedef struct hr_store_route {
    const char *route, *target;
    const char *order_key;
    int latest_wins;
    const char *subject;
} hr_store_route;

/*
 * Decides where an event goes. Called on the writer thread, inside the
 * event's transaction, with ev->id and ev->transition already set and doc
 * its stored JSON (without id and transition). Fills out[i] for at most
 * max pairs and returns how many.
 */
typedef size_t (*hr_store_route_fn)(void *ctx, const hr_event *ev, const char *doc, size_t doc_len,
                                    hr_store_route *out, size_t max);

/* Installs the router the writer uses from its next batch on (any thread).
 * The store owns ctx from now: it calls free_ctx(ctx) on the writer thread
 * once a later router replaced it, or at close. */
void hr_store_set_router(hr_store *s, hr_store_route_fn fn, void *ctx, void (*free_ctx)(void *ctx));

/*
 * Work for the router done where an event is accepted, off the writer:
 * hr_store_submit calls fn(ctx, ev, doc, doc_len) on the caller's thread with the
 * event's document as stored (without id and transition), and the router
 * finds what it returned as ev->route_keys while it routes the event
 * (route/keys.h: order keys); free_fn frees it after the commit. fn runs
 * concurrently on any thread. The store keeps every ctx set and frees it
 * with free_ctx at close (a submit in flight may still use an older one);
 * fn NULL: none from now on.
 */
typedef void *(*hr_store_prepare_fn)(void *ctx, const hr_event *ev, const char *doc,
                                     size_t doc_len);
void hr_store_set_prepare(hr_store *s, hr_store_prepare_fn fn, void (*free_fn)(void *made),
                          void *ctx, void (*free_ctx)(void *ctx));

/* fn(ctx) is called on the writer thread after a commit that made
 * deliveries due (new events routed, deliveries reset). Keep it cheap. */
void hr_store_set_notify(hr_store *s, void (*fn)(void *ctx), void *ctx);

/* The delivery engine's record (event/delivery.h): queued for the writer; done
 * runs on the writer after the commit, or at once when the queue refuses
 * (the delivery then stays due in the store; the engine keeps the outcome
 * and records it again later). */
void hr_store_record_attempt(hr_store *s, const hr_attempt *a, void (*done)(void *arg, int status),
                             void *arg);

/* Which deliveries to make due again now (retry one, replay many), or to
 * drop. Every condition given must hold; at least one is needed. */
typedef struct hr_delivery_reset {
    int64_t id;           /* one delivery; 0: any */
    const char *target;   /* NULL: any */
    const char *state;    /* pending, retrying, delivered, dead or dropped; NULL: any */
    int64_t since, until; /* created_at in [since, until) ms; 0: open */
    /* Drop instead of replaying: the state becomes "dropped", final (kept
     * and shown, never sent; a replay naming it brings it back). Only
     * deliveries not yet delivered (pending, retrying, dead) are dropped,
     * and an attempt in flight when its delivery is dropped does not
     * change its state. */
    bool drop;
    bool dry_run; /* change nothing: *count is how many the reset would change */
} hr_delivery_reset;

/* Resets durably and waits; *count is how many deliveries were reset
 * (dropped; with dry_run, would be). */
int hr_store_reset_deliveries(hr_store *s, const hr_delivery_reset *r, size_t *count,
                              hr_error *err);

/* The states a delivery can be in, as the API names them (api.c's
 * delivery_states lists the same, in the same order). */
#define HR_DELIVERY_STATES "pending, retrying, delivered, dead, skipped, superseded, dropped"

/* ---- Targets' health (event/health.h) -----------------------------------
 *
 * Each attempt recorded with a target moves that target's health record in
 * the attempt's transaction; a change (circuit opened or closed, disabled,
 * a dead letter) is stored as herald's own event (source "herald", kind
 * "target-health") in the same transaction and routed like any event, but
 * never to the target it is about.
 */

/* An operator's action on a target (pause, resume, enable), durably; waits.
 * *out (may be NULL) gets the record after it. Resuming and enabling make
 * the target's held deliveries due at once, oldest first. */
int hr_store_target_act(hr_store *s, const char *target, hr_health_action act,
                        hr_target_health *out, hr_error *err);

/* Every target's record, read in one query (any thread): *list is a new
 * array of *n (free it). */
int hr_store_list_health(hr_store *s, hr_target_health **list, size_t *n, hr_error *err);

typedef struct hr_delivery_query {
    const char *state, *target; /* NULL: any */
    int64_t event_id;           /* 0: any */
    int64_t before_id;          /* cursor */
    size_t limit;
    int64_t since, until; /* created_at in [since, until) ms; 0: open (as hr_event_query) */
    int64_t after_id;     /* only deliveries with id > after_id; 0: any (as hr_event_query) */
} hr_delivery_query;

/* ---- Retention -----------------------------------------------------------
 *
 * What hr_store_prune deletes. An event older than events_ms goes with
 * its deliveries and their attempts once every delivery is final
 * (delivered, dead or superseded); an event with a delivery pending or
 * retrying stays, and so does every package-revision event (its revision
 * refers to it and GoCD polls it). Attempts (the per-try log) older than attempts_ms go on
 * their own, whatever their event. A stage's or job's state outlives the
 * event it last saw: its last_event_id becomes null.
 */
/* At most this many events (looked at, kept or deleted) and attempts are
 * handled in one writer transaction. */
#define HR_PRUNE_CHUNK_EVENTS 1000
#define HR_PRUNE_CHUNK_ATTEMPTS 5000

typedef struct hr_prune_policy {
    int64_t events_ms;   /* delete events received more than this long ago; 0: keep them */
    int64_t attempts_ms; /* delete attempts started more than this long ago; 0: keep them */
    int64_t now_ms;      /* the time ages are measured from; 0: now */
    size_t max_chunks;   /* stop after this many writer transactions; 0: until done */
    /* Asked between chunks (any thread, may be NULL): nonzero ends the
     * prune early, as HR_OK with done unset. */
    int (*stop)(void *ctx);
    void *stop_ctx;
    /* Where instances share a store, one prunes at a time: the one that
     * holds the store's leader row for retention, which this prune takes
     * or renews for lead_ms (0: 10 minutes). Set it above the time between
     * prunes, so the leader keeps it while it lives. */
    int64_t lead_ms;
} hr_prune_policy;

typedef struct hr_prune_result {
    size_t events, deliveries, attempts; /* rows deleted */
    size_t chunks;                       /* writer transactions used */
    int64_t elapsed_ms;                  /* wall time of the whole prune */
    int64_t db_bytes;                    /* page_count * page_size after the prune */
    int64_t free_bytes;                  /* of db_bytes, pages free for reuse */
    int done;                            /* everything old enough was looked at */
    int not_leader; /* another instance holds retention's leader row: nothing done */
} hr_prune_result;

/*
 * Deletes what policy says is too old, on the writer, in chunks of at
 * most HR_PRUNE_CHUNK_EVENTS events and HR_PRUNE_CHUNK_ATTEMPTS attempts
 * per transaction, each queued behind whatever is waiting, so events
 * being stored wait for one chunk at most. Waits for every chunk; never
 * call it from a completion. *res (all zero first) counts what was
 * deleted, even on failure. Returns HR_OK, HR_ECLOSED once the store is
 * draining (what earlier chunks deleted stays deleted), or HR_ESTORE.
 */
int hr_store_prune(hr_store *s, const hr_prune_policy *policy, hr_prune_result *res, hr_error *err);

/* ---- Package revisions ---------------------------------------------------
 *
 * A package-revision event (ev->has_package) is stored with its revision
 * in the same transaction. A revision already stored for the package from
 * the very same request bytes completes HR_OK with ev->package.duplicate
 * set and ev->id the first event's (no new event, no deliveries); one
 * stored from other bytes completes HR_ECONFLICT.
 *
 * A build-status event (Jenkins, herald notify) takes its transition from
 * its job's history (event/event.h, hr_build_transition), kept per
 * (source, job full name, branch) as a stage's last result is kept per
 * GoCD stage.
 */

#endif
