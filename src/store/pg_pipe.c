/*
 * pg_pipe.c - the writer's connection in libpq's pipeline mode. Inside a
 * pipelined transaction the writer's statements are sent ahead of their
 * results; the results are read, in order, only where the writer needs
 * one (a history row, a count) and at COMMIT, which goes with the sync. So
 * a batch waits for PostgreSQL a few times, not once per statement.
 *
 * What a batch's rows need (its history rows locked at its start, its
 * events and deliveries as one INSERT each) is pg_batch.c's.
 *
 * Once a statement fails, PostgreSQL skips every later one up to the sync
 * (PGRES_PIPELINE_ABORTED), and the failure shows at the next wait, maybe
 * an item or two later: the writer cannot tell which item failed, so it
 * rolls the batch back and runs it again item by item (store/writer.c).
 * Writer thread only.
 */
#include "store/pg.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static int wait_pending(hr_pg *g, PGresult **out, int nout, hr_error *err);

/* Sends one statement into the pipeline (prepared when name) with n
 * values. */
static int send_raw(hr_pg *g, const char *name, const char *sql, int n, const char *const *v,
                    const int *len, const int *fmt, const char *doing, hr_error *err)
{
    int ok;

    if (g->npending == HR_PG_MAX_PENDING)
        (void)wait_pending(g, NULL, 0, err);
    if (g->pipe_failed) {
        *err = g->pipe_err;
        return err->code;
    }
    ok = name != NULL ? PQsendQueryPrepared(g->w, name, n, v, len, fmt, 0)
                      : PQsendQueryParams(g->w, sql, n, NULL, v, len, fmt, 0);
    if (!ok) {
        g->pipe_failed = 1;
        hr_pg__error(g->w, NULL, doing, &g->pipe_err);
        *err = g->pipe_err;
        return err->code;
    }
    g->pending[g->npending++] = doing;
    return HR_OK;
}

static int send_one(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                    const char *doing, hr_error *err)
{
    static const hr_pg_params none = {0};
    if (p == NULL)
        p = &none;
    return send_raw(g, name, sql, p->n, p->v, p->len, p->fmt, doing, err);
}

/* Reads one statement's result (then the end of it). The result is kept
 * in *keep when it succeeded and keep is not NULL; the first failure is
 * the pipeline's. */
static void read_one(hr_pg *g, const char *doing, PGresult **keep)
{
    PGresult *r = PQgetResult(g->w);
    ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int got = r != NULL;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (keep != NULL) {
            *keep = r;
            r = NULL;
        }
    } else if (!g->pipe_failed) {
        /* PGRES_PIPELINE_ABORTED comes only after a failure, which is
         * already the pipeline's. */
        g->pipe_failed = 1;
        hr_pg__error(g->w, r, doing, &g->pipe_err);
    }
    PQclear(r);
    /* The NULL that ends this statement's results (none after a lost
     * connection's error). */
    if (got && (st != PGRES_FATAL_ERROR || PQstatus(g->w) == CONNECTION_OK))
        while ((r = PQgetResult(g->w)) != NULL)
            PQclear(r);
}

/* Reads every pending result; the last nout go to out (NULL each unless
 * it succeeded). */
static int read_pending(hr_pg *g, PGresult **out, int nout, hr_error *err)
{
    for (int i = 0; i < nout; i++)
        out[i] = NULL;
    for (int i = 0; i < g->npending; i++) {
        int k = i - (g->npending - nout);
        read_one(g, g->pending[i], k >= 0 ? &out[k] : NULL);
    }
    g->npending = 0;
    if (!g->pipe_failed)
        return HR_OK;
    for (int i = 0; i < nout; i++) {
        PQclear(out[i]);
        out[i] = NULL;
    }
    *err = g->pipe_err;
    return err->code;
}

/* Asks PostgreSQL for everything sent so far and reads it. */
static int wait_pending(hr_pg *g, PGresult **out, int nout, hr_error *err)
{
    if (!g->pipe_failed && (!PQsendFlushRequest(g->w) || PQflush(g->w) != 0)) {
        g->pipe_failed = 1;
        hr_pg__error(g->w, NULL, "send the writer's statements", &g->pipe_err);
    }
    return read_pending(g, out, nout, err);
}

int hr_pg__pipe_send(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                     const char *doing, hr_error *err)
{
    int ret = send_one(g, name, sql, p, doing, err);
    /* Bounded: a long batch is read part way, so neither side's buffers
     * fill with the other's unread answers. */
    if (ret == HR_OK && g->npending == HR_PG_MAX_PENDING)
        ret = wait_pending(g, NULL, 0, err);
    return ret;
}

/* In a pipelined transaction the rows kept for a batch INSERT go
 * before any other statement, which may read them or refer to them. */
int hr_pg__wsend(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                 const char *doing, hr_error *err)
{
    int ret;
    if (!g->piped)
        return hr_pg__wexec(g, name, sql, p, NULL, doing, err);
    ret = hr_pg__batch_flush(g, err);
    return ret == HR_OK ? hr_pg__pipe_send(g, name, sql, p, doing, err) : ret;
}

int hr_pg__wexec(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p, PGresult **out,
                 const char *doing, hr_error *err)
{
    static const hr_pg_params none = {0};
    PGresult *res = NULL;
    int ret;

    if (!g->piped) {
        if (name != NULL)
            return hr_pg__exec_prepared(g->w, name, p != NULL ? p : &none, out, doing, err);
        return hr_pg__exec(g->w, sql, p != NULL ? p : &none, out, doing, err);
    }
    ret = hr_pg__batch_flush(g, err);
    if (ret == HR_OK)
        ret = send_one(g, name, sql, p, doing, err);
    if (ret == HR_OK)
        ret = wait_pending(g, &res, 1, err);
    if (ret == HR_OK && out != NULL)
        *out = res;
    else
        PQclear(res);
    return ret;
}

/* Forgets what the last pipelined transaction knew. */
static void forget(hr_pg *g)
{
    hr_pg__batch_forget(g);
    g->nids = g->ids_used = 0;
}

int hr_pg__pipe_begin(hr_pg *g, const hr_event *const *events, size_t nevents, hr_error *err)
{
    hr_pg_params p = {0};
    PGresult *res[5] = {NULL, NULL, NULL, NULL, NULL};
    int nlocks = 0, ret;

    g->npending = 0;
    g->pipe_failed = 0;
    g->commit_ran = 0;
    forget(g);
    hr_error_clear(&g->pipe_err);
    if (!PQenterPipelineMode(g->w))
        return hr_pg__error(g->w, NULL, "enter pipeline mode", err);
    g->piped = 1;
    ret = send_one(g, NULL, "BEGIN", NULL, "begin a transaction", err);
    if (ret != HR_OK || nevents == 0)
        return ret;
    if (nevents > HR_MAX_STORE_BATCH)
        nevents = HR_MAX_STORE_BATCH;
    /* The history rows, then the ids, then one wait for all of them. */
    ret = hr_pg__batch_lock(g, events, nevents, &nlocks, err);
    if (ret != HR_OK)
        return ret;
    hr_pg__int(&p, (int64_t)nevents);
    ret = send_one(g, "event_ids", NULL, &p, "take event ids", err);
    if (ret == HR_OK)
        ret = wait_pending(g, res, nlocks + 1, err);
    if (ret != HR_OK)
        return ret;
    hr_pg__batch_read(g, res, nlocks);
    for (int i = 0; i < PQntuples(res[nlocks]) && g->nids < HR_MAX_STORE_BATCH; i++)
        g->ids[g->nids++] = hr_pg__col_int(res[nlocks], i, 0);
    for (int i = 0; i <= nlocks; i++)
        PQclear(res[i]);
    return HR_OK;
}

/* Leaves pipeline mode; a connection that cannot (results still
 * pending) is closed, and the next batch opens a new one. */
static void leave(hr_pg *g)
{
    forget(g);
    g->npending = 0;
    g->piped = 0;
    if (!PQexitPipelineMode(g->w)) {
        PQfinish(g->w);
        g->w = NULL;
    }
}

/* Reads up to the sync's own result. */
static void read_sync(hr_pg *g)
{
    for (int nulls = 0; nulls < 2 && PQstatus(g->w) == CONNECTION_OK;) {
        PGresult *r = PQgetResult(g->w);
        if (r == NULL) {
            nulls++;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return;
        }
        PQclear(r);
    }
}

int hr_pg__pipe_commit(hr_pg *g, hr_error *err)
{
    int ret = hr_pg__batch_save(g, err);
    if (ret == HR_OK)
        ret = send_one(g, NULL, "COMMIT", NULL, "commit", err);
    if (ret != HR_OK)
        return ret;
    if (!PQpipelineSync(g->w)) {
        g->commit_ran = 1; /* it may have gone out */
        g->pipe_failed = 1;
        hr_pg__error(g->w, NULL, "commit", &g->pipe_err);
        *err = g->pipe_err;
        return err->code;
    }
    /* Every result but COMMIT's, then COMMIT's: run unless skipped after
     * an earlier failure. */
    g->npending--;
    ret = read_pending(g, NULL, 0, err);
    if (ret == HR_OK || PQstatus(g->w) == CONNECTION_OK) {
        PGresult *r = PQgetResult(g->w);
        ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        int got = r != NULL;
        g->commit_ran = st != PGRES_PIPELINE_ABORTED;
        if (st != PGRES_COMMAND_OK && !g->pipe_failed) {
            g->pipe_failed = 1;
            hr_pg__error(g->w, r, "commit", &g->pipe_err);
        }
        PQclear(r);
        if (got && (st != PGRES_FATAL_ERROR || PQstatus(g->w) == CONNECTION_OK))
            while ((r = PQgetResult(g->w)) != NULL)
                PQclear(r);
    } else {
        g->commit_ran = 1; /* unknown: the connection is gone */
    }
    read_sync(g);
    leave(g);
    if (g->pipe_failed) {
        *err = g->pipe_err;
        return err->code;
    }
    return HR_OK;
}

void hr_pg__pipe_abort(hr_pg *g)
{
    if (!g->piped)
        return;
    if (PQstatus(g->w) == CONNECTION_OK && PQpipelineSync(g->w)) {
        hr_error ignored;
        g->pipe_failed = 1; /* nothing more is kept */
        read_pending(g, NULL, 0, &ignored);
        read_sync(g);
    }
    leave(g);
}

int hr_pg__pipe_redo(hr_pg *g)
{
    return g->w != NULL && PQstatus(g->w) == CONNECTION_OK && !g->commit_ran;
}
