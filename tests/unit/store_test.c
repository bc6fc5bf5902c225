/*
 * store_test.c - the store tests' shared fixtures and helpers
 * (store_test.h).
 */
#include "store_test.h"

char dir[64];
hr_store *st;

/*
 * The engine under test: SQLite in dir, or with HERALD_TEST_STORE=
 * postgresql a database of its own (pg_uri) on the server HERALD_TEST_PG
 * names (scripts/pg.sh; scripts/test.sh starts one), created in setup and
 * dropped in teardown, so tests running at once do not meet.
 */
char pg_uri[512], pg_db[64];

int on_pg(void)
{
    const char *e = getenv("HERALD_TEST_STORE");
    return e != NULL && strcmp(e, "postgresql") == 0;
}

/* Runs sql on the server's maintenance database. */
void pg_admin(const char *sql)
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

void store_test_setup(void)
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

void store_test_teardown(void)
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

hr_store *open_with(hr_store_options o)
{
    hr_store *s = NULL;
    hr_error err;
    o.dir = dir;
    if (on_pg())
        o.uri = pg_uri;
    cr_assert_eq(hr_store_open(&o, &s, &err), HR_OK, "open: %s", err.msg);
    return s;
}

hr_store *open_store(void)
{
    hr_store_options o = {0};
    return open_with(o);
}

/* A stage event the way the GoCD ingest builds one; raw is a body with
 * non-ASCII text. */
hr_event *stage_ev(const char *pipeline, const char *stage, const char *counter, const char *state,
                   const char *result)
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

/* A CI build's event as Jenkins' ingest or herald notify builds one. */
hr_event *build_ev(const char *job, const char *branch, int64_t number, const char *phase,
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

hr_event *agent_ev(const char *uuid, const char *state)
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

void put_ok(hr_store *s, hr_event *ev)
{
    hr_error err;
    cr_assert_eq(hr_store_put(s, ev, &err), HR_OK, "put: %s", err.msg);
    cr_assert_gt(ev->id, 0);
}

/* Puts a new stage event and returns its id; *tr gets its transition. */
int64_t put_stage(hr_store *s, const char *pipeline, const char *stage, const char *counter,
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

void assert_json_eq(json_t *got, json_t *want)
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

json_t *get_event(hr_store *s, int64_t id)
{
    json_t *out = NULL;
    hr_error err;
    cr_assert_eq(hr_store_get_event(s, id, &out, &err), HR_OK, "get %lld: %s", (long long)id,
                 err.msg);
    return out;
}

json_t *list(hr_store *s, hr_event_query q, int64_t *next)
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
const char *ids_of(json_t *arr, char *buf, size_t size)
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

const char *str_at(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

tally tl = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, ""};

void count_done(void *ctx, int status, const hr_error *err)
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

void tally_reset(void)
{
    pthread_mutex_lock(&tl.lock);
    tl.done = tl.ok = 0;
    tl.last_status = 0;
    tl.last_msg[0] = '\0';
    pthread_mutex_unlock(&tl.lock);
}

/* Waits (at most 60 s) until n completions have run. */
void tally_wait(size_t n)
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

size_t route_ab(void *ctx, const hr_event *ev, const char *doc, size_t doc_len, hr_store_route *out,
                size_t max)
{
    test_router *r = ctx;
    size_t n = 0;
    r->calls++;
    cr_assert(ev->id > 0);
    cr_assert(doc_len > 0 && doc[0] == '{');
    if (strcmp(ev->kind, HR_KIND_STAGE_STATUS) != 0)
        return 0;
    if (r->per_material) {
        out[n++] = (hr_store_route){"r1", "a", "acme/app@1", r->latest_wins, "acme/app@1"};
        out[n++] = (hr_store_route){"r1", "a", "acme/lib@2", r->latest_wins, "acme/lib@2"};
        return n;
    }
    out[n++] =
        (hr_store_route){"r1", "a", r->ordered ? ev->pipeline_name : NULL, r->latest_wins, NULL};
    if (ev->transition == HR_TRANSITION_FAILED && n < max)
        out[n++] = (hr_store_route){"r2", "b", NULL, 0, NULL};
    return n;
}

void router_freed(void *ctx)
{
    ((test_router *)ctx)->freed++;
}

int notified;
void on_notify(void *ctx)
{
    (void)ctx;
    notified++;
}

/* Every due delivery of any target, as an unfiltered claim. */
/* Runs sql on the database under test (PostgreSQL only). */
void pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_uri);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

int64_t pg_value(const char *sql)
{
    PGconn *c = PQconnectdb(pg_uri);
    PGresult *r = PQexec(c, sql);
    int64_t v;
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/*
 * On PostgreSQL a claim leases what it hands out, and another claim skips
 * it until the lease ends. These tests claim again to look at what is due,
 * as a delivery engine that restarted would: end every lease first.
 */
void release_leases(void)
{
    if (on_pg())
        pg_exec("UPDATE deliveries SET lease_until = 0");
}

/* The fencing token of each delivery's latest claim, which its attempt
 * must carry (a delivery engine hands the job's back). */
static int64_t tokens[4096];

int64_t token_of(int64_t id)
{
    return id > 0 && id < 4096 ? tokens[id] : 0;
}

int claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
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

int claim_all(hr_store *s, int64_t now, size_t max, hr_delivery_job **jobs, size_t *n,
              hr_error *err)
{
    hr_claim_query q = {.now = now, .max = max};
    return claim_due(s, &q, jobs, n, err);
}

int recorded_status = 1;
void on_recorded(void *arg, int status)
{
    (void)arg;
    recorded_status = status;
}

/* Waits until the writer has committed everything queued so far, by
 * putting one more event (the queue is FIFO). */
void sync_writer(hr_store *s)
{
    hr_event *ev = agent_ev("sync", "Idle");
    hr_error err;
    cr_assert_eq(hr_store_put(s, ev, &err), HR_OK, "%s", err.msg);
    hr_event_free(ev);
}

/* A package revision event. */
hr_event *rev_ev(const char *repo, const char *pkg, const char *revision, const char *raw)
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

/* Puts the filter fixture: ids 1..5 in this order. */
void put_mix(hr_store *s)
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

/* Records one attempt at delivery id, started started_at. */
void record(hr_store *s, int64_t id, int attempt, hr_outcome o, int64_t started_at)
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
