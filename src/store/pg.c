/*
 * pg.c - the PostgreSQL engine: connecting (and reconnecting), parameters
 * and errors, the writer's transactions, and the engine's table
 * (hr_store__pg). Its schema and the writer's statements are in
 * pg_schema.c, its reads and its claim in pg_read.c; what they share is in
 * pg.h.
 */
#include "store/pg.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB "store"
#define DEFAULT_READERS 4
#define MAX_READERS 64
/* Reconnecting waits from this long, doubling, up to the maximum. */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

/* ---- Parameters and errors ---------------------------------------------- */

void hr_pg__str(hr_pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void hr_pg__int(hr_pg_params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
    hr_pg__str(p, p->num[p->n]);
}

void hr_pg__bin(hr_pg_params *p, const void *b, size_t len)
{
    p->v[p->n] = b;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = b != NULL;
    p->n++;
}

int hr_pg__error(PGconn *c, const PGresult *res, const char *doing, hr_error *err)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char clean[400];
    size_t n = 0;
    /* The connection may still look fine when the server's goodbye
     * (57P01 at a shutdown, 57P02 at a crash) or a broken
     * link (class 08) arrives as a statement's result, in pipeline mode
     * above all: those say PostgreSQL is going away too. */
    int down = c == NULL || PQstatus(c) != CONNECTION_OK ||
               (state != NULL && (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0));

    if (msg == NULL || *msg == '\0')
        msg = c != NULL ? PQerrorMessage(c) : "no connection";
    /* One line: libpq ends its messages with a newline, some have two. */
    for (; *msg != '\0' && n + 1 < sizeof(clean); msg++)
        clean[n++] = *msg == '\n' || *msg == '\r' ? ' ' : *msg;
    while (n > 0 && clean[n - 1] == ' ')
        n--;
    clean[n] = '\0';
    return hr_error_set(err, HR_ESTORE, "store: cannot %s: %s%s", doing, clean,
                        down ? " (PostgreSQL is unreachable; herald reconnects by itself)" : "");
}

int hr_pg__check(PGconn *c, PGresult *res, PGresult **out, const char *doing, hr_error *err)
{
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int ret = hr_pg__error(c, res, doing, err);
        PQclear(res);
        return ret;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return HR_OK;
}

int hr_pg__exec(PGconn *c, const char *sql, const hr_pg_params *p, PGresult **out,
                const char *doing, hr_error *err)
{
    /* Without parameters sql may hold several statements (a migration). */
    if (p == NULL)
        return hr_pg__check(c, PQexec(c, sql), out, doing, err);
    return hr_pg__check(c, PQexecParams(c, sql, p->n, NULL, p->v, p->len, p->fmt, 0), out, doing,
                        err);
}

int hr_pg__exec_prepared(PGconn *c, const char *name, const hr_pg_params *p, PGresult **out,
                         const char *doing, hr_error *err)
{
    return hr_pg__check(c, PQexecPrepared(c, name, p->n, p->v, p->len, p->fmt, 0), out, doing, err);
}

const char *hr_pg__col_str(hr_rows *r, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return hr_rows_str(r, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

int64_t hr_pg__col_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return HR_ROW_NULL;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *hr_pg__col_bytea(hr_rows *r, const PGresult *res, int row, int col, size_t *len)
{
    unsigned char *b;
    const char *copy;
    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
    if (b == NULL)
        hr_oom(PQgetlength(res, row, col));
    copy = hr_rows_str(r, (const char *)b, *len);
    PQfreemem(b);
    return copy;
}

/* ---- Connections and the schema ------------------------------------------ */

/* PostgreSQL's notices ("relation already exists, skipping") are not
 * herald's to print. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * Every connection gives up connecting after HR_PG_CONNECT_TIMEOUT_S (a
 * server that accepts and never answers, an address that drops packets)
 * and has TCP keepalives and a TCP user timeout, so that a server that
 * vanished mid-statement (a host or a network gone) is found within about
 * HR_PG_TCP_TIMEOUT_S instead of never. The URI's own settings win: it is
 * read last.
 */
int hr_pg__connect(const char *uri, PGconn **out, hr_error *err)
{
    char timeout[16], idle[16], interval[16], user_ms[24];
    const char *keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *values[] = {timeout, "1", idle, interval, "3", user_ms, uri, NULL};
    PGconn *c;

    snprintf(timeout, sizeof(timeout), "%d", HR_PG_CONNECT_TIMEOUT_S);
    snprintf(idle, sizeof(idle), "%d", HR_PG_TCP_TIMEOUT_S / 3);
    snprintf(interval, sizeof(interval), "%d", HR_PG_TCP_TIMEOUT_S / 9);
    snprintf(user_ms, sizeof(user_ms), "%d", HR_PG_TCP_TIMEOUT_S * 1000);
    c = PQconnectdbParams(keys, values, 1);
    if (c == NULL)
        hr_oom(sizeof(void *));
    if (PQstatus(c) != CONNECTION_OK) {
        int ret = hr_pg__error(c, NULL, "connect to PostgreSQL", err);
        PQfinish(c);
        return ret;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    *out = c;
    return HR_OK;
}

/* Says which database, for logs, without the URI (it may hold a password). */
static void describe(hr_pg *g)
{
    snprintf(g->where, sizeof(g->where), "postgresql database %s on %s:%s", PQdb(g->w),
             PQhost(g->w), PQport(g->w));
}

static void pg_close(void *db)
{
    hr_pg *g = db;
    if (g == NULL)
        return;
    hr_pg__unwatch(g);
    hr_pg__close_readers(g);
    hr_pg__close_claims(g);
    PQfinish(g->w);
    free(g->uri);
    free(g);
}

static int pg_open(const hr_store_options *opt, void **db, const char **where, hr_error *err)
{
    int readers = opt->readers == 0 ? DEFAULT_READERS : opt->readers;
    hr_pg *g;
    int ret;

    if (readers < 1 || readers > MAX_READERS)
        return hr_error_set(err, HR_EINVAL, "store: readers must be from 1 to %d; got %d",
                            MAX_READERS, opt->readers);
    g = hr_calloc(1, sizeof(*g));
    g->uri = hr_strdup(opt->uri);
    /* This instance's name in leader rows: unique among live instances. */
    snprintf(g->instance, sizeof(g->instance), "%ld-%lld-%lld", (long)getpid(),
             (long long)hr_time_now_ms(), (long long)hr_time_mono_us());
    ret = hr_pg__connect(g->uri, &g->w, err);
    if (ret == HR_OK) {
        describe(g);
        ret = hr_pg__migrate(g, err);
    }
    if (ret == HR_OK)
        ret = hr_pg__prepare(g->w, err);
    if (ret == HR_OK)
        ret = hr_pg__open_readers(g, readers, err);
    if (ret == HR_OK)
        ret = hr_pg__open_claims(g, err);
    if (ret != HR_OK) {
        pg_close(g);
        return ret;
    }
    hr_log_info(SUB, "opened %s (schema version %d, %d read connections)", g->where,
                hr_pg__schema_version(), readers);
    *db = g;
    *where = g->where;
    return HR_OK;
}

/* ---- Transactions ------------------------------------------------------- */

/*
 * A writer connection that broke (PostgreSQL restarted, a failover) is
 * opened again here, at the start of the next batch, no sooner than the
 * backoff allows; until it works, every batch fails and says why.
 */
static int writer_ready(hr_pg *g, hr_error *err)
{
    int64_t now = hr_time_mono_us() / 1000;
    PGconn *c = NULL;
    int ret;

    if (g->w != NULL && PQstatus(g->w) == CONNECTION_OK)
        return HR_OK;
    if (now < g->w_retry_at)
        return hr_error_set(err, HR_ESTORE,
                            "store: PostgreSQL is unreachable; herald reconnects by itself");
    ret = hr_pg__connect(g->uri, &c, err);
    if (ret == HR_OK)
        ret = hr_pg__prepare(c, err);
    if (ret != HR_OK) {
        PQfinish(c);
        g->w_backoff_ms = g->w_backoff_ms == 0 ? RECONNECT_MIN_MS : g->w_backoff_ms * 2;
        if (g->w_backoff_ms > RECONNECT_MAX_MS)
            g->w_backoff_ms = RECONNECT_MAX_MS;
        g->w_retry_at = now + g->w_backoff_ms;
        return ret;
    }
    PQfinish(g->w);
    g->w = c;
    g->w_backoff_ms = 0;
    hr_log_info(SUB, "connected to %s again", g->where);
    return HR_OK;
}

static int pg_begin(void *db, int bulk, hr_error *err)
{
    hr_pg *g = db;
    int ret = writer_ready(g, err);
    (void)bulk;
    if (ret == HR_OK)
        ret = hr_pg__exec(g->w, "BEGIN", NULL, NULL, "begin a transaction", err);
    return ret;
}

/* The writer's pipelined transaction (pg_pipe.c): no savepoint per item. */
static int pg_begin_piped(void *db, const hr_event *const *events, size_t nevents, hr_error *err)
{
    hr_pg *g = db;
    int ret = writer_ready(g, err);
    if (ret == HR_OK)
        ret = hr_pg__pipe_begin(g, events, nevents, err);
    return ret;
}

static int pg_commit(void *db, hr_error *err)
{
    hr_pg *g = db;
    if (g->piped)
        return hr_pg__pipe_commit(g, err);
    return hr_pg__exec(g->w, "COMMIT", NULL, NULL, "commit", err);
}

static void pg_rollback(void *db)
{
    hr_pg *g = db;
    hr_pg__pipe_abort(g);
    if (g->w != NULL && PQtransactionStatus(g->w) != PQTRANS_IDLE &&
        PQstatus(g->w) == CONNECTION_OK)
        PQclear(PQexec(g->w, "ROLLBACK"));
}

static int pg_redo(void *db)
{
    return hr_pg__pipe_redo(db);
}

/* Savepoints: in a pipelined transaction (the health updates at a batch's
 * end) they are sent ahead like any statement. */
static int pg_item_begin(void *db, hr_error *err)
{
    hr_pg *g = db;
    return hr_pg__wsend(g, NULL, "SAVEPOINT item", NULL, "start a savepoint", err);
}

static int pg_item_end(void *db, int ok, hr_error *err)
{
    hr_pg *g = db;
    if (!ok && hr_pg__wsend(g, NULL, "ROLLBACK TO SAVEPOINT item", NULL, "undo a failed event",
                            err) != HR_OK)
        return err->code;
    return hr_pg__wsend(g, NULL, "RELEASE SAVEPOINT item", NULL, "release a savepoint", err);
}

/* The transaction is lost when the connection is, or it ended, or (in a
 * pipelined one) a statement failed. */
static int pg_lost(void *db)
{
    hr_pg *g = db;
    PGTransactionStatusType t = PQtransactionStatus(g->w);
    if (g->piped)
        return PQstatus(g->w) != CONNECTION_OK || g->pipe_failed;
    return PQstatus(g->w) != CONNECTION_OK || t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN;
}

const hr_store_engine hr_store__pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .begin_piped = pg_begin_piped,
    .redo = pg_redo,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .item_begin = pg_item_begin,
    .item_end = pg_item_end,
    .lost = pg_lost,
    .find_request = hr_pg__find_request,
    .find_revision = hr_pg__find_revision,
    .stage_last_result = hr_pg__stage_last_result,
    .job_history = hr_pg__job_history,
    .insert_event = hr_pg__insert_event,
    .save_stage = hr_pg__save_stage,
    .save_job = hr_pg__save_job,
    .save_revision = hr_pg__save_revision,
    .insert_delivery = hr_pg__insert_delivery,
    .save_attempt = hr_pg__save_attempt,
    .reset = hr_pg__reset,
    .save_settings = hr_pg__save_settings,
    .prune = hr_pg__prune,
    .list_events = hr_pg__list_events,
    .get_event = hr_pg__get_event,
    .list_stages = hr_pg__list_stages,
    .list_jobs = hr_pg__list_jobs,
    .get_settings = hr_pg__get_settings,
    .list_deliveries = hr_pg__list_deliveries,
    .target_health = hr_pg__target_health,
    .list_revisions = hr_pg__list_revisions,
    .list_packages = hr_pg__list_packages,
    .lead = hr_pg__lead,
    .claim = hr_pg__claim,
    .unclaim = hr_pg__unclaim,
    .get_health = hr_pg__get_health,
    .put_health = hr_pg__put_health,
    .held = hr_pg__held,
    .list_health = hr_pg__list_health,
    .announce = hr_pg__announce,
    .watch = hr_pg__watch,
};
