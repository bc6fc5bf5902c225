/*
 * test_store.c - the store against a real SQLite database in a fresh
 * folder per test: round trips, transitions, group commit, filters and
 * paging, durability across reopen, settings, draining, a full database.
 */
#include "store/json.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static hr_store *st;

/*
 * The engine under test: SQLite in dir, or with HERALD_TEST_STORE=
 * postgresql a database of its own (pg_uri) on the server HERALD_TEST_PG
 * names (scripts/pg.sh; scripts/test.sh starts one), created in setup and
 * dropped in teardown, so tests running at once do not meet.
 */
static char pg_uri[512], pg_db[64];

static int on_pg(void)
{
    const char *e = getenv("HERALD_TEST_STORE");
    return e != NULL && strcmp(e, "postgresql") == 0;
}

/* Tests of what only SQLite has (its files, pragmas, a full disk). */
#define SQLITE_ONLY()                                                                              \
    do {                                                                                           \
        if (on_pg())                                                                               \
            cr_skip_test("SQLite only");                                                           \
    } while (0)

/* Runs sql on the server's maintenance database. */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("HERALD_TEST_PG"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void pg_setup(void)
{
    const char *base = getenv("HERALD_TEST_PG");
    const char *slash;
    char sql[128];
    if (base == NULL)
        cr_skip_test("HERALD_TEST_PG is not set (scripts/pg.sh start DIR prints one)");
    slash = strrchr(base, '/');
    cr_assert_not_null(slash);
    snprintf(pg_db, sizeof(pg_db), "herald_unit_%d", (int)getpid());
    snprintf(pg_uri, sizeof(pg_uri), "%.*s/%s", (int)(slash - base), base, pg_db);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", pg_db);
    pg_admin(sql);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/herald-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    st = NULL;
    hr_metrics_reset();
    hr_log_set_level(HR_LOG_WARN);
    if (on_pg())
        pg_setup();
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    hr_store_close(st);
    st = NULL;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (on_pg() && pg_db[0] != '\0') {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
        pg_admin(sql);
    }
}

TestSuite(store, .init = setup, .fini = teardown);

static hr_store *open_with(hr_store_options o)
{
    hr_store *s = NULL;
    hr_error err;
    o.dir = dir;
    if (on_pg())
        o.uri = pg_uri;
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_OK, "open: %s", err.msg);
    return s;
}

static hr_store *open_store(void)
{
    hr_store_options o = {0};
    return open_with(o);
}

/* A stage event the way the GoCD ingest builds one; raw is a body with
 * non-ASCII text. */
static hr_event *stage_ev(const char *pipeline, const char *stage, const char *counter,
                          const char *state, const char *result)
{
    hr_event *ev = hr_event_new();
    char raw[512];
    int n;

    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    ev->version = hr_strdup("4.0");
    ev->pipeline_name = hr_strdup(pipeline);
    ev->pipeline_counter = hr_strdup(counter);
    ev->pipeline_label = hr_strdup(counter);
    ev->pipeline_group = hr_strdup("first");
    ev->stage_name = hr_strdup(stage);
    ev->stage_counter = hr_strdup("1");
    ev->stage_state = hr_strdup(state);
    ev->stage_result = hr_strdup(result);
    ev->approval_type = hr_strdup("success");
    ev->approved_by = hr_strdup("changes");
    ev->stage_created_at = 1310584997100;    /* 2011-07-13T19:23:17.100Z */
    ev->stage_transition_at = 1310586217100; /* 2011-07-13T19:43:37.100Z */
    ev->njobs = 1;
    ev->jobs = hr_calloc(1, sizeof(hr_job));
    ev->jobs[0].name = hr_strdup("compile");
    ev->jobs[0].state = hr_strdup("Completed");
    ev->jobs[0].result = hr_strdup(result);
    ev->jobs[0].agent_uuid = hr_strdup("a1b2");
    ev->jobs[0].scheduled_at = 1310584997100;
    ev->jobs[0].assigned_at = HR_TIME_NONE;
    ev->jobs[0].completed_at = 1310586217100;
    ev->ncauses = 1;
    ev->causes = hr_calloc(1, sizeof(hr_cause));
    ev->causes[0].material_type = hr_strdup("git");
    ev->causes[0].material = hr_strdup("https://example.com/repo.git");
    ev->causes[0].config =
        json_pack("{s:s,s:s}", "url", "https://example.com/repo.git", "branch", "main");
    ev->causes[0].changed = true;
    ev->causes[0].nmods = 1;
    ev->causes[0].mods = hr_calloc(1, sizeof(hr_modification));
    ev->causes[0].mods[0].revision = hr_strdup("1a2b3c");
    ev->causes[0].mods[0].modified_at = 1310584000000;
    ev->causes[0].mods[0].data = json_object();

    n = snprintf(
        raw, sizeof(raw),
        "{\"pipeline\": {\"name\": \"%s\", \"counter\": \"%s\", \"stage\": "
        "{\"name\": \"%s\", \"state\": \"%s\", \"result\": \"%s\"}},\n"
        " \"note\": \"caf\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80\"}",
        pipeline, counter, stage, state, result);
    ev->raw = hr_strndup(raw, (size_t)n);
    ev->raw_len = (size_t)n;
    return ev;
}

static hr_event *agent_ev(const char *uuid, const char *state)
{
    hr_event *ev = hr_event_new();
    static const char body[] = "{\"uuid\": \"agent_uuid\", \"agent_state\": \"building\"}";
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_AGENT_STATUS);
    ev->version = hr_strdup("4.0");
    ev->has_agent = true;
    ev->agent.uuid = hr_strdup(uuid);
    ev->agent.host_name = hr_strdup("agent-1");
    ev->agent.ip_address = hr_strdup("127.0.0.1");
    ev->agent.config_state = hr_strdup("Enabled");
    ev->agent.agent_state = hr_strdup(state);
    ev->agent.build_state = hr_strdup(state);
    ev->agent.is_elastic = true;
    ev->agent.transition_at = 1518676288998;
    ev->raw = hr_strndup(body, sizeof(body) - 1);
    ev->raw_len = sizeof(body) - 1;
    return ev;
}

static void put_ok(hr_store *s, hr_event *ev)
{
    hr_error err;
    cr_assert_eq(hr_store_put(s, ev, &err), HR_OK, "put: %s", err.msg);
    cr_assert_gt(ev->id, 0);
}

/* Puts a new stage event and returns its id; *tr gets its transition. */
static int64_t put_stage(hr_store *s, const char *pipeline, const char *stage, const char *counter,
                         const char *state, const char *result, hr_transition *tr)
{
    hr_event *ev = stage_ev(pipeline, stage, counter, state, result);
    int64_t id;
    put_ok(s, ev);
    id = ev->id;
    if (tr != NULL)
        *tr = ev->transition;
    hr_event_free(ev);
    return id;
}

static void assert_json_eq(json_t *got, json_t *want)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
        cr_log_error("got:\n%s\nwant:\n%s", g, w);
        free(g);
        free(w);
        cr_assert_fail("JSON differs");
    }
}

static json_t *get_event(hr_store *s, int64_t id)
{
    json_t *out = NULL;
    hr_error err;
    cr_assert_eq(hr_store_get_event(s, id, &out, &err), HR_OK, "get %lld: %s", (long long)id,
                 err.msg);
    return out;
}

static json_t *list(hr_store *s, hr_event_query q, int64_t *next)
{
    json_t *out = NULL;
    int64_t n = -1;
    hr_error err;
    cr_assert_eq(hr_store_list_events(s, &q, &out, &n, &err), HR_OK, "list: %s", err.msg);
    if (next != NULL)
        *next = n;
    return out;
}

/* The ids of a listed page, as a comma-separated string for assertions. */
static const char *ids_of(json_t *arr, char *buf, size_t size)
{
    size_t i, len = 0;
    buf[0] = '\0';
    for (i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        int n = snprintf(buf + len, size - len, "%s%lld", i ? "," : "",
                         (long long)json_integer_value(json_object_get(v, "id")));
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
    return buf;
}

static const char *str_at(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

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
    /* Everything else: exactly hr_event_to_json of the event as it now is. */
    want = hr_event_to_json(ev);
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
    want = hr_event_to_json(ev);
    json_object_set_new(want, "transition", json_null());
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
            cr_assert_eq(hr_store_list_stages(st, &stages, &err), HR_OK, "%s", err.msg);
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

    cr_assert_eq(hr_store_list_stages(st, &stages, &err), HR_OK, "%s", err.msg);
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
    cr_assert_eq(hr_store_list_stages(st, &stages, &err), HR_OK, "%s", err.msg);
    cr_assert(json_is_null(json_object_get(json_array_get(stages, 0), "last_result")));
    json_decref(stages);
    put_stage(st, "p", "s", "1", "Failed", "Failed", &tr);
    cr_assert_eq(tr, HR_TRANSITION_FAILED);
}

/* Completions counted across threads. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t done, ok;
    int last_status;
    char last_msg[HR_ERROR_MSG_MAX];
} tally;

static tally tl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};

static void count_done(void *ctx, int status, const hr_error *err)
{
    (void)ctx;
    pthread_mutex_lock(&tl.lock);
    tl.done++;
    if (status == HR_OK) {
        tl.ok++;
        cr_assert_null(err);
    } else {
        tl.last_status = status;
        snprintf(tl.last_msg, sizeof(tl.last_msg), "%s", err != NULL ? err->msg : "(no error)");
    }
    pthread_cond_broadcast(&tl.cond);
    pthread_mutex_unlock(&tl.lock);
}

static void tally_reset(void)
{
    pthread_mutex_lock(&tl.lock);
    tl.done = tl.ok = 0;
    tl.last_status = 0;
    tl.last_msg[0] = '\0';
    pthread_mutex_unlock(&tl.lock);
}

/* Waits (at most 60 s) until n completions have run. */
static void tally_wait(size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&tl.lock);
    while (tl.done < n)
        if (pthread_cond_timedwait(&tl.cond, &tl.lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&tl.lock);
    cr_assert_eq(tl.done, n, "%zu of %zu completions ran", tl.done, n);
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

/* Puts the filter fixture: ids 1..5 in this order. */
static void put_mix(hr_store *s)
{
    hr_event *ev;
    put_stage(s, "p1", "build", "1", "Passed", "Passed", NULL); /* 1 */
    put_stage(s, "p1", "test", "1", "Failed", "Failed", NULL);  /* 2 */
    put_stage(s, "p2", "build", "7", "Passed", "Passed", NULL); /* 3 */
    ev = agent_ev("u1", "Idle");                                /* 4 */
    put_ok(s, ev);
    hr_event_free(ev);
    ev = hr_event_new(); /* 5: another source and kind */
    ev->source = hr_strdup("herald");
    ev->kind = hr_strdup("note");
    put_ok(s, ev);
    hr_event_free(ev);
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
                              "DROP TABLE target_health;"
                              "ALTER TABLE events DROP COLUMN request_digest; ALTER TABLE events "
                              "DROP COLUMN warnings; DROP TABLE run_messages;"
                              " DROP INDEX deliveries_by_run;"
                              " ALTER TABLE deliveries DROP COLUMN service_ref;"
                              " ALTER TABLE deliveries DROP COLUMN run_key;"
                              " DROP INDEX deliveries_by_key;"
                              " ALTER TABLE deliveries DROP COLUMN order_key;"
                              " ALTER TABLE deliveries DROP COLUMN latest_wins;"
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
    hr_store_options o = {.max_pages = 33};
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
    cr_assert_eq(hr_store_list_stages(st, &stages, &err), HR_OK, "%s", err.msg);
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
    hr_store_options o = {.max_pages = 46};
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
    cr_assert_eq(sqlite3_column_int(q, 0), 11); /* the schema version: the latest */
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

/* ---- Deliveries ---------------------------------------------------------- */

/* A router for the tests: every stage event goes to "a" and, when it
 * failed, to "b" as well; agents go nowhere. Counts its calls and checks it
 * sees the event as stored (id and transition set). */
typedef struct test_router {
    int calls;
    int freed;
    /* Ordered: "a"'s deliveries get the pipeline's name as order key. */
    int ordered, latest_wins;
} test_router;

static size_t route_ab(void *ctx, const hr_event *ev, const char *doc, size_t doc_len,
                       hr_store_route *out, size_t max)
{
    test_router *r = ctx;
    size_t n = 0;
    r->calls++;
    cr_assert(ev->id > 0);
    cr_assert(doc_len > 0 && doc[0] == '{');
    if (strcmp(ev->kind, HR_KIND_STAGE_STATUS) != 0)
        return 0;
    out[n++] = (hr_store_route){"r1", "a", r->ordered ? ev->pipeline_name : NULL, r->latest_wins};
    if (ev->transition == HR_TRANSITION_FAILED && n < max)
        out[n++] = (hr_store_route){"r2", "b", NULL, 0};
    return n;
}

static void router_freed(void *ctx)
{
    ((test_router *)ctx)->freed++;
}

static int notified;
static void on_notify(void *ctx)
{
    (void)ctx;
    notified++;
}

/* Every due delivery of any target, as an unfiltered claim. */
/* Runs sql on the database under test (PostgreSQL only). */
static void pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_uri);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/*
 * On PostgreSQL a claim leases what it hands out, and another claim skips
 * it until the lease ends. These tests claim again to look at what is due,
 * as a delivery engine that restarted would: end every lease first.
 */
static void release_leases(void)
{
    if (on_pg())
        pg_exec("UPDATE deliveries SET lease_until = 0");
}

/* The fencing token of each delivery's latest claim, which its attempt
 * must carry (a delivery engine hands the job's back). */
static int64_t tokens[4096];

static int64_t token_of(int64_t id)
{
    return id > 0 && id < 4096 ? tokens[id] : 0;
}

static int claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                     hr_error *err)
{
    int rc;
    release_leases();
    rc = hr_store_claim_due(s, q, jobs, n, err);
    for (size_t i = 0; rc == HR_OK && i < *n; i++)
        if ((*jobs)[i].id > 0 && (*jobs)[i].id < 4096)
            tokens[(*jobs)[i].id] = (*jobs)[i].claim_token;
    return rc;
}

static int claim_all(hr_store *s, int64_t now, size_t max, hr_delivery_job **jobs, size_t *n,
                     hr_error *err)
{
    hr_claim_query q = {.now = now, .max = max};
    return claim_due(s, &q, jobs, n, err);
}

static int recorded_status = 1;
static void on_recorded(void *arg, int status)
{
    (void)arg;
    recorded_status = status;
}

/* Waits until the writer has committed everything queued so far, by
 * putting one more event (the queue is FIFO). */
static void sync_writer(hr_store *s)
{
    hr_event *ev = agent_ev("sync", "Idle");
    hr_error err;
    cr_assert_eq(hr_store_put(s, ev, &err), HR_OK, "%s", err.msg);
    hr_event_free(ev);
}

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

/* ---- CI builds and package revisions --------------------------------------- */

static hr_event *build_ev(const char *job, const char *branch, int64_t number, const char *phase,
                          const char *result)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup("jenkins");
    ev->kind = hr_strdup(HR_KIND_BUILD_STATUS);
    /* herald notify keeps a history per branch; Jenkins per job. */
    ev->version =
        hr_strdup(branch != NULL && strcmp(branch, "jenkins") != 0 ? "notify" : "job-status");
    ev->has_build = true;
    ev->build.job_name = hr_strdup(job);
    ev->build.branch = branch ? hr_strdup(branch) : NULL;
    ev->build.number = number;
    ev->build.phase = hr_strdup(phase);
    ev->build.result = result ? hr_strdup(result) : NULL;
    return ev;
}

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
    cr_assert_eq(hr_store_list_jobs(st, &jobs, &err), HR_OK, "%s", err.msg);
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

static hr_event *rev_ev(const char *repo, const char *pkg, const char *revision, const char *raw)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_PACKAGE);
    ev->kind = hr_strdup(HR_KIND_PACKAGE_REVISION);
    ev->version = hr_strdup("1");
    ev->has_package = true;
    ev->package.repository = hr_strdup(repo);
    ev->package.package = hr_strdup(pkg);
    ev->package.revision = hr_strdup(revision);
    ev->package.timestamp = 1310672617100;
    ev->package.data = json_pack("{s:s}", "VERSION", revision);
    ev->raw = hr_strdup(raw);
    ev->raw_len = strlen(raw);
    return ev;
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

/* Records one attempt at delivery id, started started_at. */
static void record(hr_store *s, int64_t id, int attempt, hr_outcome o, int64_t started_at)
{
    hr_attempt a = {.delivery_id = id,
                    .claim_token = token_of(id),
                    .attempt = attempt,
                    .started_at = started_at,
                    .latency_ms = 3,
                    .status = o == HR_OUTCOME_DELIVERED ? 200 : 503,
                    .outcome = o,
                    .next_at = hr_time_now_ms() + 3600000};
    recorded_status = 1;
    hr_store_record_attempt(s, &a, on_recorded, NULL);
    sync_writer(s);
    cr_assert_eq(recorded_status, HR_OK);
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
    if (on_pg()) {
        PGconn *c = PQconnectdb(pg_uri);
        PGresult *r = PQexec(c, sql);
        int64_t v;
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
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
    /* PostgreSQL keeps its foreign keys on, always. */
    if (on_pg())
        return;
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
    int64_t young = put_old_stage(st, "young", "Passed", 0);

    record(st, due_delivery(st, delivered, "a"), 1, HR_OUTCOME_DELIVERED, now - 10 * DAY_MS);
    record(st, due_delivery(st, dead, "a"), 1, HR_OUTCOME_DEAD, now - 10 * DAY_MS);
    record(st, due_delivery(st, retrying, "a"), 1, HR_OUTCOME_DELIVERED, now - 10 * DAY_MS);
    record(st, due_delivery(st, retrying, "b"), 1, HR_OUTCOME_RETRY, now - 10 * DAY_MS);
    record(st, due_delivery(st, young, "a"), 1, HR_OUTCOME_DELIVERED, now);

    /* Attempts kept forever here: only whole events go. */
    hr_prune_result res = prune(st, 5 * DAY_MS, 0, 0);
    cr_expect_eq(res.events, 3, "delivered, dead and the agent event");
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
    cr_assert_eq(hr_store_list_stages(st, &got, &err), HR_OK, "%s", err.msg);
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

    /* The stage's history goes on: the next event's transition is known. */
    hr_transition tr;
    put_stage(st, "delivered", "s", "2", "Failed", "Failed", &tr);
    cr_expect_eq(tr, HR_TRANSITION_BROKEN);
    hr_event_free(agent);
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
