/*
 * test_store_limits.c - the store at its limits and its edges: a full
 * queue, a full database and recovering from it, one store per data
 * folder, private files, the schema and its pragmas, open errors,
 * incomplete events.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

/* A completion that holds the writer until the test lets it go. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, released;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void hold_writer(void *ctx, int status, const hr_error *err)
{
    (void)ctx;
    (void)status;
    (void)err;
    pthread_mutex_lock(&gate.lock);
    gate.entered = 1;
    pthread_cond_broadcast(&gate.cond);
    while (!gate.released)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

Test(store, full_queue_is_refused)
{
    hr_store_options o = {.max_queue = 4};
    hr_event *first = stage_ev("p", "s", "1", "Passed", "Passed"), *evs[5];
    hr_error err;

    tally_reset();
    st = open_with(o);
    cr_assert_eq(hr_store_submit(st, first, hold_writer, NULL, &err), HR_OK, "%s", err.msg);
    pthread_mutex_lock(&gate.lock);
    while (!gate.entered)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);

    for (int i = 0; i < 5; i++) {
        evs[i] = stage_ev("p", "s", "2", "Passed", "Passed");
        int rc = hr_store_submit(st, evs[i], count_done, NULL, &err);
        cr_assert_eq(rc, i < 4 ? HR_OK : HR_ETOOBIG, "submit %d: %s", i, err.msg);
    }
    cr_assert_str_eq(err.msg, "store queue is full (4 events waiting)");
    cr_assert_eq(hr_store_queue_depth(st), 5, "the held event and four waiting");

    pthread_mutex_lock(&gate.lock);
    gate.released = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
    tally_wait(4);
    cr_assert_eq(tl.ok, 4);
    cr_assert_eq(evs[4]->id, 0);
    for (int i = 0; i < 5; i++)
        hr_event_free(evs[i]);
    hr_event_free(first);
}

/* A stage event with a 3 KB body, so a capped database fills quickly. */
static hr_event *big_ev(int i)
{
    const size_t pad = 3000;
    char c[16];
    hr_event *ev;
    snprintf(c, sizeof(c), "%d", i + 1);
    ev = stage_ev("p", "s", c, i % 2 ? "Failed" : "Passed", i % 2 ? "Failed" : "Passed");
    ev->raw = hr_realloc(ev->raw, ev->raw_len + pad);
    memset(ev->raw + ev->raw_len, ' ', pad);
    ev->raw_len += pad;
    return ev;
}

Test(store, full_database_fails_whole_events_and_recovers)
{
    SQLITE_ONLY();
    hr_store_options o = {.max_pages = 41}; /* the schema (v13: 8 more indexes) and a few events */
    int64_t last_ok = 0;
    int nok = 0, failed = 0;
    hr_event *evs[10];
    json_t *arr, *stages;
    hr_transition tr;
    hr_error err;

    /* Fill the capped database until an event does not fit. */
    st = open_with(o);
    for (int i = 0; i < 500 && !failed; i++) {
        hr_event *ev = big_ev(i);
        int rc = hr_store_put(st, ev, &err);
        if (rc == HR_OK) {
            nok++;
            last_ok = ev->id;
        } else {
            failed = 1;
            cr_assert_eq(rc, HR_ESTORE);
            cr_assert(strstr(err.msg, "full") != NULL, "%s", err.msg);
            cr_assert_eq(ev->id, 0, "a failed event gets no id");
            cr_assert_eq(ev->transition, HR_TRANSITION_NONE);
        }
        hr_event_free(ev);
    }
    cr_assert(failed, "the cap was never reached");
    cr_assert_gt(nok, 0);

    /* While full, every event of a batch fails, each with the cause. */
    tally_reset();
    for (int i = 0; i < 10; i++) {
        evs[i] = big_ev(1000 + i);
        cr_assert_eq(hr_store_submit(st, evs[i], count_done, NULL, &err), HR_OK, "%s", err.msg);
    }
    tally_wait(10);
    cr_assert_eq(tl.ok, 0);
    cr_assert_eq(tl.last_status, HR_ESTORE);
    cr_assert(strstr(tl.last_msg, "full") != NULL, "%s", tl.last_msg);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(evs[i]->id, 0);
        hr_event_free(evs[i]);
    }

    /* Nothing of the failed events is readable. */
    arr = list(st, (hr_event_query){.limit = HR_MAX_API_PAGE}, NULL);
    cr_assert_eq(json_array_size(arr), (size_t)nok);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "id")), last_ok);
    json_decref(arr);
    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(stages, 0), "last_event_id")),
                 last_ok);
    json_decref(stages);
    hr_store_close(st);

    /* With the cap lifted the store works again, ids continue. */
    o.max_pages = 0;
    st = open_with(o);
    int64_t id = put_stage(st, "p", "s", "y", "Passed", "Passed", &tr);
    cr_assert_eq(id, last_ok + 1);
    cr_assert_eq(tr, nok % 2 ? HR_TRANSITION_PASSED : HR_TRANSITION_FIXED);
}

Test(store, recovers_in_place_once_space_is_freed)
{
    SQLITE_ONLY();
    hr_store_options o = {.max_pages = 54};
    char *big = hr_calloc(60000 + 1, 1);
    json_t *large, *small = json_pack("{s:s}", "url", "https://x");
    hr_error err;
    hr_event *ev = NULL;
    int rc = HR_OK;

    memset(big, 'x', 60000);
    large = json_pack("{s:s}", "blob", big);
    st = open_with(o);
    cr_assert_eq(hr_store_health(st, NULL), HR_OK);
    cr_assert_eq(hr_store_put_settings(st, large, &err), HR_OK, "%s", err.msg);
    for (int i = 0; i < 500 && rc == HR_OK; i++) {
        hr_event_free(ev);
        ev = big_ev(i);
        rc = hr_store_put(st, ev, &err);
    }
    cr_assert_eq(rc, HR_ESTORE, "the cap was never reached");
    cr_assert_eq(ev->id, 0);
    /* /healthz says so, with SQLite's reason. */
    hr_error why;
    cr_assert_eq(hr_store_health(st, &why), HR_ESTORE);
    cr_assert(strstr(why.msg, "full") != NULL, "%s", why.msg);

    /* Replacing the large settings frees pages inside the database; the
     * same event, resent, now fits without reopening the store. */
    cr_assert_eq(hr_store_put_settings(st, small, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_health(st, NULL), HR_OK, "a write succeeded: healthy again");
    cr_assert_eq(hr_store_put(st, ev, &err), HR_OK, "%s", err.msg);
    cr_assert_gt(ev->id, 0);
    hr_event_free(ev);
    json_decref(large);
    json_decref(small);
    free(big);
}

Test(store, commit_batch_size_counts_events_alone)
{
    json_t *settings = json_pack("{s:s}", "url", "https://x");
    hr_error err;
    char *t;

    st = open_store();
    hr_metrics_reset(); /* the migrations are not counted anyway */
    for (int i = 0; i < 3; i++)
        put_stage(st, "p", "s", i == 0 ? "1" : i == 1 ? "2" : "3", "Passed", "Passed", NULL);
    cr_assert_eq(hr_store_put_settings(st, settings, &err), HR_OK, "%s", err.msg);
    t = hr_metrics_render();
    /* Three transactions stored one event each; the settings' transaction
     * stored none: timed, but not a batch of events. */
    cr_assert(strstr(t, "\nherald_store_commit_batch_size_sum 3\n") != NULL, "%s", t);
    cr_assert(strstr(t, "\nherald_store_commit_batch_size_count 3\n") != NULL, "%s", t);
    cr_assert(strstr(t, "\nherald_store_commit_seconds_count 4\n") != NULL, "%s", t);
    free(t);
    json_decref(settings);
}

Test(store, one_store_per_data_folder)
{
    SQLITE_ONLY();
    hr_store_options o = {.dir = dir};
    hr_store *second = NULL;
    char want[128];
    hr_error err;

    st = open_store();
    cr_assert_eq(hr_store_open(&o, &second, &err), HR_EIO);
    cr_assert_null(second);
    snprintf(want, sizeof(want), "the data folder %s is in use by another herald (pid %ld)", dir,
             (long)getpid());
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    /* The first store is untouched and works on. */
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    hr_store_close(st);
    st = open_store(); /* the lock went with the first store */
}

Test(store, database_files_are_private)
{
    SQLITE_ONLY();
    static const char *const files[] = {"herald.db", "herald.db-wal", "herald.db-shm"};
    char path[128];
    struct stat sb;

    st = open_store();
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
        cr_expect_eq(sb.st_mode & 0777, 0600, "%s has mode %o", files[i], sb.st_mode & 0777);
    }
    /* A database an older herald left readable by all is made private. */
    hr_store_close(st);
    st = NULL;
    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(chmod(path, 0644), 0);
    st = open_store();
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
}

Test(store, schema_and_pragmas)
{
    SQLITE_ONLY();
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *q;
    /* Selective filters walk their index; source, kind and result have few
     * values and walk the rowid (sqlite.c says why). None may sort. */
    static const char *const filtered[] = {
        "SELECT id, transition, doc FROM events WHERE pipeline = 'x' ORDER BY id DESC LIMIT 5",
        "SELECT id, transition, doc FROM events WHERE pipeline = 'x' AND stage = 'y' ORDER BY id "
        "DESC LIMIT 5",
        "SELECT id, transition, doc FROM events WHERE stage = 'y' ORDER BY id DESC LIMIT 5",
        /* the rare transitions, and a time range as the store writes it */
        "SELECT id, transition, doc FROM events WHERE transition = 'broken' ORDER BY id DESC LIMIT "
        "5",
        "SELECT id, transition, doc FROM events WHERE received_at >= 5 AND id >= (SELECT id FROM"
        " events WHERE received_at >= 5 ORDER BY received_at LIMIT 1) ORDER BY id DESC LIMIT 5",
    };
    static const char *const scanned[] = {
        "SELECT id, transition, doc FROM events WHERE source = 'x' ORDER BY id DESC LIMIT 5",
        "SELECT id, transition, doc FROM events WHERE kind = 'x' ORDER BY id DESC LIMIT 5",
        "SELECT id, transition, doc FROM events WHERE result = 'x' AND id < 10 ORDER BY id DESC "
        "LIMIT 5",
    };

    st = open_store();
    put_mix(st);
    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(q, 0), 14); /* the schema version: the latest */
    sqlite3_finalize(q);

    /* Every API filter walks an index newest first, without a sort. */
    for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++) {
        char sql[256];
        int indexed = 0;
        snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", filtered[i]);
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(q, 3);
            cr_assert(strstr(detail, "TEMP B-TREE") == NULL, "%s: %s", filtered[i], detail);
            indexed |= strstr(detail, "INDEX events_by_") != NULL;
        }
        cr_assert(indexed, "%s uses no index", filtered[i]);
        sqlite3_finalize(q);
    }
    for (size_t i = 0; i < sizeof(scanned) / sizeof(scanned[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", scanned[i]);
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(q, 3);
            cr_assert(strstr(detail, "TEMP B-TREE") == NULL, "%s: %s", scanned[i], detail);
        }
        sqlite3_finalize(q);
    }
    cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

Test(store, refuses_a_newer_schema)
{
    SQLITE_ONLY();
    char path[128];
    sqlite3 *db;
    hr_store_options o = {.dir = dir};
    hr_store *s = NULL;
    hr_error err;

    snprintf(path, sizeof(path), "%s/herald.db", dir);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_ESTORE);
    cr_assert_null(s);
    cr_assert(strstr(err.msg, "schema version 99") != NULL, "%s", err.msg);
}

Test(store, open_errors)
{
    char sub[128];
    hr_store_options o = {0};
    hr_store *s = NULL;
    hr_error err;

    cr_assert_eq(hr_store_open(&o, &s, &err), HR_EINVAL);
    snprintf(sub, sizeof(sub), "%s/missing/deeper", dir);
    o.dir = sub;
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_EIO);
    cr_assert(strstr(err.msg, sub) != NULL, "the message names the folder: %s", err.msg);
    o.dir = dir;
    o.readers = 1000;
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_EINVAL);
    o.readers = 0;
    o.max_batch = HR_MAX_STORE_BATCH + 1;
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_EINVAL);
    cr_assert_null(s);
}

Test(store, submit_rejects_incomplete_events)
{
    hr_event *ev = hr_event_new();
    hr_error err;
    st = open_store();
    cr_assert_eq(hr_store_submit(st, ev, count_done, NULL, &err), HR_EINVAL);
    ev->source = hr_strdup("gocd");
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    cr_assert_eq(hr_store_submit(st, ev, count_done, NULL, &err), HR_EINVAL);
    cr_assert(strstr(err.msg, "pipeline name") != NULL, "%s", err.msg);
    hr_event_free(ev);
}

Test(store, reads_see_every_commit)
{
    hr_store_options o = {.readers = 2};
    st = open_with(o);
    for (int i = 0; i < 20; i++) {
        json_t *arr;
        put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
        arr = list(st, (hr_event_query){.limit = 50}, NULL);
        cr_assert_eq(json_array_size(arr), (size_t)i + 1, "a reader sees every commit");
        json_decref(arr);
    }
    hr_store_close(NULL); /* NULL is fine */
}
