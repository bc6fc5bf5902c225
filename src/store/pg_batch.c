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

/* Appends s to a PostgreSQL array literal as one quoted element, after
 * sep (a comma, or the opening brace). */
static void array_add(char **buf, size_t *len, size_t *cap, char sep, const char *s)
{
    size_t need = *len + 2 * strlen(s) + 5; /* sep, quotes, the closing brace, NUL */
    if (need > *cap) {
        *cap = need * 2;
        *buf = hr_realloc(*buf, *cap);
    }
    (*buf)[(*len)++] = sep;
    (*buf)[(*len)++] = '"';
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = *s;
    }
    (*buf)[(*len)++] = '"';
}

/* Sends the statements (prepared: pg.c's stages_lock and stages_read,
 * jobs_lock and jobs_read) that lock rows[0..n) (nkey parts each, n > 0)
 * in their order and then read them. */
static int send_lock(hr_pg *g, const char *lock, const char *read, const hr_pg_held *rows, size_t n,
                     int nkey, const char *doing, hr_error *err)
{
    char *arr[3] = {NULL, NULL, NULL};
    hr_pg_params p = {0};
    int ret;

    for (int k = 0; k < nkey; k++) {
        size_t len = 0, cap = 0;
        for (size_t i = 0; i < n; i++)
            array_add(&arr[k], &len, &cap, i == 0 ? '{' : ',', rows[i].key[k]);
        arr[k][len++] = '}';
        arr[k][len] = '\0';
        hr_pg__str(&p, arr[k]);
    }
    ret = hr_pg__pipe_send(g, lock, NULL, &p, doing, err);
    if (ret == HR_OK)
        ret = hr_pg__pipe_send(g, read, NULL, &p, doing, err);
    for (int k = 0; k < nkey; k++)
        free(arr[k]);
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
 * connection (pg.c's events_insert, deliveries_insert, stages_save,
 * jobs_save) that takes each column as an array, whatever the number of
 * rows, so that PostgreSQL parses and plans it once, not once per batch
 * size. */
typedef struct rows_sql {
    const char *name, *doing;
    int ncols;
} rows_sql;

static const rows_sql event_sql = {"events_insert", "save the events", 17};
static const rows_sql delivery_sql = {"deliveries_insert", "create the deliveries", 10};
static const rows_sql stage_sql = {"stages_save", "update the stages' state", 7};
static const rows_sql job_sql = {"jobs_save", "update the jobs' state", 10};

static void rows_clear(hr_pg_rowbuf *b, int ncols)
{
    for (size_t i = 0; i < b->nrows * (size_t)ncols; i++)
        free(b->v[i]);
    free(b->v);
    free(b->len);
    free(b->fmt);
    memset(b, 0, sizeof(*b));
}

/* Keeps a copy of p's values as the buffer's next row. */
static void rows_add(hr_pg_rowbuf *b, const rows_sql *t, const hr_pg_params *p)
{
    size_t at = b->nrows * (size_t)t->ncols;
    if (b->v == NULL) {
        size_t n = (size_t)HR_PG_MAX_ROWS * (size_t)t->ncols;
        b->v = hr_calloc(n, sizeof(*b->v));
        b->len = hr_calloc(n, sizeof(*b->len));
        b->fmt = hr_calloc(n, sizeof(*b->fmt));
    }
    for (int i = 0; i < t->ncols; i++) {
        const char *v = p->v[i];
        size_t n = v == NULL ? 0 : p->fmt[i] ? (size_t)p->len[i] : strlen(v) + 1;
        b->v[at + (size_t)i] = v == NULL ? NULL : hr_malloc(n > 0 ? n : 1);
        if (n > 0)
            memcpy(b->v[at + (size_t)i], v, n);
        b->len[at + (size_t)i] = p->len[i];
        b->fmt[at + (size_t)i] = p->fmt[i];
    }
    b->nrows++;
}

/* A growing array literal. */
typedef struct array_buf {
    char *s;
    size_t len, cap;
} array_buf;

static void array_room(array_buf *a, size_t more)
{
    if (a->len + more > a->cap) {
        a->cap = (a->len + more) * 2;
        a->s = hr_realloc(a->s, a->cap);
    }
}

/* Appends one element after sep (a comma, or the opening brace): NULL,
 * a quoted text value (fmt 0), or bytea's hex form of len bytes (fmt 1). */
static void array_elem(array_buf *a, char sep, const char *v, int len, int fmt)
{
    static const char hex[] = "0123456789abcdef";
    if (v == NULL) {
        array_room(a, 6);
        a->s[a->len++] = sep;
        memcpy(a->s + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    if (!fmt) {
        array_add(&a->s, &a->len, &a->cap, sep, v);
        return;
    }
    array_room(a, 2 * (size_t)len + 8);
    memcpy(a->s + a->len, sep == '{' ? "{\"\\\\x" : ",\"\\\\x", 5);
    a->len += 5;
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        a->s[a->len++] = hex[c >> 4];
        a->s[a->len++] = hex[c & 15];
    }
    a->s[a->len++] = '"';
}

/* Appends v as 4 bytes, big-endian, as PostgreSQL's binary formats
 * write integers. */
static void put_be32(array_buf *a, uint32_t v)
{
    array_room(a, 4);
    a->s[a->len++] = (char)(v >> 24);
    a->s[a->len++] = (char)(v >> 16);
    a->s[a->len++] = (char)(v >> 8);
    a->s[a->len++] = (char)v;
}

/* PostgreSQL's OID of bytea, an array's element type in binary form. */
#define BYTEA_OID 17u

/*
 * Column c of b's rows as a bytea[] in PostgreSQL's binary array form
 * (array_recv: one dimension, whether any element is NULL, the element
 * type, the dimension's length and lower bound, then each element's length,
 * -1 for NULL, and its bytes): a raw body goes as it is, where the text
 * form doubled it in hex inside an array literal that the server parsed
 * again.
 */
static void bytea_array(array_buf *a, const hr_pg_rowbuf *b, const rows_sql *t, int c)
{
    uint32_t nulls = 0;
    for (size_t r = 0; r < b->nrows; r++)
        nulls |= b->v[r * (size_t)t->ncols + (size_t)c] == NULL;
    put_be32(a, 1);
    put_be32(a, nulls);
    put_be32(a, BYTEA_OID);
    put_be32(a, (uint32_t)b->nrows);
    put_be32(a, 1);
    for (size_t r = 0; r < b->nrows; r++) {
        size_t at = r * (size_t)t->ncols + (size_t)c;
        if (b->v[at] == NULL) {
            put_be32(a, UINT32_MAX);
            continue;
        }
        put_be32(a, (uint32_t)b->len[at]);
        array_room(a, (size_t)b->len[at]);
        memcpy(a->s + a->len, b->v[at], (size_t)b->len[at]);
        a->len += (size_t)b->len[at];
    }
}

/* Whether column c holds bytea (a value kept in binary form). */
static bool bytea_column(const hr_pg_rowbuf *b, const rows_sql *t, int c)
{
    for (size_t r = 0; r < b->nrows; r++)
        if (b->v[r * (size_t)t->ncols + (size_t)c] != NULL &&
            b->fmt[r * (size_t)t->ncols + (size_t)c])
            return true;
    return false;
}

/* Sends the buffer's rows as one statement, a column an array, and
 * empties it. */
static int rows_send(hr_pg *g, hr_pg_rowbuf *b, const rows_sql *t, hr_error *err)
{
    array_buf cols[HR_PG_MAX_PARAMS];
    hr_pg_params p = {0};
    int ret;

    if (b->nrows == 0)
        return HR_OK;
    memset(cols, 0, sizeof(cols));
    for (int c = 0; c < t->ncols; c++) {
        array_buf *a = &cols[c];
        if (bytea_column(b, t, c)) {
            bytea_array(a, b, t, c);
            hr_pg__bin(&p, a->s, a->len);
            continue;
        }
        for (size_t r = 0; r < b->nrows; r++) {
            size_t at = r * (size_t)t->ncols + (size_t)c;
            array_elem(a, r == 0 ? '{' : ',', b->v[at], b->len[at], b->fmt[at]);
        }
        array_room(a, 2);
        a->s[a->len++] = '}';
        a->s[a->len] = '\0';
        hr_pg__str(&p, a->s);
    }
    ret = hr_pg__pipe_send(g, t->name, NULL, &p, t->doing, err);
    for (int c = 0; c < t->ncols; c++)
        free(cols[c].s);
    rows_clear(b, t->ncols);
    return ret;
}

int hr_pg__buffer_event(hr_pg *g, const hr_pg_params *p, hr_error *err)
{
    rows_add(&g->event_rows, &event_sql, p);
    if (g->event_rows.nrows == HR_PG_MAX_ROWS)
        return hr_pg__batch_flush(g, err);
    return HR_OK;
}

int hr_pg__buffer_delivery(hr_pg *g, const hr_pg_params *p, hr_error *err)
{
    int ret = HR_OK;
    /* A delivery refers to its event: the events go first. */
    if (g->delivery_rows.nrows == HR_PG_MAX_ROWS)
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
        rows_clear(&b, stage_sql.ncols);
    }
    if (ret == HR_OK) {
        held_rows(&b, &job_sql, g->jobs, g->njobs);
        ret = rows_send(g, &b, &job_sql, err);
        rows_clear(&b, job_sql.ncols);
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
    rows_clear(&g->event_rows, event_sql.ncols);
    rows_clear(&g->delivery_rows, delivery_sql.ncols);
}
