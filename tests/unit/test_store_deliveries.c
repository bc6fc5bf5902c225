/*
 * test_store_deliveries.c - deliveries in the store: made with their
 * event, claimed (with leases and fencing on PostgreSQL), attempted,
 * reset; routers replaced on the writer; two instances on one database.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

Test(store, deliveries_are_created_with_the_event_and_claimed)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_store_set_notify(st, on_notify, NULL);
    notified = 0;
    hr_event *ok = stage_ev("p", "s", "1", "Passed", "Passed");
    hr_event *bad = stage_ev("q", "s", "1", "Failed", "Failed");
    cr_assert_eq(hr_store_put(st, ok, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_put(st, bad, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(r.calls, 2);
    cr_assert_geq(notified, 1);

    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(jobs[i].attempt, 1);
        cr_assert(jobs[i].event_id == ok->id || jobs[i].event_id == bad->id);
        json_t *in = jobs[i].input;
        cr_assert_eq(json_integer_value(json_object_get(in, "id")), jobs[i].event_id);
        cr_assert(json_is_object(json_object_get(in, "raw")), "raw is parsed for jq");
        cr_assert_not_null(json_object_get(in, "transition"));
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    /* nothing is due in the past */
    cr_assert_eq(claim_all(st, 1, 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 0);
    free(jobs);
    hr_event_free(ok);
    hr_event_free(bad);
}

Test(store, attempts_move_deliveries_and_are_listed)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    json_t *list = NULL, *one = NULL;
    int64_t next = 0;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("p", "s", "1", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1);

    int64_t later = hr_time_now_ms() + 60000;
    hr_attempt a = {.delivery_id = jobs[0].id,
                    .claim_token = jobs[0].claim_token,
                    .attempt = 1,
                    .started_at = hr_time_now_ms(),
                    .latency_ms = 12,
                    .status = 503,
                    .error = "HTTP 503",
                    .excerpt = "busy",
                    .outcome = HR_OUTCOME_RETRY,
                    .next_at = later};
    recorded_status = 1;
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    cr_assert_eq(recorded_status, HR_OK);
    /* retrying, and not due before next_at */
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 0);
    free(jobs);
    cr_assert_eq(claim_all(st, later, 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(jobs[0].attempt, 2);

    a.attempt = 2;
    a.claim_token = jobs[0].claim_token;
    a.status = 200;
    a.error = NULL;
    a.excerpt = "ok";
    a.outcome = HR_OUTCOME_DELIVERED;
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);

    hr_delivery_query q = {.state = "delivered", .limit = 10};
    cr_assert_eq(hr_store_list_deliveries(st, &q, &list, &next, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(list), 1);
    json_t *d = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "target")), "a");
    cr_assert_str_eq(json_string_value(json_object_get(d, "route")), "r1");
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 2);
    cr_assert_eq(json_integer_value(json_object_get(d, "last_status")), 200);
    json_t *log = json_object_get(d, "attempt_log");
    cr_assert_eq(json_array_size(log), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "outcome")),
                     "retry");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 0), "excerpt")), "busy");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(log, 1), "outcome")),
                     "delivered");
    int64_t id = json_integer_value(json_object_get(d, "id"));
    cr_assert_eq(hr_store_get_delivery(st, id, &one, &err), HR_OK);
    cr_assert(json_equal(one, d));
    json_decref(one);
    one = NULL;
    cr_assert_eq(hr_store_get_delivery(st, 999, &one, &err), HR_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no delivery with id 999");
    json_decref(list);
    hr_event_free(ev);
}

Test(store, resets_make_dead_letters_due_again)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0, count = 0;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("p", "s", "1", "Failed", "Failed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        hr_attempt a = {.delivery_id = jobs[i].id,
                        .claim_token = jobs[i].claim_token,
                        .attempt = 1,
                        .status = 404,
                        .error = "HTTP 404",
                        .outcome = HR_OUTCOME_DEAD};
        hr_store_record_attempt(st, &a, on_recorded, NULL);
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    sync_writer(st);

    hr_delivery_reset none = {0};
    cr_assert_eq(hr_store_reset_deliveries(st, &none, &count, &err), HR_EINVAL);
    hr_delivery_reset by_target = {.target = "b", .dead_only = 1};
    cr_assert_eq(hr_store_reset_deliveries(st, &by_target, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 1);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(jobs[0].target, "b");
    cr_assert_eq(jobs[0].attempt, 2, "attempts count on after a reset");
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);
    hr_delivery_reset range = {.since = 1, .until = hr_time_now_ms() + 1000};
    cr_assert_eq(hr_store_reset_deliveries(st, &range, &count, &err), HR_OK);
    cr_assert_eq(count, 2);

    json_t *health = NULL;
    cr_assert_eq(hr_store_target_health(st, 0, &health, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(health), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(health, 0), "pending")), 1);
    json_decref(health);
    hr_event_free(ev);
}

Test(store, a_new_router_replaces_the_old_one_on_the_writer)
{
    static test_router r1, r2;
    hr_error err;
    st = open_store();
    hr_store_set_router(st, route_ab, &r1, router_freed);
    hr_event *ev = stage_ev("p", "s", "1", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    hr_store_set_router(st, route_ab, &r2, router_freed);
    hr_event *ev2 = stage_ev("p", "s", "2", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, ev2, &err), HR_OK);
    cr_assert_eq(r1.calls, 1);
    cr_assert_eq(r2.calls, 1);
    cr_assert_eq(r1.freed, 1, "the old router is freed once replaced");
    hr_store_close(st);
    st = NULL;
    cr_assert_eq(r2.freed, 1, "the last router is freed at close");
    hr_event_free(ev);
    hr_event_free(ev2);
}

Test(store, claims_filter_by_target_and_skip_busy_deliveries)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    int64_t now;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("q", "s", "1", "Failed", "Failed"); /* to a and b */
    hr_event *ev2 = stage_ev("q", "t", "1", "Failed", "Failed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    cr_assert_eq(hr_store_put(st, ev2, &err), HR_OK);
    now = hr_time_now_ms();

    hr_claim_query only_b = {.now = now, .target = "b", .max = 10};
    cr_assert_eq(claim_due(st, &only_b, &jobs, &n, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    int64_t first = jobs[0].id;
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(jobs[i].target, "b");
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);

    only_b.skip_ids = &first;
    only_b.n_skip_ids = 1;
    cr_assert_eq(claim_due(st, &only_b, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1);
    cr_assert_neq(jobs[0].id, first);
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);

    const char *known[] = {"a", "b"};
    hr_claim_query orphans = {.now = now, .other_than = known, .n_other_than = 2, .max = 10};
    cr_assert_eq(claim_due(st, &orphans, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 0);
    free(jobs);
    orphans.n_other_than = 1; /* only "a" is known: b's deliveries are orphans */
    cr_assert_eq(claim_due(st, &orphans, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        hr_delivery_job_clear(&jobs[i]);
    free(jobs);
    hr_event_free(ev);
    hr_event_free(ev2);
}

/*
 * PostgreSQL: a claim leases its deliveries (another claim skips them while
 * the lease runs), and an attempt whose claim is no longer the latest (its
 * lease ran out and another instance claimed the delivery) is not
 * recorded: a late answer cannot overwrite a newer attempt.
 */
Test(store, claims_lease_and_fence_on_postgresql)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL, *again = NULL;
    size_t n = 0;
    json_t *d = NULL;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("lease", "s", "1", "Failed", "Failed"); /* to a and b */
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    hr_claim_query qa = {.now = hr_time_now_ms(), .target = "a", .max = 10};
    cr_assert_eq(hr_store_claim_due(st, &qa, &jobs, &n, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    int64_t stale = jobs[0].claim_token;
    /* Leased: a second instance's claim gets nothing. */
    cr_assert_eq(hr_store_claim_due(st, &qa, &again, &n, &err), HR_OK);
    cr_assert_eq(n, 0);
    free(again);
    /* Past the lease, another claim takes it, with a new token. */
    qa.now += 5 * 60 * 1000 + 1;
    cr_assert_eq(hr_store_claim_due(st, &qa, &again, &n, &err), HR_OK);
    cr_assert_eq(n, 1);
    cr_assert_gt(again[0].claim_token, stale);

    /* The first claim's late answer is dropped; the newer one is kept. */
    hr_attempt late = {.delivery_id = jobs[0].id,
                       .claim_token = stale,
                       .attempt = 1,
                       .status = 500,
                       .outcome = HR_OUTCOME_DEAD,
                       .error = "late"};
    hr_store_record_attempt(st, &late, on_recorded, NULL);
    hr_attempt newer = {.delivery_id = again[0].id,
                        .claim_token = again[0].claim_token,
                        .attempt = 1,
                        .status = 200,
                        .outcome = HR_OUTCOME_DELIVERED};
    hr_store_record_attempt(st, &newer, on_recorded, NULL);
    hr_store_record_attempt(st, &late, on_recorded, NULL);
    sync_writer(st);
    cr_assert_eq(hr_store_get_delivery(st, jobs[0].id, &d, &err), HR_OK);
    cr_expect_str_eq(json_string_value(json_object_get(d, "state")), "delivered");
    cr_expect_eq(json_array_size(json_object_get(d, "attempt_log")), 1);
    cr_expect_null(json_string_value(json_object_get(d, "last_error")));
    json_decref(d);
    hr_delivery_job_clear(&jobs[0]);
    hr_delivery_job_clear(&again[0]);
    free(jobs);
    free(again);
    hr_event_free(ev);
}

/* Submits 20 "Failed" events of stage two/s to its store. */
static void *fail_twenty(void *arg)
{
    hr_store *s = arg;
    hr_error err;
    for (int i = 0; i < 20; i++) {
        hr_event *ev = stage_ev("two", "s", "2", "Failed", "Failed");
        cr_assert_eq(hr_store_put(s, ev, &err), HR_OK, "%s", err.msg);
        hr_event_free(ev);
    }
    return NULL;
}

/*
 * Two instances on one PostgreSQL database take events of one stage at
 * once. Each locks the stage's history row in its transaction before it
 * decides the transition, so they take turns: after a pass, exactly one
 * failure is "broken" and every other one "still failing", however the
 * two interleave.
 */
Test(store, two_instances_decide_transitions_in_turn)
{
    hr_store *other;
    hr_error err;
    pthread_t t1, t2;
    json_t *list = NULL;
    int64_t next = 0;
    int broken = 0, still = 0;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    other = open_store();
    hr_event *ev = stage_ev("two", "s", "1", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    hr_event_free(ev);
    pthread_create(&t1, NULL, fail_twenty, st);
    pthread_create(&t2, NULL, fail_twenty, other);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    hr_event_query q = {.pipeline = "two", .limit = 100};
    cr_assert_eq(hr_store_list_events(st, &q, &list, &next, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(list), 41);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *tr = json_string_value(json_object_get(json_array_get(list, i), "transition"));
        broken += strcmp(tr, "broken") == 0;
        still += strcmp(tr, "still_failing") == 0;
    }
    cr_expect_eq(broken, 1);
    cr_expect_eq(still, 39);
    json_decref(list);
    hr_store_close(other);
}

/* Two instances on one database: one prunes at a time, the one holding
 * retention's leader row, until it expires; then the other takes it. */
Test(store, one_instance_prunes_at_a_time)
{
    hr_store *other;
    hr_prune_result res;
    hr_error err;
    int64_t now = hr_time_now_ms();

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    other = open_store();
    hr_prune_policy p = {.events_ms = 24 * 3600 * 1000LL, .now_ms = now, .lead_ms = 60000};
    cr_assert_eq(hr_store_prune(st, &p, &res, &err), HR_OK, "%s", err.msg);
    cr_expect(!res.not_leader);
    cr_expect_geq(res.chunks, 1);
    cr_assert_eq(hr_store_prune(other, &p, &res, &err), HR_OK, "%s", err.msg);
    cr_expect(res.not_leader, "the other instance leads");
    cr_expect_eq(res.chunks, 0);
    /* The leader renews its row. */
    p.now_ms = now + 30000;
    cr_assert_eq(hr_store_prune(st, &p, &res, &err), HR_OK, "%s", err.msg);
    cr_expect(!res.not_leader);
    /* Once the row expires (its holder died), the other takes it. */
    p.now_ms = now + 30000 + 60001;
    cr_assert_eq(hr_store_prune(other, &p, &res, &err), HR_OK, "%s", err.msg);
    cr_expect(!res.not_leader);
    cr_expect_geq(res.chunks, 1);
    hr_store_close(other);
}
