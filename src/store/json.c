/*
 * json.c - the API's JSON, built from the rows any engine's reads give
 * (store/rows.h), in one place: every answer's shape is written here
 * once, whichever engine holds the data. Runs on the caller's thread.
 */
#include "store/json.h"

#include "core/jwrite.h"

#include "core/limits.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "store/engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t clamp_page(size_t limit)
{
    return limit < 1 ? 1 : limit > HR_MAX_API_PAGE ? HR_MAX_API_PAGE : limit;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* An attempt's request headers as stored (a JSON array, masked when it
 * was recorded); null when none were kept or the text does not parse. */
static json_t *headers_json(const char *text)
{
    json_t *j = text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_array(j)) {
        json_decref(j);
        return json_null();
    }
    return j;
}

static json_t *time_or_null(int64_t ms)
{
    char buf[HR_TIME_STR_MAX];
    if (ms <= 0)
        return json_null();
    return json_string(hr_time_format(ms, buf, sizeof(buf)));
}

static json_t *int_or_null(int64_t v)
{
    return v == HR_ROW_NULL ? json_null() : json_integer((json_int_t)v);
}

static int damaged_doc(const hr_event_row *e, hr_error *err)
{
    return hr_error_set(err, HR_ESTORE,
                        "store: event %lld's stored document cannot be read; the database may "
                        "be damaged (restore it from a backup)",
                        (long long)e->id);
}

/* Builds {"id", ...doc..., "transition"} from an event row. */
static int event_json(const hr_event_row *e, json_t **out, hr_error *err)
{
    json_error_t jerr;
    json_t *doc = e->doc != NULL ? json_loadb(e->doc, e->doc_len, 0, &jerr) : NULL;
    json_t *o;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return damaged_doc(e, err);
    }
    o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)e->id));
    json_object_update(o, doc);
    json_decref(doc);
    json_object_set_new(o, "transition", str_or_null(e->transition));
    *out = o;
    return HR_OK;
}

/* The event as event_json makes it, without "raw", as json_dumps
 * (JSON_COMPACT) writes that tree, spliced from the stored document's
 * bytes instead: "id" first, the document's members as stored (written
 * as jansson dumps them: event/doc.c), "transition" last (left out, as
 * event_json leaves it, when it is not UTF-8). New; *len its length.
 * The document is spliced as stored, not parsed: herald wrote it (or
 * derived it from raw as the row was read), so only its outer braces are
 * checked, as a damaged row's first sign. */
static int event_body(const hr_event_row *e, char **out, size_t *len, hr_error *err)
{
    hr_jw w;
    hr_jw_mark m;

    if (e->doc == NULL || e->doc_len < 2 || e->doc[0] != '{' || e->doc[e->doc_len - 1] != '}')
        return damaged_doc(e, err);

    hr_jw_init(&w, SIZE_MAX);
    hr_jw_object(&w);
    hr_jw_key(&w, "id");
    hr_jw_int(&w, e->id);
    hr_jw_members(&w, e->doc + 1, e->doc_len - 2);
    m = hr_jw_at(&w);
    hr_jw_key(&w, "transition");
    if (e->transition == NULL)
        hr_jw_null(&w);
    else if (hr_jw_string(&w, e->transition, strlen(e->transition)) != HR_OK)
        hr_jw_undo(&w, m);
    hr_jw_end_object(&w);
    *out = hr_jw_take(&w, len);
    return HR_OK;
}

/* Makes one JSON value of row i of r. */
typedef int (*to_json_fn)(const hr_rows *r, size_t i, json_t **out, hr_error *err);

/* Row i's id, for paging: every paged row type starts with its id. */
static int64_t row_id(const hr_rows *r, size_t i)
{
    return *(const int64_t *)hr_rows_at(r, i);
}

/* A new array of the first limit rows of r (all when limit is 0); *next is
 * the last id listed when r holds a further row, else 0. Frees r. */
static int rows_json(hr_rows *r, int ret, size_t limit, to_json_fn fn, json_t **out, int64_t *next,
                     hr_error *err)
{
    json_t *arr = json_array();
    size_t n = limit > 0 && r->n > limit ? limit : r->n;

    for (size_t i = 0; i < n && ret == HR_OK; i++) {
        json_t *one = NULL;
        ret = fn(r, i, &one, err);
        if (ret == HR_OK)
            json_array_append_new(arr, one);
    }
    if (ret == HR_OK) {
        if (next != NULL)
            *next = n < r->n && n > 0 ? row_id(r, n - 1) : 0;
        *out = arr;
        arr = NULL;
    }
    json_decref(arr);
    hr_rows_free(r);
    return ret;
}

/* ---- Events, stages, jobs, settings ------------------------------------- */

static int event_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    return event_json(hr_rows_at(r, i), out, err);
}

int hr_store_list_events(hr_store *s, const hr_event_query *q, json_t **out, int64_t *next,
                         hr_error *err)
{
    size_t limit = clamp_page(q->limit);
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_event_row));
    return rows_json(&r, eng->list_events(db, q, limit, &r, err), limit, event_to_json, out, next,
                     err);
}

int hr_store_get_event(hr_store *s, int64_t id, json_t **out, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    json_t *ev = NULL, *raw = NULL;
    hr_rows r;
    int ret;

    hr_rows_init(&r, sizeof(hr_event_row));
    ret = eng->get_event(db, id, &r, err);
    if (ret == HR_OK && r.n == 0)
        ret = hr_error_set(err, HR_ENOTFOUND, "no event with id %lld", (long long)id);
    if (ret == HR_OK)
        ret = event_json(hr_rows_at(&r, 0), &ev, err);
    if (ret == HR_OK) {
        const hr_event_row *e = hr_rows_at(&r, 0);
        /* The raw body was valid UTF-8 JSON when it came in; a body that
         * is not (stored by an older or foreign writer) shows as null. */
        if (e->raw != NULL)
            raw = json_stringn(e->raw, e->raw_len);
        *out = json_pack("{s:o,s:o}", "event", ev, "raw", raw != NULL ? raw : json_null());
    }
    hr_rows_free(&r);
    return ret;
}

static int stage_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_stage_row *st = hr_rows_at(r, i);
    json_t *o = json_object();
    json_object_set_new(o, "pipeline", str_or_null(st->pipeline));
    json_object_set_new(o, "stage", str_or_null(st->stage));
    json_object_set_new(o, "last_result", str_or_null(st->last_result));
    json_object_set_new(o, "last_state", str_or_null(st->last_state));
    json_object_set_new(o, "last_counter", str_or_null(st->last_counter));
    json_object_set_new(o, "last_event_id", int_or_null(st->last_event_id));
    json_object_set_new(o, "updated_at", time_or_null(st->updated_at));
    *out = o;
    return HR_OK;
}

/* A page of a list by key: the engine's rows (up to limit + 1) into a new
 * array of at most limit; *more says whether the extra row came. */
static int key_page(hr_rows *r, int ret, size_t limit, to_json_fn fn, json_t **out, int *more,
                    hr_error *err)
{
    *more = ret == HR_OK && r->n > limit;
    return rows_json(r, ret, limit, fn, out, NULL, err);
}

int hr_store_list_stages(hr_store *s, const hr_key_query *q, json_t **out, int *more, hr_error *err)
{
    size_t limit = clamp_page(q->limit);
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_stage_row));
    return key_page(&r, eng->list_stages(db, q, limit, &r, err), limit, stage_to_json, out, more,
                    err);
}

static int job_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_job_row *j = hr_rows_at(r, i);
    json_t *o = json_object();
    json_object_set_new(o, "source", str_or_null(j->source));
    json_object_set_new(o, "job", str_or_null(j->job));
    json_object_set_new(o, "branch",
                        j->branch != NULL && *j->branch ? json_string(j->branch) : json_null());
    json_object_set_new(o, "last_result", str_or_null(j->last_result));
    json_object_set_new(o, "last_number", int_or_null(j->last_number));
    json_object_set_new(o, "last_phase", str_or_null(j->last_phase));
    json_object_set_new(o, "last_status", str_or_null(j->last_status));
    json_object_set_new(o, "last_event_id", int_or_null(j->last_event_id));
    json_object_set_new(o, "updated_at", time_or_null(j->updated_at));
    *out = o;
    return HR_OK;
}

int hr_store_list_jobs(hr_store *s, const hr_key_query *q, json_t **out, int *more, hr_error *err)
{
    size_t limit = clamp_page(q->limit);
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_job_row));
    return key_page(&r, eng->list_jobs(db, q, limit, &r, err), limit, job_to_json, out, more, err);
}

int hr_store_get_settings(hr_store *s, json_t **out, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    int ret;

    hr_rows_init(&r, sizeof(hr_setting_row));
    ret = eng->get_settings(db, &r, err);
    if (ret == HR_OK) {
        json_t *obj = json_object();
        for (size_t i = 0; i < r.n; i++) {
            const hr_setting_row *kv = hr_rows_at(&r, i);
            json_object_set_new(obj, kv->key, json_stringn(kv->value, kv->value_len));
        }
        *out = obj;
    }
    hr_rows_free(&r);
    return ret;
}

/* ---- Deliveries --------------------------------------------------------- */

/* A service's reference as stored (a JSON object), or null. */
static json_t *ref_or_null(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_null();
}

static int delivery_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_delivery_row *d = hr_rows_at(r, i);
    json_t *o = json_object(), *log = json_array();
    int due =
        d->state != NULL && (strcmp(d->state, "pending") == 0 || strcmp(d->state, "retrying") == 0);

    json_object_set_new(o, "id", json_integer((json_int_t)d->id));
    json_object_set_new(o, "event_id", json_integer((json_int_t)d->event_id));
    json_object_set_new(o, "route", str_or_null(d->route));
    json_object_set_new(o, "target", str_or_null(d->target));
    json_object_set_new(o, "state", str_or_null(d->state));
    json_object_set_new(o, "attempts", json_integer(d->attempts));
    json_object_set_new(o, "next_attempt_at", due ? time_or_null(d->next_at) : json_null());
    json_object_set_new(o, "created_at", time_or_null(d->created_at));
    json_object_set_new(o, "updated_at", time_or_null(d->updated_at));
    json_object_set_new(o, "last_status", int_or_null(d->last_status));
    json_object_set_new(o, "last_error", str_or_null(d->last_error));
    json_object_set_new(o, "run", str_or_null(d->run_key));
    json_object_set_new(o, "service_ref", ref_or_null(d->service_ref));
    /* Ordered delivery: the key, and how many older deliveries with it
     * wait before this one (null unless it waits itself). */
    json_object_set_new(o, "order_key", str_or_null(d->order_key));
    json_object_set_new(o, "queue_position", int_or_null(d->queue_position));
    /* What it reports on, when its target reports the event on several
     * things (one commit of a GoCD stage's changed git materials). */
    json_object_set_new(o, "subject", str_or_null(d->subject));
    for (size_t k = 0; k < d->nlog; k++) {
        const hr_attempt_row *a = &d->log[k];
        json_t *j = json_object();
        json_object_set_new(j, "attempt", json_integer(a->attempt));
        json_object_set_new(j, "started_at", time_or_null(a->started_at));
        json_object_set_new(j, "latency_ms", json_integer((json_int_t)a->latency_ms));
        json_object_set_new(j, "status", int_or_null(a->status));
        json_object_set_new(j, "outcome", str_or_null(a->outcome));
        json_object_set_new(j, "error", str_or_null(a->error));
        json_object_set_new(j, "excerpt", str_or_null(a->excerpt));
        json_object_set_new(j, "request_headers", headers_json(a->request_headers));
        json_array_append_new(log, j);
    }
    json_object_set_new(o, "attempt_log", log);
    (void)err;
    *out = o;
    return HR_OK;
}

int hr_store_list_deliveries(hr_store *s, const hr_delivery_query *q, json_t **out, int64_t *next,
                             hr_error *err)
{
    size_t limit = clamp_page(q->limit);
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_delivery_row));
    return rows_json(&r, eng->list_deliveries(db, q, 0, limit, &r, err), limit, delivery_to_json,
                     out, next, err);
}

int hr_store_get_delivery(hr_store *s, int64_t id, json_t **out, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    int ret;

    hr_rows_init(&r, sizeof(hr_delivery_row));
    ret = eng->list_deliveries(db, NULL, id, 1, &r, err);
    if (ret == HR_OK && r.n == 0)
        ret = hr_error_set(err, HR_ENOTFOUND, "no delivery with id %lld", (long long)id);
    if (ret == HR_OK)
        ret = delivery_to_json(&r, 0, out, err);
    hr_rows_free(&r);
    return ret;
}

static int target_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_target_row *t = hr_rows_at(r, i);
    json_t *o = json_object();
    json_object_set_new(o, "target", str_or_null(t->target));
    json_object_set_new(o, "pending", json_integer((json_int_t)t->pending));
    json_object_set_new(o, "retrying", json_integer((json_int_t)t->retrying));
    json_object_set_new(o, "dead", json_integer((json_int_t)t->dead));
    json_object_set_new(o, "delivered", json_integer((json_int_t)t->delivered));
    json_object_set_new(o, "last_error", str_or_null(t->last_error));
    *out = o;
    return HR_OK;
}

int hr_store_target_health(hr_store *s, int64_t since, json_t **out, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_target_row));
    return rows_json(&r, eng->target_health(db, since, &r, err), 0, target_to_json, out, NULL, err);
}

/* The event as jq sees it: the stored event plus "raw", the raw body parsed
 * (null when it is not JSON). */
int hr_store_unclaim(hr_store *s, int64_t id, int64_t claim_token, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    return eng->unclaim != NULL ? eng->unclaim(db, id, claim_token, err) : HR_OK;
}

int hr_store_claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                       hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_delivery_job *out = NULL;
    size_t count = 0;
    hr_rows r;
    int ret;

    *jobs = NULL;
    *n = 0;
    if (q->max == 0)
        return HR_OK;
    hr_rows_init(&r, sizeof(hr_claim_row));
    ret = eng->claim(db, q, &r, err);
    if (ret == HR_OK && r.n > 0)
        out = hr_calloc(r.n, sizeof(*out));
    for (size_t i = 0; i < r.n && ret == HR_OK; i++) {
        const hr_claim_row *c = hr_rows_at(&r, i);
        hr_delivery_job *j = &out[count];
        if (q->no_raw) {
            ret = event_body(&c->event, &j->body, &j->body_len, err);
        } else {
            ret = event_json(&c->event, &j->input, err);
            if (ret == HR_OK) {
                json_t *raw = c->event.raw != NULL ? json_loadb(c->event.raw, c->event.raw_len,
                                                                JSON_DECODE_ANY, NULL)
                                                   : NULL;
                json_object_set_new(j->input, "raw", raw != NULL ? raw : json_null());
            }
        }
        if (ret != HR_OK)
            break;
        j->kind = hr_strdup(c->event.kind != NULL ? c->event.kind : "");
        j->id = c->id;
        j->event_id = c->event_id;
        j->target = hr_strdup(c->target);
        j->attempt = c->attempts + 1;
        j->claim_token = c->claim_token;
        j->run_key = hr_strdup(c->run_key);
        j->run_ref = ref_or_null(c->run_ref);
        if (json_is_null(j->run_ref)) {
            json_decref(j->run_ref);
            j->run_ref = NULL;
        }
        j->order_key = c->order_key != NULL ? hr_strdup(c->order_key) : NULL;
        j->superseded_by = c->superseded_by;
        j->subject = hr_strdup(c->subject);
        count++;
    }
    hr_rows_free(&r);
    if (ret != HR_OK) {
        for (size_t i = 0; i < count; i++)
            hr_delivery_job_clear(&out[i]);
        free(out);
        return ret;
    }
    *jobs = out;
    *n = count;
    return HR_OK;
}

/* ---- Packages ----------------------------------------------------------- */

json_t *hr_store_revision_doc(const hr_package_rev *p)
{
    json_t *o = json_object();
    char when[HR_TIME_STR_MAX];

    json_object_set_new(o, "repository", json_string(p->repository));
    json_object_set_new(o, "package", json_string(p->package));
    json_object_set_new(o, "revision", json_string(p->revision));
    json_object_set_new(o, "timestamp",
                        json_string(hr_time_format(p->timestamp, when, sizeof(when))));
    json_object_set_new(o, "user", str_or_null(p->user));
    json_object_set_new(o, "revisionComment", str_or_null(p->comment));
    json_object_set_new(o, "trackbackUrl", str_or_null(p->trackback_url));
    json_object_set_new(o, "data", p->data ? json_deep_copy(p->data) : json_object());
    return o;
}

static int revision_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_revision_row *v = hr_rows_at(r, i);
    json_error_t jerr;
    json_t *o = json_loads(v->doc != NULL ? v->doc : "", 0, &jerr);

    if (!json_is_object(o)) {
        json_decref(o);
        return hr_error_set(err, HR_ESTORE, "store: revision %lld is damaged: %s", (long long)v->id,
                            jerr.text);
    }
    json_object_set_new(o, "published_at", time_or_null(v->published_at));
    json_object_set_new(o, "event_id", int_or_null(v->event_id));
    *out = o;
    return HR_OK;
}

int hr_store_list_revisions(hr_store *s, const char *repository, const char *package,
                            int64_t before_id, size_t limit, json_t **out, int64_t *next,
                            hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;

    limit = clamp_page(limit);
    hr_rows_init(&r, sizeof(hr_revision_row));
    return rows_json(&r, eng->list_revisions(db, repository, package, before_id, limit, &r, err),
                     limit, revision_to_json, out, next, err);
}

int hr_store_latest_revision(hr_store *s, const char *repository, const char *package, json_t **out,
                             hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    json_t *rev = NULL;
    hr_rows r;
    int ret;

    hr_rows_init(&r, sizeof(hr_revision_row));
    ret = eng->list_revisions(db, repository, package, 0, 1, &r, err);
    if (ret == HR_OK && r.n > 0)
        ret = revision_to_json(&r, 0, &rev, err);
    if (ret == HR_OK)
        *out = rev;
    hr_rows_free(&r);
    return ret;
}

static int package_to_json(const hr_rows *r, size_t i, json_t **out, hr_error *err)
{
    const hr_package_row *p = hr_rows_at(r, i);
    json_t *o = json_object();
    json_object_set_new(o, "repository", str_or_null(p->repository));
    json_object_set_new(o, "package", str_or_null(p->package));
    json_object_set_new(o, "created_at", time_or_null(p->created_at));
    json_object_set_new(o, "revisions", json_integer((json_int_t)p->revisions));
    json_object_set_new(o, "latest", str_or_null(p->latest));
    json_object_set_new(o, "latest_published_at", time_or_null(p->latest_published_at));
    *out = o;
    return HR_OK;
}

/* Every package at once, for GoCD's package repository: at most 10,000,
 * as before paging. */
int hr_store_list_packages(hr_store *s, const char *repository, json_t **out, hr_error *err)
{
    hr_key_query q = {.repository = repository};
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_package_row));
    return rows_json(&r, eng->list_packages(db, &q, 10000, &r, err), 0, package_to_json, out, NULL,
                     err);
}

int hr_store_page_packages(hr_store *s, const hr_key_query *q, json_t **out, int *more,
                           hr_error *err)
{
    size_t limit = clamp_page(q->limit);
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    hr_rows_init(&r, sizeof(hr_package_row));
    return key_page(&r, eng->list_packages(db, q, limit, &r, err), limit, package_to_json, out,
                    more, err);
}
