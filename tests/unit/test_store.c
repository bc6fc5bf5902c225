/*
 * test_store.c - the store against a real database (SQLite in a fresh
 * folder per test, or PostgreSQL): round trips, transitions, group
 * commit, filters and paging, durability across reopen, settings,
 * draining. Its other jobs have files of their own: test_store_limits.c,
 * test_store_deliveries.c, test_store_builds.c, test_store_retention.c.
 */
#include "event_test.h"
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

Test(store, put_get_round_trip)
{
    int64_t before = hr_time_now_ms();
    hr_event *ev = stage_ev("build-linux", "compile", "42", "Passed", "Passed");
    json_t *got, *want, *gev, *raw;

    st = open_store();
    put_ok(st, ev);
    cr_assert_eq(ev->id, 1);
    cr_assert_eq(ev->transition, HR_TRANSITION_PASSED);
    cr_assert(ev->received_at >= before && ev->received_at <= hr_time_now_ms(),
              "received_at is set when the caller left it 0");

    got = get_event(st, ev->id);
    gev = json_object_get(got, "event");
    cr_assert_eq(json_integer_value(json_object_get(gev, "id")), ev->id);
    cr_assert_str_eq(str_at(gev, "source", NULL), "gocd");
    cr_assert_str_eq(str_at(gev, "kind", NULL), "stage-status");
    cr_assert_str_eq(str_at(gev, "version", NULL), "4.0");
    cr_assert_str_eq(str_at(gev, "transition", NULL), "passed");
    cr_assert_str_eq(str_at(gev, "pipeline", "name"), "build-linux");
    cr_assert_str_eq(str_at(gev, "pipeline", "counter"), "42");
    cr_assert_str_eq(str_at(gev, "stage", "name"), "compile");
    cr_assert_str_eq(str_at(gev, "stage", "result"), "Passed");
    cr_assert_str_eq(str_at(gev, "stage", "last_transition_at"), "2011-07-13T19:43:37.100Z");
    cr_assert(json_is_null(json_object_get(json_object_get(gev, "stage"), "previous_stage_name")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(gev, "build_cause"), 0), "revision")),
                     "1a2b3c");
    /* Everything else: exactly the event's document as it now is, with
     * the id and transition the store gave it. */
    want = event_served_json(ev);
    assert_json_eq(gev, want);

    raw = json_object_get(got, "raw");
    cr_assert(json_is_string(raw));
    cr_assert_eq(json_string_length(raw), ev->raw_len);
    cr_assert(memcmp(json_string_value(raw), ev->raw, ev->raw_len) == 0, "raw bytes are exact");
    json_decref(want);
    json_decref(got);
    hr_event_free(ev);
}

Test(store, agent_event_round_trip)
{
    hr_event *ev = agent_ev("agent_uuid", "Building");
    json_t *got, *want;

    ev->received_at = 1518676289000;
    st = open_store();
    put_ok(st, ev);
    cr_assert_eq(ev->transition, HR_TRANSITION_NONE);
    cr_assert_eq(ev->received_at, 1518676289000, "a caller's received_at is kept");
    got = get_event(st, ev->id);
    want = event_served_json(ev);
    assert_json_eq(json_object_get(got, "event"), want);
    cr_assert_str_eq(str_at(got, "event", "received_at"), "2018-02-15T06:31:29.000Z");
    cr_assert_str_eq(json_string_value(json_object_get(got, "raw")), ev->raw);
    json_decref(want);
    json_decref(got);
    hr_event_free(ev);
}

Test(store, get_unknown_id)
{
    json_t *out = NULL;
    hr_error err;
    st = open_store();
    cr_assert_eq(hr_store_get_event(st, 999, &out, &err), HR_ENOTFOUND);
    cr_assert_str_eq(err.msg, "no event with id 999");
    cr_assert_null(out);
}

Test(store, transitions)
{
    static const struct {
        const char *pipeline, *stage, *state, *result;
        hr_transition want;
    } seq[] = {
        {"p1", "build", "Building", "Unknown", HR_TRANSITION_BUILDING},
        {"p1", "build", "Passed", "Passed", HR_TRANSITION_PASSED},
        {"p1", "build", "Building", "Unknown", HR_TRANSITION_BUILDING},
        {"p1", "build", "Failed", "Failed", HR_TRANSITION_BROKEN},
        {"p1", "test", "Failed", "Failed", HR_TRANSITION_FAILED},
        {"p2", "build", "Passed", "Passed", HR_TRANSITION_PASSED},
        {"p1", "build", "Failing", "Unknown", HR_TRANSITION_FAILING},
        {"p1", "build", "Failed", "Failed", HR_TRANSITION_STILL_FAILING},
        {"p1", "build", "Cancelled", "Cancelled", HR_TRANSITION_CANCELLED},
        {"p1", "build", "Passed", "Passed", HR_TRANSITION_FIXED},
        {"p1", "test", "Passed", "Passed", HR_TRANSITION_FIXED},
        {"p2", "build", "Failed", "Failed", HR_TRANSITION_BROKEN},
    };
    int64_t ids[sizeof(seq) / sizeof(seq[0])];
    hr_event_query q = {.limit = 100};
    json_t *stages, *events, *o;
    hr_error err;

    st = open_store();
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        hr_transition tr;
        char counter[16];
        snprintf(counter, sizeof(counter), "%zu", i + 1);
        ids[i] =
            put_stage(st, seq[i].pipeline, seq[i].stage, counter, seq[i].state, seq[i].result, &tr);
        cr_assert_eq(tr, seq[i].want, "event %zu: got %s, want %s", i, hr_transition_name(tr),
                     hr_transition_name(seq[i].want));
        if (i == 8) {
            /* A cancelled run leaves the last completed result alone. */
            cr_assert_eq(
                hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                HR_OK, "%s", err.msg);
            o = json_array_get(stages, 0);
            cr_assert_str_eq(str_at(o, "last_result", NULL), "Failed");
            cr_assert_str_eq(str_at(o, "last_state", NULL), "Cancelled");
            json_decref(stages);
        }
    }

    /* The stored transitions are what the API lists. */
    events = list(st, q, NULL);
    cr_assert_eq(json_array_size(events), sizeof(seq) / sizeof(seq[0]));
    for (size_t i = 0; i < json_array_size(events); i++) {
        size_t k = sizeof(seq) / sizeof(seq[0]) - 1 - i;
        o = json_array_get(events, i);
        cr_assert_eq(json_integer_value(json_object_get(o, "id")), ids[k]);
        cr_assert_str_eq(str_at(o, "transition", NULL), hr_transition_name(seq[k].want));
    }
    json_decref(events);

    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(stages), 3);
    o = json_array_get(stages, 0);
    cr_assert_str_eq(str_at(o, "pipeline", NULL), "p1");
    cr_assert_str_eq(str_at(o, "stage", NULL), "build");
    cr_assert_str_eq(str_at(o, "last_result", NULL), "Passed");
    cr_assert_str_eq(str_at(o, "last_state", NULL), "Passed");
    cr_assert_str_eq(str_at(o, "last_counter", NULL), "10");
    cr_assert_eq(json_integer_value(json_object_get(o, "last_event_id")), ids[9]);
    cr_assert(json_is_string(json_object_get(o, "updated_at")));
    o = json_array_get(stages, 1);
    cr_assert_str_eq(str_at(o, "stage", NULL), "test");
    cr_assert_str_eq(str_at(o, "last_result", NULL), "Passed");
    o = json_array_get(stages, 2);
    cr_assert_str_eq(str_at(o, "pipeline", NULL), "p2");
    cr_assert_str_eq(str_at(o, "last_result", NULL), "Failed");
    cr_assert_eq(json_integer_value(json_object_get(o, "last_event_id")), ids[11]);
    json_decref(stages);
}

Test(store, building_first_leaves_no_result)
{
    json_t *stages;
    hr_error err;
    hr_transition tr;

    st = open_store();
    put_stage(st, "p", "s", "1", "Building", "Unknown", &tr);
    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert(json_is_null(json_object_get(json_array_get(stages, 0), "last_result")));
    json_decref(stages);
    put_stage(st, "p", "s", "1", "Failed", "Failed", &tr);
    cr_assert_eq(tr, HR_TRANSITION_FAILED);
}

#define NTHREADS 8
#define PER_THREAD 25

typedef struct {
    int t;
    hr_event *evs[PER_THREAD];
} submitter;

static void *submit_many(void *arg)
{
    submitter *sb = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char counter[16];
        hr_error err;
        snprintf(counter, sizeof(counter), "%d", i + 1);
        sb->evs[i] = stage_ev(sb->t % 2 ? "odd" : "even", "build", counter, "Passed", "Passed");
        cr_assert_eq(hr_store_submit(st, sb->evs[i], count_done, NULL, &err), HR_OK, "%s", err.msg);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The value of one metric line "name value" in the exposition text. */
static double metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *p = text;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    cr_assert_fail("no metric %s", name);
    return 0;
}

Test(store, group_commit_batches)
{
    submitter sb[NTHREADS];
    pthread_t th[NTHREADS];
    int64_t ids[NTHREADS * PER_THREAD];
    size_t k = 0;
    double commits, events, secs;
    char *text;

    tally_reset();
    st = open_store();
    for (int t = 0; t < NTHREADS; t++) {
        sb[t].t = t;
        pthread_create(&th[t], NULL, submit_many, &sb[t]);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    tally_wait(NTHREADS * PER_THREAD);
    cr_assert_eq(tl.ok, NTHREADS * PER_THREAD, "failed: %s", tl.last_msg);

    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            ids[k++] = sb[t].evs[i]->id;
            hr_event_free(sb[t].evs[i]);
        }
    }
    qsort(ids, k, sizeof(ids[0]), cmp_i64);
    for (size_t i = 0; i < k; i++)
        cr_assert_eq(ids[i], (int64_t)i + 1, "ids are distinct and dense");

    hr_store_drain(st);
    cr_assert_eq(hr_store_queue_depth(st), 0);
    text = hr_metrics_render();
    commits = metric(text, "herald_store_commit_batch_size_count");
    events = metric(text, "herald_store_commit_batch_size_sum");
    secs = metric(text, "herald_store_commit_seconds_sum");
    cr_log_info("%d events in %.0f commits, mean commit %.3f ms", NTHREADS * PER_THREAD, commits,
                secs * 1000 / commits);
    cr_assert_eq(events, NTHREADS * PER_THREAD);
    cr_assert(commits >= 1 && commits < NTHREADS * PER_THREAD,
              "%.0f commits for %d events: no batching", commits, NTHREADS * PER_THREAD);
    cr_assert_eq(metric(text, "herald_store_queue_depth"), 0);
    free(text);
}

static void expect_ids(hr_store *s, hr_event_query q, const char *want)
{
    char buf[256];
    json_t *arr;
    int64_t next;
    q.limit = q.limit ? q.limit : 50;
    arr = list(s, q, &next);
    cr_assert_str_eq(ids_of(arr, buf, sizeof(buf)), want);
    cr_assert_eq(next, 0);
    json_decref(arr);
}

Test(store, list_filters)
{
    st = open_store();
    put_mix(st);
    expect_ids(st, (hr_event_query){0}, "5,4,3,2,1");
    expect_ids(st, (hr_event_query){.source = "gocd"}, "4,3,2,1");
    expect_ids(st, (hr_event_query){.source = "herald"}, "5");
    expect_ids(st, (hr_event_query){.kind = "agent-status"}, "4");
    expect_ids(st, (hr_event_query){.kind = "stage-status"}, "3,2,1");
    expect_ids(st, (hr_event_query){.pipeline = "p1"}, "2,1");
    expect_ids(st, (hr_event_query){.stage = "build"}, "3,1");
    expect_ids(st, (hr_event_query){.pipeline = "p1", .stage = "build"}, "1");
    expect_ids(st, (hr_event_query){.result = "Failed"}, "2");
    expect_ids(st, (hr_event_query){.result = "Passed", .before_id = 3}, "1");
    expect_ids(st, (hr_event_query){.source = "gocd", .kind = "stage-status", .result = "Passed"},
               "3,1");
    expect_ids(st, (hr_event_query){.pipeline = "nope"}, "");
    /* Values travel as parameters: SQL in a filter is just a string. */
    expect_ids(st, (hr_event_query){.pipeline = "p1' OR '1'='1"}, "");
}

/* An event's warnings are stored with it, shown in its JSON and counted
 * in a column that ?warnings=true filters on. */
Test(store, warnings_are_stored_shown_and_filtered)
{
    hr_event *ev = stage_ev("p1", "build", "1", "Skipped", "Unknown");
    json_t *got = NULL;
    hr_error err;

    st = open_store();
    hr_errlist_add(&ev->warnings, "pipeline.stage.state: expected one of ...; got \"Skipped\"");
    put_ok(st, ev);
    put_stage(st, "p1", "build", "2", "Passed", "Passed", NULL);
    cr_assert_eq(hr_store_get_event(st, ev->id, &got, &err), HR_OK, "%s", err.msg);
    json_t *e = json_object_get(got, "event");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(e, "stage"), "state")),
                     "Skipped");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(e, "warnings"), 0)),
                     "pipeline.stage.state: expected one of ...; got \"Skipped\"");
    json_decref(got);
    expect_ids(st, (hr_event_query){.with_warnings = 1}, "1");
    expect_ids(st, (hr_event_query){.with_warnings = 1, .pipeline = "p2"}, "");
    expect_ids(st, (hr_event_query){0}, "2,1");
    hr_event_free(ev);
}

/* A database of schema 5 (before warnings) is migrated in place: its
 * events are kept and count as having none. */
Test(store, schema_5_is_migrated)
{
    SQLITE_ONLY();
    char path[128];
    sqlite3 *db;

    st = open_store();
    put_stage(st, "p1", "build", "1", "Passed", "Passed", NULL);
    hr_store_close(st);
    st = NULL;
    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              DROP_FLAT_INDEXES
                              "DROP TABLE target_health;"
                              "ALTER TABLE events DROP COLUMN request_digest; ALTER TABLE events "
                              "DROP COLUMN warnings; DROP TABLE run_messages;"
                              " DROP INDEX deliveries_by_run;"
                              " ALTER TABLE deliveries DROP COLUMN service_ref;"
                              " ALTER TABLE deliveries DROP COLUMN run_key;"
                              " DROP INDEX deliveries_by_key;"
                              " ALTER TABLE deliveries DROP COLUMN order_key;"
                              " ALTER TABLE deliveries DROP COLUMN latest_wins;"
                              " ALTER TABLE deliveries DROP COLUMN subject;"
                              " DROP INDEX events_by_time;"
                              " DROP INDEX events_by_transition; DROP INDEX deliveries_by_time;"
                              " ALTER TABLE attempts DROP COLUMN request_headers;"
                              " PRAGMA user_version = 5",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    st = open_store();
    expect_ids(st, (hr_event_query){0}, "1");
    expect_ids(st, (hr_event_query){.with_warnings = 1}, "");
    put_stage(st, "p1", "build", "2", "Failed", "Failed", NULL);
    expect_ids(st, (hr_event_query){0}, "2,1");
}

Test(store, list_agent_transition_is_null)
{
    json_t *arr;
    st = open_store();
    put_mix(st);
    arr = list(st, (hr_event_query){.kind = "agent-status", .limit = 10}, NULL);
    cr_assert(json_is_null(json_object_get(json_array_get(arr, 0), "transition")));
    cr_assert_str_eq(str_at(json_array_get(arr, 0), "agent", "uuid"), "u1");
    json_decref(arr);
}

/* Pages through everything with the given limit and checks every event
 * comes exactly once, newest first. */
static void page_all(hr_store *s, size_t n, size_t limit)
{
    int64_t cursor = 0, expect = (int64_t)n;
    size_t pages = 0, seen = 0;
    do {
        hr_event_query q = {.limit = limit, .before_id = cursor};
        int64_t next;
        json_t *arr = list(s, q, &next);
        for (size_t i = 0; i < json_array_size(arr); i++)
            cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, i), "id")),
                         expect--);
        seen += json_array_size(arr);
        if (next != 0) {
            cr_assert_eq(json_array_size(arr), limit);
            cr_assert_eq(next,
                         json_integer_value(json_object_get(json_array_get(arr, limit - 1), "id")));
        }
        cursor = next;
        pages++;
        json_decref(arr);
        cr_assert(pages <= n + 1, "paging does not end");
    } while (cursor != 0);
    cr_assert_eq(seen, n);
    cr_assert_eq(pages, n == 0 ? 1 : (n + limit - 1) / limit, "limit %zu: %zu pages", limit, pages);
}

Test(store, cursor_paging)
{
    st = open_store();
    for (int i = 0; i < 23; i++) {
        char c[8];
        snprintf(c, sizeof(c), "%d", i);
        put_stage(st, i % 3 ? "a" : "b", "s", c, "Passed", "Passed", NULL);
    }
    page_all(st, 23, 5);
    page_all(st, 23, 23); /* exactly one full page: no next cursor */
    page_all(st, 23, 1);
    page_all(st, 23, 500);
}

/* The names of stage_ev's pipelines in one page of the stages after
 * (pipeline, "s"), or from the first when after is NULL. */
static const char *stage_page(const char *after, size_t limit, char *buf, size_t size)
{
    hr_key_query q = {.after = {after, "s"}, .nafter = after != NULL ? 2 : 0, .limit = limit};
    json_t *got = NULL;
    hr_error err;
    size_t len = 0;
    cr_assert_eq(hr_store_list_stages(st, &q, &got, &(int){0}, &err), HR_OK, "%s", err.msg);
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(got); i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "",
                                str_at(json_array_get(got, i), "pipeline", NULL));
    json_decref(got);
    return buf;
}

/* Keys are ordered byte by byte on both engines, whatever the database's
 * locale (PostgreSQL's schema v11, as SQLite's BINARY): here PostgreSQL's
 * database sorts by ICU's English rules, which put "_x" first and "Zeta"
 * last. The pages follow the same order. */
Test(store, keys_are_listed_in_byte_order_whatever_the_locale)
{
    static const char *const names[] = {"beta", "Zeta", "alpha", "_x", "Alpha"};
    char buf[128];
    if (on_pg()) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE %s", pg_db);
        pg_admin(sql);
        snprintf(sql, sizeof(sql),
                 "CREATE DATABASE %s TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                 " LOCALE 'C.UTF-8'",
                 pg_db);
        pg_admin(sql);
    }
    st = open_store();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        put_stage(st, names[i], "s", "1", "Passed", "Passed", NULL);
    cr_expect_str_eq(stage_page(NULL, 10, buf, sizeof(buf)), "Alpha Zeta _x alpha beta");
    cr_expect_str_eq(stage_page(NULL, 2, buf, sizeof(buf)), "Alpha Zeta");
    cr_expect_str_eq(stage_page("Zeta", 2, buf, sizeof(buf)), "_x alpha");
    cr_expect_str_eq(stage_page("alpha", 2, buf, sizeof(buf)), "beta");
}

Test(store, limit_is_clamped)
{
    json_t *arr;
    int64_t next;
    st = open_store();
    put_mix(st);
    arr = list(st, (hr_event_query){.limit = 0}, &next);
    cr_assert_eq(json_array_size(arr), 1);
    cr_assert_eq(next, 5);
    json_decref(arr);
    arr = list(st, (hr_event_query){.limit = 100000}, &next);
    cr_assert_eq(json_array_size(arr), 5);
    cr_assert_eq(next, 0);
    json_decref(arr);
}

Test(store, reopen_keeps_everything)
{
    json_t *before, *after, *stages, *settings = json_pack("{s:s}", "url", "https://x");
    hr_transition tr;
    hr_error err;
    int64_t id;

    st = open_store();
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    put_stage(st, "p", "s", "2", "Failed", "Failed", NULL);
    put_stage(st, "q", "s", "1", "Passed", "Passed", NULL);
    cr_assert_eq(hr_store_put_settings(st, settings, &err), HR_OK, "%s", err.msg);
    before = list(st, (hr_event_query){.limit = 50}, NULL);
    hr_store_close(st);

    st = open_store();
    after = list(st, (hr_event_query){.limit = 50}, NULL);
    assert_json_eq(after, before);
    cr_assert_eq(hr_store_get_settings(st, &stages, &err), HR_OK, "%s", err.msg);
    assert_json_eq(stages, settings);
    json_decref(stages);
    /* Ids continue, and the stage's history survived the reopen. */
    id = put_stage(st, "p", "s", "3", "Passed", "Passed", &tr);
    cr_assert_eq(id, 4);
    cr_assert_eq(tr, HR_TRANSITION_FIXED);
    json_decref(before);
    json_decref(after);
    json_decref(settings);
}

Test(store, settings_put_get_replace)
{
    json_t *got,
        *a = json_pack("{s:s,s:s}", "url", "https://herald.example", "token", "t\xc3\xb6ken"),
        *b = json_pack("{s:s}", "other", ""), *bad = json_pack("{s:i}", "n", 1);
    char *big = hr_calloc(HR_MAX_SETTING_BYTES + 2, 1);
    json_t *huge;
    hr_error err;

    st = open_store();
    cr_assert_eq(hr_store_get_settings(st, &got, &err), HR_OK, "%s", err.msg);
    cr_assert(json_is_object(got) && json_object_size(got) == 0, "{} before any put");
    json_decref(got);

    cr_assert_eq(hr_store_put_settings(st, a, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_get_settings(st, &got, &err), HR_OK, "%s", err.msg);
    assert_json_eq(got, a);
    json_decref(got);

    cr_assert_eq(hr_store_put_settings(st, b, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_get_settings(st, &got, &err), HR_OK, "%s", err.msg);
    assert_json_eq(got, b);
    json_decref(got);

    cr_assert_eq(hr_store_put_settings(st, bad, &err), HR_EINVAL);
    cr_assert(strstr(err.msg, "\"n\" must be a string") != NULL, "%s", err.msg);
    memset(big, 'x', HR_MAX_SETTING_BYTES + 1);
    huge = json_pack("{s:s}", "big", big);
    cr_assert_eq(hr_store_put_settings(st, huge, &err), HR_EINVAL);
    cr_assert_eq(hr_store_put_settings(st, NULL, &err), HR_EINVAL);
    cr_assert_eq(hr_store_get_settings(st, &got, &err), HR_OK, "%s", err.msg);
    assert_json_eq(got, b);
    json_decref(got);
    json_decref(a);
    json_decref(b);
    json_decref(bad);
    json_decref(huge);
    free(big);
}

Test(store, close_drains_the_queue)
{
    enum { N = 300 };
    hr_event *evs[N];
    hr_error err;
    json_t *arr;
    int64_t next;

    tally_reset();
    st = open_store();
    for (int i = 0; i < N; i++) {
        evs[i] = stage_ev("p", "s", "1", i % 2 ? "Passed" : "Failed", i % 2 ? "Passed" : "Failed");
        cr_assert_eq(hr_store_submit(st, evs[i], count_done, NULL, &err), HR_OK, "%s", err.msg);
    }
    hr_store_close(st);
    st = NULL;
    cr_assert_eq(tl.done, N, "every completion ran before close returned");
    cr_assert_eq(tl.ok, N, "failed: %s", tl.last_msg);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(evs[i]->id, i + 1, "committed in submission order");
        hr_event_free(evs[i]);
    }

    st = open_store();
    arr = list(st, (hr_event_query){.limit = HR_MAX_API_PAGE}, &next);
    cr_assert_eq(json_array_size(arr), N);
    cr_assert_eq(next, 0);
    json_decref(arr);
}

Test(store, drain_refuses_new_events_and_keeps_reads)
{
    hr_event *ev = stage_ev("p", "s", "1", "Passed", "Passed");
    json_t *arr;
    hr_error err;

    st = open_store();
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    hr_store_drain(st);
    cr_assert_eq(hr_store_submit(st, ev, count_done, NULL, &err), HR_ECLOSED);
    cr_assert(strstr(err.msg, "shutting down") != NULL, "%s", err.msg);
    cr_assert_eq(ev->id, 0);
    arr = list(st, (hr_event_query){.limit = 10}, NULL);
    cr_assert_eq(json_array_size(arr), 1);
    json_decref(arr);
    hr_event_free(ev);
}
