/*
 * test_store_builds.c - CI builds' transitions per job and branch,
 * package revisions (latest, duplicates), and request ids stored once.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

/* ---- CI builds and package revisions --------------------------------------- */

static hr_transition put_build(hr_store *s, const char *job, const char *branch, int64_t number,
                               const char *phase, const char *result)
{
    hr_event *ev = build_ev(job, branch, number, phase, result);
    hr_transition tr;
    put_ok(s, ev);
    tr = ev->transition;
    hr_event_free(ev);
    return tr;
}

Test(store, build_transitions_per_job_and_branch)
{
    st = open_store();
    cr_expect_eq(put_build(st, "app", NULL, 1, "started", NULL), HR_TRANSITION_BUILDING);
    cr_expect_eq(put_build(st, "app", NULL, 1, "completed", "Passed"), HR_TRANSITION_PASSED);
    cr_expect_eq(put_build(st, "app", NULL, 1, "finalized", "Passed"), HR_TRANSITION_NONE);
    cr_expect_eq(put_build(st, "app", NULL, 2, "completed", "Failed"), HR_TRANSITION_BROKEN);
    /* The same build's result sent again names the same transition. */
    cr_expect_eq(put_build(st, "app", NULL, 2, "completed", "Failed"), HR_TRANSITION_BROKEN);
    cr_expect_eq(put_build(st, "app", NULL, 3, "completed", "Failed"), HR_TRANSITION_STILL_FAILING);
    cr_expect_eq(put_build(st, "app", NULL, 4, "completed", "Cancelled"), HR_TRANSITION_CANCELLED);
    cr_expect_eq(put_build(st, "app", NULL, 5, "completed", "Passed"), HR_TRANSITION_FIXED);
    cr_expect_eq(put_build(st, "app", NULL, 6, "completed", "Unknown"), HR_TRANSITION_UNKNOWN);
    /* Another branch, and another job, have their own history. */
    cr_expect_eq(put_build(st, "app", "feature", 1, "completed", "Failed"), HR_TRANSITION_FAILED);
    cr_expect_eq(put_build(st, "lib", NULL, 1, "completed", "Failed"), HR_TRANSITION_FAILED);
    /* A Jenkins build that learnt its branch after checkout is still the
     * job's history. */
    cr_expect_eq(put_build(st, "lib", "jenkins", 2, "completed", "Failed"),
                 HR_TRANSITION_STILL_FAILING);

    json_t *jobs = NULL;
    hr_error err;
    cr_assert_eq(hr_store_list_jobs(st, &(hr_key_query){.limit = 500}, &jobs, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(jobs), 3);
    json_t *app = json_array_get(jobs, 0);
    cr_expect_str_eq(json_string_value(json_object_get(app, "job")), "app");
    cr_expect(json_is_null(json_object_get(app, "branch")));
    cr_expect_str_eq(json_string_value(json_object_get(app, "last_result")), "Passed");
    cr_expect_eq(json_integer_value(json_object_get(app, "last_number")), 5);
    cr_expect_str_eq(json_string_value(json_object_get(app, "last_phase")), "completed");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(jobs, 1), "branch")),
                     "feature");
    json_decref(jobs);

    /* The job is filtered on as a pipeline. */
    int64_t next;
    json_t *page = list(st, (hr_event_query){.pipeline = "lib", .limit = 10}, &next);
    cr_expect_eq(json_array_size(page), 2);
    cr_expect_str_eq(str_at(json_array_get(page, 1), "transition", NULL), "failed");
    json_decref(page);
}

Test(store, revisions_latest_and_duplicates)
{
    hr_error err;
    json_t *got = NULL;
    int64_t first_id, next;

    st = open_store();
    hr_event *a = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\"}");
    put_ok(st, a);
    first_id = a->id;
    cr_expect_not(a->package.duplicate);
    hr_event_free(a);
    cr_assert_eq(hr_store_latest_revision(st, "rel", "app", &got, &err), HR_OK);
    cr_assert_not_null(got);
    cr_expect_str_eq(json_string_value(json_object_get(got, "revision")), "1.0");
    cr_expect_eq(json_integer_value(json_object_get(got, "event_id")), first_id);
    cr_expect_str_eq(json_string_value(json_object_get(got, "timestamp")),
                     "2011-07-14T19:43:37.100Z");
    json_decref(got);

    hr_event *b = rev_ev("rel", "app", "2.0", "{\"revision\":\"2.0\"}");
    put_ok(st, b);
    hr_event_free(b);
    /* The newest is the last published. */
    cr_assert_eq(hr_store_latest_revision(st, "rel", "app", &got, &err), HR_OK);
    cr_expect_str_eq(json_string_value(json_object_get(got, "revision")), "2.0");
    json_decref(got);
    cr_assert_eq(hr_store_latest_revision(st, "rel", "none", &got, &err), HR_OK);
    cr_expect_null(got);

    /* The same bytes again: the first event, no new one. Other bytes: a
     * conflict, and nothing stored. */
    hr_event *again = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\"}");
    again->package.timestamp = 1;
    put_ok(st, again);
    cr_expect(again->package.duplicate);
    cr_expect_eq(again->id, first_id);
    cr_expect_eq(again->package.timestamp, 1310672617100);
    hr_event_free(again);
    hr_event *other = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\",\"user\":\"x\"}");
    cr_expect_eq(hr_store_put(st, other, &err), HR_ECONFLICT);
    cr_expect_str_eq(err.msg, "revision \"1.0\" of rel/app already exists with different content");
    hr_event_free(other);

    json_t *page = list(st, (hr_event_query){.source = "package", .limit = 10}, &next);
    cr_expect_eq(json_array_size(page), 2);
    json_decref(page);
    cr_assert_eq(hr_store_list_revisions(st, "rel", "app", 0, 1, &got, &next, &err), HR_OK);
    cr_expect_eq(json_array_size(got), 1);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(got, 0), "revision")), "2.0");
    cr_expect_gt(next, 0);
    json_decref(got);
    cr_assert_eq(hr_store_list_revisions(st, "rel", "app", next, 10, &got, &next, &err), HR_OK);
    cr_expect_eq(json_array_size(got), 1);
    cr_expect_eq(next, 0);
    json_decref(got);
    cr_assert_eq(hr_store_list_packages(st, NULL, &got, &err), HR_OK);
    cr_assert_eq(json_array_size(got), 1);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(got, 0), "revisions")), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(got, 0), "latest")), "2.0");
    json_decref(got);
}

Test(store, a_repeated_request_id_is_stored_once)
{
    hr_event *a = stage_ev("p", "s", "1", "Failed", "Failed");
    hr_event *b = stage_ev("p", "s", "1", "Failed", "Failed");
    hr_event *c = stage_ev("p", "s", "2", "Failed", "Failed");
    int64_t next;

    st = open_store();
    a->request_id = hr_strdup("7d1c0f3e-5b0a-4c51-9d55-2f7b2e3f9a10");
    b->request_id = hr_strdup("7d1c0f3e-5b0a-4c51-9d55-2f7b2e3f9a10");
    c->request_id = hr_strdup("another");
    put_ok(st, a);
    cr_expect_not(a->repeat);
    cr_expect_eq(a->transition, HR_TRANSITION_FAILED);
    /* The repeat is the first event: its id and its transition, not a
     * second "still failing". */
    put_ok(st, b);
    cr_expect(b->repeat);
    cr_expect_eq(b->id, a->id);
    cr_expect_eq(b->transition, HR_TRANSITION_FAILED);
    put_ok(st, c);
    cr_expect_not(c->repeat);
    cr_expect_eq(c->transition, HR_TRANSITION_STILL_FAILING);
    json_t *page = list(st, (hr_event_query){.pipeline = "p", .limit = 10}, &next);
    cr_expect_eq(json_array_size(page), 2);
    json_decref(page);
    hr_event_free(a);
    hr_event_free(b);
    hr_event_free(c);
}

Test(store, a_request_id_reused_for_another_body_is_a_conflict)
{
    hr_event *a = stage_ev("p", "s", "1", "Failed", "Failed");
    hr_event *b = stage_ev("p", "s", "2", "Passed", "Passed");
    hr_event *c = stage_ev("p", "s", "1", "Failed", "Failed");
    hr_error err;
    int64_t next;

    st = open_store();
    a->request_id = hr_strdup("bridge-0001");
    b->request_id = hr_strdup("bridge-0001");
    c->request_id = hr_strdup("bridge-0001");
    memset(a->request_digest, 0xa1, sizeof(a->request_digest));
    memset(b->request_digest, 0xa1, sizeof(b->request_digest));
    b->request_digest[31] = 0xb2; /* another body */
    memset(c->request_digest, 0xa1, sizeof(c->request_digest));
    put_ok(st, a);
    cr_expect_eq(hr_store_put(st, b, &err), HR_ECONFLICT);
    cr_expect(strncmp(err.msg, HR_REQUEST_ID_REUSED, strlen(HR_REQUEST_ID_REUSED)) == 0, "%s",
              err.msg);
    cr_expect_eq(b->id, 0);
    put_ok(st, c); /* the same body again: a retry */
    cr_expect(c->repeat);
    cr_expect_eq(c->id, a->id);
    json_t *page = list(st, (hr_event_query){.pipeline = "p", .limit = 10}, &next);
    cr_expect_eq(json_array_size(page), 1);
    json_decref(page);
    hr_event_free(a);
    hr_event_free(b);
    hr_event_free(c);
}

/*
 * PostgreSQL's schema 8 keeps a revision's body once, as its event's: a
 * store at schema 7 (the body also in revisions.raw) is migrated, and a
 * revision published before still tells a retry (the same bytes) from a
 * conflict (other bytes).
 */
Test(store, a_revisions_body_is_its_events_after_schema_8)
{
    hr_error err;
    int64_t first_id;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    hr_event *a = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\"}");
    put_ok(st, a);
    first_id = a->id;
    hr_event_free(a);
    hr_store_close(st);
    st = NULL;
    /* Back to schema 7, as a herald before this one left it. */
    pg_exec("ALTER TABLE revisions ADD COLUMN raw BYTEA;"
            " UPDATE revisions r SET raw = e.raw FROM events e WHERE e.id = r.event_id;"
            " UPDATE herald_schema SET version = 7");

    st = open_store();
    cr_expect_eq(pg_value("SELECT count(*) FROM information_schema.columns"
                          " WHERE table_name = 'revisions' AND column_name = 'raw'"),
                 0);
    cr_expect_eq(pg_value("SELECT version FROM herald_schema"), 12);
    hr_event *again = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\"}");
    put_ok(st, again);
    cr_expect(again->package.duplicate);
    cr_expect_eq(again->id, first_id);
    hr_event_free(again);
    hr_event *other = rev_ev("rel", "app", "1.0", "{\"revision\":\"1.0\",\"user\":\"x\"}");
    cr_expect_eq(hr_store_put(st, other, &err), HR_ECONFLICT);
    hr_event_free(other);
    hr_event *next = rev_ev("rel", "app", "2.0", "{\"revision\":\"2.0\"}");
    put_ok(st, next);
    cr_expect_not(next->package.duplicate);
    hr_event_free(next);
}
