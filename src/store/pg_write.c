/*
 * pg_write.c - the PostgreSQL engine's writer statements and its prune
 * chunk. Each runs on the writer's connection inside its open transaction,
 * most of them as statements prepared once per connection (pg_schema.c). Writer
 * thread only.
 */
#include "store/pg.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "store"

/* ---- The writer's statements -------------------------------------------- */

int hr_pg__find_request(void *db, const char *request_id, const unsigned char digest[32],
                        hr_request_hit *hit, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGresult *res;
    int ret;

    hr_pg__str(&p, request_id);
    ret = hr_pg__wexec(g, "request_get", NULL, &p, &res, "look up the request id", err);
    if (ret != HR_OK)
        return ret;
    if (PQntuples(res) > 0) {
        size_t n = 0;
        unsigned char *stored = NULL;
        if (!PQgetisnull(res, 0, 2))
            stored = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 2), &n);
        hit->found = 1;
        hit->id = hr_pg__col_int(res, 0, 0);
        hit->transition =
            hr_transition_from_name(PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1));
        hit->same_digest = PQgetisnull(res, 0, 2) ||
                           (stored != NULL && n == 32 && memcmp(stored, digest, 32) == 0);
        PQfreemem(stored);
    }
    PQclear(res);
    return HR_OK;
}

int hr_pg__find_revision(void *db, const hr_package_rev *pk, const char *raw, size_t raw_len,
                         hr_revision_hit *hit, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGresult *res;
    int ret;

    hr_pg__str(&p, pk->repository);
    hr_pg__str(&p, pk->package);
    hr_pg__str(&p, pk->revision);
    ret = hr_pg__wexec(g, "revision_get", NULL, &p, &res, "look up the revision", err);
    if (ret != HR_OK)
        return ret;
    if (PQntuples(res) > 0) {
        size_t n = 0;
        unsigned char *stored = NULL;
        if (!PQgetisnull(res, 0, 1))
            stored = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1), &n);
        hit->found = 1;
        hit->same_body = n == raw_len && (n == 0 || memcmp(stored, raw, n) == 0);
        hit->event_id = hr_pg__col_int(res, 0, 0);
        hit->timestamp = hr_pg__col_int(res, 0, 2);
        hit->published_at = hr_pg__col_int(res, 0, 3);
        PQfreemem(stored);
    }
    PQclear(res);
    return HR_OK;
}

/*
 * The stage's history row is created if needed, locked and read by one
 * upsert. A pipelined transaction took its stages' rows at its start
 * (pg_batch.c) and knows what its own statements left there, so it does
 * not ask again.
 */
int hr_pg__stage_last_result(void *db, const char *pipeline, const char *stage, char **prev,
                             hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    const hr_pg_held *h = hr_pg__held_stage(g, pipeline, stage);
    PGresult *res;
    int ret;

    *prev = NULL;
    if (h != NULL) {
        *prev = hr_strdup(h->last_result);
        return HR_OK;
    }
    hr_pg__str(&p, pipeline);
    hr_pg__str(&p, stage);
    ret = hr_pg__wexec(g, "stage_lock", NULL, &p, &res, "read the stage's last result", err);
    if (ret != HR_OK)
        return ret;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        *prev = hr_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    hr_pg__hold_stage(g, pipeline, stage, *prev);
    return HR_OK;
}

int hr_pg__job_history(void *db, const char *source, const char *job, const char *branch,
                       hr_job_history *h, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    const hr_pg_held *held = hr_pg__held_job(g, source, job, branch);
    PGresult *res;
    int ret;

    if (held != NULL) { /* taken at the batch's start (pg_batch.c) */
        h->last_result = hr_strdup(held->last_result);
        h->last_number = held->last_number;
        h->prev_result = hr_strdup(held->prev_result);
        return HR_OK;
    }
    hr_pg__str(&p, source);
    hr_pg__str(&p, job);
    hr_pg__str(&p, branch);
    /* Created if needed, locked and read by one upsert. */
    ret = hr_pg__wexec(g, "job_lock", NULL, &p, &res, "read the job's last result", err);
    if (ret != HR_OK)
        return ret;
    if (PQntuples(res) > 0) {
        h->last_result = PQgetisnull(res, 0, 0) ? NULL : hr_strdup(PQgetvalue(res, 0, 0));
        h->last_number = PQgetisnull(res, 0, 1) ? 0 : hr_pg__col_int(res, 0, 1);
        h->prev_result = PQgetisnull(res, 0, 2) ? NULL : hr_strdup(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return HR_OK;
}

int hr_pg__insert_event(void *db, const hr_event_columns *c, int64_t *id, hr_error *err)
{
    hr_pg *g = db;
    const char *text[] = {c->source, c->kind,          c->version, c->pipeline, c->pipeline_counter,
                          c->stage,  c->stage_counter, c->state,   c->result,   c->transition};
    hr_pg_params p = {0};
    PGresult *res;
    int ret;

    hr_pg__int(&p, c->received_at);
    for (int i = 0; i < 10; i++)
        hr_pg__str(&p, text[i]);
    hr_pg__str(&p, c->doc);
    hr_pg__bin(&p, c->raw, c->raw_len);
    hr_pg__str(&p, c->request_id);
    hr_pg__int(&p, c->warnings);
    hr_pg__bin(&p, c->request_digest, c->request_digest != NULL ? 32 : 0);
    if (g->piped && g->ids_used < g->nids) { /* its id is known: one INSERT with the batch's */
        *id = g->ids[g->ids_used++];
        hr_pg__int(&p, *id);
        return hr_pg__buffer_event(g, &p, err);
    }
    ret = hr_pg__wexec(g, "event_insert", NULL, &p, &res, "save the event", err);
    if (ret == HR_OK) {
        *id = hr_pg__col_int(res, 0, 0);
        PQclear(res);
    }
    return ret;
}

/* Replaces *dst with a copy of src. */
static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = hr_strdup(src);
}

int hr_pg__save_stage(void *db, const hr_event *ev, const char *last_result, int64_t event_id,
                      hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    hr_pg_held *h = hr_pg__held_stage(g, ev->pipeline_name, ev->stage_name);

    if (h != NULL) { /* written once, before COMMIT (pg_batch.c) */
        if (last_result != NULL)
            set_str(&h->last_result, last_result);
        set_str(&h->state, ev->stage_state);
        set_str(&h->counter, ev->pipeline_counter);
        h->event_id = event_id;
        h->updated_at = ev->received_at;
        h->dirty = 1;
        return HR_OK;
    }
    hr_pg__str(&p, ev->pipeline_name);
    hr_pg__str(&p, ev->stage_name);
    hr_pg__str(&p, last_result);
    hr_pg__str(&p, ev->stage_state);
    hr_pg__str(&p, ev->pipeline_counter);
    hr_pg__int(&p, event_id);
    hr_pg__int(&p, ev->received_at);
    return hr_pg__wsend(g, "stage_upsert", NULL, &p, "update the stage's state", err);
}

int hr_pg__save_job(void *db, const hr_event *ev, const char *branch, const hr_job_history *h,
                    int64_t event_id, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    hr_pg_held *held = hr_pg__held_job(g, ev->source, ev->build.job_name, branch);

    if (held != NULL) { /* written once, before COMMIT (pg_batch.c) */
        set_str(&held->last_result, h->last_result);
        held->last_number = h->last_result != NULL ? h->last_number : 0;
        set_str(&held->prev_result, h->prev_result);
        set_str(&held->state, ev->build.phase);
        set_str(&held->counter, ev->build.status);
        held->event_id = event_id;
        held->updated_at = ev->received_at;
        held->dirty = 1;
        return HR_OK;
    }
    hr_pg__str(&p, ev->source);
    hr_pg__str(&p, ev->build.job_name);
    hr_pg__str(&p, branch);
    hr_pg__str(&p, h->last_result);
    if (h->last_result != NULL)
        hr_pg__int(&p, h->last_number);
    else
        hr_pg__str(&p, NULL);
    hr_pg__str(&p, h->prev_result);
    hr_pg__str(&p, ev->build.phase);
    hr_pg__str(&p, ev->build.status);
    hr_pg__int(&p, event_id);
    hr_pg__int(&p, ev->received_at);
    return hr_pg__wsend(g, "job_upsert", NULL, &p, "update the job's state", err);
}

int hr_pg__save_revision(void *db, const hr_event *ev, const char *doc, int64_t event_id,
                         hr_error *err)
{
    hr_pg *g = db;
    const hr_package_rev *pk = &ev->package;
    hr_pg_params p = {0}, q = {0};
    int ret;

    hr_pg__str(&p, pk->repository);
    hr_pg__str(&p, pk->package);
    hr_pg__int(&p, ev->received_at);
    ret = hr_pg__wsend(g, "package_upsert", NULL, &p, "record the package", err);
    if (ret != HR_OK)
        return ret;
    hr_pg__str(&q, pk->repository);
    hr_pg__str(&q, pk->package);
    hr_pg__str(&q, pk->revision);
    hr_pg__int(&q, pk->timestamp);
    hr_pg__int(&q, ev->received_at);
    hr_pg__int(&q, event_id);
    hr_pg__str(&q, doc); /* the body is the event's (events.raw) */
    return hr_pg__wsend(g, "revision_insert", NULL, &q, "save the revision", err);
}

int hr_pg__insert_delivery(void *db, int64_t event_id, const hr_store_route *r, const char *run_key,
                           int64_t now, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0}, k = {0}, u = {0};
    PGresult *res = NULL;
    int64_t id;
    int ret;

    if (r->order_key != NULL) {
        hr_pg__str(&k, r->target);
        hr_pg__str(&k, r->order_key);
        ret = hr_pg__wsend(g, "delivery_key_lock", NULL, &k, "lock the order key", err);
        if (ret != HR_OK)
            return ret;
    }
    if (g->piped && r->order_key == NULL) { /* one INSERT with the batch's others */
        hr_pg__int(&p, event_id);
        hr_pg__str(&p, r->route);
        hr_pg__str(&p, r->target);
        for (int i = 0; i < 3; i++) /* next_at, created_at, updated_at */
            hr_pg__int(&p, now);
        hr_pg__str(&p, run_key);
        hr_pg__str(&p, NULL);
        hr_pg__str(&p, "false");
        hr_pg__str(&p, r->subject);
        return hr_pg__buffer_delivery(g, &p, err);
    }
    hr_pg__int(&p, event_id);
    hr_pg__str(&p, r->route);
    hr_pg__str(&p, r->target);
    hr_pg__int(&p, now);
    hr_pg__str(&p, run_key);
    hr_pg__str(&p, r->order_key);
    hr_pg__str(&p, r->order_key != NULL && r->latest_wins ? "true" : "false");
    hr_pg__str(&p, r->subject);
    /* Its id is needed only to supersede the older ones of its key. */
    if (r->order_key == NULL || !r->latest_wins)
        return hr_pg__wsend(g, "delivery_insert", NULL, &p, "create a delivery", err);
    ret = hr_pg__wexec(g, "delivery_insert", NULL, &p, &res, "create a delivery", err);
    if (ret != HR_OK)
        return ret;
    id = hr_pg__col_int(res, 0, 0);
    PQclear(res);
    hr_pg__str(&u, r->target);
    hr_pg__str(&u, r->order_key);
    hr_pg__int(&u, id);
    hr_pg__int(&u, now);
    return hr_pg__wsend(g, "delivery_supersede_due", NULL, &u, "make superseded deliveries due",
                        err);
}

/* Records one attempt, only while its claim is the delivery's latest: an
 * attempt whose lease ran out (another instance claimed the delivery
 * since) is dropped, so it cannot overwrite a newer one. */
int hr_pg__save_attempt(void *db, const hr_attempt *a, int64_t now, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0}, q = {0};
    PGresult *res;
    int ret;

    if (a->outcome == HR_OUTCOME_SUPERSEDED) {
        hr_pg__int(&p, a->delivery_id);
        hr_pg__int(&p, now);
        hr_pg__str(&p, a->error);
        hr_pg__int(&p, a->claim_token);
        return hr_pg__wsend(g, "delivery_supersede", NULL, &p, "supersede the delivery", err);
    }
    hr_pg__int(&p, a->delivery_id);
    hr_pg__str(&p, hr_store__outcome_state(a->outcome));
    hr_pg__int(&p, a->attempt);
    hr_pg__int(&p, a->outcome == HR_OUTCOME_RETRY ? a->next_at : 0);
    hr_pg__int(&p, now);
    if (a->status > 0)
        hr_pg__int(&p, a->status);
    else
        hr_pg__str(&p, NULL);
    hr_pg__str(&p, a->error);
    hr_pg__int(&p, a->claim_token);
    hr_pg__str(&p, a->outcome == HR_OUTCOME_DELIVERED ? a->service_ref : NULL);
    ret = hr_pg__wexec(g, "delivery_update", NULL, &p, &res, "update the delivery", err);
    if (ret != HR_OK)
        return ret;
    if (strcmp(PQcmdTuples(res), "0") == 0) {
        PQclear(res);
        hr_log_info(SUB, "attempt %d of delivery %lld came after its lease: not recorded",
                    a->attempt, (long long)a->delivery_id);
        return HR_OK;
    }
    PQclear(res);
    if (a->outcome == HR_OUTCOME_DELIVERED && a->service_ref != NULL) {
        hr_pg_params m = {0};
        hr_pg__int(&m, a->delivery_id);
        hr_pg__str(&m, a->service_ref);
        hr_pg__int(&m, now);
        ret = hr_pg__wsend(g, "run_message_save", NULL, &m, "keep the run's message", err);
        if (ret != HR_OK)
            return ret;
    }
    hr_pg__int(&q, a->delivery_id);
    hr_pg__int(&q, a->attempt);
    hr_pg__int(&q, a->started_at);
    hr_pg__int(&q, a->latency_ms);
    if (a->status > 0)
        hr_pg__int(&q, a->status);
    else
        hr_pg__str(&q, NULL);
    hr_pg__str(&q, hr_store__outcome_name(a->outcome));
    hr_pg__str(&q, a->error);
    hr_pg__str(&q, a->excerpt);
    hr_pg__str(&q, a->request_headers);
    return hr_pg__wsend(g, "attempt_insert", NULL, &q, "record the attempt", err);
}

/* Makes the deliveries a reset names due now (retry, replay), drops
 * them, or counts them (dry run); NULL parameters match anything. */
int hr_pg__reset(void *db, const hr_delivery_reset *r, int64_t now, size_t *count, hr_error *err)
{
    static const char *const head[] = {
        "UPDATE deliveries SET state = 'pending', next_at = $1, updated_at = $1, lease_until = 0",
        "UPDATE deliveries SET state = 'dropped', next_at = 0, updated_at = $1, lease_until = 0",
        "SELECT count(*) FROM deliveries",
    };
    static const char *const where =
        " WHERE ($2::bigint IS NULL OR id = $2) AND ($3::text IS NULL OR target = $3)"
        " AND ($4::text IS NULL OR state = $4)"
        " AND ($5::bigint IS NULL OR created_at >= $5)"
        " AND ($6::bigint IS NULL OR created_at < $6)"
        " AND (NOT $7::boolean OR state IN ('pending', 'retrying', 'dead'))"
        " AND $1::bigint = $1::bigint";
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGresult *res;
    char sql[512];
    int ret;

    hr_pg__int(&p, now);
    if (r->id > 0)
        hr_pg__int(&p, r->id);
    else
        hr_pg__str(&p, NULL);
    hr_pg__str(&p, r->target);
    hr_pg__str(&p, r->state);
    if (r->since > 0)
        hr_pg__int(&p, r->since);
    else
        hr_pg__str(&p, NULL);
    if (r->until > 0)
        hr_pg__int(&p, r->until);
    else
        hr_pg__str(&p, NULL);
    hr_pg__str(&p, r->drop ? "true" : "false");
    snprintf(sql, sizeof(sql), "%s%s", head[r->dry_run ? 2 : r->drop ? 1 : 0], where);
    ret = hr_pg__wexec(g, NULL, sql, &p, &res, "reset deliveries", err);
    if (ret == HR_OK) {
        *count = (size_t)strtoull(r->dry_run ? PQgetvalue(res, 0, 0) : PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    return ret;
}

int hr_pg__save_settings(void *db, const json_t *settings, hr_error *err)
{
    hr_pg *g = db;
    int ret = hr_pg__wsend(g, NULL, "DELETE FROM settings", NULL, "clear the settings", err);
    for (void *i = json_object_iter((json_t *)settings); i != NULL && ret == HR_OK;
         i = json_object_iter_next((json_t *)settings, i)) {
        hr_pg_params p = {0};
        hr_pg__str(&p, json_object_iter_key(i));
        hr_pg__str(&p, json_string_value(json_object_iter_value(i)));
        ret = hr_pg__wsend(g, NULL, "INSERT INTO settings (key, value) VALUES ($1, $2)", &p,
                           "save the settings", err);
    }
    return ret;
}

/* ---- Retention ---------------------------------------------------------- */

/* Deletes, from the cursor on, attempts started before the cutoff: the run
 * of ids up to the first one too young, as one range. */
static int prune_attempts(hr_pg *g, hr_prune_chunk *c, hr_error *err)
{
    hr_pg_params p = {0}, q = {0};
    PGresult *res;
    int64_t hi = c->attempt_cursor;
    int rows, ret;

    hr_pg__int(&p, c->attempt_cursor);
    hr_pg__int(&p, HR_PRUNE_CHUNK_ATTEMPTS);
    ret =
        hr_pg__exec(g->w, "SELECT id, started_at FROM attempts WHERE id > $1 ORDER BY id LIMIT $2",
                    &p, &res, "look for old attempts", err);
    if (ret != HR_OK)
        return ret;
    rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        if (hr_pg__col_int(res, i, 1) >= c->attempts_before) {
            c->attempts_done = 1;
            break;
        }
        hi = hr_pg__col_int(res, i, 0);
    }
    if (rows < HR_PRUNE_CHUNK_ATTEMPTS)
        c->attempts_done = 1;
    PQclear(res);
    if (hi == c->attempt_cursor)
        return HR_OK;
    hr_pg__int(&q, c->attempt_cursor);
    hr_pg__int(&q, hi);
    ret = hr_pg__exec(g->w, "DELETE FROM attempts WHERE id > $1 AND id <= $2", &q, &res,
                      "delete old attempts", err);
    if (ret == HR_OK) {
        c->attempts += (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        c->attempt_cursor = hi;
        PQclear(res);
    }
    return ret;
}

/* Deletes the events in ids (a bigint[] literal) with their deliveries and
 * their attempts, and clears the history rows' last_event_id that named
 * them, once per chunk as the SQLite prune does (schema v12 says why no
 * foreign key does it here); counts them. */
static int prune_ids(hr_pg *g, hr_prune_chunk *c, const char *ids, hr_error *err)
{
    static const char *const sql[] = {
        "DELETE FROM attempts WHERE delivery_id IN"
        " (SELECT id FROM deliveries WHERE event_id = ANY($1::bigint[]))",
        "DELETE FROM deliveries WHERE event_id = ANY($1::bigint[])",
        "DELETE FROM events WHERE id = ANY($1::bigint[])",
        "UPDATE stage_state SET last_event_id = NULL WHERE last_event_id = ANY($1::bigint[])",
        "UPDATE job_state SET last_event_id = NULL WHERE last_event_id = ANY($1::bigint[])",
    };
    size_t none = 0;
    size_t *counts[] = {&c->attempts, &c->deliveries, &c->events, &none, &none};
    for (int i = 0; i < 5; i++) {
        hr_pg_params p = {0};
        PGresult *res;
        int ret;
        hr_pg__str(&p, ids);
        ret = hr_pg__exec(g->w, sql[i], &p, &res, "delete an old event", err);
        if (ret != HR_OK)
            return ret;
        *counts[i] += (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    return HR_OK;
}

/* Looks at up to HR_PRUNE_CHUNK_EVENTS events from the cursor on and
 * deletes those received before the cutoff that may go (store.h). */
static int prune_events(hr_pg *g, hr_prune_chunk *c, hr_error *err)
{
    hr_pg_params p = {0};
    PGresult *res;
    char *ids;
    size_t len = 0, cap = 4 + (size_t)HR_PRUNE_CHUNK_EVENTS * 21;
    int rows, n = 0, ret;

    hr_pg__int(&p, c->event_cursor);
    hr_pg__int(&p, HR_PRUNE_CHUNK_EVENTS);
    hr_pg__str(&p, HR_SOURCE_PACKAGE);
    hr_pg__str(&p, HR_KIND_PACKAGE_REVISION);
    ret = hr_pg__exec(g->w,
                      "SELECT e.id, e.received_at, (e.source = $3 AND e.kind = $4)"
                      " OR EXISTS (SELECT 1 FROM revisions r WHERE r.event_id = e.id)"
                      " OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id"
                      "   AND d.state IN ('pending', 'retrying'))"
                      " FROM events e WHERE e.id > $1 ORDER BY e.id LIMIT $2",
                      &p, &res, "look for old events", err);
    if (ret != HR_OK)
        return ret;
    ids = hr_malloc(cap);
    len += (size_t)snprintf(ids + len, cap - len, "{");
    rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        if (hr_pg__col_int(res, i, 1) >= c->events_before) {
            c->events_done = 1;
            break;
        }
        c->event_cursor = hr_pg__col_int(res, i, 0);
        if (strcmp(PQgetvalue(res, i, 2), "t") != 0)
            len += (size_t)snprintf(ids + len, cap - len, "%s%lld", n++ ? "," : "",
                                    (long long)c->event_cursor);
    }
    snprintf(ids + len, cap - len, "}");
    if (rows < HR_PRUNE_CHUNK_EVENTS)
        c->events_done = 1;
    PQclear(res);
    if (n > 0)
        ret = prune_ids(g, c, ids, err);
    free(ids);
    return ret;
}

int hr_pg__prune(void *db, hr_prune_chunk *c, hr_error *err)
{
    hr_pg *g = db;
    PGresult *res;
    int ret = HR_OK;
    if (!c->attempts_done)
        ret = prune_attempts(g, c, err);
    if (ret == HR_OK && !c->events_done) {
        ret = prune_events(g, c, err);
        if (ret == HR_OK && c->events_done) {
            hr_pg_params p = {0};
            hr_pg__int(&p, c->events_before);
            ret = hr_pg__exec(g->w, HR_STORE_PRUNE_RUN_MESSAGES("$1"), &p, NULL,
                              "forget old run messages", err);
        }
    }
    if (ret == HR_OK && hr_pg__exec(g->w, "SELECT pg_database_size(current_database())", NULL, &res,
                                    "measure the database", err) == HR_OK) {
        c->db_bytes = hr_pg__col_int(res, 0, 0);
        c->free_bytes = 0;
        PQclear(res);
    }
    return ret;
}
