/*
 * The query plans of the API's filters: every filter of the events and
 * deliveries lists is read through an index, never by walking the table,
 * so a page costs the same with a million events as with a hundred
 * (bench/history.sh measures it). SQLite: EXPLAIN QUERY PLAN of the very
 * SQL the engine runs (hr_sqlite__events_sql) has no SCAN of events or
 * deliveries and names the filter's index. PostgreSQL: EXPLAIN of the
 * engine's SQL (HR_PG_EVENTS_SQL) with the filter's values, sequential
 * scans priced out (enable_seqscan off), uses the index. The delivery
 * engine's claims too (hr_sqlite__claim_sql, hr_pg__claim_sql).
 */
#include "store_test.h"

#include "store/pg.h"
#include "store/sqlite.h"

TestSuite(store, .init = store_test_setup, .fini = store_test_teardown);

/* One filter and the index its plan must use. */
typedef struct ev_case {
    hr_event_query q;
    const char *index;
} ev_case;

typedef struct dl_case {
    hr_delivery_query q;
    const char *index;
} dl_case;

#define SINCE 1700000000000LL
#define UNTIL 1800000000000LL

static const ev_case ev_cases[] = {
    {{.source = "herald"}, "events_by_source"},
    {{.kind = "test"}, "events_by_kind"},
    {{.result = "Cancelled"}, "events_by_result"},
    {{.pipeline = "p1"}, "events_by_pipeline"},
    {{.stage = "build"}, "events_by_stage"},
    {{.transition = "broken"}, "events_by_transition"},
    {{.with_warnings = 1}, "events_with_warnings"},
    {{.since = SINCE, .until = UNTIL}, "events_by_time"},
    {{.source = "gocd", .result = "Failed", .before_id = 9}, "events_by_"},
    {{.pipeline = "p1", .stage = "build", .since = SINCE}, "events_by_"},
    {{.kind = "test", .after_id = 3}, "events_by_kind"},
};

static const dl_case dl_cases[] = {
    {{.state = "dead"}, "deliveries_by_state"},
    {{.target = "a"}, "deliveries_by_target_id"},
    {{.target = "a", .state = "dead"}, "deliveries_by_"}, /* whichever is more selective */
    {{.event_id = 3}, "deliveries_by_event"},
    {{.since = SINCE, .until = UNTIL}, "deliveries_by_time"},
    {{.state = "retrying", .since = SINCE}, "deliveries_by_"},
};

#define NCASES(a) (sizeof(a) / sizeof(a[0]))

/* A store with rows in every table the lists read. */
static void fill(void)
{
    st = open_store();
    put_mix(st);
}

/* ---- SQLite ------------------------------------------------------------- */

/* The plan of sql on the store's file, its details joined by "; ". */
static void sqlite_plan(const char *sql, char *out, size_t cap)
{
    char path[128], explain[1200];
    sqlite3 *db;
    sqlite3_stmt *q;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/herald.db", dir);
    snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, explain, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    out[0] = '\0';
    while (sqlite3_step(q) == SQLITE_ROW && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "%s; ", sqlite3_column_text(q, 3));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* Whether the plan walks a whole table: a SCAN of it that is not of a
 * partial index (events_with_warnings holds only what matches). */
static int scans(const char *plan, const char *table)
{
    char what[64];
    const char *at = plan;
    snprintf(what, sizeof(what), "SCAN %s", table);
    while ((at = strstr(at, what)) != NULL) {
        const char *end = at + strlen(what);
        if ((*end == ';' || *end == ' ') && strncmp(end, " USING INDEX events_with_warnings", 33))
            return 1;
        at = end;
    }
    return 0;
}

Test(store, sqlite_filters_use_an_index)
{
    char sql[1024], plan[4096];

    SQLITE_ONLY();
    fill();
    for (size_t i = 0; i < NCASES(ev_cases); i++) {
        hr_sqlite__events_sql(&ev_cases[i].q, sql, sizeof(sql));
        sqlite_plan(sql, plan, sizeof(plan));
        cr_expect(!scans(plan, "events"), "events case %zu walks the table: %s", i, plan);
        cr_expect(strstr(plan, ev_cases[i].index) != NULL, "events case %zu: no %s in %s", i,
                  ev_cases[i].index, plan);
    }
    for (size_t i = 0; i < NCASES(dl_cases); i++) {
        hr_sqlite__deliveries_sql(&dl_cases[i].q, 0, sql, sizeof(sql));
        sqlite_plan(sql, plan, sizeof(plan));
        cr_expect(!scans(plan, "deliveries") && !scans(plan, "d"),
                  "deliveries case %zu walks the table: %s", i, plan);
        cr_expect(strstr(plan, dl_cases[i].index) != NULL, "deliveries case %zu: no %s in %s", i,
                  dl_cases[i].index, plan);
    }
}

/* The claim's statements, as prepared once on the claims' connection: a
 * target's due rows found through deliveries_due (target, next_at), those
 * of targets no longer configured through deliveries_by_state, never a
 * walk of deliveries; the busy ids (one JSON array value) read by
 * json_each. */
Test(store, sqlite_claims_use_an_index)
{
    char plan[4096];

    SQLITE_ONLY();
    fill();
    for (int i = 0; i < HR_SQLITE_NCLAIMS; i++) {
        sqlite_plan(hr_sqlite__claim_sql(i), plan, sizeof(plan));
        cr_expect(!scans(plan, "deliveries") && !scans(plan, "d") && !scans(plan, "o") &&
                      !scans(plan, "n"),
                  "claim %d walks the table: %s", i, plan);
        const char *index =
            i == HR_SQLITE_CLAIM_OTHERS ? "d USING INDEX deliveries_by_state" : "deliveries_due";
        cr_expect(strstr(plan, index) != NULL, "claim %d: no %s in %s", i, index, plan);
    }
}

/* ---- PostgreSQL --------------------------------------------------------- */

static void pg_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* The plan of EXECUTE call, its lines joined by "; ". */
static void pg_plan(PGconn *c, const char *call, char *out, size_t cap)
{
    char sql[512];
    size_t len = 0;
    PGresult *r;

    snprintf(sql, sizeof(sql), "EXPLAIN EXECUTE %s", call);
    r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r) && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s; ", PQgetvalue(r, i, 0));
    PQclear(r);
}

/* An SQL literal of s: 'text' or NULL (the cases' values have no quote). */
static const char *lit(const char *s, char *buf, size_t cap)
{
    if (s == NULL)
        return "NULL";
    snprintf(buf, cap, "'%s'", s);
    return buf;
}

Test(store, pg_filters_use_an_index)
{
    char call[512], plan[8192], b[5][64];
    PGconn *c;

    if (!on_pg())
        cr_skip_test("PostgreSQL only");
    fill();
    c = PQconnectdb(pg_uri);
    cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    /* A history the planner believes in: 20,000 events and deliveries
     * spread over sources, results and targets, then ANALYZE; with five
     * rows a walk of the primary key is rightly cheapest. */
    pg_ok(c, "INSERT INTO events (received_at, source, kind, pipeline, stage, result, doc)"
             " SELECT 1750000000000 + i * 1000, 'gocd', 'stage-status', 'p' || (i % 500),"
             " 's' || (i % 7), CASE WHEN i % 10 = 0 THEN 'Failed' ELSE 'Passed' END, '{}'"
             " FROM generate_series(1, 20000) i");
    pg_ok(c, "INSERT INTO deliveries (event_id, route, target, state, next_at, created_at,"
             " updated_at) SELECT id, 'r', 't' || (id % 8), 'delivered', received_at, received_at,"
             " received_at FROM events");
    pg_ok(c, "ANALYZE");
    pg_ok(c, "SET enable_seqscan = off");
    pg_ok(c, "SET plan_cache_mode = force_custom_plan");
    pg_ok(c, "PREPARE ev(text, text, text, text, text, bigint, bigint, boolean, text, bigint,"
             " bigint, bigint) AS " HR_PG_EVENTS_SQL);
    pg_ok(c, "PREPARE dl(text, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint) "
             "AS " HR_PG_DELIVERIES_SQL);
    for (size_t i = 0; i < NCASES(ev_cases); i++) {
        const hr_event_query *q = &ev_cases[i].q;
        snprintf(call, sizeof(call), "ev(%s, %s, %s, %s, %s, %lld, 51, %s, %s, %lld, %lld, %lld)",
                 lit(q->source, b[0], 64), lit(q->kind, b[1], 64), lit(q->pipeline, b[2], 64),
                 lit(q->stage, b[3], 64), lit(q->result, b[4], 64),
                 (long long)(q->before_id > 0 ? q->before_id : INT64_MAX),
                 q->with_warnings ? "true" : "false", q->transition != NULL ? "'broken'" : "NULL",
                 (long long)q->since, (long long)q->until, (long long)q->after_id);
        pg_plan(c, call, plan, sizeof(plan));
        cr_expect(strstr(plan, "Seq Scan on events") == NULL, "events case %zu: %s", i, plan);
        cr_expect(strstr(plan, ev_cases[i].index) != NULL, "events case %zu: no %s in %s", i,
                  ev_cases[i].index, plan);
    }
    for (size_t i = 0; i < NCASES(dl_cases); i++) {
        const hr_delivery_query *q = &dl_cases[i].q;
        snprintf(call, sizeof(call), "dl(%s, %s, %lld, %lld, 51, 0, %lld, %lld, %lld)",
                 lit(q->state, b[0], 64), lit(q->target, b[1], 64), (long long)q->event_id,
                 (long long)(q->before_id > 0 ? q->before_id : INT64_MAX), (long long)q->since,
                 (long long)q->until, (long long)q->after_id);
        pg_plan(c, call, plan, sizeof(plan));
        cr_expect(strstr(plan, "Seq Scan on deliveries") == NULL, "deliveries case %zu: %s", i,
                  plan);
        cr_expect(strstr(plan, dl_cases[i].index) != NULL, "deliveries case %zu: no %s in %s", i,
                  dl_cases[i].index, plan);
    }
    /* The claim's named statements, as the claims' connection prepares
     * them: the due rows through deliveries_due, for one target (with and
     * without run order) and for the targets not configured. */
    for (int run = 0; run < 2; run++) {
        const char *sql = hr_pg__claim_sql(run);
        size_t cap = strlen(sql) + 128;
        char *prep = malloc(cap);
        snprintf(prep, cap, "PREPARE cl%d(bigint, text, text[], bigint[], bigint, bigint) AS %s",
                 run, sql);
        pg_ok(c, prep);
        free(prep);
    }
    static const char *const claims[] = {
        "cl0(1800000000000, 't1', '{}', '{1,2}', 10, 1800000060000)",
        "cl1(1800000000000, 't1', '{}', '{1,2}', 10, 1800000060000)",
        "cl0(1800000000000, NULL, '{t1,t2}', '{}', 10, 1800000060000)",
    };
    for (size_t i = 0; i < NCASES(claims); i++) {
        pg_plan(c, claims[i], plan, sizeof(plan));
        cr_expect(strstr(plan, "Seq Scan on deliveries") == NULL, "claim %zu: %s", i, plan);
        cr_expect(strstr(plan, "deliveries_due") != NULL, "claim %zu: no deliveries_due in %s", i,
                  plan);
    }
    PQfinish(c);
}
