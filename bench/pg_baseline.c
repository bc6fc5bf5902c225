/*
 * pg_baseline.c - the PostgreSQL benchmark's storage baseline: raw INSERTs
 * of rows the size of herald's events from one libpq client, committed in
 * batches, each batch's statements pipelined (BEGIN, the INSERTs, COMMIT,
 * then one wait), with PostgreSQL's default durability (fsync on,
 * synchronous_commit on). No parsing, no HTTP: the best rate one client
 * gets from this server for this durability.
 * Usage: pg_baseline URI ROWS BATCH ROWBYTES [BODYFILE [events]]
 * (with BODYFILE each row's text and bytea are that file's bytes, as
 * herald's events carry them, instead of ROWBYTES of 'x', which compress
 * to almost nothing; with "events" the rows go into herald's own events
 * table, which URI's database must have, with all its indexes, of 1000
 * pipelines: what this schema costs without herald's code)
 * Prints: rows_per_second=N, then cpu_us_per_row=N (this process, user and
 * system) on a line of its own.
 */
#include "bench_clock.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ok(PGconn *c, PGresult *r, const char *what)
{
    ExecStatusType st = PQresultStatus(r);
    int good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_PIPELINE_SYNC;
    if (!good)
        fprintf(stderr, "%s: %s", what, PQerrorMessage(c));
    PQclear(r);
    return good;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: pg_baseline URI ROWS BATCH ROWBYTES [BODYFILE [events]]\n");
        return 2;
    }
    long rows = strtol(argv[2], NULL, 10), batch = strtol(argv[3], NULL, 10);
    int bytes = (int)strtol(argv[4], NULL, 10);
    char *payload = malloc((size_t)bytes + 1);
    memset(payload, 'x', (size_t)bytes);
    payload[bytes] = '\0';
    int events = argc == 7 && strcmp(argv[6], "events") == 0;
    if (argc >= 6) {
        FILE *f = fopen(argv[5], "rb");
        size_t n = f != NULL ? fread(payload, 1, (size_t)bytes, f) : 0;
        if (f != NULL)
            fclose(f);
        if (n != (size_t)bytes || memchr(payload, '\0', n) != NULL) {
            fprintf(stderr, "pg_baseline: %s is not ROWBYTES of text\n", argv[5]);
            return 2;
        }
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        return 1;
    }
    static const char *const ins[] = {
        "INSERT INTO t(a, b, doc, raw) VALUES ($1, $2, $3, $4)",
        "INSERT INTO events (received_at, source, kind, version, pipeline, stage, state, result,"
        " transition, doc, raw) VALUES ($1::bigint, 'gocd', 'stage-status', '4.0', $2, 'test',"
        " 'Passed', 'Passed', 'passed', $3, $4)",
    };
    if ((!events && !ok(c,
                        PQexec(c, "DROP TABLE IF EXISTS t; CREATE TABLE t(id BIGSERIAL PRIMARY KEY,"
                                  " a TEXT, b TEXT, doc TEXT, raw BYTEA)"),
                        "create")) ||
        !ok(c, PQprepare(c, "ins", ins[events], 4, NULL), "prepare"))
        return 1;
    char first[24], pipeline[32];
    const char *v[4] = {"pipeline", "stage", payload, payload};
    int len[4] = {0, 0, 0, bytes}, fmt[4] = {0, 0, 0, 1};
    if (events) {
        snprintf(first, sizeof(first), "%lld", (long long)(bench_now() * 1000));
        v[0] = first;
        v[1] = pipeline;
    }
    PQenterPipelineMode(c);
    double t0 = bench_now(), c0 = bench_cpu();
    for (long i = 0; i < rows;) {
        long n = 0;
        PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        for (; n < batch && i < rows; n++, i++) {
            snprintf(pipeline, sizeof(pipeline), "bench-%ld", i % 1000);
            PQsendQueryPrepared(c, "ins", 4, v, len, fmt, 0);
        }
        PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
        PQpipelineSync(c);
        /* BEGIN, n INSERTs, COMMIT: each a result and a NULL; then the sync. */
        for (long k = 0; k < n + 2; k++) {
            if (!ok(c, PQgetResult(c), "insert"))
                return 1;
            PQclear(PQgetResult(c));
        }
        if (!ok(c, PQgetResult(c), "sync"))
            return 1;
    }
    double secs = bench_now() - t0;
    printf("rows_per_second=%.0f\n", (double)rows / secs);
    printf("cpu_us_per_row=%.1f\n", (bench_cpu() - c0) * 1e6 / (double)rows);
    PQfinish(c);
    free(payload);
    return 0;
}
