/*
 * test_store_subjects.c - deliveries with a subject (store.h's
 * hr_store_route): one event's deliveries to one target, one per git
 * material, each kept, listed and claimed with its subject and ordered by
 * its own key; and a database from before the subject column (SQLite
 * schema 11, PostgreSQL 6) migrated in place. Both engines.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

/* The claim at now as "id>superseded_by@subject,..." in id order. */
static void expect_claim(hr_store *s, const char *want)
{
    hr_delivery_job *jobs = NULL;
    size_t n = 0, len = 0;
    char got[512] = "";
    hr_error err;

    cr_assert_eq(claim_all(s, hr_time_now_ms(), 64, &jobs, &n, &err), HR_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) /* the claim's order is next_at's; the test's, id's */
        for (size_t k = i + 1; k < n; k++)
            if (jobs[k].id < jobs[i].id) {
                hr_delivery_job t = jobs[i];
                jobs[i] = jobs[k];
                jobs[k] = t;
            }
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%lld>%lld@%s", i ? "," : "",
                                (long long)jobs[i].id, (long long)jobs[i].superseded_by,
                                jobs[i].subject != NULL ? jobs[i].subject : "-");
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
    cr_expect_str_eq(got, want);
}

/* Delivery id's member name as the API shows it ("-" for null). */
static void expect_member(hr_store *s, int64_t id, const char *name, const char *want)
{
    json_t *d = NULL;
    hr_error err;
    cr_assert_eq(hr_store_get_delivery(s, id, &d, &err), HR_OK, "%s", err.msg);
    const char *got = json_string_value(json_object_get(d, name));
    cr_expect(json_object_get(d, name) != NULL, "delivery %lld has %s", (long long)id, name);
    cr_expect_str_eq(got != NULL ? got : "-", want, "delivery %lld's %s", (long long)id, name);
    json_decref(d);
}

Test(store, deliveries_per_material_keep_their_subjects_and_keys)
{
    static test_router r = {.per_material = 1, .latest_wins = 1};
    hr_delivery_query q = {.target = "a", .limit = 10};
    json_t *list = NULL;
    int64_t next = 0;
    hr_error err;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, router_freed);
    put_stage(st, "p", "s", "1", "Building", NULL, NULL);   /* 1: app, 2: lib */
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL); /* 3: app, 4: lib */
    /* Each material's newer state supersedes only that material's older
     * one: the two keys never wait for, nor supersede, each other. */
    expect_claim(st, "1>3@acme/app@1,2>4@acme/lib@2");
    expect_member(st, 3, "subject", "acme/app@1");
    expect_member(st, 3, "order_key", "acme/app@1");
    expect_member(st, 4, "subject", "acme/lib@2");
    cr_assert_eq(hr_store_list_deliveries(st, &q, &list, &next, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(json_array_size(list), 4);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "subject")),
                     "acme/lib@2");
    json_decref(list);
}

/* A database from before subjects (SQLite 11, PostgreSQL 6) gets the
 * column on open; its deliveries have none, new ones may. */
Test(store, a_store_without_subjects_is_migrated)
{
    static test_router plain, per = {.per_material = 1};
    char path[128];
    sqlite3 *db;

    st = open_store();
    hr_store_set_router(st, route_ab, &plain, router_freed);
    put_stage(st, "p", "s", "1", "Building", NULL, NULL); /* delivery 1 */
    hr_store_close(st);
    st = NULL;
    if (on_pg()) {
        pg_exec(DROP_FLAT_INDEXES "ALTER TABLE deliveries DROP COLUMN subject;"
                                  "UPDATE herald_schema SET version = 6");
    } else {
        snprintf(path, sizeof(path), "%s/herald.db", dir);
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db,
                                  DROP_FLAT_INDEXES "ALTER TABLE deliveries DROP COLUMN subject;"
                                                    " PRAGMA user_version = 11",
                                  NULL, NULL, NULL),
                     SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    st = open_store();
    hr_store_set_router(st, route_ab, &per, router_freed);
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL); /* 2 and 3 */
    expect_member(st, 1, "subject", "-");
    expect_member(st, 2, "subject", "acme/app@1");
    expect_member(st, 3, "subject", "acme/lib@2");
    expect_claim(st, "1>0@-,2>0@acme/app@1,3>0@acme/lib@2");
}
