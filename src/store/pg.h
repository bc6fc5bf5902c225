/*
 * pg.h - what the PostgreSQL engine's files share (store/pg.c: connect,
 * transactions and the table; store/pg_schema.c: the schema and the
 * writer's statements; store/pg_read.c: the read pool, its queries and
 * the claim). Nothing outside them includes it.
 *
 * Several herald instances may share one database. The schema is created
 * and migrated under an advisory lock, so two instances starting at once
 * do it once. The writer group-commits as on SQLite (one transaction per
 * batch, the answer after COMMIT returned), with statements prepared once
 * per connection, in libpq's pipeline mode (pg_pipe.c): a statement whose
 * result the writer does not need is sent and not waited for, so a batch
 * waits once at its start (its events' ids and the history rows of every
 * stage and job it touches, held to the commit) and once at COMMIT; its
 * events and deliveries go as one INSERT each (pg_batch.c). A
 * stage's or job's history row is created, locked and read by one upsert
 * in the writer's transaction before its transition is decided, so two
 * instances taking two events of one pipeline judge them one after the
 * other; a batch takes its rows in key order, so two batches cannot
 * deadlock on them. Deliveries are claimed with FOR UPDATE SKIP LOCKED under a lease
 * (lease_until) with a fencing token (claim_token): an attempt is recorded
 * only while its token is the delivery's, so a late answer from a lost
 * lease cannot overwrite a newer attempt. No transaction is held across a
 * request: a claim is one statement. After a commit that made deliveries
 * due the writer sends NOTIFY herald_due (outside the batch's transaction,
 * with this instance's name); every instance LISTENs on a connection of
 * its own and wakes its delivery engine, whose poll stays as a backstop.
 *
 * A lost connection is re-opened with backoff at the next use (the writer
 * at its next batch, a reader when it is taken); until then every write
 * fails with HR_ESTORE and says why, never succeeds.
 */
#ifndef HR_STORE_PG_H
#define HR_STORE_PG_H

#include "core/limits.h"
#include "store/engine.h"
#include "store/pool.h"

#include <libpq-fe.h>
#include <pthread.h>

/* How long a claimed delivery stays with its instance when the claim
 * names no lease (the delivery engine asks for its timeout plus a margin). */
#define HR_PG_LEASE_MS (5 * 60 * 1000)

/* Statements the writer sends ahead before it reads their results. */
#define HR_PG_MAX_PENDING 256
/* Rows one batch INSERT takes at most (a fuller buffer is sent). */
#define HR_PG_MAX_ROWS 512
/* The bytes one batch INSERT takes before it is sent (then its rows go
 * with fewer, never a statement near PostgreSQL's 1 GB or int's limits). */
#define HR_PG_MAX_ROW_BYTES (64u * 1024u * 1024u)
/* Columns one batch INSERT writes at most. */
#define HR_PG_MAX_COLS 17

/* A PostgreSQL array in its binary form (pg_batch.c), built an element
 * at a time. */
typedef struct hr_pg_array {
    char *s;
    size_t len, cap;
    uint32_t n; /* elements */
    bool nulls; /* whether one is NULL */
} hr_pg_array;

/* Rows waiting to be inserted by one INSERT (pg_batch.c): nrows rows,
 * each column's values kept as one array as they come. */
typedef struct hr_pg_rowbuf {
    size_t nrows;
    hr_pg_array col[HR_PG_MAX_COLS];
} hr_pg_rowbuf;

/* A history row (a stage's or a job's) a pipelined transaction holds
 * locked, and what its own events left there: key (stage: pipeline and
 * stage; job: source, job and branch), the last result (a job's also its
 * number and the result before), the last state and counter (a job's
 * phase and status), the event and time; dirty when it is to be written
 * before COMMIT. */
typedef struct hr_pg_held {
    char *key[3];
    char *last_result, *prev_result, *state, *counter;
    int64_t last_number, event_id, updated_at;
    int dirty;
} hr_pg_held;

/* The delivery engine's own connection (not the API's pool), with the
 * claim's named statements once prepared is set (a reset drops them). */
typedef struct hr_pg_claims {
    PGconn *c;
    int prepared;
} hr_pg_claims;

typedef struct hr_pg {
    char *uri;         /* owned; never logged (it may hold a password) */
    char where[160];   /* "postgresql database NAME on HOST:PORT", for logs */
    char instance[64]; /* this instance's name in leader rows */

    /* The writer's connection (writer thread only, once it runs), and
     * when it may next try to connect again after a failure. */
    PGconn *w;
    int64_t w_retry_at;
    int w_backoff_ms;

    /* The writer's pipeline (pg_pipe.c), while a pipelined transaction
     * runs: the statements sent whose results are not read yet (what each
     * was doing, for its error), the first failure (after which PostgreSQL
     * skips the rest until the sync), and whether COMMIT may have run. */
    int piped;
    int npending;
    const char *pending[HR_PG_MAX_PENDING];
    int pipe_failed;
    hr_error pipe_err;
    int commit_ran;
    /* What the pipelined transaction knows without asking again: event ids
     * taken at its start, one per event of the batch (the rest are
     * waited for), and the history rows of its stages and jobs, locked at
     * its start in key order (pg_batch.c), sorted by key. */
    int64_t ids[HR_MAX_STORE_BATCH];
    size_t nids, ids_used;
    hr_pg_held stages[HR_MAX_STORE_BATCH], jobs[HR_MAX_STORE_BATCH];
    size_t nstages, njobs;
    /* The events and deliveries sent as one INSERT each, before
     * any other statement and at COMMIT. */
    hr_pg_rowbuf event_rows, delivery_rows;

    hr_pool readers; /* of PGconn */
    hr_pool claims;  /* of one hr_pg_claims: the delivery engine's (pg_read.c) */

    /* The listener (pg_listen.c): a thread with a connection of its own
     * that LISTENs for other instances' new deliveries and calls due. */
    pthread_t listener;
    int listening;  /* the thread runs */
    int stop_fd[2]; /* a pipe: closing its write end stops the thread */
    void (*due)(void *ctx);
    void *due_ctx;
} hr_pg;

/* Parameters of one statement, as text (or binary for bytea). */
#define HR_PG_MAX_PARAMS 24
typedef struct hr_pg_params {
    int n;
    const char *v[HR_PG_MAX_PARAMS];
    int len[HR_PG_MAX_PARAMS];
    int fmt[HR_PG_MAX_PARAMS];
    char num[HR_PG_MAX_PARAMS][24];
} hr_pg_params;

void hr_pg__str(hr_pg_params *p, const char *s);
void hr_pg__int(hr_pg_params *p, int64_t v);
void hr_pg__bin(hr_pg_params *p, const void *b, size_t len);

/* Sets err to "store: cannot <doing>: <PostgreSQL's message><hint>" and
 * returns HR_ESTORE. res may be NULL (a connection failure). */
int hr_pg__error(PGconn *c, const PGresult *res, const char *doing, hr_error *err);
/* res checked (a command's or a query's success), kept in *out when out is
 * not NULL, else cleared; a failure is described as hr_pg__error does. */
int hr_pg__check(PGconn *c, PGresult *res, PGresult **out, const char *doing, hr_error *err);
/* pg_schema.c: the writer's statements prepared on c; the schema created or
 * migrated to this herald's version on g's writer connection. */
int hr_pg__prepare(PGconn *c, hr_error *err);
int hr_pg__migrate(hr_pg *g, hr_error *err);
int hr_pg__schema_version(void);

/* Runs sql (name: a statement prepared on c) with p (NULL: none, and
 * then sql may hold several statements); *out (when not NULL)
 * gets the result, which the caller PQclears. HR_OK when PostgreSQL
 * answered with success. */
int hr_pg__exec(PGconn *c, const char *sql, const hr_pg_params *p, PGresult **out,
                const char *doing, hr_error *err);
int hr_pg__exec_prepared(PGconn *c, const char *name, const hr_pg_params *p, PGresult **out,
                         const char *doing, hr_error *err);

/*
 * The writer's statements (pg_pipe.c). Outside a pipelined transaction
 * both run the statement and wait for it, as hr_pg__exec does. Inside one,
 * hr_pg__wsend sends it and returns at once (its failure shows at the next
 * wait, and fails the batch), and hr_pg__wexec sends it and waits for it
 * and for everything sent before. name is a prepared statement's, or NULL
 * for sql (one statement); p may be NULL.
 */
int hr_pg__wsend(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                 const char *doing, hr_error *err);
int hr_pg__wexec(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p, PGresult **out,
                 const char *doing, hr_error *err);
/* A pipelined transaction: begin enters pipeline mode, sends BEGIN,
 * takes the batch's event ids and locks its stages' and jobs' history
 * rows (one wait); commit sends the rows still buffered, the history rows'
 * new state and COMMIT with the sync, and reads every result; abort ends
 * pipeline mode whatever happened (rollback's first step). After a failure,
 * redo says whether the transaction surely did not commit and the
 * connection still works. events are borrowed for the call. */
int hr_pg__pipe_begin(hr_pg *g, const hr_event *const *events, size_t nevents, hr_error *err);
int hr_pg__pipe_commit(hr_pg *g, hr_error *err);
void hr_pg__pipe_abort(hr_pg *g);
int hr_pg__pipe_redo(hr_pg *g);
/* Sends one statement into the pipeline as it is (no buffered rows go
 * first); waits for nothing unless the pipeline is full. */
int hr_pg__pipe_send(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                     const char *doing, hr_error *err);
/* The batch's rows (pg_batch.c), inside a pipelined transaction. lock
 * takes the history rows of the events' stages and jobs with one locking
 * statement per table, sorted by key, and one read, so instances whose batches share stages
 * take them in one order and cannot deadlock; it sends them and leaves
 * their results for the caller's wait (*nsent statements), which read
 * then reads. held_stage and held_job find a row the transaction holds
 * (NULL: not held); hold_stage adds one read on its own. */
int hr_pg__batch_lock(hr_pg *g, const hr_event *const *events, size_t nevents, int *nsent,
                      hr_error *err);
void hr_pg__batch_read(hr_pg *g, PGresult **res, int n);
hr_pg_held *hr_pg__held_stage(hr_pg *g, const char *pipeline, const char *stage);
hr_pg_held *hr_pg__held_job(hr_pg *g, const char *source, const char *job, const char *branch);
void hr_pg__hold_stage(hr_pg *g, const char *pipeline, const char *stage, const char *last_result);
/* Keeps a row of p (an event's, a delivery's) for the table's batch
 * INSERT; flush sends what is kept; save sends them and every held row's
 * new state (before COMMIT); forget drops all of it. */
int hr_pg__buffer_event(hr_pg *g, const hr_pg_params *p, hr_error *err);
int hr_pg__buffer_delivery(hr_pg *g, const hr_pg_params *p, hr_error *err);
int hr_pg__batch_flush(hr_pg *g, hr_error *err);
int hr_pg__batch_save(hr_pg *g, hr_error *err);
void hr_pg__batch_forget(hr_pg *g);

/* Opens one connection to uri: *out is new (PQfinish it). */
int hr_pg__connect(const char *uri, PGconn **out, hr_error *err);

/* Column values: text (NULL for SQL NULL), integer (HR_ROW_NULL), bytea
 * unescaped into rows' arena. */
const char *hr_pg__col_str(hr_rows *r, const PGresult *res, int row, int col);
int64_t hr_pg__col_int(const PGresult *res, int row, int col);
const char *hr_pg__col_bytea(hr_rows *r, const PGresult *res, int row, int col, size_t *len);

/* The writer's statements and prune (pg_write.c). */
int hr_pg__find_request(void *db, const char *request_id, const unsigned char digest[32],
                        hr_request_hit *hit, hr_error *err);
int hr_pg__find_revision(void *db, const hr_package_rev *pk, const char *raw, size_t raw_len,
                         hr_revision_hit *hit, hr_error *err);
int hr_pg__stage_last_result(void *db, const char *pipeline, const char *stage, char **prev,
                             hr_error *err);
int hr_pg__job_history(void *db, const char *source, const char *job, const char *branch,
                       hr_job_history *h, hr_error *err);
int hr_pg__insert_event(void *db, const hr_event_columns *c, int64_t *id, hr_error *err);
int hr_pg__save_stage(void *db, const hr_event *ev, const char *last_result, int64_t event_id,
                      hr_error *err);
int hr_pg__save_job(void *db, const hr_event *ev, const char *branch, const hr_job_history *h,
                    int64_t event_id, hr_error *err);
int hr_pg__save_revision(void *db, const hr_event *ev, const char *doc, int64_t event_id,
                         hr_error *err);
int hr_pg__insert_delivery(void *db, int64_t event_id, const hr_store_route *r, const char *run_key,
                           int64_t now, hr_error *err);
int hr_pg__save_attempt(void *db, const hr_attempt *a, int64_t now, hr_error *err);
int hr_pg__reset(void *db, const hr_delivery_reset *r, int64_t now, size_t *count, hr_error *err);
int hr_pg__save_settings(void *db, const json_t *settings, hr_error *err);
int hr_pg__prune(void *db, hr_prune_chunk *c, hr_error *err);

/* The read pool and the readers' queries (pg_read.c). */
int hr_pg__open_readers(hr_pg *g, int n, hr_error *err);
void hr_pg__close_readers(hr_pg *g);
/* The claims' connection; and the claim's SQL (for its plan). */
int hr_pg__open_claims(hr_pg *g, hr_error *err);
void hr_pg__close_claims(hr_pg *g);
const char *hr_pg__claim_sql(int run_order);
int hr_pg__list_events(void *db, const hr_event_query *q, size_t limit, hr_rows *rows,
                       hr_error *err);
int hr_pg__get_event(void *db, int64_t id, hr_rows *rows, hr_error *err);
int hr_pg__list_stages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err);
int hr_pg__list_jobs(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err);
int hr_pg__get_settings(void *db, hr_rows *rows, hr_error *err);
int hr_pg__list_deliveries(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                           hr_rows *rows, hr_error *err);
int hr_pg__target_health(void *db, int64_t since, hr_rows *rows, hr_error *err);
int hr_pg__list_revisions(void *db, const char *repository, const char *package, int64_t before_id,
                          size_t limit, hr_rows *rows, hr_error *err);
int hr_pg__list_packages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                         hr_error *err);
int hr_pg__claim(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err);
int hr_pg__unclaim(void *db, int64_t id, int64_t claim_token, hr_error *err);
/* Runs sql with p on a read connection; row adds each row to r. */
int hr_pg__read_rows(hr_pg *g, const char *sql, const hr_pg_params *p, const char *doing,
                     void (*row)(hr_rows *r, const PGresult *res, int i, const void *how),
                     hr_rows *r, hr_error *err);

/* Targets' health (pg_health.c). */
/* A target's health row, read and written with every attempt: among the
 * writer's prepared statements (pg_schema.c), as "health_get" and "health_put". */
extern const char hr_pg__health_get_sql[], hr_pg__health_put_sql[];
int hr_pg__get_health(void *db, const char *target, hr_target_health *h, int *found, hr_error *err);
int hr_pg__put_health(void *db, const hr_target_health *h, hr_error *err);
int hr_pg__held(void *db, const char *target, int64_t now, int release, int64_t *count,
                hr_error *err);
int hr_pg__list_health(void *db, hr_rows *rows, hr_error *err);
int hr_pg__lead(void *db, const char *job, int64_t now, int64_t ttl_ms, int *leader, hr_error *err);

/* Other instances' new deliveries (pg_listen.c): announce and watch as
 * engine.h says; unwatch stops the listener (it accepts one never started). */
void hr_pg__announce(void *db);
int hr_pg__watch(void *db, void (*due)(void *ctx), void *ctx, hr_error *err);
void hr_pg__unwatch(hr_pg *g);

/* The SQL of a page of events ($1 source, $2 kind, $3 pipeline, $4 stage,
 * $5 result, $6 before id, $7 limit, $8 warnings only, $9 transition,
 * $10 since, $11 until, $12 after id; NULL or 0: any) and of deliveries
 * ($1 state, $2 target, $3 event, $4 before id, $5 limit, $6 id, $7
 * since, $8 until, $9 after id): what list_events and list_deliveries
 * run, and what the plan tests (tests/unit/test_store_plans.c) explain. */
#define HR_PG_EVENTS_SQL                                                                           \
    "SELECT id, transition, doc, CASE WHEN doc IS NULL THEN raw END, received_at, kind, version"   \
    " FROM events"                                                                                 \
    " WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR kind = $2)"                 \
    " AND ($3::text IS NULL OR pipeline = $3) AND ($4::text IS NULL OR stage = $4)"                \
    " AND ($5::text IS NULL OR result = $5) AND id < $6"                                           \
    " AND (NOT $8::boolean OR warnings > 0)"                                                       \
    " AND ($9::text IS NULL OR transition = $9)"                                                   \
    " AND ($10::bigint = 0 OR (received_at >= $10 AND id >= (SELECT id FROM events"                \
    "  WHERE received_at >= $10 ORDER BY received_at LIMIT 1)))"                                   \
    " AND ($11::bigint = 0 OR (received_at < $11 AND id <= (SELECT id FROM events"                 \
    "  WHERE received_at < $11 ORDER BY received_at DESC LIMIT 1)))"                               \
    " AND id > $12 ORDER BY id DESC LIMIT $7"

#define HR_PG_DELIVERIES_SQL                                                                       \
    "SELECT d.id, d.event_id, d.route, d.target, d.state, d.attempts, d.next_at,"                  \
    " d.created_at, d.updated_at, d.last_status, d.last_error,"                                    \
    " (SELECT coalesce(json_agg(json_build_array(a.attempt, a.started_at, a.latency_ms,"           \
    "   a.status, a.outcome, a.error, a.excerpt, a.request_headers)"                               \
    "   ORDER BY a.attempt, a.id), '[]')"                                                          \
    "   FROM attempts a WHERE a.delivery_id = d.id), d.run_key, d.service_ref, "                   \
    "d.order_key," HR_STORE_QUEUE_POSITION ", d.subject"                                           \
    " FROM deliveries d WHERE ($1::text IS NULL OR d.state = $1)"                                  \
    " AND ($2::text IS NULL OR d.target = $2) AND ($3 = 0 OR d.event_id = $3)"                     \
    " AND d.id < $4 AND ($6 = 0 OR d.id = $6)"                                                     \
    " AND ($7::bigint = 0 OR (d.created_at >= $7 AND d.id >= (SELECT id FROM deliveries"           \
    "  WHERE created_at >= $7 ORDER BY created_at LIMIT 1)))"                                      \
    " AND ($8::bigint = 0 OR (d.created_at < $8 AND d.id <= (SELECT id FROM deliveries"            \
    "  WHERE created_at < $8 ORDER BY created_at DESC LIMIT 1)))"                                  \
    " AND d.id > $9 ORDER BY d.id DESC LIMIT $5"

#endif
