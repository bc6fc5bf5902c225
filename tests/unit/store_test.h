/*
 * store_test.h - what the store's unit tests (tests/unit/test_store*.c)
 * share: a fresh store per test on the engine under test (SQLite in a new
 * folder, or with HERALD_TEST_STORE=postgresql a database of its own on
 * HERALD_TEST_PG), events to put, completions counted across threads, a
 * router and claims for deliveries. store_test.c holds them, compiled once
 * into every store test binary.
 */
#ifndef HR_TEST_STORE_TEST_H
#define HR_TEST_STORE_TEST_H

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

extern char dir[64]; /* the test's data folder */
extern hr_store *st; /* closed by teardown */
extern char pg_uri[512], pg_db[64];

int on_pg(void);
/* Tests of what only SQLite has (its files, pragmas, a full disk). */
#define SQLITE_ONLY()                                                                              \
    do {                                                                                           \
        if (on_pg())                                                                               \
            cr_skip_test("SQLite only");                                                           \
    } while (0)

/* Takes a store back before the indexes of flat reads (SQLite 13,
 * PostgreSQL 8: HR_STORE_FLAT_INDEXES), for the tests of older schemas. */
#define DROP_FLAT_INDEXES                                                                          \
    "DROP INDEX events_by_source; DROP INDEX events_by_kind; DROP INDEX events_by_result;"         \
    " DROP INDEX events_with_warnings; DROP INDEX deliveries_by_target_id;"                        \
    " DROP INDEX deliveries_by_update; DROP INDEX stages_by_result; DROP INDEX jobs_by_result;"

/* Runs sql on the server's maintenance database. */
void pg_admin(const char *sql);
/* Every store test binary's suite: TestSuite(store, .init = store_test_setup,
 * .fini = store_test_teardown). */
void store_test_setup(void);
void store_test_teardown(void);

hr_store *open_with(hr_store_options o);
hr_store *open_store(void);
hr_event *stage_ev(const char *pipeline, const char *stage, const char *counter, const char *state,
                   const char *result);
hr_event *agent_ev(const char *uuid, const char *state);
/* A CI build's event: branch NULL or "jenkins" is the job's own history. */
hr_event *build_ev(const char *job, const char *branch, int64_t number, const char *phase,
                   const char *result);
void put_ok(hr_store *s, hr_event *ev);
int64_t put_stage(hr_store *s, const char *pipeline, const char *stage, const char *counter,
                  const char *state, const char *result, hr_transition *tr);
void assert_json_eq(json_t *got, json_t *want);
json_t *get_event(hr_store *s, int64_t id);
json_t *list(hr_store *s, hr_event_query q, int64_t *next);
const char *ids_of(json_t *arr, char *buf, size_t size);
const char *str_at(json_t *o, const char *path1, const char *path2);
/* Puts the filter fixture: ids 1..5 (stages, an agent, another source). */
void put_mix(hr_store *s);
hr_event *rev_ev(const char *repo, const char *pkg, const char *revision, const char *raw);

/* Completions counted across threads. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t done, ok;
    int last_status;
    char last_msg[HR_ERROR_MSG_MAX];
} tally;
extern tally tl;
void count_done(void *ctx, int status, const hr_error *err);
void tally_reset(void);
void tally_wait(size_t n);

/* A router for the tests: every stage event goes to "a" and, when it
 * failed, to "b" as well; agents go nowhere. Counts its calls and checks it
 * sees the event as stored (id and transition set). */
typedef struct test_router {
    int calls;
    int freed;
    /* Ordered: "a"'s deliveries get the pipeline's name as order key. */
    int ordered, latest_wins;
    /* Per material: "a" gets two deliveries, subjects "acme/app@1" and
     * "acme/lib@2", each keyed by its subject. */
    int per_material;
} test_router;
size_t route_ab(void *ctx, const hr_event *ev, const char *doc, size_t doc_len, hr_store_route *out,
                size_t max);
void router_freed(void *ctx);
extern int notified;
void on_notify(void *ctx);
void pg_exec(const char *sql);
/* The first column of sql's first row, on the database under test
 * (PostgreSQL only). */
int64_t pg_value(const char *sql);
void release_leases(void);
int64_t token_of(int64_t id);
int claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
              hr_error *err);
int claim_all(hr_store *s, int64_t now, size_t max, hr_delivery_job **jobs, size_t *n,
              hr_error *err);
extern int recorded_status;
void on_recorded(void *arg, int status);
void sync_writer(hr_store *s);

/* Records attempt of delivery id with outcome o, started at started_at, and
 * waits for the writer. */
void record(hr_store *s, int64_t id, int attempt, hr_outcome o, int64_t started_at);

#endif
