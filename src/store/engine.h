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
 * Threads: the writer's functions (begin .. prune, begin_piped, redo) run
 * only on the writer thread, inside a transaction begun by begin (one item
 * at a time between item_begin and item_end) or by begin_piped. The readers' functions (list_events
 * .. claim) run on any thread, concurrently with each other and with the writer: the engine keeps
 * its own read connections. Every function returns HR_OK or an error (HR_ESTORE for what the
 * database refused, with a message that says what to do), and never calls back into the store.
 */
#ifndef HR_STORE_ENGINE_H
#define HR_STORE_ENGINE_H

#include "core/error.h"
#include "event/delivery.h"
#include "event/event.h"
#include "event/health.h"
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
    const char *doc; /* the normalised JSON, without id and transition; NULL: derived
                      * from raw on read (event_doc.h) */
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
    /* r: the route, target, order key and latest_wins of one delivery;
     * run_key: the event's run (hr_event_run_key), or NULL. */
    int (*insert_delivery)(void *db, int64_t event_id, const hr_store_route *r, const char *run_key,
                           int64_t now, hr_error *err);
    /* Records an attempt: the delivery's new state and the attempts log;
     * a delivered attempt's service_ref is kept with the delivery and, when
     * the delivery's run has no message for its target yet, as the run's
     * (run_messages: the first one stays). */
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
    /* Lists by key (hr_key_query): up to limit + 1 rows in key order. */
    int (*list_stages)(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err);
    int (*list_jobs)(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err);
    int (*get_settings)(void *db, hr_rows *rows, hr_error *err);
    int (*list_deliveries)(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                           hr_rows *rows, hr_error *err);
    int (*target_health)(void *db, int64_t since, hr_rows *rows, hr_error *err);
    int (*list_revisions)(void *db, const char *repository, const char *package, int64_t before_id,
                          size_t limit, hr_rows *rows, hr_error *err);
    int (*list_packages)(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                         hr_error *err);
    /* Periodic work where instances share a store (retention): takes or
     * renews the leader row named job for ttl_ms from now, unless another
     * instance holds it unexpired; *leader says whether this one holds it.
     * Any thread. An engine with one instance per store always leads. */
    int (*lead)(void *db, const char *job, int64_t now, int64_t ttl_ms, int *leader, hr_error *err);
    /* Due deliveries as the delivery engine asks for them (event/delivery.h). */
    int (*claim)(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err);

    /* Targets' health (event/health.h). The writer's: a target's record
     * (*found 0 and h fresh when it has none), saving it, and its held
     * deliveries (pending or retrying) counted into *count, or with
     * release made due at now. The readers': every record, as
     * hr_target_health rows. */
    int (*get_health)(void *db, const char *target, hr_target_health *h, int *found, hr_error *err);
    int (*put_health)(void *db, const hr_target_health *h, hr_error *err);
    int (*held)(void *db, const char *target, int64_t now, int release, int64_t *count,
                hr_error *err);
    int (*list_health)(void *db, hr_rows *rows, hr_error *err);
    /* Where instances share a store (both NULL where they cannot): announce
     * tells the others that this one made deliveries due (writer thread,
     * after the commit and its answers, outside any transaction; a failure
     * is not reported: the others' poll finds the deliveries anyway).
     * watch starts listening for the others' announcements and calls
     * due(ctx) on a thread of the engine's for each (and once after a lost
     * connection came back), until close; HR_OK or why not. */
    void (*announce)(void *db);
    int (*watch)(void *db, void (*due)(void *ctx), void *ctx, hr_error *err);
    /* Ends the lease of a claim the engine did not start (while claim_token
     * is still the delivery's); NULL where claims are not leased. */
    int (*unclaim)(void *db, int64_t id, int64_t claim_token, hr_error *err);
    /* Optional (NULL where every statement is waited for anyway): a
     * transaction whose statements the engine may send ahead of their
     * results (events: the batch's nevents events, borrowed until commit
     * or rollback, whose ids and history rows it may take at once), ended
     * by commit or rollback as begin's; its items run with
     * no item_begin and item_end (no savepoints). A failure may show at a
     * later item's statement or at commit, so it is not the item's own:
     * after one, redo says whether the transaction surely did not commit
     * and the engine can run the batch again (the writer then does, by
     * begin and savepoints). */
    int (*begin_piped)(void *db, const hr_event *const *events, size_t nevents, hr_error *err);
    int (*redo)(void *db);
} hr_store_engine;

/* A claim's condition (SQL both engines read alike, on deliveries d) for
 * hr_claim_query.run_order: a delivery of a run whose target has no
 * message for it yet waits while an older delivery of the same run and
 * target is due, so the first event's message is known before the next
 * event edits it. A run whose first delivery went dead no longer holds
 * the others up: the next one makes the run's message. */
/* The claim's condition for ordered delivery (both engines; d is the
 * delivery): an ordered delivery is due only as its key's head, with no
 * older one of its target and key still pending or retrying (in flight
 * included: it stays so until its attempt is recorded). */
#define HR_STORE_KEY_HEAD                                                                          \
    " AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries o"                          \
    "   WHERE o.target = d.target AND o.order_key = d.order_key AND o.id < d.id"                   \
    "   AND o.state IN ('pending', 'retrying')))"

/* For a claimed key head c with latest_wins: the newest delivery of its
 * key waiting, which supersedes it (NULL otherwise). */
#define HR_STORE_SUPERSEDED_BY(c)                                                                  \
    " CASE WHEN " c ".latest_wins THEN (SELECT max(n.id) FROM deliveries n"                        \
    "   WHERE n.target = " c ".target AND n.order_key = " c ".order_key AND n.id > " c ".id"       \
    "   AND n.state IN ('pending', 'retrying')) END"

/* The indexes of reads that stay flat as history grows: SQLite's schema
 * v13, PostgreSQL's v8 (store/sqlite.c says why each). */
#define HR_STORE_FLAT_INDEXES                                                                      \
    "CREATE INDEX IF NOT EXISTS events_by_source ON events(source, id);"                           \
    "CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, id);"                               \
    "CREATE INDEX IF NOT EXISTS events_by_result ON events(result, id);"                           \
    "CREATE INDEX IF NOT EXISTS events_with_warnings ON events(id) WHERE warnings > 0;"            \
    "CREATE INDEX IF NOT EXISTS deliveries_by_target_id ON deliveries(target, id);"                \
    "CREATE INDEX IF NOT EXISTS deliveries_by_update ON deliveries(updated_at);"                   \
    "CREATE INDEX IF NOT EXISTS stages_by_result ON stage_state(last_result, pipeline, stage);"    \
    "CREATE INDEX IF NOT EXISTS jobs_by_result ON job_state(last_result, source, job, branch)"

/* The targets' health (target_health): the deliveries that count, those
 * changed since the window's start (an index of updated_at) and those
 * waiting (an index of state: the unary + keeps SQLite off the first), rather than a walk of every
 * delivery; and a target's last error, that of its retrying delivery changed last (they are few) or
 * else of its newest dead one (one seek). */
#define HR_STORE_HEALTH_ROWS(since)                                                                \
    "SELECT target, state, updated_at FROM deliveries WHERE updated_at >= " since                  \
    " UNION ALL SELECT target, state, updated_at FROM deliveries"                                  \
    " WHERE state IN ('pending', 'retrying') AND +updated_at < " since
#define HR_STORE_LAST_ERROR                                                                        \
    "SELECT e FROM (SELECT 1 AS o, e FROM (SELECT last_error AS e FROM deliveries r"               \
    "   WHERE r.target = d.target AND r.state = 'retrying' ORDER BY r.updated_at DESC LIMIT 1) a"  \
    " UNION ALL SELECT 2, e FROM (SELECT last_error AS e FROM deliveries x"                        \
    "   WHERE x.target = d.target AND x.state = 'dead' ORDER BY x.id DESC LIMIT 1) b) l"           \
    " ORDER BY o LIMIT 1"

/* A package's row of the list (hr_package_row), up to its FROM. */
#define HR_STORE_PACKAGES_SELECT                                                                   \
    "SELECT p.repository, p.package, p.created_at,"                                                \
    " (SELECT count(*) FROM revisions r WHERE r.repository = p.repository"                         \
    "   AND r.package = p.package),"                                                               \
    " (SELECT r.revision FROM revisions r WHERE r.repository = p.repository"                       \
    "   AND r.package = p.package ORDER BY r.id DESC LIMIT 1),"                                    \
    " (SELECT r.published_at FROM revisions r WHERE r.repository = p.repository"                   \
    "   AND r.package = p.package ORDER BY r.id DESC LIMIT 1)"                                     \
    " FROM packages p"

/* How many older deliveries of its key wait before d (NULL unless d
 * waits itself), for the API. */
#define HR_STORE_QUEUE_POSITION                                                                    \
    " CASE WHEN d.order_key IS NOT NULL AND d.state IN ('pending', 'retrying')"                    \
    " THEN (SELECT count(*) FROM deliveries o WHERE o.target = d.target"                           \
    "   AND o.order_key = d.order_key AND o.id < d.id"                                             \
    "   AND o.state IN ('pending', 'retrying')) END"

#define HR_STORE_RUN_WAITS                                                                         \
    " AND (d.run_key IS NULL"                                                                      \
    "   OR EXISTS (SELECT 1 FROM run_messages rm WHERE rm.target = d.target"                       \
    "     AND rm.run_key = d.run_key)"                                                             \
    "   OR NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.target = d.target"                       \
    "     AND o.run_key = d.run_key AND o.id < d.id AND o.state IN ('pending', 'retrying')))"

/* Retention's statement (both engines) for run messages: the message of
 * a run whose deliveries are all gone goes too, once the events before
 * the cutoff (the parameter) were looked at. */
#define HR_STORE_PRUNE_RUN_MESSAGES(param)                                                         \
    "DELETE FROM run_messages WHERE updated_at < " param " AND NOT EXISTS (SELECT 1"               \
    " FROM deliveries d WHERE d.target = run_messages.target AND d.run_key = "                     \
    "run_messages.run_key)"

/* The engines herald is built with. */
extern const hr_store_engine hr_store__sqlite;
extern const hr_store_engine hr_store__pg;

/* A delivery's state after an attempt with this outcome (retrying,
 * delivered, dead, superseded), and the attempt's own outcome as the
 * attempts log names it (delivered, retry, dead, superseded). A superseded
 * delivery was never sent: its record moves the delivery only, with the
 * reason in last_error, and adds no row to the attempts log. */
const char *hr_store__outcome_state(hr_outcome o);
const char *hr_store__outcome_name(hr_outcome o);

/* The store's engine and handle, for the engine-neutral readers
 * (store/json.c) and retention (store/retention.c). */
const hr_store_engine *hr_store__engine(hr_store *s, void **db);

/* Queues a prune chunk for the writer (alone in its transaction) and waits
 * for it; *p is updated with what it did. */
int hr_store__prune_chunk(hr_store *s, hr_prune_chunk *p, hr_error *err);

#endif
