/*
 * engine.h - the seam between the store and a database engine.
 *
 * What is the same for every engine (the writer's queue and group commit,
 * completions, transitions, retention's policy, the API's JSON) is written
 * once, in store/writer.c, store/retention.c and store/json.c. An engine is
 * one table of functions (hr_store_engine) in its own files, as curl keeps
 * one file per TLS backend (lib/vtls/vtls_int.h, struct Curl_ssl):
 * store/sqlite.c and store/sqlite_read.c fill it for SQLite.
 *
 * Threads: the writer's functions (begin .. prune) run only on the writer
 * thread, inside a transaction begun by begin, one item at a time between
 * item_begin and item_end. The readers' functions (list_events .. claim)
 * run on any thread, concurrently with each other and with the writer:
 * the engine keeps its own read connections. Every function returns HR_OK
 * or an error (HR_ESTORE for what the database refused, with a message
 * that says what to do), and never calls back into the store.
 */
#ifndef HR_STORE_ENGINE_H
#define HR_STORE_ENGINE_H

#include "core/error.h"
#include "event/delivery.h"
#include "event/event.h"
#include "store/rows.h"
#include "store/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* An event's columns, decided by the writer (store/writer.c) from the
 * event: which of its fields are filtered on as pipeline, stage, result. */
typedef struct hr_event_columns {
    int64_t received_at;
    const char *source, *kind, *version;
    const char *pipeline, *pipeline_counter, *stage, *stage_counter, *state, *result;
    const char *transition;
    const char *doc; /* the normalised JSON, without id and transition */
    size_t doc_len;
    const char *raw; /* NULL when the event had no body */
    size_t raw_len;
    const char *request_id;              /* NULL when none */
    const unsigned char *request_digest; /* 32 bytes, with request_id */
    int64_t warnings;
} hr_event_columns;

/* An event stored before under the same request id. */
typedef struct hr_request_hit {
    int found;
    int64_t id;
    hr_transition transition;
    int same_digest; /* its digest is the one asked about (or it has none) */
} hr_request_hit;

/* A package revision stored before under the same name. */
typedef struct hr_revision_hit {
    int found;
    int same_body; /* published from the very same request bytes */
    int64_t event_id, timestamp, published_at;
} hr_revision_hit;

/* One chunk of a prune: what it is to look at, and what it did
 * (store/retention.c decides the cutoffs and how many chunks). */
typedef struct hr_prune_chunk {
    int64_t events_before;   /* delete events received before this (ms) */
    int64_t attempts_before; /* delete attempts started before this (ms) */
    int64_t event_cursor;    /* the last event id looked at */
    int64_t attempt_cursor;  /* the last attempt id looked at */
    int events_done, attempts_done;
    size_t events, deliveries, attempts; /* deleted by this chunk */
    int64_t db_bytes, free_bytes;
} hr_prune_chunk;

typedef struct hr_store_engine {
    const char *name;

    /* Opens (creating and migrating the schema) and returns the engine's
     * handle in *db, and a description for logs (borrowed from *db) in
     * *where. close accepts NULL. */
    int (*open)(const hr_store_options *opt, void **db, const char **where, hr_error *err);
    void (*close)(void *db);

    /* The writer's transaction. bulk marks a prune chunk's, which may run
     * with checks the engine knows it keeps itself turned off. commit ends
     * it; on any failure the writer calls rollback, which ends whatever is
     * still open. */
    int (*begin)(void *db, int bulk, hr_error *err);
    int (*commit)(void *db, hr_error *err);
    void (*rollback)(void *db);
    /* One item inside the transaction: item_end with ok 0 undoes what the
     * item did and only that. lost says whether the engine lost the whole
     * transaction after a failure (nothing of it will commit). */
    int (*item_begin)(void *db, hr_error *err);
    int (*item_end)(void *db, int ok, hr_error *err);
    int (*lost)(void *db);

    /* The writer's statements. */
    int (*find_request)(void *db, const char *request_id, const unsigned char digest[32],
                        hr_request_hit *hit, hr_error *err);
    int (*find_revision)(void *db, const hr_package_rev *p, const char *raw, size_t raw_len,
                         hr_revision_hit *hit, hr_error *err);
    /* *prev: a new copy of the stage's last Passed/Failed, NULL for none. */
    int (*stage_last_result)(void *db, const char *pipeline, const char *stage, char **prev,
                             hr_error *err);
    int (*job_history)(void *db, const char *source, const char *job, const char *branch,
                       hr_job_history *h, hr_error *err);
    int (*insert_event)(void *db, const hr_event_columns *c, int64_t *id, hr_error *err);
    /* last_result is NULL for a result that does not count (kept as is). */
    int (*save_stage)(void *db, const hr_event *ev, const char *last_result, int64_t event_id,
                      hr_error *err);
    int (*save_job)(void *db, const hr_event *ev, const char *branch, const hr_job_history *h,
                    int64_t event_id, hr_error *err);
    int (*save_revision)(void *db, const hr_event *ev, const char *doc, int64_t event_id,
                         hr_error *err);
    int (*insert_delivery)(void *db, int64_t event_id, const char *route, const char *target,
                           int64_t now, hr_error *err);
    int (*save_attempt)(void *db, const hr_attempt *a, int64_t now, hr_error *err);
    int (*reset)(void *db, const hr_delivery_reset *r, int64_t now, size_t *count, hr_error *err);
    int (*save_settings)(void *db, const json_t *settings, hr_error *err);
    int (*prune)(void *db, hr_prune_chunk *p, hr_error *err);

    /* The readers' queries: each fills rows (initialised by the caller to
     * its row type). Pages hold up to limit + 1 rows newest first; the
     * extra row tells the caller there is a next page. */
    int (*list_events)(void *db, const hr_event_query *q, size_t limit, hr_rows *rows,
                       hr_error *err);
    int (*get_event)(void *db, int64_t id, hr_rows *rows, hr_error *err);
    int (*list_stages)(void *db, hr_rows *rows, hr_error *err);
    int (*list_jobs)(void *db, hr_rows *rows, hr_error *err);
    int (*get_settings)(void *db, hr_rows *rows, hr_error *err);
    int (*list_deliveries)(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                           hr_rows *rows, hr_error *err);
    int (*target_health)(void *db, int64_t since, hr_rows *rows, hr_error *err);
    int (*list_revisions)(void *db, const char *repository, const char *package, int64_t before_id,
                          size_t limit, hr_rows *rows, hr_error *err);
    int (*list_packages)(void *db, const char *repository, hr_rows *rows, hr_error *err);
    /* Periodic work where instances share a store (retention): takes or
     * renews the leader row named job for ttl_ms from now, unless another
     * instance holds it unexpired; *leader says whether this one holds it.
     * Any thread. An engine with one instance per store always leads. */
    int (*lead)(void *db, const char *job, int64_t now, int64_t ttl_ms, int *leader, hr_error *err);
    /* Due deliveries as the delivery engine asks for them (event/delivery.h). */
    int (*claim)(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err);

    /* Where instances share a store (both NULL where they cannot): announce
     * tells the others that this one made deliveries due (writer thread,
     * after the commit and its answers, outside any transaction; a failure
     * is not reported: the others' poll finds the deliveries anyway).
     * watch starts listening for the others' announcements and calls
     * due(ctx) on a thread of the engine's for each (and once after a lost
     * connection came back), until close; HR_OK or why not. */
    void (*announce)(void *db);
    int (*watch)(void *db, void (*due)(void *ctx), void *ctx, hr_error *err);
} hr_store_engine;

/* The engines herald is built with. */
extern const hr_store_engine hr_store__sqlite;
extern const hr_store_engine hr_store__pg;

/* A delivery's state after an attempt with this outcome (pending,
 * retrying, delivered, dead), and the attempt's own outcome as the
 * attempts log names it (delivered, retry, dead). */
const char *hr_store__outcome_state(hr_outcome o);
const char *hr_store__outcome_name(hr_outcome o);

/* The store's engine and handle, for the engine-neutral readers
 * (store/json.c) and retention (store/retention.c). */
const hr_store_engine *hr_store__engine(hr_store *s, void **db);

/* Queues a prune chunk for the writer (alone in its transaction) and waits
 * for it; *p is updated with what it did. */
int hr_store__prune_chunk(hr_store *s, hr_prune_chunk *p, hr_error *err);

#endif
