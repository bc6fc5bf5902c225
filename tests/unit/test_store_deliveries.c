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
    /* Each delivery's event as the API serves it (the input without
     * "raw", dumped), by delivery: what the spliced body must be. */
    char *served[3] = {NULL};
    int64_t served_id[3] = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *copy = json_copy(jobs[i].input);
        json_object_del(copy, "raw");
        served[i] = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
        served_id[i] = jobs[i].id;
        json_decref(copy);
        cr_assert_str_eq(jobs[i].kind, "stage-status");
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(jobs[i].attempt, 1);
        cr_assert(jobs[i].event_id == ok->id || jobs[i].event_id == bad->id);
        json_t *in = jobs[i].input;
        cr_assert_eq(json_integer_value(json_object_get(in, "id")), jobs[i].event_id);
        cr_assert(json_is_object(json_object_get(in, "raw")), "raw is parsed for jq");
        cr_assert_not_null(json_object_get(in, "transition"));
        cr_assert_null(jobs[i].body, "no default body is spliced where jq may run");
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    /* A target that runs no jq on the event: no input is made, and the
     * default body is spliced from the stored document, byte for byte the
     * event as served above. */
    hr_claim_query q = {.now = hr_time_now_ms(), .max = 10, .no_raw = 1};
    cr_assert_eq(claim_due(st, &q, &jobs, &n, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < 3 && served_id[k] != jobs[i].id)
            k++;
        cr_assert_lt(k, 3, "delivery %lld was claimed before", (long long)jobs[i].id);
        cr_assert_null(jobs[i].input, "no tree is made where no jq runs");
        cr_assert_str_eq(jobs[i].kind, "stage-status");
        cr_assert_not_null(jobs[i].body);
        cr_assert_eq(jobs[i].body_len, strlen(served[k]));
        cr_assert_str_eq(jobs[i].body, served[k]);
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    for (size_t k = 0; k < 3; k++)
        free(served[k]);
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
    hr_delivery_reset by_target = {.target = "b", .state = "dead"};
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

Test(store, drops_count_first_and_are_never_claimed_or_overwritten)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0, count = 0;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("p", "s", "1", "Failed", "Failed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK);
    sync_writer(st);

    hr_delivery_reset dry = {.target = "a", .drop = true, .dry_run = true};
    cr_assert_eq(hr_store_reset_deliveries(st, &dry, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 1);
    hr_delivery_reset all_dry = {.state = "pending", .dry_run = true};
    cr_assert_eq(hr_store_reset_deliveries(st, &all_dry, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 2, "a dry run changes nothing");

    /* Claimed, then dropped while in flight: the late record does not undo
     * the drop. */
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 2);
    hr_delivery_reset drop = {.target = "a", .drop = true};
    cr_assert_eq(hr_store_reset_deliveries(st, &drop, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 1);
    for (size_t i = 0; i < n; i++) {
        hr_attempt a = {.delivery_id = jobs[i].id,
                        .claim_token = jobs[i].claim_token,
                        .attempt = 1,
                        .status = 500,
                        .error = "HTTP 500",
                        .next_at = 1,
                        .outcome = HR_OUTCOME_RETRY};
        hr_store_record_attempt(st, &a, on_recorded, NULL);
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    sync_writer(st);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1, "a dropped delivery is never claimed");
    cr_assert_str_eq(jobs[0].target, "b");
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);
    hr_delivery_reset dropped = {.state = "dropped", .dry_run = true};
    cr_assert_eq(hr_store_reset_deliveries(st, &dropped, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 1);
    /* Dropping again finds nothing to drop; a replay brings it back. */
    cr_assert_eq(hr_store_reset_deliveries(st, &drop, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 0);
    hr_delivery_reset back = {.state = "dropped"};
    cr_assert_eq(hr_store_reset_deliveries(st, &back, &count, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(count, 1);
    hr_event_free(ev);
}

/* The claim with run_order for target a: the ids it hands out, in order,
 * as "1,2" (and the run's message of each, when it has one, in refs). */
static void claim_run(hr_store *s, char *ids, size_t size, json_t **refs)
{
    hr_claim_query q = {.now = hr_time_now_ms(), .target = "a", .max = 10, .run_order = 1};
    hr_delivery_job *jobs = NULL;
    size_t n = 0, len = 0;
    hr_error err;

    ids[0] = '\0';
    cr_assert_eq(claim_due(s, &q, &jobs, &n, &err), HR_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        len +=
            (size_t)snprintf(ids + len, size - len, "%s%lld", i ? "," : "", (long long)jobs[i].id);
        if (refs != NULL && i == 0)
            *refs = json_incref(jobs[i].run_ref);
        cr_assert_str_eq(jobs[i].run_key, "p/7");
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
}

/* A store routing stage events to target a, with two events of the run
 * p/7: building (delivery 1) and passed (delivery 2) to a. */
static void open_run(test_router *r)
{
    hr_error err;
    st = open_store();
    hr_store_set_router(st, route_ab, r, router_freed);
    hr_event *building = stage_ev("p", "build", "7", "Building", "Unknown");
    hr_event *passed = stage_ev("p", "build", "7", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, building, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_put(st, passed, &err), HR_OK, "%s", err.msg);
    hr_event_free(building);
    hr_event_free(passed);
}

Test(store, a_run_keeps_its_first_message)
{
    static test_router r;
    char ids[64];
    json_t *ref = NULL, *one = NULL;
    hr_error err;

    open_run(&r);

    /* The second waits while the first is due and the run has no message. */
    claim_run(st, ids, sizeof(ids), NULL);
    cr_assert_str_eq(ids, "1");
    record(st, 1, 1, HR_OUTCOME_RETRY, hr_time_now_ms());
    claim_run(st, ids, sizeof(ids), NULL);
    cr_assert_str_eq(ids, "");

    /* Delivered: its answer is the run's message, handed to the next. */
    hr_attempt a = {.delivery_id = 1,
                    .claim_token = token_of(1),
                    .attempt = 2,
                    .started_at = hr_time_now_ms(),
                    .status = 200,
                    .outcome = HR_OUTCOME_DELIVERED,
                    .service_ref = "{\"channel\":\"C1\",\"ts\":\"1.5\"}"};
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    claim_run(st, ids, sizeof(ids), &ref);
    cr_assert_str_eq(ids, "2");
    cr_assert_str_eq(json_string_value(json_object_get(ref, "ts")), "1.5");
    json_decref(ref);
    ref = NULL;

    /* An edit's answer stays with its delivery; the run keeps the first. */
    a.delivery_id = 2;
    a.claim_token = token_of(2);
    a.attempt = 1;
    a.service_ref = "{\"channel\":\"C1\",\"ts\":\"9.9\"}";
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    cr_assert_eq(hr_store_get_delivery(st, 2, &one, &err), HR_OK, "%s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(one, "run")), "p/7");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(one, "service_ref"), "ts")),
                     "9.9");
    json_decref(one);
    hr_delivery_reset reset = {.id = 2};
    size_t count = 0;
    cr_assert_eq(hr_store_reset_deliveries(st, &reset, &count, &err), HR_OK, "%s", err.msg);
    claim_run(st, ids, sizeof(ids), &ref);
    cr_assert_str_eq(ids, "2");
    cr_assert_str_eq(json_string_value(json_object_get(ref, "ts")), "1.5");
    json_decref(ref);
}

Test(store, a_dead_first_message_does_not_hold_the_run)
{
    static test_router r;
    char ids[64];

    open_run(&r);
    claim_run(st, ids, sizeof(ids), NULL);
    cr_assert_str_eq(ids, "1");
    record(st, 1, 1, HR_OUTCOME_DEAD, hr_time_now_ms());
    claim_run(st, ids, sizeof(ids), NULL);
    cr_assert_str_eq(ids, "2");
}

Test(store, a_run_message_goes_with_the_runs_last_delivery)
{
    static test_router r;
    hr_prune_policy policy = {.events_ms = 1, .now_ms = hr_time_now_ms() + 60000};
    hr_prune_result res = {0};
    hr_error err;
    char ids[64];
    json_t *ref = NULL;

    open_run(&r);
    claim_run(st, ids, sizeof(ids), NULL);
    hr_attempt a = {.delivery_id = 1,
                    .claim_token = token_of(1),
                    .attempt = 1,
                    .started_at = hr_time_now_ms(),
                    .status = 200,
                    .outcome = HR_OUTCOME_DELIVERED,
                    .service_ref = "{\"channel\":\"C1\",\"ts\":\"1.5\"}"};
    hr_store_record_attempt(st, &a, on_recorded, NULL);
    sync_writer(st);
    claim_run(st, ids, sizeof(ids), &ref);
    cr_assert_str_eq(json_string_value(json_object_get(ref, "ts")), "1.5");
    json_decref(ref);
    ref = NULL;
    /* While the run has a delivery, its message stays. */
    cr_assert_eq(hr_store_prune(st, &policy, &res, &err), HR_OK, "%s", err.msg);
    claim_run(st, ids, sizeof(ids), &ref);
    cr_assert_str_eq(ids, "2");
    cr_assert_not_null(ref);
    json_decref(ref);
    ref = NULL;
    record(st, 2, 1, HR_OUTCOME_DELIVERED, hr_time_now_ms());
    cr_assert_eq(hr_store_prune(st, &policy, &res, &err), HR_OK, "%s", err.msg);
    cr_assert_geq(res.deliveries, 1);
    hr_event *late = stage_ev("p", "deploy", "7", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, late, &err), HR_OK, "%s", err.msg);
    hr_event_free(late);
    claim_run(st, ids, sizeof(ids), &ref);
    cr_assert_null(ref, "the run's message went with its deliveries");
}

/* ---- Ordered delivery ----------------------------------------------------
 *
 * The claim's rule (store.h): an ordered delivery is due only as its key's
 * head, and with latest_wins a head with a newer one waiting comes marked
 * superseded. route_ab's "ordered" gives "a"'s deliveries the pipeline's
 * name as key. */

/* The ids a claim at now (0: the current time) hands out, "1,2" in id order; superseded ones as
 * "1>4" (superseded by 4). */
static void expect_claim(hr_store *s, int64_t now, const char *want)
{
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    hr_error err;
    char got[256] = "";
    size_t len = 0;
    int64_t ids[64][2];

    if (now == 0)
        now = hr_time_now_ms();
    cr_assert_eq(claim_all(s, now, 64, &jobs, &n, &err), HR_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        ids[i][0] = jobs[i].id;
        ids[i][1] = jobs[i].superseded_by;
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    for (size_t i = 0; i < n; i++) /* id order */
        for (size_t k = i + 1; k < n; k++)
            if (ids[k][0] < ids[i][0]) {
                int64_t t0 = ids[i][0], t1 = ids[i][1];
                ids[i][0] = ids[k][0];
                ids[i][1] = ids[k][1];
                ids[k][0] = t0;
                ids[k][1] = t1;
            }
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%lld", i ? "," : "",
                                (long long)ids[i][0]);
        if (ids[i][1] > 0)
            len += (size_t)snprintf(got + len, sizeof(got) - len, ">%lld", (long long)ids[i][1]);
    }
    cr_expect_str_eq(got, want, "claim at %lld", (long long)now);
}

/* Records an attempt's outcome for delivery id and waits for it. */
static void record_outcome(hr_store *s, int64_t id, hr_outcome o, int64_t next_at,
                           const char *error)
{
    hr_attempt a = {.delivery_id = id,
                    .claim_token = token_of(id),
                    .attempt = 1,
                    .started_at = hr_time_now_ms(),
                    .status = o == HR_OUTCOME_DELIVERED    ? 200
                              : o == HR_OUTCOME_SUPERSEDED ? 0
                                                           : 500,
                    .error = error,
                    .outcome = o,
                    .next_at = next_at};
    recorded_status = 1;
    hr_store_record_attempt(s, &a, on_recorded, NULL);
    sync_writer(s);
    cr_assert_eq(recorded_status, HR_OK);
}

/* A delivery's JSON as the API shows it (new). */
static json_t *delivery(hr_store *s, int64_t id)
{
    json_t *d = NULL;
    hr_error err;
    cr_assert_eq(hr_store_get_delivery(s, id, &d, &err), HR_OK, "%s", err.msg);
    return d;
}

Test(store, ordered_deliveries_go_one_at_a_time_per_key)
{
    static test_router r = {.ordered = 1};
    int64_t now = hr_time_now_ms(), later = now + 60000;
    json_t *d;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL); /* delivery 1, key p */
    put_stage(st, "q", "s", "1", "Passed", "Passed", NULL); /* 2, key q */
    put_stage(st, "p", "s", "2", "Passed", "Passed", NULL); /* 3, key p */
    put_stage(st, "p", "s", "3", "Passed", "Passed", NULL); /* 4, key p */

    /* Each key's head only: 3 and 4 wait for 1, q does not. */
    expect_claim(st, 0, "1,2");
    d = delivery(st, 4);
    cr_expect_str_eq(json_string_value(json_object_get(d, "order_key")), "p");
    cr_expect_eq(json_integer_value(json_object_get(d, "queue_position")), 2);
    json_decref(d);
    d = delivery(st, 1);
    cr_expect_eq(json_integer_value(json_object_get(d, "queue_position")), 0);
    json_decref(d);

    /* A head waiting for its retry holds back its key, not q. */
    record_outcome(st, 1, HR_OUTCOME_RETRY, later, "HTTP 500");
    expect_claim(st, 0, "2");
    expect_claim(st, later, "1,2");
    record_outcome(st, 2, HR_OUTCOME_DELIVERED, 0, NULL);
    d = delivery(st, 2);
    cr_expect(json_is_null(json_object_get(d, "queue_position")), "not waiting: no place");
    json_decref(d);

    /* Delivered or dead, the head lets the next one go, in order. */
    record_outcome(st, 1, HR_OUTCOME_DELIVERED, 0, NULL);
    expect_claim(st, 0, "3");
    record_outcome(st, 3, HR_OUTCOME_DEAD, 0, "HTTP 400");
    expect_claim(st, 0, "4");
    d = delivery(st, 4);
    cr_expect_eq(json_integer_value(json_object_get(d, "queue_position")), 0);
    json_decref(d);
    record_outcome(st, 4, HR_OUTCOME_DELIVERED, 0, NULL);
    expect_claim(st, later, "");
}

Test(store, latest_wins_supersedes_the_older_waiting_one)
{
    static test_router r = {.ordered = 1, .latest_wins = 1};
    int64_t now = hr_time_now_ms(), later = now + 60000;
    hr_delivery_query q = {.state = "superseded", .limit = 10};
    hr_delivery_reset reset = {.id = 1};
    json_t *d, *list = NULL;
    int64_t next = 0;
    size_t count = 0;
    hr_error err;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    put_stage(st, "p", "s", "1", "Building", NULL, NULL); /* delivery 1, key p */
    expect_claim(st, 0, "1");
    /* 1 is in flight when 2 comes: not superseded yet, and 2 waits. */
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL); /* 2 */
    d = delivery(st, 1);
    cr_expect_str_eq(json_string_value(json_object_get(d, "state")), "pending");
    json_decref(d);
    /* Its attempt fails: with 2 waiting, it is due at once, as superseded
     * by 2 (not at its retry time, and never sent again). */
    record_outcome(st, 1, HR_OUTCOME_RETRY, later, "HTTP 500");
    expect_claim(st, 0, "1>2");
    record_outcome(st, 1, HR_OUTCOME_SUPERSEDED, 0, "superseded by delivery 2");
    expect_claim(st, 0, "2");
    d = delivery(st, 1);
    cr_expect_str_eq(json_string_value(json_object_get(d, "state")), "superseded");
    cr_expect_str_eq(json_string_value(json_object_get(d, "last_error")),
                     "superseded by delivery 2");
    cr_expect_eq(json_integer_value(json_object_get(d, "attempts")), 1, "no attempt added");
    cr_expect_eq(json_array_size(json_object_get(d, "attempt_log")), 1);
    cr_expect(json_is_null(json_object_get(d, "next_attempt_at")));
    json_decref(d);
    cr_assert_eq(hr_store_list_deliveries(st, &q, &list, &next, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(list), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(list, 0), "id")), 1);
    json_decref(list);

    /* A head waiting for its retry when a newer one comes is made due at
     * once, and superseded by the newest waiting. */
    put_stage(st, "q", "s", "1", "Building", NULL, NULL); /* 3, key q */
    expect_claim(st, 0, "2,3");
    record_outcome(st, 3, HR_OUTCOME_RETRY, later, "HTTP 500");
    put_stage(st, "q", "s", "1", "Failed", "Failed", NULL); /* 4, key q (and 5 to "b") */
    put_stage(st, "q", "s", "2", "Passed", "Passed", NULL); /* 6, key q */
    expect_claim(st, 0, "2,3>6,5");
    record_outcome(st, 3, HR_OUTCOME_SUPERSEDED, 0, "superseded by delivery 6");
    expect_claim(st, 0, "2,4>6,5");
    record_outcome(st, 4, HR_OUTCOME_SUPERSEDED, 0, "superseded by delivery 6");
    expect_claim(st, 0, "2,5,6");

    /* Delivered ones are untouched by newer ones. */
    record_outcome(st, 2, HR_OUTCOME_DELIVERED, 0, NULL);
    put_stage(st, "p", "s", "2", "Building", NULL, NULL); /* 7 */
    d = delivery(st, 2);
    cr_expect_str_eq(json_string_value(json_object_get(d, "state")), "delivered");
    json_decref(d);
    record_outcome(st, 7, HR_OUTCOME_DELIVERED, 0, NULL);

    /* A superseded delivery replays as a dead one does: sent, since no
     * newer one of its key waits. */
    cr_assert_eq(hr_store_reset_deliveries(st, &reset, &count, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(count, 1);
    expect_claim(st, 0, "1,5,6");
}

/* Targets' health (store/health.c): attempts move the record in their
 * transaction, a change is stored as herald's own event, operators' actions
 * are durable and release what is held. */
Test(store, attempts_move_a_targets_health_and_actions_release)
{
    static test_router r;
    hr_error err;
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    hr_target_health *h = NULL, after;
    int64_t later = hr_time_now_ms() + 3600 * 1000;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    hr_event *ev = stage_ev("p", "s", "1", "Passed", "Passed");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_assert_eq(n, 1);
    hr_attempt a = {.delivery_id = jobs[0].id,
                    .claim_token = jobs[0].claim_token,
                    .attempt = 1,
                    .started_at = hr_time_now_ms(),
                    .status = 503,
                    .error = "HTTP 503",
                    .outcome = HR_OUTCOME_RETRY,
                    .next_at = later,
                    .target = "a",
                    .policy = {.failures = 2, .probe_initial_ms = 1000, .probe_max_ms = 2000}};
    for (int i = 1; i <= 2; i++) {
        a.attempt = i;
        recorded_status = 1;
        hr_store_record_attempt(st, &a, on_recorded, NULL);
        sync_writer(st);
        cr_assert_eq(recorded_status, HR_OK);
    }
    hr_delivery_job_clear(&jobs[0]);
    free(jobs);
    cr_assert_eq(hr_store_list_health(st, &h, &n, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(h[0].target, "a");
    cr_expect_eq(h[0].state, HR_HEALTH_OPEN);
    cr_expect_eq(h[0].consecutive_failures, 2);
    cr_expect_str_eq(h[0].last_error, "HTTP 503");
    free(h);
    json_t *evs = list(st, (hr_event_query){.source = "herald", .limit = 10}, NULL);
    cr_assert_eq(json_array_size(evs), 1);
    cr_expect_str_eq(str_at(json_array_get(evs, 0), "target_health", "change"), "circuit-opened");
    json_decref(evs);

    cr_assert_eq(hr_store_target_act(st, "a", HR_ACTION_PAUSE, &after, &err), HR_OK, "%s", err.msg);
    cr_expect(after.paused);
    cr_expect_str_eq(hr_health_shown(&after), "paused");
    /* Nothing is due before later; enabling (it closes the circuit) and
     * resuming make the held delivery due now. */
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 10, &jobs, &n, &err), HR_OK);
    cr_expect_eq(n, 0);
    free(jobs);
    cr_assert_eq(hr_store_target_act(st, "a", HR_ACTION_ENABLE, &after, &err), HR_OK);
    cr_assert_eq(hr_store_target_act(st, "a", HR_ACTION_RESUME, &after, &err), HR_OK);
    cr_expect_eq(after.state, HR_HEALTH_HEALTHY);
    cr_expect_not(after.paused);
    cr_assert_eq(claim_all(st, hr_time_now_ms() + 1, 10, &jobs, &n, &err), HR_OK);
    cr_expect_eq(n, 1);
    for (size_t i = 0; i < n; i++)
        hr_delivery_job_clear(&jobs[i]);
    free(jobs);
    evs = list(st, (hr_event_query){.source = "herald", .limit = 10}, NULL);
    cr_expect_eq(json_array_size(evs), 3, "opened, paused, resumed");
    json_decref(evs);
    hr_event_free(ev);
}
