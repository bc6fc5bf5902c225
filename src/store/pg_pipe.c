/*
 * pg_pipe.c - the writer's connection in libpq's pipeline mode. Inside a
 * pipelined transaction the writer's statements are sent ahead of their
 * results; the results are read, in order, only where the writer needs
 * one (a history row, a count) and at COMMIT, which goes with the sync. So
 * a batch waits for PostgreSQL a few times, not once per statement.
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

/* Sends one statement into the pipeline (prepared when name). */
static int send_one(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                    const char *doing, hr_error *err)
{
    static const hr_pg_params none = {0};
    int ok;

    if (g->npending == HR_PG_MAX_PENDING)
        (void)wait_pending(g, NULL, 0, err);
    if (g->pipe_failed) {
        *err = g->pipe_err;
        return err->code;
    }
    if (p == NULL)
        p = &none;
    ok = name != NULL ? PQsendQueryPrepared(g->w, name, p->n, p->v, p->len, p->fmt, 0)
                      : PQsendQueryParams(g->w, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
    if (!ok) {
        g->pipe_failed = 1;
        hr_pg__error(g->w, NULL, doing, &g->pipe_err);
        *err = g->pipe_err;
        return err->code;
    }
    g->pending[g->npending++] = doing;
    return HR_OK;
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

int hr_pg__wsend(hr_pg *g, const char *name, const char *sql, const hr_pg_params *p,
                 const char *doing, hr_error *err)
{
    int ret;
    if (!g->piped)
        return hr_pg__wexec(g, name, sql, p, NULL, doing, err);
    ret = send_one(g, name, sql, p, doing, err);
    /* Bounded: a long batch is read part way, so neither side's buffers
     * fill with the other's unread answers. */
    if (ret == HR_OK && g->npending == HR_PG_MAX_PENDING)
        ret = wait_pending(g, NULL, 0, err);
    return ret;
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
    for (size_t i = 0; i < g->nseen; i++) {
        free(g->seen[i].pipeline);
        free(g->seen[i].stage);
        free(g->seen[i].last_result);
        free(g->seen[i].state);
        free(g->seen[i].counter);
    }
    g->nseen = 0;
    g->nids = g->ids_used = 0;
}

int hr_pg__pipe_begin(hr_pg *g, size_t nevents, hr_error *err)
{
    hr_pg_params p = {0};
    PGresult *res = NULL;
    int ret;

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
    hr_pg__int(&p, (int64_t)nevents);
    ret = hr_pg__wexec(g, "event_ids", NULL, &p, &res, "take event ids", err);
    if (ret != HR_OK)
        return ret;
    for (int i = 0; i < PQntuples(res) && g->nids < HR_MAX_STORE_BATCH; i++)
        g->ids[g->nids++] = hr_pg__col_int(res, i, 0);
    PQclear(res);
    return HR_OK;
}

void hr_pg__seen_get(hr_pg *g, const char *pipeline, const char *stage, int *known,
                     const char **last_result)
{
    *known = 0;
    *last_result = NULL;
    for (size_t i = 0; g->piped && i < g->nseen; i++) {
        if (strcmp(g->seen[i].pipeline, pipeline) == 0 && strcmp(g->seen[i].stage, stage) == 0) {
            *known = 1;
            *last_result = g->seen[i].last_result;
            return;
        }
    }
}

void hr_pg__seen_put(hr_pg *g, const char *pipeline, const char *stage, const char *last_result)
{
    size_t i;
    if (!g->piped)
        return;
    for (i = 0; i < g->nseen; i++)
        if (strcmp(g->seen[i].pipeline, pipeline) == 0 && strcmp(g->seen[i].stage, stage) == 0)
            break;
    if (i == g->nseen) {
        if (i == HR_PG_MAX_SEEN)
            return;
        memset(&g->seen[i], 0, sizeof(g->seen[i]));
        g->seen[i].pipeline = hr_strdup(pipeline);
        g->seen[i].stage = hr_strdup(stage);
        g->nseen++;
    }
    free(g->seen[i].last_result);
    g->seen[i].last_result = hr_strdup(last_result);
}

int hr_pg__seen_save(hr_pg *g, const hr_event *ev, const char *last_result, int64_t event_id)
{
    for (size_t i = 0; g->piped && i < g->nseen; i++) {
        struct hr_pg_seen *e = &g->seen[i];
        if (strcmp(e->pipeline, ev->pipeline_name) != 0 || strcmp(e->stage, ev->stage_name) != 0)
            continue;
        if (last_result != NULL) {
            free(e->last_result);
            e->last_result = hr_strdup(last_result);
        }
        free(e->state);
        free(e->counter);
        e->state = hr_strdup(ev->stage_state);
        e->counter = hr_strdup(ev->pipeline_counter);
        e->event_id = event_id;
        e->updated_at = ev->received_at;
        e->dirty = 1;
        return 1;
    }
    return 0;
}

/* Writes the new state of every stage the batch's events moved: one
 * upsert each, whatever the number of its events (as stage_upsert in
 * pg.c; the row is held since the stage's first event). */
static int save_stages(hr_pg *g, hr_error *err)
{
    int ret = HR_OK;
    for (size_t i = 0; i < g->nseen && ret == HR_OK; i++) {
        struct hr_pg_seen *e = &g->seen[i];
        hr_pg_params p = {0};
        if (!e->dirty)
            continue;
        hr_pg__str(&p, e->pipeline);
        hr_pg__str(&p, e->stage);
        hr_pg__str(&p, e->last_result);
        hr_pg__str(&p, e->state);
        hr_pg__str(&p, e->counter);
        hr_pg__int(&p, e->event_id);
        hr_pg__int(&p, e->updated_at);
        ret = hr_pg__wsend(g, "stage_upsert", NULL, &p, "update the stage's state", err);
    }
    return ret;
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
    int ret = save_stages(g, err);
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
