/*
 * test_store_retention.c - retention: what a prune deletes and keeps, in
 * chunks, while events arrive, when asked to stop, and what it measures.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

/* ---- Retention ----------------------------------------------------------- */

#define DAY_MS (24 * 3600 * 1000LL)

/* Puts a stage event received days_ago days ago; returns its id. */
static int64_t put_old_stage(hr_store *s, const char *pipeline, const char *result, int days_ago)
{
    hr_event *ev = stage_ev(pipeline, "s", "1", result, result);
    int64_t id;
    ev->received_at = hr_time_now_ms() - days_ago * DAY_MS;
    put_ok(s, ev);
    id = ev->id;
    hr_event_free(ev);
    return id;
}

/* The deliveries of event_id to target, as the claim sees them: the id of
 * the one due now, or 0. */
static int64_t due_delivery(hr_store *s, int64_t event_id, const char *target)
{
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    int64_t id = 0;
    hr_error err;
    cr_assert_eq(claim_all(s, hr_time_now_ms(), 100, &jobs, &n, &err), HR_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].event_id == event_id && strcmp(jobs[i].target, target) == 0)
            id = jobs[i].id;
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    return id;
}

static int event_exists(hr_store *s, int64_t id)
{
    json_t *got = NULL;
    hr_error err;
    int rc = hr_store_get_event(s, id, &got, &err);
    json_decref(got);
    cr_assert(rc == HR_OK || rc == HR_ENOTFOUND, "%s", err.msg);
    return rc == HR_OK;
}

/* Counts the rows of a table, and checks every reference, from outside. */
static int64_t count_rows(const char *sql)
{
    if (on_pg())
        return pg_value(sql);
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t n;
    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void expect_references_whole(void)
{
    /* On PostgreSQL the foreign keys that remain are always on; a history
     * row's last event is not one (its schema v12), retention clears it. */
    if (on_pg()) {
        cr_expect_eq(
            pg_value("SELECT count(*) FROM stage_state s WHERE last_event_id IS NOT NULL"
                     " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = s.last_event_id)"),
            0, "a stage's history row names a deleted event");
        cr_expect_eq(
            pg_value("SELECT count(*) FROM job_state j WHERE last_event_id IS NOT NULL"
                     " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = j.last_event_id)"),
            0, "a job's history row names a deleted event");
        return;
    }
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *q;
    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &q, NULL), SQLITE_OK);
    cr_expect_eq(sqlite3_step(q), SQLITE_DONE, "a row refers to one that was deleted: %s",
                 (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static hr_prune_result prune(hr_store *s, int64_t events_ms, int64_t attempts_ms, size_t chunks)
{
    hr_prune_policy p = {.events_ms = events_ms, .attempts_ms = attempts_ms, .max_chunks = chunks};
    hr_prune_result res;
    hr_error err;
    cr_assert_eq(hr_store_prune(s, &p, &res, &err), HR_OK, "%s", err.msg);
    return res;
}

Test(store, prune_deletes_old_final_events_and_keeps_the_rest)
{
    static test_router r;
    int64_t now = hr_time_now_ms();
    json_t *got = NULL;
    hr_error err;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    /* Old: delivered (goes), dead (goes), one delivered and one retrying
     * (stays), pending (stays), no delivery at all (goes), a package
     * revision (stays). New: delivered (stays). */
    int64_t delivered = put_old_stage(st, "delivered", "Passed", 10);
    int64_t dead = put_old_stage(st, "dead", "Passed", 10);
    int64_t retrying = put_old_stage(st, "retrying", "Failed", 10);
    int64_t pending = put_old_stage(st, "pending", "Passed", 10);
    hr_event *agent = agent_ev("a-1", "Idle");
    agent->received_at = now - 10 * DAY_MS;
    put_ok(st, agent);
    hr_event *rev = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\"}");
    rev->received_at = now - 10 * DAY_MS;
    put_ok(st, rev);
    /* A CI build's event, old and without deliveries: its job's history
     * row loses its event id, as a stage's does. */
    hr_event *build = build_ev("nightly", NULL, 7, "completed", "Passed");
    build->received_at = now - 10 * DAY_MS;
    put_ok(st, build);
    int64_t young = put_old_stage(st, "young", "Passed", 0);

    record(st, due_delivery(st, delivered, "a"), 1, HR_OUTCOME_DELIVERED, now - 10 * DAY_MS);
    record(st, due_delivery(st, dead, "a"), 1, HR_OUTCOME_DEAD, now - 10 * DAY_MS);
    record(st, due_delivery(st, retrying, "a"), 1, HR_OUTCOME_DELIVERED, now - 10 * DAY_MS);
    record(st, due_delivery(st, retrying, "b"), 1, HR_OUTCOME_RETRY, now - 10 * DAY_MS);
    record(st, due_delivery(st, young, "a"), 1, HR_OUTCOME_DELIVERED, now);

    /* Attempts kept forever here: only whole events go. */
    hr_prune_result res = prune(st, 5 * DAY_MS, 0, 0);
    cr_expect_eq(res.events, 4, "delivered, dead, the agent event and the build");
    cr_expect_eq(res.deliveries, 2);
    cr_expect_eq(res.attempts, 2);
    cr_expect(res.done);
    cr_expect_gt(res.db_bytes, 0);
    cr_expect_geq(res.db_bytes, res.free_bytes);

    cr_expect_not(event_exists(st, delivered));
    cr_expect_not(event_exists(st, dead));
    cr_expect_not(event_exists(st, agent->id));
    cr_expect(event_exists(st, retrying), "a delivery still retrying keeps its event");
    cr_expect(event_exists(st, pending), "a pending delivery keeps its event");
    cr_expect(event_exists(st, rev->id), "package revisions are kept");
    cr_expect(event_exists(st, young));
    cr_expect_eq(count_rows("SELECT count(*) FROM deliveries"), 4);
    cr_expect_eq(count_rows("SELECT count(*) FROM attempts"), 3);
    cr_assert_eq(hr_store_latest_revision(st, "rel", "app", &got, &err), HR_OK);
    cr_assert_not_null(got, "the revision GoCD polls is still there");
    json_decref(got);
    expect_references_whole();

    /* The stages stay listed; one whose last event went has no event id. */
    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &got, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(got), 5);
    for (size_t i = 0; i < json_array_size(got); i++) {
        json_t *o = json_array_get(got, i);
        const char *p = json_string_value(json_object_get(o, "pipeline"));
        json_t *last = json_object_get(o, "last_event_id");
        if (strcmp(p, "delivered") == 0 || strcmp(p, "dead") == 0) {
            cr_expect(json_is_null(last), "%s", p);
            cr_expect_str_eq(json_string_value(json_object_get(o, "last_result")), "Passed");
        } else {
            cr_expect(json_is_integer(last), "%s", p);
        }
    }
    json_decref(got);
    cr_assert_eq(hr_store_list_jobs(st, &(hr_key_query){.limit = 500}, &got, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(got), 1);
    cr_expect(json_is_null(json_object_get(json_array_get(got, 0), "last_event_id")));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(got, 0), "last_result")),
                     "Passed");
    json_decref(got);

    /* The stage's history goes on: the next event's transition is known. */
    hr_transition tr;
    put_stage(st, "delivered", "s", "2", "Failed", "Failed", &tr);
    cr_expect_eq(tr, HR_TRANSITION_BROKEN);
    hr_event_free(agent);
    hr_event_free(build);
    hr_event_free(rev);
}

Test(store, prune_deletes_a_delivered_retry_and_old_attempts_alone)
{
    static test_router r;
    int64_t now = hr_time_now_ms();

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    int64_t ev = put_old_stage(st, "p", "Failed", 40);
    int64_t d = due_delivery(st, ev, "b");
    /* Three tries: two a month ago, the last today. */
    record(st, d, 1, HR_OUTCOME_RETRY, now - 40 * DAY_MS);
    record(st, d, 2, HR_OUTCOME_RETRY, now - 31 * DAY_MS);
    record(st, due_delivery(st, ev, "a"), 1, HR_OUTCOME_DELIVERED, now - 31 * DAY_MS);
    cr_expect_eq(count_rows("SELECT count(*) FROM attempts"), 3);

    /* The event stays (b retries), but attempts older than 30 days go. */
    hr_prune_result res = prune(st, 7 * DAY_MS, 30 * DAY_MS, 0);
    cr_expect_eq(res.events, 0);
    cr_expect_eq(res.attempts, 3);
    cr_expect(event_exists(st, ev));
    cr_expect_eq(count_rows("SELECT count(*) FROM deliveries"), 2,
                 "deliveries stay with the event");

    /* A young attempt stays; the delivery, now final, lets its event go. */
    hr_attempt a = {.delivery_id = d,
                    .claim_token = token_of(d),
                    .attempt = 3,
                    .started_at = now,
                    .latency_ms = 3,
                    .status = 200,
                    .outcome = HR_OUTCOME_DELIVERED};
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    res = prune(st, 0, 30 * DAY_MS, 0);
    cr_expect_eq(res.attempts, 0, "a young attempt stays");
    cr_expect_eq(res.events, 0, "events: forever");
    res = prune(st, 7 * DAY_MS, 30 * DAY_MS, 0);
    cr_expect_eq(res.events, 1);
    cr_expect_eq(res.deliveries, 2);
    cr_expect_eq(res.attempts, 1, "the young attempt goes with its event");
    cr_expect_not(event_exists(st, ev));
    expect_references_whole();
}

/* Many events in one transaction, all received long ago, as a backlog. */
static void put_backlog(hr_store *s, size_t n)
{
    tally_reset();
    hr_event **evs = hr_calloc(n, sizeof(*evs));
    for (size_t i = 0; i < n; i++) {
        hr_error err;
        evs[i] = agent_ev("backlog", "Idle");
        evs[i]->received_at = hr_time_now_ms() - 100 * DAY_MS;
        cr_assert_eq(hr_store_submit(s, evs[i], count_done, NULL, &err), HR_OK, "%s", err.msg);
    }
    tally_wait(n);
    for (size_t i = 0; i < n; i++)
        hr_event_free(evs[i]);
    free(evs);
}

Test(store, prune_works_in_chunks_across_calls)
{
    size_t n = 2 * HR_PRUNE_CHUNK_EVENTS + 500;

    st = open_store();
    put_backlog(st, n);
    int64_t young = put_old_stage(st, "young", "Passed", 0);

    hr_prune_result res = prune(st, DAY_MS, DAY_MS, 1);
    cr_expect_eq(res.chunks, 1);
    cr_expect_eq(res.events, HR_PRUNE_CHUNK_EVENTS, "one chunk deletes at most a chunk");
    cr_expect_not(res.done);
    res = prune(st, DAY_MS, DAY_MS, 1);
    cr_expect_eq(res.events, HR_PRUNE_CHUNK_EVENTS, "the next call starts where it left off");
    res = prune(st, DAY_MS, DAY_MS, 0);
    cr_expect_eq(res.events, 500);
    cr_expect(res.done);
    cr_expect_eq(res.chunks, 1);
    res = prune(st, DAY_MS, DAY_MS, 0);
    cr_expect_eq(res.events, 0, "nothing left");
    cr_expect(res.done);
    cr_expect(event_exists(st, young));
    cr_expect_eq(count_rows("SELECT count(*) FROM events"), 1);
}

Test(store, prune_in_one_call_and_while_events_arrive)
{
    size_t n = 3 * HR_PRUNE_CHUNK_EVENTS;

    st = open_store();
    put_backlog(st, n);
    hr_prune_result res = prune(st, DAY_MS, 0, 0);
    cr_expect_eq(res.events, n);
    cr_expect_eq(res.chunks, 4, "a fourth chunk finds the end");
    cr_expect(res.done);
    /* Events stored between chunks are young and stay. */
    put_backlog(st, 10);
    put_old_stage(st, "young", "Passed", 0);
    res = prune(st, DAY_MS, 0, 0);
    cr_expect_eq(res.events, 10);
    cr_expect_eq(count_rows("SELECT count(*) FROM events"), 1);
}

static int stop_now(void *ctx)
{
    (void)ctx;
    return 1;
}

Test(store, prune_stops_when_asked_and_when_draining)
{
    hr_prune_policy p = {.events_ms = DAY_MS, .stop = stop_now};
    hr_prune_result res;
    hr_error err;

    st = open_store();
    put_backlog(st, 2 * HR_PRUNE_CHUNK_EVENTS);
    cr_assert_eq(hr_store_prune(st, &p, &res, &err), HR_OK);
    cr_expect_eq(res.chunks, 1, "stop is asked between chunks");
    cr_expect_not(res.done);
    hr_store_drain(st);
    p.stop = NULL;
    cr_expect_eq(hr_store_prune(st, &p, &res, &err), HR_ECLOSED);
    cr_expect_eq(res.events, 0);
    cr_expect_eq(count_rows("SELECT count(*) FROM events"), HR_PRUNE_CHUNK_EVENTS);
}

Test(store, prune_with_nothing_to_do_measures_the_database)
{
    st = open_store();
    hr_prune_result res = prune(st, 0, 0, 0);
    cr_expect_eq(res.chunks, 1);
    cr_expect(res.done);
    cr_expect_eq(res.events + res.deliveries + res.attempts, 0);
    cr_expect_gt(res.db_bytes, 0);
}
