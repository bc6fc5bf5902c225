/*
 * pg_baseline.c - the PostgreSQL benchmark's storage baseline: raw INSERTs
 * of rows the size of herald's events from one libpq client, committed in
 * batches, each batch's statements pipelined (BEGIN, the INSERTs, COMMIT,
 * then one wait), with PostgreSQL's default durability (fsync on,
 * synchronous_commit on). No parsing, no HTTP: the best rate one client
 * gets from this server for this durability.
 * Usage: pg_baseline URI ROWS BATCH ROWBYTES
 * Prints: rows_per_second=N
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
    if (argc != 5) {
        fprintf(stderr, "usage: pg_baseline URI ROWS BATCH ROWBYTES\n");
        return 2;
    }
    long rows = strtol(argv[2], NULL, 10), batch = strtol(argv[3], NULL, 10);
    int bytes = (int)strtol(argv[4], NULL, 10);
    char *payload = malloc((size_t)bytes + 1);
    memset(payload, 'x', (size_t)bytes);
    payload[bytes] = '\0';
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        return 1;
    }
    if (!ok(c,
            PQexec(c, "DROP TABLE IF EXISTS t; CREATE TABLE t(id BIGSERIAL PRIMARY KEY,"
                      " a TEXT, b TEXT, doc TEXT, raw BYTEA)"),
            "create") ||
        !ok(c,
            PQprepare(c, "ins", "INSERT INTO t(a, b, doc, raw) VALUES ($1, $2, $3, $4)", 4, NULL),
            "prepare"))
        return 1;
    const char *v[4] = {"pipeline", "stage", payload, payload};
    int len[4] = {0, 0, 0, bytes}, fmt[4] = {0, 0, 0, 1};
    PQenterPipelineMode(c);
    double t0 = now();
    for (long i = 0; i < rows;) {
        long n = 0;
        PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        for (; n < batch && i < rows; n++, i++)
            PQsendQueryPrepared(c, "ins", 4, v, len, fmt, 0);
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
    double secs = now() - t0;
    printf("rows_per_second=%.0f\n", (double)rows / secs);
    PQfinish(c);
    free(payload);
    return 0;
}
