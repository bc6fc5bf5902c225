/*
 * pg_batch.c - a pipelined batch's rows on PostgreSQL (pg_pipe.c runs the
 * pipeline): the history rows of the batch's stages and jobs, created and
 * locked at its start by one statement per table, in key order, and read
 * by one more (sent together, one wait);
 * what the batch's own events then leave in them, written once before
 * COMMIT; and its events and deliveries, kept and sent as one INSERT per
 * table instead of one statement per row, each column an array.
 *
 * Order is what keeps it right. The history rows are taken sorted by key
 * (bytewise, the same in every instance), so two instances whose batches
 * share stages wait for each other instead of deadlocking. Kept rows are
 * sent before any other statement of the transaction (hr_pg__wsend and
 * hr_pg__wexec flush them), so a statement that reads or refers to them
 * (a request id's lookup, a revision, an ordered delivery) finds them, and
 * ids grow in the order the writer took the events. Writer thread only.
 */
#include "store/pg.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- History rows ------------------------------------------------------- */

static int key_cmp(const char *const a[3], const char *const b[3], int nkey)
{
    for (int i = 0; i < nkey; i++) {
        int c = strcmp(a[i], b[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static int stage_cmp(const void *a, const void *b)
{
    const hr_pg_held *x = a, *y = b;
    return key_cmp((const char *const *)x->key, (const char *const *)y->key, 2);
}

static int job_cmp(const void *a, const void *b)
{
    const hr_pg_held *x = a, *y = b;
    return key_cmp((const char *const *)x->key, (const char *const *)y->key, 3);
}

static void held_clear(hr_pg_held *h)
{
    for (int i = 0; i < 3; i++)
        free(h->key[i]);
    free(h->last_result);
    free(h->prev_result);
    free(h->state);
    free(h->counter);
    memset(h, 0, sizeof(*h));
}

/* Sorts rows[0..*n) by key and drops repeated keys. */
static void sort_unique(hr_pg_held *rows, size_t *n, int (*cmp)(const void *, const void *))
{
    size_t out = 0;
    if (*n == 0)
        return;
    qsort(rows, *n, sizeof(*rows), cmp);
    for (size_t i = 1; i < *n; i++) {
        if (cmp(&rows[out], &rows[i]) == 0)
            held_clear(&rows[i]);
        else if (++out != i) {
            rows[out] = rows[i];
            memset(&rows[i], 0, sizeof(rows[i]));
        }
    }
    *n = out + 1;
}

/* ---- Binary arrays ------------------------------------------------------ */

/* PostgreSQL's OIDs of the element types of the batch's arrays. */
#define BOOL_OID 16u
#define BYTEA_OID 17u
#define INT8_OID 20u
#define TEXT_OID 25u

/* array_recv's header: one dimension, whether an element is NULL, the
 * element type, the dimension's length and its lower bound (1). */
#define ARRAY_HEAD 20

static void put_be32(char *at, uint32_t v)
{
    at[0] = (char)(v >> 24);
    at[1] = (char)(v >> 16);
    at[2] = (char)(v >> 8);
    at[3] = (char)v;
}

static void array_room(hr_pg_array *a, size_t more)
{
    if (a->len == 0)
        a->len = ARRAY_HEAD; /* written by array_finish */
    if (a->len + more > a->cap) {
        a->cap = (a->len + more) * 2;
        a->s = hr_realloc(a->s, a->cap);
    }
}

/* Appends one element: len bytes from v as they are, or NULL when v is. */
static void array_add(hr_pg_array *a, const void *v, size_t len)
{
    array_room(a, 4 + (v != NULL ? len : 0));
    a->n++;
    if (v == NULL) {
        a->nulls = true;
        put_be32(a->s + a->len, UINT32_MAX); /* -1: NULL */
        a->len += 4;
        return;
    }
    put_be32(a->s + a->len, (uint32_t)len);
    memcpy(a->s + a->len + 4, v, len);
    a->len += 4 + len;
}

/* Appends a parameter's value (hr_pg_params: text, a number's digits, or
 * bytes) as an element of type t: 't' text, 'i' bigint, 'o' boolean ("true"
 * or "false"), 'b' bytea. */
static void array_value(hr_pg_array *a, char t, const char *v, int len)
{
    char be[8];
    if (v == NULL || t == 'b') {
        array_add(a, v, v != NULL ? (size_t)len : 0);
    } else if (t == 'i') {
        uint64_t n = (uint64_t)strtoll(v, NULL, 10);
        for (int k = 0; k < 8; k++)
            be[k] = (char)(n >> (56 - 8 * k));
        array_add(a, be, 8);
    } else if (t == 'o') {
        be[0] = v[0] == 't';
        array_add(a, be, 1);
    } else {
        array_add(a, v, strlen(v));
    }
}

/* Writes the header of elements of type oid; the array is then a->s's
 * a->len bytes, in the binary form a parameter of an array type takes. */
static void array_finish(hr_pg_array *a, uint32_t oid)
{
    array_room(a, 0);
    put_be32(a->s, 1);
    put_be32(a->s + 4, a->nulls);
    put_be32(a->s + 8, oid);
    put_be32(a->s + 12, a->n);
    put_be32(a->s + 16, 1);
}

static void array_free(hr_pg_array *a)
{
    free(a->s);
    memset(a, 0, sizeof(*a));
}

/* Sends the statements (prepared: pg_schema.c's stages_lock and stages_read,
 * jobs_lock and jobs_read) that lock rows[0..n) (nkey parts each, n > 0)
 * in their order and then read them. */
static int send_lock(hr_pg *g, const char *lock, const char *read, const hr_pg_held *rows, size_t n,
                     int nkey, const char *doing, hr_error *err)
{
    hr_pg_array arr[3];
    hr_pg_params p = {0};
    int ret;

    memset(arr, 0, sizeof(arr));
    for (int k = 0; k < nkey; k++) {
        for (size_t i = 0; i < n; i++)
            array_add(&arr[k], rows[i].key[k], strlen(rows[i].key[k]));
        array_finish(&arr[k], TEXT_OID);
        hr_pg__bin(&p, arr[k].s, arr[k].len);
    }
    ret = hr_pg__pipe_send(g, lock, NULL, &p, doing, err);
    if (ret == HR_OK)
        ret = hr_pg__pipe_send(g, read, NULL, &p, doing, err);
    for (int k = 0; k < nkey; k++)
        array_free(&arr[k]);
    return ret;
}

int hr_pg__batch_lock(hr_pg *g, const hr_event *const *events, size_t nevents, int *nsent,
                      hr_error *err)
{
    int ret = HR_OK;

    *nsent = 0;
    for (size_t i = 0; i < nevents; i++) {
        const hr_event *ev = events[i];
        if (ev->has_build && ev->build.job_name != NULL) {
            hr_pg_held *h = &g->jobs[g->njobs++];
            h->key[0] = hr_strdup(ev->source);
            h->key[1] = hr_strdup(ev->build.job_name);
            h->key[2] = hr_strdup(hr_build_history_branch(ev));
        } else if (!ev->has_package && ev->kind != NULL &&
                   strcmp(ev->kind, HR_KIND_STAGE_STATUS) == 0 && ev->pipeline_name != NULL &&
                   ev->stage_name != NULL) {
            hr_pg_held *h = &g->stages[g->nstages++];
            h->key[0] = hr_strdup(ev->pipeline_name);
            h->key[1] = hr_strdup(ev->stage_name);
        }
    }
    sort_unique(g->stages, &g->nstages, stage_cmp);
    sort_unique(g->jobs, &g->njobs, job_cmp);
    /* Stages before jobs, each in key order: one order for every
     * instance. */
    if (g->nstages > 0) {
        ret = send_lock(g, "stages_lock", "stages_read", g->stages, g->nstages, 2,
                        "lock the batch's stages' history rows", err);
        *nsent += ret == HR_OK ? 2 : 0;
    }
    if (ret == HR_OK && g->njobs > 0) {
        ret = send_lock(g, "jobs_lock", "jobs_read", g->jobs, g->njobs, 3,
                        "lock the batch's jobs' history rows", err);
        *nsent += ret == HR_OK ? 2 : 0;
    }
    return ret;
}

void hr_pg__batch_read(hr_pg *g, PGresult **res, int n)
{
    int k = 1; /* each table's read follows its lock */
    if (g->nstages > 0 && k < n) {
        for (int i = 0; i < PQntuples(res[k]); i++) {
            hr_pg_held *h =
                hr_pg__held_stage(g, PQgetvalue(res[k], i, 0), PQgetvalue(res[k], i, 1));
            if (h != NULL && !PQgetisnull(res[k], i, 2))
                h->last_result = hr_strdup(PQgetvalue(res[k], i, 2));
        }
        k += 2;
    }
    if (g->njobs > 0 && k < n) {
        for (int i = 0; i < PQntuples(res[k]); i++) {
            hr_pg_held *h = hr_pg__held_job(g, PQgetvalue(res[k], i, 0), PQgetvalue(res[k], i, 1),
                                            PQgetvalue(res[k], i, 2));
            if (h == NULL)
                continue;
            h->last_result = PQgetisnull(res[k], i, 3) ? NULL : hr_strdup(PQgetvalue(res[k], i, 3));
            h->last_number = PQgetisnull(res[k], i, 4) ? 0 : hr_pg__col_int(res[k], i, 4);
            h->prev_result = PQgetisnull(res[k], i, 5) ? NULL : hr_strdup(PQgetvalue(res[k], i, 5));
        }
    }
}

hr_pg_held *hr_pg__held_stage(hr_pg *g, const char *pipeline, const char *stage)
{
    hr_pg_held key = {.key = {(char *)pipeline, (char *)stage, NULL}};
    if (!g->piped || g->nstages == 0)
        return NULL;
    return bsearch(&key, g->stages, g->nstages, sizeof(key), stage_cmp);
}

hr_pg_held *hr_pg__held_job(hr_pg *g, const char *source, const char *job, const char *branch)
{
    hr_pg_held key = {.key = {(char *)source, (char *)job, (char *)branch}};
    if (!g->piped || g->njobs == 0)
        return NULL;
    return bsearch(&key, g->jobs, g->njobs, sizeof(key), job_cmp);
}

/* A stage not taken at the batch's start (herald's own events) is read on
 * its own; it is kept in its place so later events find it. */
void hr_pg__hold_stage(hr_pg *g, const char *pipeline, const char *stage, const char *last_result)
{
    hr_pg_held h = {0};
    size_t at = 0;
    if (!g->piped || g->nstages == HR_MAX_STORE_BATCH || hr_pg__held_stage(g, pipeline, stage))
        return;
    h.key[0] = (char *)pipeline;
    h.key[1] = (char *)stage;
    while (at < g->nstages && stage_cmp(&g->stages[at], &h) < 0)
        at++;
    memmove(&g->stages[at + 1], &g->stages[at], (g->nstages - at) * sizeof(h));
    h.key[0] = hr_strdup(pipeline);
    h.key[1] = hr_strdup(stage);
    h.last_result = hr_strdup(last_result);
    g->stages[at] = h;
    g->nstages++;
}

/* ---- Rows from arrays --------------------------------------------------- */

/* A batch's held rows are saved as one buffer's rows. */
_Static_assert(HR_MAX_STORE_BATCH <= HR_PG_MAX_ROWS, "a batch's history rows fit one statement");

/* What each table's kept rows become: one statement prepared once per
 * connection (pg_schema.c's events_insert, deliveries_insert, stages_save,
 * jobs_save) that takes each column as an array, whatever the number of
 * rows, so that PostgreSQL parses and plans it once, not once per batch
 * size; the arrays go in binary form (array_value's types, a letter per
 * column), which the server reads without parsing or unescaping. */
typedef struct rows_sql {
    const char *name, *doing;
    const char *types; /* one letter per column, in its order */
} rows_sql;

static const rows_sql event_sql = {"events_insert", "save the events", "itttttttttttbtibi"};
static const rows_sql delivery_sql = {"deliveries_insert", "create the deliveries", "ittiiittot"};
static const rows_sql stage_sql = {"stages_save", "update the stages' state", "tttttii"};
static const rows_sql job_sql = {"jobs_save", "update the jobs' state", "ttttitttii"};

_Static_assert(sizeof("itttttttttttbtibi") - 1 <= HR_PG_MAX_COLS, "an event's columns fit");

static void rows_clear(hr_pg_rowbuf *b)
{
    for (int c = 0; c < HR_PG_MAX_COLS; c++)
        array_free(&b->col[c]);
    b->nrows = 0;
}

/* Adds p's values as the buffer's next row. */
static void rows_add(hr_pg_rowbuf *b, const rows_sql *t, const hr_pg_params *p)
{
    for (int c = 0; t->types[c] != '\0'; c++)
        array_value(&b->col[c], t->types[c], p->v[c], p->len[c]);
    b->nrows++;
}

/* Whether the buffer is to be sent before it takes another row. */
static bool rows_full(const hr_pg_rowbuf *b)
{
    size_t bytes = 0;
    for (int c = 0; c < HR_PG_MAX_COLS; c++)
        bytes += b->col[c].len;
    return b->nrows == HR_PG_MAX_ROWS || bytes >= HR_PG_MAX_ROW_BYTES;
}

static uint32_t type_oid(char t)
{
    return t == 'i' ? INT8_OID : t == 'o' ? BOOL_OID : t == 'b' ? BYTEA_OID : TEXT_OID;
}

/* Sends the buffer's rows as one statement, a column an array, and
 * empties it. */
static int rows_send(hr_pg *g, hr_pg_rowbuf *b, const rows_sql *t, hr_error *err)
{
    hr_pg_params p = {0};
    int ret;

    if (b->nrows == 0)
        return HR_OK;
    for (int c = 0; t->types[c] != '\0'; c++) {
        array_finish(&b->col[c], type_oid(t->types[c]));
        hr_pg__bin(&p, b->col[c].s, b->col[c].len);
    }
    ret = hr_pg__pipe_send(g, t->name, NULL, &p, t->doing, err);
    rows_clear(b);
    return ret;
}

int hr_pg__buffer_event(hr_pg *g, const hr_pg_params *p, hr_error *err)
{
    rows_add(&g->event_rows, &event_sql, p);
    if (rows_full(&g->event_rows))
        return hr_pg__batch_flush(g, err);
    return HR_OK;
}

int hr_pg__buffer_delivery(hr_pg *g, const hr_pg_params *p, hr_error *err)
{
    int ret = HR_OK;
    /* A delivery refers to its event: the events go first. */
    if (rows_full(&g->delivery_rows))
        ret = hr_pg__batch_flush(g, err);
    if (ret == HR_OK)
        rows_add(&g->delivery_rows, &delivery_sql, p);
    return ret;
}

int hr_pg__batch_flush(hr_pg *g, hr_error *err)
{
    int ret = rows_send(g, &g->event_rows, &event_sql, err);
    if (ret == HR_OK)
        ret = rows_send(g, &g->delivery_rows, &delivery_sql, err);
    return ret;
}

/* Keeps the dirty held rows' new state in b, as t's rows. */
static void held_rows(hr_pg_rowbuf *b, const rows_sql *t, const hr_pg_held *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const hr_pg_held *h = &rows[i];
        hr_pg_params p = {0};
        if (!h->dirty)
            continue;
        for (int k = 0; k < (t == &job_sql ? 3 : 2); k++)
            hr_pg__str(&p, h->key[k]);
        hr_pg__str(&p, h->last_result);
        if (t == &job_sql) {
            if (h->last_result != NULL)
                hr_pg__int(&p, h->last_number);
            else
                hr_pg__str(&p, NULL);
            hr_pg__str(&p, h->prev_result);
        }
        hr_pg__str(&p, h->state);
        hr_pg__str(&p, h->counter);
        hr_pg__int(&p, h->event_id);
        hr_pg__int(&p, h->updated_at);
        rows_add(b, t, &p);
    }
}

int hr_pg__batch_save(hr_pg *g, hr_error *err)
{
    hr_pg_rowbuf b = {0};
    int ret = hr_pg__batch_flush(g, err);
    if (ret == HR_OK) {
        held_rows(&b, &stage_sql, g->stages, g->nstages);
        ret = rows_send(g, &b, &stage_sql, err);
        rows_clear(&b);
    }
    if (ret == HR_OK) {
        held_rows(&b, &job_sql, g->jobs, g->njobs);
        ret = rows_send(g, &b, &job_sql, err);
        rows_clear(&b);
    }
    return ret;
}

void hr_pg__batch_forget(hr_pg *g)
{
    for (size_t i = 0; i < g->nstages; i++)
        held_clear(&g->stages[i]);
    for (size_t i = 0; i < g->njobs; i++)
        held_clear(&g->jobs[i]);
    g->nstages = g->njobs = 0;
    rows_clear(&g->event_rows);
    rows_clear(&g->delivery_rows);
}
