/*
 * test_store_pg_pipe.c - a batch of several events through the writer: on
 * PostgreSQL the pipelined transaction (store/pg_pipe.c: statements sent
 * ahead, no savepoint per item), and when one item fails, the batch again
 * item by item, so that the item fails alone as it always did. Runs on both
 * engines; what only PostgreSQL shows (one transaction without savepoints,
 * the batch made to wait behind a row lock so that its events meet in one
 * batch) is checked there.
 */
#include "store_test.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

#define N 6

/* What one submitted event's completion said. */
typedef struct outcome {
    int status;
    char msg[HR_ERROR_MSG_MAX];
} outcome;

static void on_done(void *ctx, int status, const hr_error *err)
{
    outcome *o = ctx;
    o->status = status;
    snprintf(o->msg, sizeof(o->msg), "%s", err != NULL ? err->msg : "");
    count_done(NULL, status, err);
}

/* route_ab, except that an event of pipeline "bad" gets a delivery with no
 * route name, which the database refuses (NOT NULL): a statement that
 * fails once it reaches the database, after the writer sent it ahead. */
static size_t route_bad(void *ctx, const hr_event *ev, const char *doc, size_t doc_len,
                        hr_store_route *out, size_t max)
{
    size_t n = route_ab(ctx, ev, doc, doc_len, out, max);
    if (ev->pipeline_name != NULL && strcmp(ev->pipeline_name, "bad") == 0 && n > 0)
        out[0].route = NULL;
    return n;
}

/* On PostgreSQL: holds the history row of stage gate/s, so that the
 * writer's batch holding a gate event waits, and everything submitted
 * meanwhile queues up for the next batch. NULL on SQLite. */
static PGconn *gate_close(void)
{
    PGconn *c;
    if (!on_pg())
        return NULL;
    put_stage(st, "gate", "s", "1", "Passed", "Passed", NULL);
    c = PQconnectdb(pg_uri);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PQclear(PQexec(c, "BEGIN"));
    PGresult *r = PQexec(c, "SELECT 1 FROM stage_state WHERE pipeline = 'gate' FOR UPDATE");
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    return c;
}

/* Submits a gate event (the writer then waits on the row) and gives it
 * time to get there. */
static void gate_wait(PGconn *c, hr_event **gate, outcome *o)
{
    hr_error err;
    struct timespec pause = {0, 300 * 1000 * 1000};
    if (c == NULL)
        return;
    *gate = stage_ev("gate", "s", "2", "Passed", "Passed");
    cr_assert_eq(hr_store_submit(st, *gate, on_done, o, &err), HR_OK, "%s", err.msg);
    nanosleep(&pause, NULL);
}

static void gate_open(PGconn *c)
{
    if (c == NULL)
        return;
    PQclear(PQexec(c, "COMMIT"));
    PQfinish(c);
}

/* How many transactions (subtransactions included) wrote the events with
 * ids from..to and their deliveries, as long as nothing changed them
 * since: 1 for a batch without savepoints. */
static int64_t writers_of(int64_t from, int64_t to)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT x) FROM (SELECT xmin::text AS x FROM events"
             " WHERE id BETWEEN %lld AND %lld UNION ALL SELECT xmin::text FROM deliveries"
             " WHERE event_id BETWEEN %lld AND %lld) t",
             (long long)from, (long long)to, (long long)from, (long long)to);
    return pg_value(sql);
}

/* The deliveries due now, counted per event id (ids below 64). */
static void deliveries_per_event(int *count)
{
    hr_delivery_job *jobs = NULL;
    size_t n = 0;
    hr_error err;
    memset(count, 0, 64 * sizeof(int));
    cr_assert_eq(claim_all(st, hr_time_now_ms(), 100, &jobs, &n, &err), HR_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].event_id > 0 && jobs[i].event_id < 64)
            count[jobs[i].event_id]++;
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
}

Test(store, a_batch_commits_its_events_deliveries_and_transitions)
{
    static test_router r;
    static const struct {
        const char *pipeline, *result;
        hr_transition want;
        int deliveries;
    } in[N] = {
        {"p", "Failed", HR_TRANSITION_BROKEN, 1}, {"p", "Failed", HR_TRANSITION_STILL_FAILING, 1},
        {"q", "Passed", HR_TRANSITION_PASSED, 1}, {"p", "Passed", HR_TRANSITION_FIXED, 1},
        {NULL, NULL, HR_TRANSITION_NONE, 0}, /* an agent: no stage, no route */
        {"r", "Failed", HR_TRANSITION_FAILED, 2},
    };
    hr_event *evs[N], *gate = NULL;
    outcome out[N], gate_out;
    int per_event[64];
    hr_error err;
    PGconn *c;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, NULL);
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    for (int i = 0; i < N; i++) {
        char counter[8];
        snprintf(counter, sizeof(counter), "%d", i + 2);
        evs[i] = in[i].pipeline != NULL
                     ? stage_ev(in[i].pipeline, "s", counter, in[i].result, in[i].result)
                     : agent_ev("u1", "Idle");
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    gate_open(c);
    tally_wait(N + (c != NULL));
    cr_assert_eq(tl.ok, N + (c != NULL), "%s", tl.last_msg);

    /* Each stage's state is its last event's. */
    json_t *stages = NULL;
    int seen = 0;
    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    for (size_t i = 0; i < json_array_size(stages); i++) {
        json_t *o = json_array_get(stages, i);
        int64_t last = json_integer_value(json_object_get(o, "last_event_id"));
        if (strcmp(str_at(o, "pipeline", NULL), "p") == 0) {
            cr_expect_eq(last, evs[3]->id);
            cr_expect_str_eq(str_at(o, "last_result", NULL), "Passed");
            cr_expect_str_eq(str_at(o, "last_counter", NULL), "5");
            seen++;
        } else if (strcmp(str_at(o, "pipeline", NULL), "r") == 0) {
            cr_expect_eq(last, evs[5]->id);
            cr_expect_str_eq(str_at(o, "last_result", NULL), "Failed");
            seen++;
        }
    }
    cr_expect_eq(seen, 2);
    json_decref(stages);
    /* One transaction wrote them all, with no savepoint (before the claim
     * below moves the deliveries). */
    if (on_pg())
        cr_expect_eq(writers_of(evs[0]->id, evs[N - 1]->id), 1);
    deliveries_per_event(per_event);
    for (int i = 0; i < N; i++) {
        cr_assert_gt(evs[i]->id, 0);
        cr_expect_eq(evs[i]->transition, in[i].want, "event %d: %s", i,
                     hr_transition_name(evs[i]->transition));
        cr_expect_eq(per_event[evs[i]->id], in[i].deliveries, "event %d", i);
        if (i > 0)
            cr_expect_eq(evs[i]->id, evs[i - 1]->id + 1, "ids in the batch's order");
    }
    /* The stored rows say the same as the answers. */
    for (int i = 0; i < N; i++) {
        json_t *got = get_event(st, evs[i]->id);
        const char *tr = str_at(json_object_get(got, "event"), "transition", NULL);
        if (in[i].pipeline != NULL)
            cr_expect_str_eq(tr, hr_transition_name(in[i].want));
        json_decref(got);
    }
    for (int i = 0; i < N; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

Test(store, a_failing_item_fails_alone_and_the_others_commit)
{
    static test_router r;
    hr_event *evs[5], *first, *gate = NULL;
    outcome out[5], gate_out;
    int per_event[64];
    hr_error err;
    PGconn *c;

    st = open_store();
    hr_store_set_router(st, route_bad, &r, NULL);
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);
    first = stage_ev("x", "s", "1", "Passed", "Passed");
    first->request_id = hr_strdup("req-1");
    memset(first->request_digest, 0xa1, sizeof(first->request_digest));
    put_ok(st, first);

    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    evs[0] = stage_ev("p", "s", "2", "Failed", "Failed");
    evs[1] = stage_ev("bad", "s", "1", "Failed", "Failed"); /* its delivery is refused */
    evs[2] = stage_ev("p", "s", "3", "Failed", "Failed");
    evs[3] = stage_ev("x", "s", "2", "Failed", "Failed"); /* req-1 with another body */
    evs[3]->request_id = hr_strdup("req-1");
    memset(evs[3]->request_digest, 0xb2, sizeof(evs[3]->request_digest));
    evs[4] = stage_ev("p", "s", "4", "Passed", "Passed");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    gate_open(c);
    tally_wait(5 + (c != NULL));

    /* The failing ones fail alone, each with its own reason... */
    cr_expect_eq(out[1].status, HR_ESTORE, "%s", out[1].msg);
    cr_expect_eq(evs[1]->id, 0);
    cr_expect_eq(out[3].status, HR_ECONFLICT, "%s", out[3].msg);
    cr_expect_eq(evs[3]->id, 0);
    /* ... and the others are stored, judged as if the failed ones had
     * never come. */
    cr_expect_eq(out[0].status, HR_OK, "%s", out[0].msg);
    cr_expect_eq(out[2].status, HR_OK, "%s", out[2].msg);
    cr_expect_eq(out[4].status, HR_OK, "%s", out[4].msg);
    cr_expect_eq(evs[0]->transition, HR_TRANSITION_BROKEN);
    cr_expect_eq(evs[2]->transition, HR_TRANSITION_STILL_FAILING);
    cr_expect_eq(evs[4]->transition, HR_TRANSITION_FIXED);
    /* The batch ran again item by item (savepoints) after its pipelined
     * run failed. */
    if (on_pg())
        cr_expect_gt(writers_of(evs[0]->id, evs[4]->id), 1);
    deliveries_per_event(per_event);
    for (int i = 0; i < 5; i += 2)
        cr_expect_eq(per_event[evs[i]->id], 1, "event %d", i);

    /* Nothing of the failed ones is stored: no event, no stage. */
    json_t *page = list(st, (hr_event_query){.pipeline = "bad", .limit = 10}, NULL);
    cr_expect_eq(json_array_size(page), 0);
    json_decref(page);
    page = list(st, (hr_event_query){.pipeline = "x", .limit = 10}, NULL);
    cr_expect_eq(json_array_size(page), 1);
    json_decref(page);
    json_t *stages = NULL;
    cr_assert_eq(hr_store_list_stages(st, &(hr_key_query){.limit = 500}, &stages, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    for (size_t i = 0; i < json_array_size(stages); i++)
        cr_expect_str_neq(str_at(json_array_get(stages, i), "pipeline", NULL), "bad");
    json_decref(stages);
    hr_event_free(first);
    for (int i = 0; i < 5; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

/*
 * PostgreSQL ends the writer's session (pg_terminate_backend: 57P01, as
 * at a fast shutdown): a batch that meets the goodbye fails saying
 * PostgreSQL is going away (hr_pg__error reads the SQLSTATE, since the
 * connection may still look fine when the goodbye arrives as a
 * statement's result), and the store reconnects by itself.
 */
Test(store, a_terminated_session_is_reconnected)
{
    hr_error err;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    put_stage(st, "p", "s", "1", "Building", NULL, NULL);
    pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    hr_event *ev = stage_ev("p", "s", "2", "Building", NULL);
    int rc = hr_store_put(st, ev, &err);
    hr_event_free(ev);
    if (rc != HR_OK)
        cr_expect(strstr(err.msg, "PostgreSQL is unreachable") != NULL, "%s", err.msg);
    /* Either way the store goes on: this one is stored. */
    int64_t id = 0;
    for (int i = 0; i < 50 && id == 0; i++) {
        hr_event *again = stage_ev("p", "s", "3", "Building", NULL);
        if (hr_store_put(st, again, &err) == HR_OK)
            id = again->id;
        else
            usleep(100 * 1000);
        hr_event_free(again);
    }
    cr_expect_gt(id, 0, "%s", err.msg);
}

/* How many statements wrote table's rows with ids from..to (their command
 * ids in the writer's transaction), as long as nothing changed them since:
 * 1 for a batch INSERT. */
static int64_t statements_of(const char *table, const char *id, int64_t from, int64_t to)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT cmin::text) FROM %s WHERE %s BETWEEN %lld AND %lld", table, id,
             (long long)from, (long long)to);
    return pg_value(sql);
}

/* The deliveries of the events with ids from..to. */
static int64_t deliveries_of(int64_t from, int64_t to)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM deliveries WHERE event_id BETWEEN %lld AND %lld",
             (long long)from, (long long)to);
    return pg_value(sql);
}

/*
 * On PostgreSQL a pipelined batch sends its events as one
 * INSERT, its deliveries as another (store/pg_batch.c). When the database
 * refuses one event's row, the whole INSERT fails; the batch then runs
 * again item by item, and that event fails alone, the others stored in
 * their order with their transitions.
 */
Test(store, a_batch_is_one_insert_per_table_and_a_refused_row_fails_alone)
{
    static test_router r;
    static const struct {
        const char *pipeline, *result;
        hr_transition want;
    } in[] = {
        {"p", "Failed", HR_TRANSITION_BROKEN},        {"refused", "Failed", HR_TRANSITION_NONE},
        {"p", "Failed", HR_TRANSITION_STILL_FAILING}, {"q", "Passed", HR_TRANSITION_PASSED},
        {"p", "Passed", HR_TRANSITION_FIXED},
    };
    enum { M = sizeof(in) / sizeof(in[0]) };
    hr_event *evs[M], *gate = NULL;
    outcome out[M], gate_out;
    hr_error err;
    PGconn *c;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    hr_store_set_router(st, route_ab, &r, NULL);
    put_stage(st, "p", "s", "1", "Passed", "Passed", NULL);

    /* Without the refused one: one INSERT of events, one of deliveries. */
    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    for (int i = 0; i < M; i++) {
        if (i == 1) {
            evs[i] = NULL;
            continue;
        }
        evs[i] = stage_ev(in[i].pipeline, "s", "2", in[i].result, in[i].result);
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    gate_open(c);
    tally_wait(M);
    cr_assert_eq(tl.ok, M, "%s", tl.last_msg);
    cr_expect_eq(writers_of(evs[0]->id, evs[M - 1]->id), 1);
    cr_expect_eq(statements_of("events", "id", evs[0]->id, evs[M - 1]->id), 1);
    cr_expect_eq(statements_of("deliveries", "event_id", evs[0]->id, evs[M - 1]->id), 1);
    cr_expect_eq(deliveries_of(evs[0]->id, evs[M - 1]->id), M - 1);
    for (int i = 2; i < M; i++)
        cr_expect_eq(evs[i]->id, evs[i == 2 ? 0 : i - 1]->id + 1, "ids in the batch's order");
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
    gate = NULL;

    /* The database refuses the second event's row. */
    pg_exec("ALTER TABLE events ADD CONSTRAINT test_refused CHECK (pipeline <> 'refused')");
    pg_exec("DELETE FROM stage_state WHERE pipeline <> 'gate';"
            " INSERT INTO stage_state (pipeline, stage, last_result, updated_at)"
            " VALUES ('p', 's', 'Passed', 0)");
    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    for (int i = 0; i < M; i++) {
        evs[i] = stage_ev(in[i].pipeline, "s", "3", in[i].result, in[i].result);
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    gate_open(c);
    tally_wait(M + 1);
    cr_expect_eq(out[1].status, HR_ESTORE, "%s", out[1].msg);
    cr_expect(strstr(out[1].msg, "test_refused") != NULL, "%s", out[1].msg);
    cr_expect_eq(evs[1]->id, 0);
    for (int i = 0; i < M; i++) {
        if (i == 1)
            continue;
        cr_expect_eq(out[i].status, HR_OK, "event %d: %s", i, out[i].msg);
        cr_expect_eq(evs[i]->transition, in[i].want, "event %d: %s", i,
                     hr_transition_name(evs[i]->transition));
        if (i > 0)
            cr_expect_gt(evs[i]->id, evs[i == 2 ? 0 : i - 1]->id, "ids in the batch's order");
    }
    /* Run again item by item: a savepoint each. */
    cr_expect_gt(writers_of(evs[0]->id, evs[M - 1]->id), 1);
    cr_expect_eq(pg_value("SELECT count(*) FROM events WHERE pipeline = 'refused'"), 0);
    cr_expect_eq(pg_value("SELECT count(*) FROM stage_state WHERE pipeline = 'refused'"), 0);
    cr_expect_eq(deliveries_of(evs[0]->id, evs[M - 1]->id), M - 1);
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

/* A store and the stages its batch takes, in the order it submits them. */
typedef struct order_run {
    hr_store *s;
    int reverse;
} order_run;

#define STAGES 8

static void *submit_in_order(void *arg)
{
    order_run *o = arg;
    hr_event *evs[STAGES];
    hr_error err;
    for (int i = 0; i < STAGES; i++) {
        char stage[16];
        snprintf(stage, sizeof(stage), "s%d", o->reverse ? STAGES - 1 - i : i);
        evs[i] = stage_ev("order", stage, "2", "Failed", "Failed");
        cr_assert_eq(hr_store_submit(o->s, evs[i], count_done, NULL, &err), HR_OK, "%s", err.msg);
    }
    tally_wait(2 * STAGES + 2);
    for (int i = 0; i < STAGES; i++)
        hr_event_free(evs[i]);
    return NULL;
}

/* The deadlocks PostgreSQL counted in the database under test, once the
 * sessions that met them reported them. */
static int64_t deadlocks(void)
{
    return pg_value("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
}

/*
 * Two instances whose batches take the same stages in opposite orders:
 * each batch locks its stages' history rows at its start, sorted by key,
 * so one waits for the other instead of both waiting for each other (a
 * deadlock, which PostgreSQL breaks by failing one of them). Transitions
 * stay right: per stage one "broken" and one "still failing".
 */
Test(store, two_instances_take_shared_stages_in_one_order)
{
    hr_store *other;
    hr_event *gate_a, *gate_b;
    pthread_t ta, tb;
    order_run a, b;
    int64_t before;
    hr_error err;
    PGconn *c;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    other = open_store();
    for (int i = 0; i < STAGES; i++) {
        char stage[16];
        snprintf(stage, sizeof(stage), "s%d", i);
        put_stage(st, "order", stage, "1", "Passed", "Passed", NULL);
    }
    before = deadlocks();
    /* Both writers wait behind the gate, and their next batches (every
     * stage, in opposite orders) start together once it opens. */
    c = gate_close();
    tally_reset();
    gate_a = stage_ev("gate", "s", "2", "Passed", "Passed");
    gate_b = stage_ev("gate", "s", "3", "Passed", "Passed");
    cr_assert_eq(hr_store_submit(st, gate_a, count_done, NULL, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_store_submit(other, gate_b, count_done, NULL, &err), HR_OK, "%s", err.msg);
    nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    a = (order_run){st, 0};
    b = (order_run){other, 1};
    pthread_create(&ta, NULL, submit_in_order, &a);
    pthread_create(&tb, NULL, submit_in_order, &b);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    gate_open(c);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_expect_eq(tl.ok, 2 * STAGES + 2, "%s", tl.last_msg);

    cr_expect_eq(pg_value("SELECT count(*) FROM events WHERE pipeline = 'order'"
                          " AND transition = 'broken'"),
                 STAGES);
    cr_expect_eq(pg_value("SELECT count(*) FROM events WHERE pipeline = 'order'"
                          " AND transition = 'still_failing'"),
                 STAGES);
    /* The sessions report their counts when they end. */
    hr_store_close(other);
    hr_store_close(st);
    st = NULL;
    for (int i = 0; i < 20 && deadlocks() == before; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    cr_expect_eq(deadlocks(), before, "no deadlock between the two writers");
    hr_event_free(gate_a);
    hr_event_free(gate_b);
}

/*
 * A batch of one job's builds: on PostgreSQL the job's history row is
 * taken once at the batch's start and each build is judged against what
 * the one before it left (kept in memory, written once before COMMIT), as
 * when each build comes alone. A Jenkins build that learnt its branch is
 * the job's own history: one row.
 */
Test(store, a_batch_of_builds_judges_each_against_the_one_before)
{
    static const struct {
        const char *job, *branch;
        int64_t number;
        const char *phase, *result;
        hr_transition want;
    } in[] = {
        {"app", NULL, 1, "started", NULL, HR_TRANSITION_BUILDING},
        {"app", NULL, 1, "completed", "Passed", HR_TRANSITION_PASSED},
        {"app", NULL, 2, "completed", "Failed", HR_TRANSITION_BROKEN},
        {"app", NULL, 2, "completed", "Failed", HR_TRANSITION_BROKEN},
        {"app", "jenkins", 3, "completed", "Failed", HR_TRANSITION_STILL_FAILING},
        {"app", "feature", 1, "completed", "Failed", HR_TRANSITION_FAILED},
        {"app", NULL, 4, "completed", "Passed", HR_TRANSITION_FIXED},
    };
    enum { M = sizeof(in) / sizeof(in[0]) };
    hr_event *evs[M], *gate = NULL;
    outcome out[M], gate_out;
    json_t *jobs = NULL;
    hr_error err;
    PGconn *c;

    st = open_store();
    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    for (int i = 0; i < M; i++) {
        evs[i] = build_ev(in[i].job, in[i].branch, in[i].number, in[i].phase, in[i].result);
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    gate_open(c);
    tally_wait(M + (c != NULL));
    for (int i = 0; i < M; i++) {
        cr_expect_eq(out[i].status, HR_OK, "build %d: %s", i, out[i].msg);
        cr_expect_eq(evs[i]->transition, in[i].want, "build %d: %s", i,
                     hr_transition_name(evs[i]->transition));
    }
    if (on_pg())
        cr_expect_eq(writers_of(evs[0]->id, evs[M - 1]->id), 1);
    cr_assert_eq(hr_store_list_jobs(st, &(hr_key_query){.limit = 500}, &jobs, &(int){0}, &err),
                 HR_OK, "%s", err.msg);
    cr_assert_eq(json_array_size(jobs), 2);
    json_t *app = json_array_get(jobs, 0);
    cr_expect(json_is_null(json_object_get(app, "branch")));
    cr_expect_str_eq(json_string_value(json_object_get(app, "last_result")), "Passed");
    cr_expect_eq(json_integer_value(json_object_get(app, "last_number")), 4);
    cr_expect_eq(json_integer_value(json_object_get(app, "last_event_id")), evs[M - 1]->id);
    json_decref(jobs);
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

/* On PostgreSQL, with route_ab: holds the gate (gate_close, gate_wait),
 * then submits a Failed stage event of each of m pipelines (names[i], or
 * "big-<i>" when names is NULL), which thus meet in one batch once the
 * caller opens the gate. */
static PGconn *submit_held(const char *const *names, int m, hr_event **evs, outcome *out,
                           hr_event **gate, outcome *gate_out)
{
    static test_router r;
    hr_error err;
    PGconn *c;

    st = open_store();
    hr_store_set_router(st, route_ab, &r, NULL);
    c = gate_close();
    gate_wait(c, gate, gate_out);
    tally_reset();
    for (int i = 0; i < m; i++) {
        char name[16];
        snprintf(name, sizeof(name), "big-%d", i);
        evs[i] = stage_ev(names != NULL ? names[i] : name, "s", "2", "Failed", "Failed");
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    return c;
}

/* The deliveries of events from..to whose id is out of their events'
 * order (a delivery of a later event before one of an earlier). */
static int64_t deliveries_out_of_order(int64_t from, int64_t to)
{
    char sql[320];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT event_id, lag(event_id) OVER (ORDER BY id) AS prev"
             " FROM deliveries WHERE event_id BETWEEN %lld AND %lld) d WHERE d.prev > d.event_id",
             (long long)from, (long long)to);
    return pg_value(sql);
}

/*
 * On PostgreSQL a batch's rows go as arrays, one per column, in binary form
 * (store/pg_batch.c): values that an array's text form would have to
 * escape (quotes, backslashes, commas, braces, spaces, the word NULL) and
 * text beyond ASCII come back as they were, and a missing value stays NULL.
 */
Test(store, a_batch_keeps_text_byte_for_byte)
{
    static const char *const names[] = {"a\"b", "c\\d",   "e,f{g}",    "NULL",
                                        " h ",  "i\\\"j", "k\xc3\xbcl"};
    enum { M = sizeof(names) / sizeof(names[0]) };
    hr_event *evs[M], *gate = NULL;
    outcome out[M], gate_out;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    gate_open(submit_held(names, M, evs, out, &gate, &gate_out));
    tally_wait(M + 1);
    cr_assert_eq(tl.ok, M + 1, "%s", tl.last_msg);
    cr_expect_eq(writers_of(evs[0]->id, evs[M - 1]->id), 1);
    for (int i = 0; i < M; i++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM events WHERE id = %lld AND pipeline = $q$%s$q$"
                 " AND length(raw) = %zu AND position(convert_to($q$%s$q$, 'UTF8') in raw) > 0"
                 " AND request_id IS NULL AND request_digest IS NULL",
                 (long long)evs[i]->id, names[i], evs[i]->raw_len, names[i]);
        cr_expect_eq(pg_value(sql), 1, "event %d (%s)", i, names[i]);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM stage_state WHERE pipeline = $q$%s$q$"
                 " AND last_event_id = %lld AND last_result = 'Failed'",
                 names[i], (long long)evs[i]->id);
        cr_expect_eq(pg_value(sql), 1, "stage of event %d (%s)", i, names[i]);
        cr_expect_eq(evs[i]->transition, HR_TRANSITION_FAILED, "event %d: %s", i,
                     hr_transition_name(evs[i]->transition));
    }
    /* Two deliveries each (failed), with ids in the events' order. */
    cr_expect_eq(deliveries_of(evs[0]->id, evs[M - 1]->id), 2 * M);
    cr_expect_eq(deliveries_out_of_order(evs[0]->id, evs[M - 1]->id), 0);
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

/* A batch's raw bodies and request digests go as binary bytea arrays: a
 * column holding NULLs beside bodies, every byte value, and digests beside
 * events without one, all kept byte for byte. */
Test(store, a_batch_keeps_bodies_and_digests_byte_for_byte)
{
    enum { M = 6 };
    hr_event *evs[M], *gate = NULL;
    outcome out[M], gate_out;
    hr_error err;
    PGconn *c;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    st = open_store();
    c = gate_close();
    gate_wait(c, &gate, &gate_out);
    tally_reset();
    for (int i = 0; i < M; i++) {
        char name[16];
        snprintf(name, sizeof(name), "bin-%d", i);
        evs[i] = stage_ev(name, "s", "1", "Passed", "Passed");
        if (i % 3 == 0) { /* no body */
            free(evs[i]->raw);
            evs[i]->raw = NULL;
            evs[i]->raw_len = 0;
        } else if (i % 3 == 1) { /* every byte value, NUL included */
            free(evs[i]->raw);
            evs[i]->raw = hr_malloc(256);
            for (int b = 0; b < 256; b++)
                evs[i]->raw[b] = (char)b;
            evs[i]->raw_len = 256;
        } else { /* a request id and its digest */
            evs[i]->request_id = hr_strdup(name);
            for (int b = 0; b < 32; b++)
                evs[i]->request_digest[b] = (unsigned char)(255 - b - i);
        }
        cr_assert_eq(hr_store_submit(st, evs[i], on_done, &out[i], &err), HR_OK, "%s", err.msg);
    }
    gate_open(c);
    tally_wait(M + 1);
    cr_assert_eq(tl.ok, M + 1, "%s", tl.last_msg);
    cr_expect_eq(writers_of(evs[0]->id, evs[M - 1]->id), 1, "one batch");
    for (int i = 0; i < M; i++) {
        char sql[512];
        long long id = (long long)evs[i]->id;
        if (i % 3 == 0)
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM events WHERE id = %lld AND raw IS NULL"
                     " AND request_digest IS NULL",
                     id);
        else if (i % 3 == 1)
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM events WHERE id = %lld AND raw ="
                     " (SELECT string_agg(set_byte('\\x00'::bytea, 0, b), ''::bytea ORDER BY b)"
                     "  FROM generate_series(0, 255) b) AND request_digest IS NULL",
                     id);
        else
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM events WHERE id = %lld AND length(raw) = %zu"
                     " AND request_id = 'bin-%d' AND request_digest ="
                     " (SELECT string_agg(set_byte('\\x00'::bytea, 0, 255 - b - %d), ''::bytea"
                     "  ORDER BY b) FROM generate_series(0, 31) b)",
                     id, evs[i]->raw_len, i, i);
        cr_expect_eq(pg_value(sql), 1, "event %d: %s", i, sql);
    }
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}

/* A batch with more deliveries than one statement takes (HR_PG_MAX_ROWS):
 * its rows go as several statements of one transaction, all kept, in the
 * events' order. */
Test(store, a_batch_too_large_for_one_statement_goes_in_parts)
{
    enum { M = 400 }; /* failed: two deliveries each, 800 in all */
    hr_event *evs[M], *gate = NULL;
    outcome out[M], gate_out;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    gate_open(submit_held(NULL, M, evs, out, &gate, &gate_out));
    tally_wait(M + 1);
    cr_assert_eq(tl.ok, M + 1, "%s", tl.last_msg);
    cr_expect_eq(writers_of(evs[0]->id, evs[M - 1]->id), 1, "one transaction");
    cr_expect_eq(evs[M - 1]->id - evs[0]->id, M - 1);
    cr_expect_eq(deliveries_of(evs[0]->id, evs[M - 1]->id), 2 * M);
    cr_expect_eq(deliveries_out_of_order(evs[0]->id, evs[M - 1]->id), 0);
    for (int i = 0; i < M; i++)
        hr_event_free(evs[i]);
    hr_event_free(gate);
}
