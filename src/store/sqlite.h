/*
 * sqlite.h - what the SQLite engine's files share (store/sqlite.c: open,
 * schema and transactions; store/sqlite_write.c: the writer's statements;
 * store/sqlite_read.c: the read pool and its queries). Nothing outside
 * them includes it: the rest of the store sees the engine only through
 * hr_store__sqlite (store/engine.h).
 *
 * The database is DIR/herald.db, mode 0600, in WAL mode with
 * synchronous=FULL, so a commit that returned is on disk and survives
 * kill -9 and power loss. Its schema is versioned (PRAGMA user_version)
 * and migrated forward at open. The folder is locked first
 * (store/datadir.h): one store, one herald, per folder. One write
 * connection, owned by the writer thread, with its statements prepared
 * once; a small pool of read-only connections for every other thread,
 * which never waits for the writer.
 */
#ifndef HR_STORE_SQLITE_H
#define HR_STORE_SQLITE_H

#include "store/datadir.h"
#include "store/engine.h"
#include "store/pool.h"

#include <pthread.h>
#include <sqlite3.h>

/* The writer's statements, prepared once at open (sqlite_write.c). */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_PREV_RESULT,
    ST_INSERT_EVENT,
    ST_UPSERT_STAGE,
    ST_CLEAR_SETTINGS,
    ST_INSERT_SETTING,
    ST_INSERT_DELIVERY,
    ST_UPDATE_DELIVERY,
    ST_SUPERSEDE_DUE,
    ST_SUPERSEDE_DELIVERY,
    ST_INSERT_ATTEMPT,
    ST_SAVE_RUN_MESSAGE,
    ST_JOB_GET,
    ST_JOB_UPSERT,
    ST_PACKAGE_UPSERT,
    ST_REVISION_GET,
    ST_REVISION_INSERT,
    ST_REQUEST_GET,
    ST_PRUNE_SCAN_ATTEMPTS,
    ST_PRUNE_DEL_ATTEMPTS,
    ST_PRUNE_SCAN_EVENTS,
    ST_PRUNE_DEL_EVENT_ATTEMPTS,
    ST_PRUNE_DEL_EVENT_DELIVERIES,
    ST_PRUNE_DEL_EVENT,
    ST_PRUNE_NULL_STAGES,
    ST_PRUNE_NULL_JOBS,
    ST_PRUNE_RUN_MESSAGES,
    ST_FK_OFF,
    ST_FK_ON,
    ST_HEALTH_GET,
    ST_HEALTH_PUT,
    NSTMT
};

extern const char *const hr_sqlite__writer_sql[NSTMT];
/* A target's health row, read and written with every attempt
 * (sqlite_health.c): among the writer's statements. */
extern const char hr_sqlite__health_get_sql[], hr_sqlite__health_put_sql[];

/* The claim's statements (sqlite_read.c): for one target, for one
 * target with run_order, for the targets not configured. */
enum { HR_SQLITE_CLAIM_TARGET, HR_SQLITE_CLAIM_RUN, HR_SQLITE_CLAIM_OTHERS, HR_SQLITE_NCLAIMS };

/* The delivery engine's own read connection (not the API's pool) and the
 * claim's statements, prepared once each and kept for its life; with them
 * the targets' health, which the engine reads before each round of claims
 * (preparing it each time was a twentieth of the delivery thread). */
typedef struct hr_sqlite_claims {
    sqlite3 *db;
    sqlite3_stmt *st[HR_SQLITE_NCLAIMS];
    sqlite3_stmt *health;
} hr_sqlite_claims;

typedef struct hr_sqlite {
    char *path;       /* owned: DIR/herald.db */
    hr_datadir *lock; /* the data folder's lock, held until close */

    /* The writer's connection and statements (writer thread only, once it
     * runs). fk_off: the open transaction is a prune's, with foreign keys
     * off until it ends. */
    sqlite3 *wdb;
    sqlite3_stmt *st[NSTMT];
    int fk_off;

    hr_pool readers; /* of read-only sqlite3 connections */
    hr_pool claims;  /* of one hr_sqlite_claims: the delivery engine's */
} hr_sqlite;

/* Sets err to "store: cannot <doing>: <SQLite's message><hint>" and
 * returns HR_ESTORE. Call it before resetting the failed statement. */
int hr_sqlite__error(sqlite3 *db, int rc, const char *doing, hr_error *err);
/* Binds a string, or NULL when s is NULL. The string must outlive the step. */
void hr_sqlite__bind_str(sqlite3_stmt *st, int i, const char *s);
/* Steps a statement whose rows, if any, are not needed, then resets it and
 * clears its bindings so it holds no borrowed pointers. */
int hr_sqlite__run(sqlite3 *db, sqlite3_stmt *st, const char *doing, hr_error *err);
/* Runs one SQL text that returns at most one row; copies its first column
 * as text into buf when buf is not NULL. */
int hr_sqlite__exec1(sqlite3 *db, const char *sql, char *buf, size_t size, const char *doing,
                     hr_error *err);

/* The writer's statements (sqlite_write.c). */
int hr_sqlite__find_request(void *db, const char *request_id, const unsigned char digest[32],
                            hr_request_hit *hit, hr_error *err);
int hr_sqlite__find_revision(void *db, const hr_package_rev *p, const char *raw, size_t raw_len,
                             hr_revision_hit *hit, hr_error *err);
int hr_sqlite__stage_last_result(void *db, const char *pipeline, const char *stage, char **prev,
                                 hr_error *err);
int hr_sqlite__job_history(void *db, const char *source, const char *job, const char *branch,
                           hr_job_history *h, hr_error *err);
int hr_sqlite__insert_event(void *db, const hr_event_columns *c, int64_t *id, hr_error *err);
int hr_sqlite__save_stage(void *db, const hr_event *ev, const char *last_result, int64_t event_id,
                          hr_error *err);
int hr_sqlite__save_job(void *db, const hr_event *ev, const char *branch, const hr_job_history *h,
                        int64_t event_id, hr_error *err);
int hr_sqlite__save_revision(void *db, const hr_event *ev, const char *doc, int64_t event_id,
                             hr_error *err);
int hr_sqlite__insert_delivery(void *db, int64_t event_id, const hr_store_route *r,
                               const char *run_key, int64_t now, hr_error *err);
int hr_sqlite__save_attempt(void *db, const hr_attempt *a, int64_t now, hr_error *err);
int hr_sqlite__reset(void *db, const hr_delivery_reset *r, int64_t now, size_t *count,
                     hr_error *err);
int hr_sqlite__save_settings(void *db, const json_t *settings, hr_error *err);
int hr_sqlite__prune(void *db, hr_prune_chunk *p, hr_error *err);

/* The read pool and the readers' queries (sqlite_read.c). */
int hr_sqlite__open_readers(hr_sqlite *q, int n, hr_error *err);
void hr_sqlite__close_readers(hr_sqlite *q);
/* The claims' connection; and a claim statement's SQL (for its plan). */
int hr_sqlite__open_claims(hr_sqlite *q, hr_error *err);
void hr_sqlite__close_claims(hr_sqlite *q);
const char *hr_sqlite__claim_sql(int which);
int hr_sqlite__list_events(void *db, const hr_event_query *q, size_t limit, hr_rows *rows,
                           hr_error *err);
int hr_sqlite__get_event(void *db, int64_t id, hr_rows *rows, hr_error *err);
int hr_sqlite__list_stages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                           hr_error *err);
int hr_sqlite__list_jobs(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                         hr_error *err);
int hr_sqlite__get_settings(void *db, hr_rows *rows, hr_error *err);
/* The SQL of a page of events (deliveries), into sql (cap bytes, 1024
 * suffice): what list_events (list_deliveries) runs; the plan tests
 * (tests/unit/test_store_plans.c) explain it. */
void hr_sqlite__events_sql(const hr_event_query *q, char *sql, size_t cap);
void hr_sqlite__deliveries_sql(const hr_delivery_query *q, int64_t id, char *sql, size_t cap);
int hr_sqlite__list_deliveries(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                               hr_rows *rows, hr_error *err);
int hr_sqlite__target_health(void *db, int64_t since, hr_rows *rows, hr_error *err);
int hr_sqlite__list_revisions(void *db, const char *repository, const char *package,
                              int64_t before_id, size_t limit, hr_rows *rows, hr_error *err);
int hr_sqlite__list_packages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                             hr_error *err);
int hr_sqlite__claim(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err);
/* Runs sql on a read connection: bind (may be NULL) binds arg, row adds
 * each row to r. */
int hr_sqlite__read_rows(hr_sqlite *s, const char *sql, const char *doing,
                         void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg,
                         int (*row)(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err),
                         hr_rows *r, hr_error *err);
/* The same for the targets' health (sql, no values) on the delivery
 * engine's connection, as its health statement: prepared at first use
 * (the same sql each time), kept. */
int hr_sqlite__claims_health(hr_sqlite *s, const char *sql, const char *doing,
                             int (*row)(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err),
                             hr_rows *r, hr_error *err);

/* Targets' health (sqlite_health.c). */
int hr_sqlite__get_health(void *db, const char *target, hr_target_health *h, int *found,
                          hr_error *err);
int hr_sqlite__put_health(void *db, const hr_target_health *h, hr_error *err);
int hr_sqlite__held(void *db, const char *target, int64_t now, int release, int64_t *count,
                    hr_error *err);
int hr_sqlite__list_health(void *db, hr_rows *rows, hr_error *err);

#endif
