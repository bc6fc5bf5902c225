/*
 * sqlite_read.c - the SQLite engine's readers: a pool of read-only
 * connections (store/pool.h: any thread borrows one and gives it back) and
 * the queries that fill rows (store/rows.h). Nothing here builds JSON.
 */
#include "store/sqlite.h"
#include "store/event_doc.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bind_str hr_sqlite__bind_str
#define db_error hr_sqlite__error

/* How long a connection waits for a lock another process holds. */
#define BUSY_TIMEOUT_MS 5000

static void close_reader(void *db)
{
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK)
        hr_log_error("store", "cannot close a read connection: %s", sqlite3_errstr(rc));
}

int hr_sqlite__open_readers(hr_sqlite *s, int n, hr_error *err)
{
    hr_pool_init(&s->readers, n);
    for (int i = 0; i < n; i++) {
        sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            int ret = db_error(db, rc, "open a read connection", err);
            close_reader(db); /* a failed open leaves a handle to close too */
            return ret;
        }
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        hr_pool_add(&s->readers, db);
    }
    return HR_OK;
}

void hr_sqlite__close_readers(hr_sqlite *s)
{
    hr_pool_free(&s->readers, close_reader);
}

static sqlite3 *reader_take(hr_sqlite *s)
{
    return hr_pool_take(&s->readers);
}

static void reader_give(hr_sqlite *s, sqlite3 *db)
{
    hr_pool_give(&s->readers, db);
}

/* ---- Columns into rows -------------------------------------------------- */

static const char *col_str(hr_rows *r, sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t != NULL ? hr_rows_str(r, t, (size_t)sqlite3_column_bytes(st, col)) : NULL;
}

static const char *col_blob(hr_rows *r, sqlite3_stmt *st, int col, size_t *len)
{
    const char *b;
    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    b = sqlite3_column_blob(st, col);
    *len = (size_t)sqlite3_column_bytes(st, col);
    return hr_rows_str(r, b != NULL ? b : "", *len);
}

static int64_t col_int(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return HR_ROW_NULL;
    return sqlite3_column_int64(st, col);
}

/* Columns id, transition, doc, raw, received_at, kind, version from col
 * on; a document the row does not store is derived from raw (a list that
 * leaves raw out selects it for those rows only). Returns the next
 * column. */
static int event_cols(hr_rows *r, sqlite3_stmt *st, int col, hr_event_row *e)
{
    e->id = sqlite3_column_int64(st, col);
    e->kind = col_str(r, st, col + 5);
    e->transition = col_str(r, st, col + 1);
    e->doc = col_blob(r, st, col + 2, &e->doc_len);
    e->raw = col_blob(r, st, col + 3, &e->raw_len);
    hr_store__event_doc(r, e, e->kind, (const char *)sqlite3_column_text(st, col + 6),
                        sqlite3_column_int64(st, col + 4));
    return col + 7;
}

/* One row of st into a new row of r; the statement's columns decide how. */
typedef int (*row_fn)(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err);

/* Steps st (prepared on db, its values bound) to its end, adding each row
 * to r with row. */
static int step_rows(sqlite3 *db, sqlite3_stmt *st, row_fn row, hr_rows *r, const char *doing,
                     hr_error *err)
{
    int rc, ret = HR_OK;
    while (ret == HR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = row(db, r, st, err);
    if (ret == HR_OK && rc != SQLITE_DONE)
        ret = db_error(db, rc, doing, err);
    return ret;
}

/*
 * Runs st on db (prepared from sql, its values bound by bind) and adds each
 * row to r with row. A NULL bind binds nothing.
 */
static int read_rows(hr_sqlite *s, const char *sql, const char *doing,
                     void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg, row_fn row,
                     hr_rows *r, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    int rc, ret = HR_OK;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, doing, err);
        goto out;
    }
    if (bind != NULL)
        bind(st, arg);
    ret = step_rows(db, st, row, r, doing, err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_sqlite__read_rows(hr_sqlite *s, const char *sql, const char *doing,
                         void (*bind)(sqlite3_stmt *st, const void *arg), const void *arg,
                         row_fn row, hr_rows *r, hr_error *err)
{
    return read_rows(s, sql, doing, bind, arg, row, r, err);
}

/* ---- Events, stages, jobs, settings ------------------------------------- */

static int event_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    event_cols(r, st, 0, hr_rows_add(r));
    return HR_OK;
}

typedef struct event_args {
    const char *vals[5];
    int64_t since, until;
    int64_t before_id, after_id;
    size_t limit;
    int64_t id;
} event_args;

static void bind_events(sqlite3_stmt *st, const void *arg)
{
    const event_args *a = arg;
    int n = 0;
    for (size_t i = 0; i < 5; i++)
        if (a->vals[i] != NULL)
            bind_str(st, ++n, a->vals[i]);
    /* Each time bound is bound twice: the exact condition, and the seek
     * that turns it into an id bound. */
    for (int k = 0; a->since > 0 && k < 2; k++)
        sqlite3_bind_int64(st, ++n, a->since);
    for (int k = 0; a->until > 0 && k < 2; k++)
        sqlite3_bind_int64(st, ++n, a->until);
    if (a->before_id > 0)
        sqlite3_bind_int64(st, ++n, a->before_id);
    if (a->after_id > 0)
        sqlite3_bind_int64(st, ++n, a->after_id);
    sqlite3_bind_int64(st, ++n, (sqlite3_int64)a->limit + 1);
}

void hr_sqlite__events_sql(const hr_event_query *q, char *sql, size_t cap)
{
    static const char *const conds[] = {"source = ?", "kind = ?", "pipeline = ?", "stage = ?",
                                        "result = ?"};
    const char *vals[] = {q->source, q->kind, q->pipeline, q->stage, q->result};
    size_t len = 0;
    int nparam = 0;

    /* Only constant fragments go into the SQL; every value is bound but
     * the transition, a name from hr_transition_name's table (the API
     * checks it), written as a constant so that SQLite can use the partial
     * index of the rare transitions. The fragments fit: 45 + 5 * 20 + 20
     * + 2 * 125 + 40 + 2 * 15 + 25 bytes, about 510. */
    len += (size_t)snprintf(sql + len, cap - len,
                            "SELECT id, transition, doc,"
                            " CASE WHEN doc IS NULL THEN raw END,"
                            " received_at, kind, version FROM events");
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        if (vals[i] == NULL)
            continue;
        len += (size_t)snprintf(sql + len, cap - len, "%s%s", nparam++ ? " AND " : " WHERE ",
                                conds[i]);
    }
    if (q->with_warnings)
        len += (size_t)snprintf(sql + len, cap - len, "%swarnings > 0",
                                nparam++ ? " AND " : " WHERE ");
    if (q->since > 0)
        len += (size_t)snprintf(sql + len, cap - len,
                                "%sreceived_at >= ? AND id >= (SELECT id FROM events"
                                " WHERE received_at >= ? ORDER BY received_at LIMIT 1)",
                                nparam++ ? " AND " : " WHERE ");
    if (q->until > 0)
        len += (size_t)snprintf(sql + len, cap - len,
                                "%sreceived_at < ? AND id <= (SELECT id FROM events"
                                " WHERE received_at < ? ORDER BY received_at DESC LIMIT 1)",
                                nparam++ ? " AND " : " WHERE ");
    if (q->transition != NULL && hr_transition_from_name(q->transition) != HR_TRANSITION_NONE)
        len += (size_t)snprintf(sql + len, cap - len, "%stransition = '%s'",
                                nparam++ ? " AND " : " WHERE ",
                                hr_transition_name(hr_transition_from_name(q->transition)));
    if (q->before_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, "%sid < ?", nparam++ ? " AND " : " WHERE ");
    if (q->after_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, "%sid > ?", nparam++ ? " AND " : " WHERE ");
    snprintf(sql + len, cap - len, " ORDER BY id DESC LIMIT ?");
}

int hr_sqlite__list_events(void *db, const hr_event_query *q, size_t limit, hr_rows *rows,
                           hr_error *err)
{
    event_args a = {{q->source, q->kind, q->pipeline, q->stage, q->result},
                    q->since,
                    q->until,
                    q->before_id,
                    q->after_id,
                    limit,
                    0};
    char sql[1024];

    hr_sqlite__events_sql(q, sql, sizeof(sql));
    return read_rows(db, sql, "list events", bind_events, &a, event_row, rows, err);
}

static void bind_id(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

int hr_sqlite__get_event(void *db, int64_t id, hr_rows *rows, hr_error *err)
{
    return read_rows(db,
                     "SELECT id, transition, doc, raw, received_at, kind, version"
                     " FROM events WHERE id = ?1",
                     "read the event", bind_id, &id, event_row, rows, err);
}

static int stage_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_stage_row *o = hr_rows_add(r);
    o->pipeline = col_str(r, st, 0);
    o->stage = col_str(r, st, 1);
    o->last_result = col_str(r, st, 2);
    o->last_state = col_str(r, st, 3);
    o->last_counter = col_str(r, st, 4);
    o->last_event_id = col_int(st, 5);
    o->updated_at = sqlite3_column_int64(st, 6);
    return HR_OK;
}

typedef struct key_args {
    const hr_key_query *q;
    size_t limit;
} key_args;

/* ?1 the filter (last result or repository), ?2.. the key after, ?9 the limit. */
static void bind_key(sqlite3_stmt *st, const void *arg)
{
    const key_args *a = arg;
    const char *filter = a->q->last_result != NULL ? a->q->last_result : a->q->repository;
    if (filter != NULL)
        bind_str(st, 1, filter);
    for (size_t i = 0; i < a->q->nafter; i++)
        bind_str(st, 2 + (int)i, a->q->after[i]);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)a->limit + 1);
}

/* Runs select (up to its FROM) with the key query's conditions: filter
 * (a column compared with ?1) when the query has one, and the key (a row
 * value of nkey columns) after the cursor's, in key order. */
static int read_by_key(hr_sqlite *s, const char *select, const char *filter, const char *key,
                       size_t nkey, const hr_key_query *q, size_t limit, const char *doing,
                       row_fn row, hr_rows *rows, hr_error *err)
{
    static const char *const after[] = {"", "?2", "?2, ?3", "?2, ?3, ?4"};
    key_args a = {q, limit};
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "%s WHERE 1", select);
    if (q->last_result != NULL || q->repository != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND %s = ?1", filter);
    if (q->nafter == nkey && nkey < 4)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND (%s) > (%s)", key, after[nkey]);
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY %s LIMIT ?9", key);
    return read_rows(s, sql, doing, bind_key, &a, row, rows, err);
}

int hr_sqlite__list_stages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                           hr_error *err)
{
    return read_by_key(db,
                       "SELECT pipeline, stage, last_result, last_state, last_counter,"
                       " last_event_id, updated_at FROM stage_state",
                       "last_result", "pipeline, stage", 2, q, limit, "list stages", stage_row,
                       rows, err);
}

static int job_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_job_row *o = hr_rows_add(r);
    o->source = col_str(r, st, 0);
    o->job = col_str(r, st, 1);
    o->branch = col_str(r, st, 2);
    o->last_result = col_str(r, st, 3);
    o->last_number = col_int(st, 4);
    o->last_phase = col_str(r, st, 5);
    o->last_status = col_str(r, st, 6);
    o->last_event_id = col_int(st, 7);
    o->updated_at = sqlite3_column_int64(st, 8);
    return HR_OK;
}

int hr_sqlite__list_jobs(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                         hr_error *err)
{
    return read_by_key(db,
                       "SELECT source, job, branch, last_result, last_number, last_phase,"
                       " last_status, last_event_id, updated_at FROM job_state",
                       "last_result", "source, job, branch", 3, q, limit, "list jobs", job_row,
                       rows, err);
}

static int setting_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_setting_row *o;
    if (sqlite3_column_type(st, 0) == SQLITE_NULL || sqlite3_column_type(st, 1) == SQLITE_NULL)
        return HR_OK;
    o = hr_rows_add(r);
    o->key = col_str(r, st, 0);
    o->value = col_blob(r, st, 1, &o->value_len);
    return HR_OK;
}

int hr_sqlite__get_settings(void *db, hr_rows *rows, hr_error *err)
{
    return read_rows(db, "SELECT key, value FROM settings ORDER BY key", "read the settings", NULL,
                     NULL, setting_row, rows, err);
}

/* ---- Deliveries --------------------------------------------------------- */

/* The attempts of one delivery, oldest first, into d->log. */
static int read_attempts(sqlite3 *db, hr_rows *r, hr_delivery_row *d, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    hr_rows log;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT attempt, started_at, latency_ms, status, outcome, error,"
                                " excerpt, request_headers FROM attempts WHERE delivery_id = ?1"
                                " ORDER BY attempt, id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, "read attempts", err);
    hr_rows_init(&log, sizeof(hr_attempt_row));
    sqlite3_bind_int64(st, 1, d->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        hr_attempt_row *a = hr_rows_add(&log);
        a->attempt = sqlite3_column_int(st, 0);
        a->started_at = sqlite3_column_int64(st, 1);
        a->latency_ms = sqlite3_column_int64(st, 2);
        a->status = col_int(st, 3);
        a->outcome = col_str(r, st, 4);
        a->error = col_str(r, st, 5);
        a->excerpt = col_str(r, st, 6);
        a->request_headers = col_str(r, st, 7);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        hr_rows_free(&log);
        return db_error(db, rc, "read attempts", err);
    }
    d->nlog = log.n;
    if (log.n > 0) {
        d->log = hr_rows_alloc(r, log.n * sizeof(*d->log));
        memcpy(d->log, log.items, log.n * sizeof(*d->log));
    }
    hr_rows_free(&log);
    return HR_OK;
}

static int delivery_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_delivery_row d = {0};
    int ret;
    d.id = sqlite3_column_int64(st, 0);
    d.event_id = sqlite3_column_int64(st, 1);
    d.route = col_str(r, st, 2);
    d.target = col_str(r, st, 3);
    d.state = col_str(r, st, 4);
    d.attempts = sqlite3_column_int(st, 5);
    d.next_at = sqlite3_column_int64(st, 6);
    d.created_at = sqlite3_column_int64(st, 7);
    d.updated_at = sqlite3_column_int64(st, 8);
    d.last_status = col_int(st, 9);
    d.last_error = col_str(r, st, 10);
    d.run_key = col_str(r, st, 11);
    d.service_ref = col_str(r, st, 12);
    d.order_key = col_str(r, st, 13);
    d.queue_position = col_int(st, 14);
    d.subject = col_str(r, st, 15);
    ret = read_attempts(db, r, &d, err);
    if (ret == HR_OK)
        *(hr_delivery_row *)hr_rows_add(r) = d;
    return ret;
}

typedef struct delivery_args {
    const hr_delivery_query *q;
    int64_t id;
    size_t limit;
} delivery_args;

static void bind_deliveries(sqlite3_stmt *st, const void *arg)
{
    const delivery_args *a = arg;
    if (a->q->state != NULL)
        bind_str(st, 1, a->q->state);
    if (a->q->target != NULL)
        bind_str(st, 2, a->q->target);
    if (a->q->event_id > 0)
        sqlite3_bind_int64(st, 3, a->q->event_id);
    if (a->q->before_id > 0)
        sqlite3_bind_int64(st, 4, a->q->before_id);
    if (a->id > 0)
        sqlite3_bind_int64(st, 6, a->id);
    if (a->q->since > 0)
        sqlite3_bind_int64(st, 7, a->q->since);
    if (a->q->until > 0)
        sqlite3_bind_int64(st, 8, a->q->until);
    if (a->q->after_id > 0)
        sqlite3_bind_int64(st, 9, a->q->after_id);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)a->limit + 1);
}

void hr_sqlite__deliveries_sql(const hr_delivery_query *q, int64_t id, char *sql, size_t cap)
{
    size_t len;

    len = (size_t)snprintf(sql, cap,
                           "SELECT id, event_id, route, target, state, attempts, next_at,"
                           " created_at, updated_at, last_status, last_error, run_key,"
                           " service_ref, order_key," HR_STORE_QUEUE_POSITION ", subject"
                           " FROM deliveries d WHERE 1");
    if (q->state != NULL)
        len += (size_t)snprintf(sql + len, cap - len, " AND state = ?1");
    if (q->target != NULL)
        len += (size_t)snprintf(sql + len, cap - len, " AND target = ?2");
    if (q->event_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND event_id = ?3");
    if (q->before_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND id < ?4");
    if (id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND id = ?6");
    /* A time range as events' (hr_sqlite__list_events): exact, and an id
     * bound from one seek on deliveries_by_time. */
    if (q->since > 0)
        len += (size_t)snprintf(sql + len, cap - len,
                                " AND created_at >= ?7 AND id >= (SELECT id FROM deliveries"
                                " WHERE created_at >= ?7 ORDER BY created_at LIMIT 1)");
    if (q->until > 0)
        len += (size_t)snprintf(sql + len, cap - len,
                                " AND created_at < ?8 AND id <= (SELECT id FROM deliveries"
                                " WHERE created_at < ?8 ORDER BY created_at DESC LIMIT 1)");
    if (q->after_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND id > ?9");
    snprintf(sql + len, cap - len, " ORDER BY id DESC LIMIT ?5");
}

int hr_sqlite__list_deliveries(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                               hr_rows *rows, hr_error *err)
{
    static const hr_delivery_query none = {0};
    delivery_args a = {q != NULL ? q : &none, id, limit};
    char sql[1024];

    hr_sqlite__deliveries_sql(a.q, id, sql, sizeof(sql));
    return read_rows(db, sql, id > 0 ? "read the delivery" : "list deliveries", bind_deliveries, &a,
                     delivery_row, rows, err);
}

static int target_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_target_row *t = hr_rows_add(r);
    t->target = col_str(r, st, 0);
    t->pending = sqlite3_column_int64(st, 1);
    t->retrying = sqlite3_column_int64(st, 2);
    t->dead = sqlite3_column_int64(st, 3);
    t->delivered = sqlite3_column_int64(st, 4);
    t->last_error = col_str(r, st, 5);
    return HR_OK;
}

int hr_sqlite__target_health(void *db, int64_t since, hr_rows *rows, hr_error *err)
{
    return read_rows(
        db,
        "SELECT target, sum(state = 'pending'), sum(state = 'retrying'),"
        " sum(state = 'dead' AND updated_at >= ?1), sum(state = 'delivered' AND updated_at >= ?1),"
        " (" HR_STORE_LAST_ERROR ")"
        " FROM (" HR_STORE_HEALTH_ROWS("?1") ") d GROUP BY target ORDER BY target",
        "read the targets' health", bind_id, &since, target_row, rows, err);
}

/* ---- Packages ----------------------------------------------------------- */

static int revision_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_revision_row *o = hr_rows_add(r);
    o->id = sqlite3_column_int64(st, 0);
    o->doc = col_str(r, st, 1);
    o->published_at = sqlite3_column_int64(st, 2);
    o->event_id = col_int(st, 3);
    return HR_OK;
}

typedef struct revision_args {
    const char *repository, *package;
    int64_t before_id;
    size_t limit;
} revision_args;

static void bind_revisions(sqlite3_stmt *st, const void *arg)
{
    const revision_args *a = arg;
    bind_str(st, 1, a->repository);
    bind_str(st, 2, a->package);
    sqlite3_bind_int64(st, 3, a->before_id > 0 ? a->before_id : INT64_MAX);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)a->limit + 1);
}

int hr_sqlite__list_revisions(void *db, const char *repository, const char *package,
                              int64_t before_id, size_t limit, hr_rows *rows, hr_error *err)
{
    revision_args a = {repository, package, before_id, limit};
    return read_rows(db,
                     "SELECT id, doc, published_at, event_id FROM revisions"
                     " WHERE repository = ?1 AND package = ?2 AND id < ?3"
                     " ORDER BY id DESC LIMIT ?4",
                     "list revisions", bind_revisions, &a, revision_row, rows, err);
}

static int package_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_package_row *o = hr_rows_add(r);
    o->repository = col_str(r, st, 0);
    o->package = col_str(r, st, 1);
    o->created_at = sqlite3_column_int64(st, 2);
    o->revisions = sqlite3_column_int64(st, 3);
    o->latest = col_str(r, st, 4);
    o->latest_published_at = sqlite3_column_int64(st, 5);
    return HR_OK;
}

int hr_sqlite__list_packages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                             hr_error *err)
{
    return read_by_key(db, HR_STORE_PACKAGES_SELECT, "p.repository", "p.repository, p.package", 2,
                       q, limit, "list packages", package_row, rows, err);
}

/* ---- Claims ------------------------------------------------------------- */

static int claim_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    hr_claim_row *c = hr_rows_add(r);
    c->id = sqlite3_column_int64(st, 0);
    c->event_id = sqlite3_column_int64(st, 1);
    c->target = col_str(r, st, 2);
    c->attempts = sqlite3_column_int(st, 3);
    c->order_key = col_str(r, st, 4);
    c->superseded_by = sqlite3_column_int64(st, 5);
    int col = event_cols(r, st, 6, &c->event);
    c->run_key = col_str(r, st, col);
    c->run_ref = col_str(r, st, col + 1);
    c->subject = col_str(r, st, col + 2);
    return HR_OK;
}

/* The claim's statements (hr_sqlite.claims), each with no value in its
 * text: ?1 now, ?2 the target (or a JSON array of the targets it must not
 * be), ?3 a JSON array of the busy ids, ?4 the limit. An ordered delivery
 * is due only as its key's head; a head with a newer one waiting and
 * latest_wins comes with that one's id, to be superseded (store.h). */
#define CLAIM_SQL(cond)                                                                            \
    "SELECT d.id, d.event_id, d.target, d.attempts, d.order_key," HR_STORE_SUPERSEDED_BY(          \
        "d") ","                                                                                   \
             " e.id, e.transition, e.doc, e.raw, e.received_at, e.kind, e.version,"                \
             " d.run_key, m.service_ref, d.subject"                                                \
             " FROM deliveries d JOIN events e ON e.id = d.event_id"                               \
             " LEFT JOIN run_messages m ON m.target = d.target AND m.run_key = d.run_key"          \
             " WHERE d.state IN ('pending', 'retrying') AND d.next_at <= ?1" HR_STORE_KEY_HEAD     \
                 cond " AND d.id NOT IN (SELECT value FROM json_each(?3))"                         \
             " ORDER BY d.next_at, d.id LIMIT ?4"

static const char *const claim_sql[HR_SQLITE_NCLAIMS] = {
    [HR_SQLITE_CLAIM_TARGET] = CLAIM_SQL(" AND d.target = ?2"),
    [HR_SQLITE_CLAIM_RUN] = CLAIM_SQL(HR_STORE_RUN_WAITS " AND d.target = ?2"),
    [HR_SQLITE_CLAIM_OTHERS] = CLAIM_SQL(" AND d.target NOT IN (SELECT value FROM json_each(?2))"),
};

const char *hr_sqlite__claim_sql(int which)
{
    return claim_sql[which];
}

/* *slot, prepared from sql on db at its first use and kept for the
 * connection's life (SQLITE_PREPARE_PERSISTENT). */
static int kept_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql, const char *doing,
                     hr_error *err)
{
    int rc;
    if (*slot != NULL)
        return HR_OK;
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
    return rc == SQLITE_OK ? HR_OK : db_error(db, rc, doing, err);
}

static void close_claims(void *arg)
{
    hr_sqlite_claims *c = arg;
    for (int i = 0; i < HR_SQLITE_NCLAIMS; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_finalize(c->health);
    close_reader(c->db);
    free(c);
}

/* The delivery engine's read connection, not the API's pool: a pool of one
 * (it is also the claims' lock), its statements prepared at first use. */
int hr_sqlite__open_claims(hr_sqlite *s, hr_error *err)
{
    hr_sqlite_claims *c = hr_calloc(1, sizeof(*c));
    int rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    hr_pool_init(&s->claims, 1);
    if (rc != SQLITE_OK) {
        int ret = db_error(c->db, rc, "open the claims' connection", err);
        close_claims(c);
        return ret;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    hr_pool_add(&s->claims, c);
    return HR_OK;
}

int hr_sqlite__claims_health(hr_sqlite *s, const char *sql, const char *doing, row_fn row,
                             hr_rows *r, hr_error *err)
{
    hr_sqlite_claims *c = hr_pool_take(&s->claims);
    int ret = kept_stmt(c->db, &c->health, sql, doing, err);

    if (ret == HR_OK) {
        ret = step_rows(c->db, c->health, row, r, doing, err);
        sqlite3_reset(c->health);
    }
    hr_pool_give(&s->claims, c);
    return ret;
}

void hr_sqlite__close_claims(hr_sqlite *s)
{
    hr_pool_free(&s->claims, close_claims);
}

/* A JSON array of ids: "[1,2,3]". */
static char *id_array(const int64_t *ids, size_t n)
{
    size_t cap = 3 + n * 21, len = 1;
    char *out = hr_malloc(cap);
    out[0] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
    snprintf(out + len, cap - len, "]");
    return out;
}

/* A JSON array of names, each a string with " \ and control characters
 * escaped. */
static char *name_array(const char *const *names, size_t n)
{
    size_t cap = 3, len = 0;
    char *out;
    for (size_t i = 0; i < n; i++)
        cap += 3 + 6 * strlen(names[i]);
    out = hr_malloc(cap);
    out[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            out[len++] = ',';
        out[len++] = '"';
        for (const unsigned char *c = (const unsigned char *)names[i]; *c != '\0'; c++) {
            if (*c < 0x20)
                len += (size_t)snprintf(out + len, cap - len, "\\u%04x", *c);
            else {
                if (*c == '"' || *c == '\\')
                    out[len++] = '\\';
                out[len++] = (char)*c;
            }
        }
        out[len++] = '"';
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

/*
 * SQLite has one herald per data folder (the folder's lock), so a claim is
 * a read: the delivery engine that asks is the only one, and it does not
 * ask again for what it is busy with (skip_ids, one JSON array value).
 *
 * With run_order, a delivery whose run has no message for its target yet
 * waits while an older delivery of the run is due: that one makes the
 * message the others edit (RUN_WAITS, the same in pg_read.c).
 *
 * The statement is prepared once on the claims' own connection and kept
 * (SQLITE_PREPARE_PERSISTENT); it is reset after each claim, so no read
 * transaction stays open between claims.
 */
int hr_sqlite__claim(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err)
{
    hr_sqlite *s = db;
    int which = q->target == NULL ? HR_SQLITE_CLAIM_OTHERS
                : q->run_order    ? HR_SQLITE_CLAIM_RUN
                                  : HR_SQLITE_CLAIM_TARGET;
    hr_sqlite_claims *c = hr_pool_take(&s->claims);
    char *skip = id_array(q->skip_ids, q->n_skip_ids), *others = NULL;
    sqlite3_stmt *st;
    int ret = kept_stmt(c->db, &c->st[which], claim_sql[which], "prepare the claim", err);

    if (ret != HR_OK)
        goto out;
    st = c->st[which];
    sqlite3_bind_int64(st, 1, q->now);
    if (q->target != NULL)
        bind_str(st, 2, q->target);
    else {
        others = name_array(q->other_than, q->n_other_than);
        bind_str(st, 2, others);
    }
    bind_str(st, 3, skip);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)q->max);
    ret = step_rows(c->db, st, claim_row, rows, "find due deliveries", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
out:
    hr_pool_give(&s->claims, c);
    free(skip);
    free(others);
    return ret;
}
