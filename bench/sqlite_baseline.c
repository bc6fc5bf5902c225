/*
 * sqlite_baseline.c - the benchmark's storage baseline: raw SQLite inserts
 * of rows the size of herald's events, committed in batches, in WAL mode
 * with synchronous=FULL (herald's setting), from one thread. No parsing, no
 * HTTP: the best rate the disk and SQLite allow for this durability.
 * Usage: sqlite_baseline DBFILE ROWS BATCH ROWBYTES
 * Prints: rows_per_second=N
 */
#include <sqlite3.h>
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

int main(int argc, char **argv)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (argc != 5) {
        fprintf(stderr, "usage: sqlite_baseline DBFILE ROWS BATCH ROWBYTES\n");
        return 2;
    }
    long rows = strtol(argv[2], NULL, 10), batch = strtol(argv[3], NULL, 10);
    size_t bytes = (size_t)strtol(argv[4], NULL, 10);
    char *payload = malloc(bytes);
    memset(payload, 'x', bytes);
    remove(argv[1]);
    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b TEXT, doc TEXT, raw BLOB)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO t(a, b, doc, raw) VALUES (?, ?, ?, ?)", -1, &st, NULL);
    double t0 = now();
    for (long i = 0; i < rows;) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (long k = 0; k < batch && i < rows; k++, i++) {
            sqlite3_bind_text(st, 1, "pipeline", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, "stage", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, payload, (int)bytes, SQLITE_STATIC);
            sqlite3_bind_blob(st, 4, payload, (int)bytes, SQLITE_STATIC);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "commit failed: %s\n", sqlite3_errmsg(db));
            return 1;
        }
    }
    double secs = now() - t0;
    printf("rows_per_second=%.0f\n", (double)rows / secs);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(payload);
    return 0;
}
