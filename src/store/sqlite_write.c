/*
 * sqlite_write.c - the SQLite engine's writer statements: each binds its
 * values to a statement prepared once at open (hr_sqlite__writer_sql) and
 * runs it inside the writer's open transaction. Writer thread only.
 */
#include "store/sqlite.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define bind_str hr_sqlite__bind_str
#define run hr_sqlite__run
#define db_error hr_sqlite__error

const char *const hr_sqlite__writer_sql[NSTMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT item",
    [ST_RELEASE] = "RELEASE item",
    [ST_ROLLBACK_TO] = "ROLLBACK TO item",
    [ST_PREV_RESULT] = "SELECT last_result FROM stage_state WHERE pipeline = ?1 AND stage = ?2",
    [ST_INSERT_EVENT] = "INSERT INTO events (received_at, source, kind, version, pipeline,"
                        " pipeline_counter, stage, stage_counter, state, result, transition,"
                        " doc, raw, request_id, warnings, request_digest)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                        " ?15, ?16)",
    /* last_result changes only for a completed Passed or Failed (?3 is NULL
     * otherwise); everything else always follows the newest event. */
    [ST_UPSERT_STAGE] = "INSERT INTO stage_state (pipeline, stage, last_result, last_state,"
                        " last_counter, last_event_id, updated_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                        " ON CONFLICT (pipeline, stage) DO UPDATE SET"
                        " last_result = coalesce(excluded.last_result, stage_state.last_result),"
                        " last_state = excluded.last_state, last_counter = excluded.last_counter,"
                        " last_event_id = excluded.last_event_id,"
                        " updated_at = excluded.updated_at",
    [ST_CLEAR_SETTINGS] = "DELETE FROM settings",
    [ST_INSERT_SETTING] = "INSERT INTO settings (key, value) VALUES (?1, ?2)",
    [ST_INSERT_DELIVERY] = "INSERT INTO deliveries (event_id, route, target, state, next_at,"
                           " created_at, updated_at, run_key, order_key, latest_wins, subject)"
                           " VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4, ?5, ?6, ?7, ?8)",
    /* A retry is due at ?4, unless a newer delivery with its key waits
     * (latest_wins): then at once, for the claim to supersede it. */
    [ST_UPDATE_DELIVERY] =
        "UPDATE deliveries SET state = ?2, attempts = max(attempts, ?3),"
        " next_at = CASE WHEN ?2 = 'retrying' AND latest_wins AND EXISTS"
        "   (SELECT 1 FROM deliveries n WHERE n.target = deliveries.target"
        "   AND n.order_key = deliveries.order_key AND n.id > deliveries.id"
        "   AND n.state IN ('pending', 'retrying')) THEN ?5 ELSE ?4 END,"
        " updated_at = ?5, last_status = ?6, last_error = ?7,"
        " service_ref = coalesce(?8, service_ref) WHERE id = ?1 AND state <> 'dropped'",
    /* The run's first message stays the run's: a later answer (an edit, a
     * reply in its thread) only touches updated_at. */
    [ST_SAVE_RUN_MESSAGE] = "INSERT INTO run_messages (target, run_key, service_ref,"
                            " first_delivery_id, updated_at)"
                            " SELECT target, run_key, ?2, id, ?3 FROM deliveries"
                            " WHERE id = ?1 AND run_key IS NOT NULL"
                            " ON CONFLICT (target, run_key) DO UPDATE SET"
                            " updated_at = excluded.updated_at",
    /* A new delivery with latest_wins makes the older ones waiting with
     * its target and key due now, so the claim supersedes them now rather
     * than at their retry time (store.h). */
    [ST_SUPERSEDE_DUE] = "UPDATE deliveries SET next_at = ?4 WHERE target = ?1 AND order_key = ?2"
                         " AND id < ?3 AND order_key IS NOT NULL"
                         " AND state IN ('pending', 'retrying') AND next_at > ?4",
    /* Never sent: the state and why; attempts and the log stay as they were. */
    [ST_SUPERSEDE_DELIVERY] = "UPDATE deliveries SET state = 'superseded', next_at = 0,"
                              " updated_at = ?2, last_error = ?3 WHERE id = ?1"
                              " AND state IN ('pending', 'retrying')",
    [ST_INSERT_ATTEMPT] = "INSERT INTO attempts (delivery_id, attempt, started_at, latency_ms,"
                          " status, outcome, error, excerpt, request_headers)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_JOB_GET] = "SELECT last_result, last_number, prev_result FROM job_state"
                   " WHERE source = ?1 AND job = ?2 AND branch = ?3",
    /* ?4..?6 are the new last_result, last_number and prev_result, already
     * decided by the writer (they keep their values for a build that is
     * not a completed Passed or Failed). */
    [ST_JOB_UPSERT] = "INSERT INTO job_state (source, job, branch, last_result, last_number,"
                      " prev_result, last_phase, last_status, last_event_id, updated_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                      " ON CONFLICT (source, job, branch) DO UPDATE SET"
                      " last_result = excluded.last_result, last_number = excluded.last_number,"
                      " prev_result = excluded.prev_result, last_phase = excluded.last_phase,"
                      " last_status = excluded.last_status,"
                      " last_event_id = excluded.last_event_id, updated_at = excluded.updated_at",
    [ST_PACKAGE_UPSERT] = "INSERT INTO packages (repository, package, created_at)"
                          " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    [ST_REVISION_GET] = "SELECT event_id, raw, timestamp, published_at FROM revisions"
                        " WHERE repository = ?1 AND package = ?2 AND revision = ?3",
    [ST_REVISION_INSERT] =
        "INSERT INTO revisions (repository, package, revision, timestamp, published_at,"
        " event_id, doc, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_HEALTH_GET] = hr_sqlite__health_get_sql,
    [ST_HEALTH_PUT] = hr_sqlite__health_put_sql,
    [ST_REQUEST_GET] = "SELECT id, transition, request_digest FROM events WHERE request_id = ?1",
    /* Retention walks events and attempts in id order from a cursor, along
     * the rowid: received_at and started_at grow with the id, so the walk
     * stops at the first row young enough to keep, and no index on a time
     * column has to slow every insert down. */
    [ST_PRUNE_SCAN_ATTEMPTS] = "SELECT id, started_at FROM attempts WHERE id > ?1 ORDER BY id"
                               " LIMIT ?2",
    [ST_PRUNE_DEL_ATTEMPTS] = "DELETE FROM attempts WHERE id > ?1 AND id <= ?2",
    /* The third column says whether the event must stay: a package
     * revision, or a delivery not yet final. */
    [ST_PRUNE_SCAN_EVENTS] = "SELECT e.id, e.received_at,"
                             " (e.source = ?3 AND e.kind = ?4)"
                             " OR EXISTS (SELECT 1 FROM revisions r WHERE r.event_id = e.id)"
                             " OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id"
                             "   AND d.state IN ('pending', 'retrying'))"
                             " FROM events e WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
    [ST_PRUNE_DEL_EVENT_ATTEMPTS] = "DELETE FROM attempts WHERE delivery_id IN"
                                    " (SELECT id FROM deliveries WHERE event_id = ?1)",
    [ST_PRUNE_DEL_EVENT_DELIVERIES] = "DELETE FROM deliveries WHERE event_id = ?1",
    [ST_PRUNE_DEL_EVENT] = "DELETE FROM events WHERE id = ?1",
    /* A prune runs with foreign keys off (sqlite_begin says why), so it does
     * what ON DELETE SET NULL would: once per chunk, one walk of each
     * state table instead of one per deleted event. */
    [ST_PRUNE_NULL_STAGES] = "UPDATE stage_state SET last_event_id = NULL"
                             " WHERE last_event_id BETWEEN ?1 AND ?2"
                             " AND NOT EXISTS (SELECT 1 FROM events WHERE id = last_event_id)",
    [ST_PRUNE_NULL_JOBS] = "UPDATE job_state SET last_event_id = NULL"
                           " WHERE last_event_id BETWEEN ?1 AND ?2"
                           " AND NOT EXISTS (SELECT 1 FROM events WHERE id = last_event_id)",
    [ST_PRUNE_RUN_MESSAGES] = HR_STORE_PRUNE_RUN_MESSAGES("?1"),
    [ST_FK_OFF] = "PRAGMA foreign_keys = OFF",
    [ST_FK_ON] = "PRAGMA foreign_keys = ON",
};

int hr_sqlite__find_request(void *db, const char *request_id, const unsigned char digest[32],
                            hr_request_hit *hit, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_REQUEST_GET];
    int rc, ret = HR_OK;

    bind_str(st, 1, request_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, 2);
        int n = sqlite3_column_bytes(st, 2);
        hit->found = 1;
        hit->id = sqlite3_column_int64(st, 0);
        hit->transition = hr_transition_from_name((const char *)sqlite3_column_text(st, 1));
        /* Events stored before digests were kept have none: a repeat. */
        hit->same_digest = stored == NULL || (n == 32 && memcmp(stored, digest, 32) == 0);
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "look up the request id", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__find_revision(void *db, const hr_package_rev *p, const char *raw, size_t raw_len,
                             hr_revision_hit *hit, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_REVISION_GET];
    int rc, ret = HR_OK;

    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    bind_str(st, 3, p->revision);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        hit->found = 1;
        hit->same_body = len == raw_len && (len == 0 || memcmp(stored, raw, len) == 0);
        hit->event_id = sqlite3_column_int64(st, 0);
        hit->timestamp = sqlite3_column_int64(st, 2);
        hit->published_at = sqlite3_column_int64(st, 3);
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "look up the revision", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__stage_last_result(void *db, const char *pipeline, const char *stage, char **prev,
                                 hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_PREV_RESULT];
    int rc, ret = HR_OK;

    *prev = NULL;
    bind_str(st, 1, pipeline);
    bind_str(st, 2, stage);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *prev = hr_strdup((const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "read the stage's last result", err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__job_history(void *db, const char *source, const char *job, const char *branch,
                           hr_job_history *h, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_JOB_GET];
    int rc, ret = HR_OK;

    bind_str(st, 1, source);
    bind_str(st, 2, job);
    bind_str(st, 3, branch);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        h->last_result = hr_strdup((const char *)sqlite3_column_text(st, 0));
        h->last_number = sqlite3_column_int64(st, 1);
        h->prev_result = hr_strdup((const char *)sqlite3_column_text(st, 2));
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "read the job's last result", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__insert_event(void *db, const hr_event_columns *c, int64_t *id, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_INSERT_EVENT];
    const char *text[] = {c->source, c->kind,          c->version, c->pipeline, c->pipeline_counter,
                          c->stage,  c->stage_counter, c->state,   c->result,   c->transition};
    int ret;

    sqlite3_bind_int64(st, 1, c->received_at);
    for (int i = 0; i < 10; i++)
        bind_str(st, 2 + i, text[i]);
    sqlite3_bind_text(st, 12, c->doc, (int)c->doc_len, SQLITE_STATIC);
    if (c->raw != NULL)
        sqlite3_bind_blob(st, 13, c->raw, (int)c->raw_len, SQLITE_STATIC);
    bind_str(st, 14, c->request_id);
    sqlite3_bind_int64(st, 15, c->warnings);
    if (c->request_digest != NULL)
        sqlite3_bind_blob(st, 16, c->request_digest, 32, SQLITE_STATIC);
    ret = run(s->wdb, st, "save the event", err);
    if (ret == HR_OK)
        *id = sqlite3_last_insert_rowid(s->wdb);
    return ret;
}

int hr_sqlite__save_stage(void *db, const hr_event *ev, const char *last_result, int64_t event_id,
                          hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_UPSERT_STAGE];

    bind_str(st, 1, ev->pipeline_name);
    bind_str(st, 2, ev->stage_name);
    bind_str(st, 3, last_result);
    bind_str(st, 4, ev->stage_state);
    bind_str(st, 5, ev->pipeline_counter);
    sqlite3_bind_int64(st, 6, event_id);
    sqlite3_bind_int64(st, 7, ev->received_at);
    return run(s->wdb, st, "update the stage's state", err);
}

int hr_sqlite__save_job(void *db, const hr_event *ev, const char *branch, const hr_job_history *h,
                        int64_t event_id, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_JOB_UPSERT];

    bind_str(st, 1, ev->source);
    bind_str(st, 2, ev->build.job_name);
    bind_str(st, 3, branch);
    bind_str(st, 4, h->last_result);
    if (h->last_result != NULL)
        sqlite3_bind_int64(st, 5, h->last_number);
    bind_str(st, 6, h->prev_result);
    bind_str(st, 7, ev->build.phase);
    bind_str(st, 8, ev->build.status);
    sqlite3_bind_int64(st, 9, event_id);
    sqlite3_bind_int64(st, 10, ev->received_at);
    return run(s->wdb, st, "update the job's state", err);
}

int hr_sqlite__save_revision(void *db, const hr_event *ev, const char *doc, int64_t event_id,
                             hr_error *err)
{
    hr_sqlite *s = db;
    const hr_package_rev *p = &ev->package;
    sqlite3_stmt *st = s->st[ST_PACKAGE_UPSERT];
    int ret;

    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    sqlite3_bind_int64(st, 3, ev->received_at);
    ret = run(s->wdb, st, "record the package", err);
    if (ret != HR_OK)
        return ret;
    st = s->st[ST_REVISION_INSERT];
    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    bind_str(st, 3, p->revision);
    sqlite3_bind_int64(st, 4, p->timestamp);
    sqlite3_bind_int64(st, 5, ev->received_at);
    sqlite3_bind_int64(st, 6, event_id);
    bind_str(st, 7, doc);
    if (ev->raw != NULL)
        sqlite3_bind_blob(st, 8, ev->raw, (int)ev->raw_len, SQLITE_STATIC);
    return run(s->wdb, st, "save the revision", err);
}

int hr_sqlite__insert_delivery(void *db, int64_t event_id, const hr_store_route *r,
                               const char *run_key, int64_t now, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_INSERT_DELIVERY];
    int ret;

    sqlite3_bind_int64(st, 1, event_id);
    bind_str(st, 2, r->route);
    bind_str(st, 3, r->target);
    sqlite3_bind_int64(st, 4, now);
    bind_str(st, 5, run_key);
    bind_str(st, 6, r->order_key);
    sqlite3_bind_int(st, 7, r->order_key != NULL && r->latest_wins);
    bind_str(st, 8, r->subject);
    ret = run(s->wdb, st, "create a delivery", err);
    if (ret != HR_OK || r->order_key == NULL || !r->latest_wins)
        return ret;
    st = s->st[ST_SUPERSEDE_DUE];
    bind_str(st, 1, r->target);
    bind_str(st, 2, r->order_key);
    sqlite3_bind_int64(st, 3, sqlite3_last_insert_rowid(s->wdb));
    sqlite3_bind_int64(st, 4, now);
    return run(s->wdb, st, "make superseded deliveries due", err);
}

/* Records one attempt and moves its delivery to the attempt's state. */
int hr_sqlite__save_attempt(void *db, const hr_attempt *a, int64_t now, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_UPDATE_DELIVERY];
    int ret;

    if (a->outcome == HR_OUTCOME_SUPERSEDED) {
        st = s->st[ST_SUPERSEDE_DELIVERY];
        sqlite3_bind_int64(st, 1, a->delivery_id);
        sqlite3_bind_int64(st, 2, now);
        bind_str(st, 3, a->error);
        return run(s->wdb, st, "supersede the delivery", err);
    }
    sqlite3_bind_int64(st, 1, a->delivery_id);
    bind_str(st, 2, hr_store__outcome_state(a->outcome));
    sqlite3_bind_int(st, 3, a->attempt);
    sqlite3_bind_int64(st, 4, a->outcome == HR_OUTCOME_RETRY ? a->next_at : 0);
    sqlite3_bind_int64(st, 5, now);
    if (a->status > 0)
        sqlite3_bind_int(st, 6, a->status);
    bind_str(st, 7, a->error);
    bind_str(st, 8, a->outcome == HR_OUTCOME_DELIVERED ? a->service_ref : NULL);
    ret = run(s->wdb, st, "update the delivery", err);
    if (ret == HR_OK && a->outcome == HR_OUTCOME_DELIVERED && a->service_ref != NULL) {
        st = s->st[ST_SAVE_RUN_MESSAGE];
        sqlite3_bind_int64(st, 1, a->delivery_id);
        bind_str(st, 2, a->service_ref);
        sqlite3_bind_int64(st, 3, now);
        ret = run(s->wdb, st, "keep the run's message", err);
    }
    if (ret != HR_OK)
        return ret;
    st = s->st[ST_INSERT_ATTEMPT];
    sqlite3_bind_int64(st, 1, a->delivery_id);
    sqlite3_bind_int(st, 2, a->attempt);
    sqlite3_bind_int64(st, 3, a->started_at);
    sqlite3_bind_int64(st, 4, a->latency_ms);
    if (a->status > 0)
        sqlite3_bind_int(st, 5, a->status);
    bind_str(st, 6, hr_store__outcome_name(a->outcome));
    bind_str(st, 7, a->error);
    bind_str(st, 8, a->excerpt);
    bind_str(st, 9, a->request_headers);
    return run(s->wdb, st, "record the attempt", err);
}

/* Makes the deliveries a reset names due now (retry, replay), drops
 * them, or counts them (dry run). */
int hr_sqlite__reset(void *db, const hr_delivery_reset *r, int64_t now, size_t *count,
                     hr_error *err)
{
    hr_sqlite *s = db;
    char sql[320];
    size_t len;
    sqlite3_stmt *st = NULL;
    int rc, ret = HR_OK;

    /* Constant fragments only; every value is bound. */
    if (r->dry_run)
        len = (size_t)snprintf(sql, sizeof(sql), "SELECT count(*) FROM deliveries WHERE ?1 = ?1");
    else if (r->drop)
        len = (size_t)snprintf(sql, sizeof(sql),
                               "UPDATE deliveries SET state = 'dropped', next_at = 0,"
                               " updated_at = ?1 WHERE 1");
    else
        len = (size_t)snprintf(sql, sizeof(sql),
                               "UPDATE deliveries SET state = 'pending', next_at = ?1,"
                               " updated_at = ?1 WHERE 1");
    if (r->drop)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len,
                                " AND state IN ('pending', 'retrying', 'dead')");
    if (r->id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND id = ?2");
    if (r->target != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND target = ?3");
    if (r->state != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND state = ?6");
    if (r->since > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND created_at >= ?4");
    if (r->until > 0)
        snprintf(sql + len, sizeof(sql) - len, " AND created_at < ?5");
    rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s->wdb, rc, "reset deliveries", err);
    sqlite3_bind_int64(st, 1, now);
    if (r->id > 0)
        sqlite3_bind_int64(st, 2, r->id);
    if (r->target != NULL)
        bind_str(st, 3, r->target);
    if (r->since > 0)
        sqlite3_bind_int64(st, 4, r->since);
    if (r->until > 0)
        sqlite3_bind_int64(st, 5, r->until);
    if (r->state != NULL)
        bind_str(st, 6, r->state);
    rc = sqlite3_step(st);
    if (r->dry_run && rc == SQLITE_ROW)
        *count = (size_t)sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "reset deliveries", err);
    else
        *count = (size_t)sqlite3_changes(s->wdb);
    sqlite3_finalize(st);
    return ret;
}

/* Replaces every setting inside the open transaction. */
int hr_sqlite__save_settings(void *db, const json_t *settings, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_INSERT_SETTING];
    int ret = run(s->wdb, s->st[ST_CLEAR_SETTINGS], "clear the settings", err);

    for (void *i = json_object_iter((json_t *)settings); i != NULL && ret == HR_OK;
         i = json_object_iter_next((json_t *)settings, i)) {
        json_t *value = json_object_iter_value(i);
        bind_str(st, 1, json_object_iter_key(i));
        sqlite3_bind_text(st, 2, json_string_value(value), (int)json_string_length(value),
                          SQLITE_STATIC);
        ret = run(s->wdb, st, "save the settings", err);
    }
    return ret;
}

/* ---- Retention ---------------------------------------------------------- */

/* What may go (store.h, hr_prune_policy) is in the scan statements above;
 * how many chunks and which cutoffs, in store/retention.c. */

/* An integer PRAGMA's value, or -1 when it cannot be read. */
static int64_t pragma_int(hr_sqlite *s, const char *sql)
{
    char buf[32];
    hr_error ignored;
    if (hr_sqlite__exec1(s->wdb, sql, buf, sizeof(buf), "read a pragma", &ignored) != HR_OK)
        return -1;
    return strtoll(buf, NULL, 10);
}

/* Deletes, from the cursor on, attempts started before the cutoff: the
 * run of ids up to the first one too young, as one range. */
static int prune_attempts(hr_sqlite *s, hr_prune_chunk *p, hr_error *err)
{
    sqlite3_stmt *st = s->st[ST_PRUNE_SCAN_ATTEMPTS];
    int64_t hi = p->attempt_cursor;
    int rows = 0, rc, ret = HR_OK;

    sqlite3_bind_int64(st, 1, p->attempt_cursor);
    sqlite3_bind_int(st, 2, HR_PRUNE_CHUNK_ATTEMPTS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_int64(st, 1) >= p->attempts_before) {
            p->attempts_done = 1;
            break;
        }
        hi = sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "look for old attempts", err);
    else if (rows < HR_PRUNE_CHUNK_ATTEMPTS)
        p->attempts_done = 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (ret != HR_OK || hi == p->attempt_cursor)
        return ret;

    st = s->st[ST_PRUNE_DEL_ATTEMPTS];
    sqlite3_bind_int64(st, 1, p->attempt_cursor);
    sqlite3_bind_int64(st, 2, hi);
    ret = run(s->wdb, st, "delete old attempts", err);
    if (ret == HR_OK) {
        p->attempts += (size_t)sqlite3_changes(s->wdb);
        p->attempt_cursor = hi;
    }
    return ret;
}

/* Deletes one event with its deliveries and their attempts; counts them. */
static int prune_event(hr_sqlite *s, hr_prune_chunk *p, int64_t id, hr_error *err)
{
    static const int order[] = {ST_PRUNE_DEL_EVENT_ATTEMPTS, ST_PRUNE_DEL_EVENT_DELIVERIES,
                                ST_PRUNE_DEL_EVENT};
    size_t *counts[] = {&p->attempts, &p->deliveries, &p->events};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st = s->st[order[i]];
        int ret;
        sqlite3_bind_int64(st, 1, id);
        ret = run(s->wdb, st, "delete an old event", err);
        if (ret != HR_OK)
            return ret;
        *counts[i] += (size_t)sqlite3_changes(s->wdb);
    }
    return HR_OK;
}

/*
 * Looks at up to HR_PRUNE_CHUNK_EVENTS events from the cursor on and
 * deletes those received before the cutoff that may go. The walk stops at
 * the first event too young: events after it are younger still (but for
 * a clock stepped back, whose events wait for the ones before them).
 */
static int prune_events(hr_sqlite *s, hr_prune_chunk *p, hr_error *err)
{
    sqlite3_stmt *st = s->st[ST_PRUNE_SCAN_EVENTS];
    int64_t ids[HR_PRUNE_CHUNK_EVENTS];
    size_t n = 0;
    int rows = 0, rc, ret = HR_OK;

    sqlite3_bind_int64(st, 1, p->event_cursor);
    sqlite3_bind_int(st, 2, HR_PRUNE_CHUNK_EVENTS);
    bind_str(st, 3, HR_SOURCE_PACKAGE);
    bind_str(st, 4, HR_KIND_PACKAGE_REVISION);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_int64(st, 1) >= p->events_before) {
            p->events_done = 1;
            break;
        }
        p->event_cursor = sqlite3_column_int64(st, 0);
        if (!sqlite3_column_int(st, 2))
            ids[n++] = p->event_cursor;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "look for old events", err);
    else if (rows < HR_PRUNE_CHUNK_EVENTS)
        p->events_done = 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < n && ret == HR_OK; i++)
        ret = prune_event(s, p, ids[i], err);
    for (int k = ST_PRUNE_NULL_STAGES; k <= ST_PRUNE_NULL_JOBS && n > 0 && ret == HR_OK; k++) {
        sqlite3_bind_int64(s->st[k], 1, ids[0]);
        sqlite3_bind_int64(s->st[k], 2, ids[n - 1]);
        ret = run(s->wdb, s->st[k], "forget a deleted event", err);
    }
    return ret;
}

/*
 * One chunk of a prune, in a transaction of its own: old attempts first,
 * then old events. What a chunk holds the writer for, measured on a
 * virtual machine's disk (synchronous=FULL) over a database of 100,000
 * events of 3 KB, each with one delivered delivery and one attempt,
 * across 600 stages and 200 jobs: about 55 ms for 1,000 events and 5,000
 * attempts (200 ms for the first chunk, read from a cold cache); an
 * event waits for one chunk at most. With foreign keys on it was 300 ms.
 */
int hr_sqlite__prune(void *db, hr_prune_chunk *p, hr_error *err)
{
    hr_sqlite *s = db;
    int ret = HR_OK;
    if (!p->attempts_done)
        ret = prune_attempts(s, p, err);
    if (ret == HR_OK && !p->events_done) {
        ret = prune_events(s, p, err);
        if (ret == HR_OK && p->events_done) {
            sqlite3_bind_int64(s->st[ST_PRUNE_RUN_MESSAGES], 1, p->events_before);
            ret = run(s->wdb, s->st[ST_PRUNE_RUN_MESSAGES], "forget old run messages", err);
        }
    }
    if (ret == HR_OK) {
        int64_t size = pragma_int(s, "PRAGMA page_size");
        int64_t pages = pragma_int(s, "PRAGMA page_count");
        int64_t free_pages = pragma_int(s, "PRAGMA freelist_count");
        p->db_bytes = size > 0 && pages >= 0 ? size * pages : 0;
        p->free_bytes = size > 0 && free_pages >= 0 ? size * free_pages : 0;
    }
    return ret;
}
