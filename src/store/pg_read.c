/*
 * pg_read.c - the PostgreSQL engine's readers: a pool of connections
 * (store/pool.h; any thread borrows one and gives it back; a broken one is
 * opened again when taken), the queries that fill rows (store/rows.h), and
 * the claim.
 */
#include "store/pg.h"
#include "store/event_doc.h"

#include "core/log.h"
#include "core/mem.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hr_pg__open_readers(hr_pg *g, int n, hr_error *err)
{
    hr_pool_init(&g->readers, n);
    for (int i = 0; i < n; i++) {
        PGconn *c = NULL;
        int ret = hr_pg__connect(g->uri, &c, err);
        if (ret != HR_OK)
            return ret;
        hr_pool_add(&g->readers, c);
    }
    return HR_OK;
}

static void finish(void *c)
{
    PQfinish(c);
}

void hr_pg__close_readers(hr_pg *g)
{
    hr_pool_free(&g->readers, finish);
}

/* A connection from the pool, reset first when it broke (PQreset keeps
 * the same PGconn, so the pool's slots stay valid). */
static PGconn *reader_take(hr_pg *g)
{
    PGconn *c = hr_pool_take(&g->readers);
    if (PQstatus(c) != CONNECTION_OK)
        PQreset(c);
    return c;
}

static void reader_give(hr_pg *g, PGconn *c)
{
    hr_pool_give(&g->readers, c);
}

/* Runs sql on c, a read connection. A connection whose server restarted
 * still says CONNECTION_OK until a query fails on it, so a failure that
 * left it broken is retried once on the same connection, reset: what the
 * readers run is safe to run twice. */
static int reader_exec(PGconn *c, const char *sql, const hr_pg_params *p, PGresult **res,
                       const char *doing, hr_error *err)
{
    int ret = hr_pg__exec(c, sql, p, res, doing, err);
    if (ret != HR_OK && PQstatus(c) != CONNECTION_OK) {
        PQreset(c);
        if (PQstatus(c) == CONNECTION_OK)
            ret = hr_pg__exec(c, sql, p, res, doing, err);
    }
    return ret;
}

/* One row of res into a new row of r; how is read_rows' (NULL for most). */
typedef void (*row_fn)(hr_rows *r, const PGresult *res, int row, const void *how);

/* Runs sql with p on a read connection and adds each row to r with row. */
static int read_rows_how(hr_pg *g, const char *sql, const hr_pg_params *p, const char *doing,
                         row_fn row, const void *how, hr_rows *r, hr_error *err)
{
    PGconn *c = reader_take(g);
    PGresult *res;
    int ret = reader_exec(c, sql, p, &res, doing, err);
    if (ret == HR_OK) {
        for (int i = 0; i < PQntuples(res); i++)
            row(r, res, i, how);
        PQclear(res);
    }
    reader_give(g, c);
    return ret;
}

int hr_pg__read_rows(hr_pg *g, const char *sql, const hr_pg_params *p, const char *doing,
                     void (*row)(hr_rows *r, const PGresult *res, int i, const void *how),
                     hr_rows *r, hr_error *err)
{
    return read_rows_how(g, sql, p, doing, row, NULL, r, err);
}

static int read_rows(hr_pg *g, const char *sql, const hr_pg_params *p, const char *doing,
                     row_fn row, hr_rows *r, hr_error *err)
{
    return read_rows_how(g, sql, p, doing, row, NULL, r, err);
}

/*
 * The rows made of plain columns (stages, jobs, targets, revisions,
 * packages) are read by one function from a table of their fields, one
 * per column in the query's order: text (NULL for SQL NULL), an integer
 * (HR_ROW_NULL for NULL) or a time (0 for NULL).
 */
typedef enum { F_STR, F_INT, F_TIME } field_kind;
typedef struct field {
    field_kind kind;
    size_t off;
} field;
typedef struct fields {
    size_t n;
    const field *f;
} fields;
#define F(kind, type, member)                                                                      \
    {                                                                                              \
        kind, offsetof(type, member)                                                               \
    }
#define FIELDS(name, ...)                                                                          \
    static const field name##_f[] = {__VA_ARGS__};                                                 \
    static const fields name = {sizeof(name##_f) / sizeof(name##_f[0]), name##_f}

static void fields_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    const fields *fs = how;
    char *row = hr_rows_add(r);
    for (size_t k = 0; k < fs->n; k++) {
        void *at = row + fs->f[k].off;
        int col = (int)k;
        if (fs->f[k].kind == F_STR) {
            const char *v = hr_pg__col_str(r, res, i, col);
            memcpy(at, &v, sizeof(v));
        } else {
            int64_t v = hr_pg__col_int(res, i, col);
            if (fs->f[k].kind == F_TIME && v == HR_ROW_NULL)
                v = 0;
            memcpy(at, &v, sizeof(v));
        }
    }
}

static int read_fields(hr_pg *g, const char *sql, const hr_pg_params *p, const char *doing,
                       const fields *how, hr_rows *r, hr_error *err)
{
    return read_rows_how(g, sql, p, doing, fields_row, how, r, err);
}

#define S(col) hr_pg__col_str(r, res, i, col)
#define I(col) hr_pg__col_int(res, i, col)
#define T(col) (PQgetisnull(res, i, col) ? 0 : hr_pg__col_int(res, i, col))

/* Columns id, transition, doc, raw, received_at, kind, version from col
 * on; a document the row does not store is derived from raw (a list that
 * leaves raw out selects it for those rows only). Returns the next
 * column. */
static int event_cols(hr_rows *r, const PGresult *res, int i, int col, hr_event_row *e)
{
    e->id = I(col);
    e->kind = S(col + 5);
    e->transition = S(col + 1);
    e->doc = S(col + 2);
    e->doc_len = e->doc != NULL ? (size_t)PQgetlength(res, i, col + 2) : 0;
    e->raw = hr_pg__col_bytea(r, res, i, col + 3, &e->raw_len);
    hr_store__event_doc(r, e, e->kind,
                        PQgetisnull(res, i, col + 6) ? NULL : PQgetvalue(res, i, col + 6),
                        I(col + 4));
    return col + 7;
}

static void event_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    (void)how;
    event_cols(r, res, i, 0, hr_rows_add(r));
}

int hr_pg__list_events(void *db, const hr_event_query *q, size_t limit, hr_rows *rows,
                       hr_error *err)
{
    hr_pg_params p = {0};
    hr_pg__str(&p, q->source);
    hr_pg__str(&p, q->kind);
    hr_pg__str(&p, q->pipeline);
    hr_pg__str(&p, q->stage);
    hr_pg__str(&p, q->result);
    hr_pg__int(&p, q->before_id > 0 ? q->before_id : INT64_MAX);
    hr_pg__int(&p, (int64_t)limit + 1);
    hr_pg__str(&p, q->with_warnings ? "t" : "f");
    hr_pg__str(&p, q->transition);
    hr_pg__int(&p, q->since);
    hr_pg__int(&p, q->until);
    hr_pg__int(&p, q->after_id);
    /* A time bound is exact, and also an id bound found with one seek on
     * events_by_time (ids grow with time), so the walk stays between. */
    return read_rows(db, HR_PG_EVENTS_SQL, &p, "list events", event_row, rows, err);
}

int hr_pg__get_event(void *db, int64_t id, hr_rows *rows, hr_error *err)
{
    hr_pg_params p = {0};
    hr_pg__int(&p, id);
    return read_rows(db,
                     "SELECT id, transition, doc, raw, received_at, kind, version"
                     " FROM events WHERE id = $1",
                     &p, "read the event", event_row, rows, err);
}

FIELDS(stage_fields, F(F_STR, hr_stage_row, pipeline), F(F_STR, hr_stage_row, stage),
       F(F_STR, hr_stage_row, last_result), F(F_STR, hr_stage_row, last_state),
       F(F_STR, hr_stage_row, last_counter), F(F_INT, hr_stage_row, last_event_id),
       F(F_TIME, hr_stage_row, updated_at));

/* Runs select (up to its FROM) with the key query's conditions, as
 * SQLite's read_by_key (store/sqlite_read.c): filter = the query's last
 * result or repository, the key (nkey columns) after the cursor's. */
static int read_by_key(hr_pg *g, const char *select, const char *filter, const char *key,
                       size_t nkey, const hr_key_query *q, size_t limit, const char *doing,
                       const fields *how, hr_rows *rows, hr_error *err)
{
    hr_pg_params p = {0};
    const char *value = q->last_result != NULL ? q->last_result : q->repository;
    char sql[1024];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "%s WHERE true", select);
    if (value != NULL) {
        hr_pg__str(&p, value);
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND %s = $%d", filter, p.n);
    }
    if (q->nafter == nkey && nkey > 0 && nkey < 4) {
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND (%s) > (", key);
        for (size_t i = 0; i < nkey; i++) {
            hr_pg__str(&p, q->after[i]);
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s$%d", i ? ", " : "", p.n);
        }
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, ")");
    }
    hr_pg__int(&p, (int64_t)limit + 1);
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY %s LIMIT $%d", key, p.n);
    return read_fields(g, sql, &p, doing, how, rows, err);
}

int hr_pg__list_stages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err)
{
    return read_by_key(db,
                       "SELECT pipeline, stage, last_result, last_state, last_counter,"
                       " last_event_id, updated_at FROM stage_state",
                       "last_result", "pipeline, stage", 2, q, limit, "list stages", &stage_fields,
                       rows, err);
}

FIELDS(job_fields, F(F_STR, hr_job_row, source), F(F_STR, hr_job_row, job),
       F(F_STR, hr_job_row, branch), F(F_STR, hr_job_row, last_result),
       F(F_INT, hr_job_row, last_number), F(F_STR, hr_job_row, last_phase),
       F(F_STR, hr_job_row, last_status), F(F_INT, hr_job_row, last_event_id),
       F(F_TIME, hr_job_row, updated_at));

int hr_pg__list_jobs(void *db, const hr_key_query *q, size_t limit, hr_rows *rows, hr_error *err)
{
    return read_by_key(db,
                       "SELECT source, job, branch, last_result, last_number, last_phase,"
                       " last_status, last_event_id, updated_at FROM job_state",
                       "last_result", "source, job, branch", 3, q, limit, "list jobs", &job_fields,
                       rows, err);
}

static void setting_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    (void)how;
    hr_setting_row *o = hr_rows_add(r);
    o->key = S(0);
    o->value = S(1);
    o->value_len = (size_t)PQgetlength(res, i, 1);
}

int hr_pg__get_settings(void *db, hr_rows *rows, hr_error *err)
{
    return read_rows(db, "SELECT key, value FROM settings ORDER BY key", NULL, "read the settings",
                     setting_row, rows, err);
}

/* ---- Deliveries --------------------------------------------------------- */

/*
 * Each delivery row carries its attempts as one JSON array (built by
 * PostgreSQL, read back here into attempt rows): one query for a page.
 */
static void delivery_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    (void)how;
    hr_delivery_row *d = hr_rows_add(r);
    json_t *log = json_loads(PQgetvalue(res, i, 11), 0, NULL);
    d->id = I(0);
    d->event_id = I(1);
    d->route = S(2);
    d->target = S(3);
    d->state = S(4);
    d->attempts = (int)I(5);
    d->next_at = T(6);
    d->created_at = T(7);
    d->updated_at = T(8);
    d->last_status = I(9);
    d->last_error = S(10);
    d->run_key = S(12);
    d->service_ref = S(13);
    d->order_key = S(14);
    d->queue_position = I(15);
    d->subject = S(16);
    d->nlog = json_array_size(log);
    if (d->nlog > 0)
        d->log = hr_rows_alloc(r, d->nlog * sizeof(*d->log));
    for (size_t k = 0; k < d->nlog; k++) {
        json_t *a = json_array_get(log, k);
        hr_attempt_row *o = &d->log[k];
        json_t *st = json_array_get(a, 3);
        const char *txt[4];
        o->attempt = (int)json_integer_value(json_array_get(a, 0));
        o->started_at = json_integer_value(json_array_get(a, 1));
        o->latency_ms = json_integer_value(json_array_get(a, 2));
        o->status = json_is_integer(st) ? json_integer_value(st) : HR_ROW_NULL;
        for (int t = 0; t < 4; t++) {
            json_t *v = json_array_get(a, (size_t)(4 + t));
            txt[t] = json_is_string(v) ? hr_rows_str(r, json_string_value(v), json_string_length(v))
                                       : NULL;
        }
        o->outcome = txt[0];
        o->error = txt[1];
        o->excerpt = txt[2];
        o->request_headers = txt[3];
    }
    json_decref(log);
}

int hr_pg__list_deliveries(void *db, const hr_delivery_query *q, int64_t id, size_t limit,
                           hr_rows *rows, hr_error *err)
{
    static const hr_delivery_query none = {0};
    hr_pg_params p = {0};
    if (q == NULL)
        q = &none;
    hr_pg__str(&p, q->state);
    hr_pg__str(&p, q->target);
    hr_pg__int(&p, q->event_id);
    hr_pg__int(&p, q->before_id > 0 ? q->before_id : INT64_MAX);
    hr_pg__int(&p, (int64_t)limit + 1);
    hr_pg__int(&p, id);
    hr_pg__int(&p, q->since);
    hr_pg__int(&p, q->until);
    hr_pg__int(&p, q->after_id);
    return read_rows(db, HR_PG_DELIVERIES_SQL, &p, id > 0 ? "read the delivery" : "list deliveries",
                     delivery_row, rows, err);
}

FIELDS(target_fields, F(F_STR, hr_target_row, target), F(F_INT, hr_target_row, pending),
       F(F_INT, hr_target_row, retrying), F(F_INT, hr_target_row, dead),
       F(F_INT, hr_target_row, delivered), F(F_STR, hr_target_row, last_error));

int hr_pg__target_health(void *db, int64_t since, hr_rows *rows, hr_error *err)
{
    hr_pg_params p = {0};
    hr_pg__int(&p, since);
    return read_fields(db,
                       "SELECT target, count(*) FILTER (WHERE state = 'pending'),"
                       " count(*) FILTER (WHERE state = 'retrying'),"
                       " count(*) FILTER (WHERE state = 'dead' AND updated_at >= $1),"
                       " count(*) FILTER (WHERE state = 'delivered' AND updated_at >= $1),"
                       " (" HR_STORE_LAST_ERROR ")"
                       " FROM (" HR_STORE_HEALTH_ROWS("$1") ") d GROUP BY target ORDER BY target",
                       &p, "read the targets' health", &target_fields, rows, err);
}

/* ---- Packages ----------------------------------------------------------- */

FIELDS(revision_fields, F(F_INT, hr_revision_row, id), F(F_STR, hr_revision_row, doc),
       F(F_TIME, hr_revision_row, published_at), F(F_INT, hr_revision_row, event_id));

int hr_pg__list_revisions(void *db, const char *repository, const char *package, int64_t before_id,
                          size_t limit, hr_rows *rows, hr_error *err)
{
    hr_pg_params p = {0};
    hr_pg__str(&p, repository);
    hr_pg__str(&p, package);
    hr_pg__int(&p, before_id > 0 ? before_id : INT64_MAX);
    hr_pg__int(&p, (int64_t)limit + 1);
    return read_fields(db,
                       "SELECT id, doc, published_at, event_id FROM revisions"
                       " WHERE repository = $1 AND package = $2 AND id < $3"
                       " ORDER BY id DESC LIMIT $4",
                       &p, "list revisions", &revision_fields, rows, err);
}

FIELDS(package_fields, F(F_STR, hr_package_row, repository), F(F_STR, hr_package_row, package),
       F(F_TIME, hr_package_row, created_at), F(F_INT, hr_package_row, revisions),
       F(F_STR, hr_package_row, latest), F(F_TIME, hr_package_row, latest_published_at));

int hr_pg__list_packages(void *db, const hr_key_query *q, size_t limit, hr_rows *rows,
                         hr_error *err)
{
    return read_by_key(db, HR_STORE_PACKAGES_SELECT, "p.repository", "p.repository, p.package", 2,
                       q, limit, "list packages", &package_fields, rows, err);
}

/* ---- Claims ------------------------------------------------------------- */

static void claim_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    (void)how;
    hr_claim_row *c = hr_rows_add(r);
    c->id = I(0);
    c->event_id = I(1);
    c->target = S(2);
    c->attempts = (int)I(3);
    c->claim_token = I(4);
    c->order_key = S(5);
    c->superseded_by = T(6);
    int col = event_cols(r, res, i, 7, &c->event);
    c->run_key = S(col);
    c->run_ref = S(col + 1);
    c->subject = S(col + 2);
}

/* A text[] literal of names: each quoted, with \ and " escaped. */
static char *text_array(const char *const *names, size_t n)
{
    size_t cap = 3, len = 0;
    char *out;
    for (size_t i = 0; i < n; i++)
        cap += 3 + 2 * strlen(names[i]);
    out = hr_malloc(cap);
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            out[len++] = ',';
        out[len++] = '"';
        for (const char *c = names[i]; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\')
                out[len++] = '\\';
            out[len++] = *c;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

static char *id_array(const int64_t *ids, size_t n)
{
    size_t cap = 3 + n * 21, len = 0;
    char *out = hr_malloc(cap);
    len += (size_t)snprintf(out, cap, "{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", i ? "," : "", (long long)ids[i]);
    snprintf(out + len, cap - len, "}");
    return out;
}

/* The claim's statement, with one more condition on d. */
#define CLAIM_SQL(cond)                                                                            \
    "WITH due AS (SELECT d.id FROM deliveries d"                                                   \
    "   WHERE d.state IN ('pending', 'retrying') AND d.next_at <= $1"                              \
    "   AND d.lease_until <= $1"                                                                   \
    "   AND ($2::text IS NULL OR d.target = $2) AND d.target <> ALL($3::text[])"                   \
    "   AND d.id <> ALL($4::bigint[])" HR_STORE_KEY_HEAD cond                                      \
    " ORDER BY d.next_at, d.id LIMIT $5 FOR UPDATE SKIP LOCKED),"                                  \
    " claimed AS (UPDATE deliveries d SET lease_until = $6,"                                       \
    "   claim_token = d.claim_token + 1 FROM due WHERE d.id = due.id"                              \
    "   RETURNING d.id, d.event_id, d.target, d.attempts, d.claim_token, d.next_at, d.run_key,"    \
    "   d.order_key, d.latest_wins, d.subject)"                                                    \
    " SELECT c.id, c.event_id, c.target, c.attempts, c.claim_token, "                              \
    "c.order_key," HR_STORE_SUPERSEDED_BY(                                                         \
        "c") ","                                                                                   \
             " e.id, e.transition, e.doc, e.raw, e.received_at, e.kind, e.version,"                \
             " c.run_key, m.service_ref, c.subject"                                                \
             " FROM claimed c JOIN events e ON e.id = c.event_id"                                  \
             " LEFT JOIN run_messages m ON m.target = c.target AND m.run_key = c.run_key"          \
             " ORDER BY c.next_at, c.id"

/* The claim's statements, prepared by name once per connection of the
 * claims' (hr_pg_claims), with no value in their text: $1 now, $2 the
 * target or NULL, $3 the targets it must not be (text[]), $4 the busy ids
 * (bigint[]), $5 the limit, $6 the lease's end; unclaim's $1 the id, $2
 * the claim_token. */
enum { CLAIM, CLAIM_RUN, UNCLAIM, NCLAIMS };
static const struct {
    const char *name, *sql;
} claim_sql[NCLAIMS] = {
    [CLAIM] = {"hr_claim", CLAIM_SQL("")},
    [CLAIM_RUN] = {"hr_claim_run", CLAIM_SQL(HR_STORE_RUN_WAITS)},
    [UNCLAIM] = {"hr_unclaim", "UPDATE deliveries SET lease_until = 0 WHERE id = $1"
                               " AND claim_token = $2 AND state IN ('pending', 'retrying')"},
};

const char *hr_pg__claim_sql(int run_order)
{
    return claim_sql[run_order ? CLAIM_RUN : CLAIM].sql;
}

static void close_claims(void *arg)
{
    hr_pg_claims *k = arg;
    PQfinish(k->c);
    free(k);
}

/* The delivery engine's connection, not the API's pool: a pool of one
 * (it is also the claims' lock). */
int hr_pg__open_claims(hr_pg *g, hr_error *err)
{
    hr_pg_claims *k = hr_calloc(1, sizeof(*k));
    int ret = hr_pg__connect(g->uri, &k->c, err);
    hr_pool_init(&g->claims, 1);
    if (ret != HR_OK) {
        free(k);
        return ret;
    }
    hr_pool_add(&g->claims, k);
    return HR_OK;
}

void hr_pg__close_claims(hr_pg *g)
{
    hr_pool_free(&g->claims, close_claims);
}

/* Prepares the claims' statements on k's connection unless it has them
 * (a connection reset has none). */
static int claims_prepare(hr_pg_claims *k, hr_error *err)
{
    for (int i = 0; !k->prepared && i < NCLAIMS; i++) {
        PGresult *res = PQprepare(k->c, claim_sql[i].name, claim_sql[i].sql, 0, NULL);
        int ret = HR_OK;
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            ret = hr_pg__error(k->c, res, "prepare the claim", err);
        PQclear(res);
        if (ret != HR_OK)
            return ret;
    }
    k->prepared = 1;
    return HR_OK;
}

/* Runs the claims' statement which on their connection, prepared first
 * when it is new or was reset; a failure that left the connection broken
 * is retried once, reset (as reader_exec: a claim is safe to run twice,
 * what the first one leased being skipped or taken again). */
static int claims_exec(hr_pg *g, int which, const hr_pg_params *p, PGresult **res,
                       const char *doing, hr_error *err)
{
    hr_pg_claims *k = hr_pool_take(&g->claims);
    int ret;

    for (int try = 0;; try++) {
        if (PQstatus(k->c) != CONNECTION_OK) {
            PQreset(k->c);
            k->prepared = 0;
        }
        ret = claims_prepare(k, err);
        if (ret == HR_OK)
            ret = hr_pg__exec_prepared(k->c, claim_sql[which].name, p, res, doing, err);
        if (ret == HR_OK || try > 0 || PQstatus(k->c) == CONNECTION_OK)
            break;
    }
    hr_pool_give(&g->claims, k);
    return ret;
}

/*
 * Claims due deliveries for this instance in one statement: the due rows
 * no other instance holds (FOR UPDATE SKIP LOCKED, and no lease running),
 * each given a lease and a new fencing token. No transaction stays open:
 * the HTTP request is sent after this returns. With run_order, a
 * delivery waits for its run's first message (HR_STORE_RUN_WAITS).
 *
 * Ordered delivery across instances: an ordered row is due only as its
 * key's head, judged by state, not by locks: no older row with its target
 * and key is pending or retrying. A head another instance holds stays
 * pending (leased) until its attempt is recorded, so while A holds key K's
 * head, K's next row fails that test for B whatever SKIP LOCKED skipped;
 * and of two claims racing for a new head, SKIP LOCKED and the lease let
 * one take it. A statement's snapshot can only be older than the record
 * that frees the next row, which makes it wait, never overtake. Rows of
 * one key get ids in commit order (the writer's advisory lock per key,
 * store/pg_write.c), so "older" is "accepted first". A head with latest_wins and
 * a newer row of its key waiting comes with that row's id (superseded).
 *
 * The busy ids stay excluded by value ($4) although their leases exclude
 * them too: a request's record may be awaited past its lease.
 */
int hr_pg__claim(void *db, const hr_claim_query *q, hr_rows *rows, hr_error *err)
{
    hr_pg_params p = {0};
    char *others = text_array(q->other_than, q->target == NULL ? q->n_other_than : 0);
    char *skip = id_array(q->skip_ids, q->n_skip_ids);
    PGresult *res = NULL;
    int ret;

    hr_pg__int(&p, q->now);
    hr_pg__str(&p, q->target);
    hr_pg__str(&p, others);
    hr_pg__str(&p, skip);
    hr_pg__int(&p, (int64_t)q->max);
    hr_pg__int(&p, q->now + (q->lease_ms > 0 ? q->lease_ms : HR_PG_LEASE_MS));
    ret = claims_exec(db, q->target != NULL && q->run_order ? CLAIM_RUN : CLAIM, &p, &res,
                      "claim due deliveries", err);
    for (int i = 0; ret == HR_OK && i < PQntuples(res); i++)
        claim_row(rows, res, i, NULL);
    PQclear(res);
    free(others);
    free(skip);
    return ret;
}

/* ---- Leader rows -------------------------------------------------------- */

/* Takes the row when it is free, expired or already this instance's, in
 * one statement: of two instances asking at once, one gets it. */
int hr_pg__lead(void *db, const char *job, int64_t now, int64_t ttl_ms, int *leader, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGconn *c = reader_take(g);
    PGresult *res;
    int ret;

    hr_pg__str(&p, job);
    hr_pg__str(&p, g->instance);
    hr_pg__int(&p, now);
    hr_pg__int(&p, now + ttl_ms);
    ret = reader_exec(c,
                      "INSERT INTO herald_leader (job, holder, expires_at) VALUES ($1, $2, $4)"
                      " ON CONFLICT (job) DO UPDATE SET holder = $2, expires_at = $4"
                      " WHERE herald_leader.holder = $2 OR herald_leader.expires_at <= $3"
                      " RETURNING holder",
                      &p, &res, "take the leader row", err);
    reader_give(g, c);
    if (ret != HR_OK)
        return ret;
    *leader = PQntuples(res) == 1;
    PQclear(res);
    return HR_OK;
}

/* Ends the lease of a claim the engine did not start: the next claim may
 * take the delivery at once. Only while claim_token is still its latest
 * claim, so a claim another instance made since is left alone. */
int hr_pg__unclaim(void *db, int64_t id, int64_t claim_token, hr_error *err)
{
    hr_pg_params p = {0};
    PGresult *res = NULL;
    int ret;
    hr_pg__int(&p, id);
    hr_pg__int(&p, claim_token);
    ret = claims_exec(db, UNCLAIM, &p, &res, "hand back a claim", err);
    PQclear(res);
    return ret;
}
