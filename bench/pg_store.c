/*
 * pg_store.c - herald's store path alone on PostgreSQL, for bench/pg.sh:
 * GoCD stage-status events submitted in-process through hr_store_submit
 * (the writer's queue, group commit and pipelined transaction, as in
 * herald serve), with no HTTP and no wrk. INFLIGHT events wait for their
 * answer at any time, as INFLIGHT connections would, so the writer batches
 * what is queued as it does under HTTP load. Each event is the body parsed
 * by the GoCD ingest (on the submitting thread, as an HTTP thread would),
 * its pipeline renamed to one of PIPELINES names (0: the body's own).
 * With a sixth argument, no-history, each event's kind is renamed, so that
 * the store keeps no history row for it (no stage locked, read or written,
 * no transition): the group commit alone, queue, batches and the pipelined
 * INSERT of its events.
 * Usage: pg_store URI EVENTS INFLIGHT BODYFILE PIPELINES [no-history]
 * Prints: events_per_second=N cpu_us_per_event=N events_per_commit=N failed=N
 * (cpu: this process, user and system; events_per_commit: the transactions
 * that wrote the events, from their xmin).
 */
#include "core/log.h"
#include "core/mem.h"
#include "ingest/gocd_notification.h"
#include "store/store.h"

#include "bench_clock.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long inflight, failed;

/* The event's answer (on the writer thread): it is freed, and one more may
 * go. */
static void on_done(void *ctx, int status, const hr_error *err)
{
    hr_event_free(ctx);
    pthread_mutex_lock(&lock);
    if (status != HR_OK && failed++ == 0)
        fprintf(stderr, "pg_store: %s\n", err != NULL ? err->msg : "failed");
    inflight--;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = hr_malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
out:
    if (f != NULL)
        fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    hr_store_options opt = {0};
    hr_store *s = NULL;
    hr_error err;
    size_t len = 0;
    char *body;

    if (argc != 6 && !(argc == 7 && strcmp(argv[6], "no-history") == 0)) {
        fprintf(stderr, "usage: pg_store URI EVENTS INFLIGHT BODYFILE PIPELINES [no-history]\n");
        return 2;
    }
    int no_history = argc == 7;
    long events = strtol(argv[2], NULL, 10), window = strtol(argv[3], NULL, 10);
    long pipelines = strtol(argv[5], NULL, 10);
    body = read_file(argv[4], &len);
    if (body == NULL || events <= 0 || window <= 0) {
        fprintf(stderr, "pg_store: cannot read %s, or no events\n", argv[4]);
        return 2;
    }
    hr_log_set_level(HR_LOG_WARN);
    opt.uri = argv[1];
    if (hr_store_open(&opt, &s, &err) != HR_OK) {
        fprintf(stderr, "pg_store: %s\n", err.msg);
        return 1;
    }
    double t0 = bench_now(), c0 = bench_cpu();
    for (long i = 0; i < events; i++) {
        hr_event *ev = NULL;
        if (hr_gocd_stage_status(body, len, 4, &ev, NULL) != HR_OK) {
            fprintf(stderr, "pg_store: %s is not a stage-status body\n", argv[4]);
            return 2;
        }
        if (pipelines > 0) {
            char name[64];
            snprintf(name, sizeof(name), "bench-%ld", i % pipelines);
            free(ev->pipeline_name);
            ev->pipeline_name = hr_strdup(name);
        }
        if (no_history) {
            free(ev->kind);
            ev->kind = hr_strdup("stage-status-without-history");
        }
        pthread_mutex_lock(&lock);
        while (inflight >= window)
            pthread_cond_wait(&cond, &lock);
        inflight++;
        pthread_mutex_unlock(&lock);
        if (hr_store_submit(s, ev, on_done, ev, &err) != HR_OK) {
            fprintf(stderr, "pg_store: %s\n", err.msg);
            return 1;
        }
    }
    pthread_mutex_lock(&lock);
    while (inflight > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    double secs = bench_now() - t0, cpu = bench_cpu() - c0;
    hr_store_close(s);

    /* The transactions that wrote the events. */
    PGconn *c = PQconnectdb(argv[1]);
    PGresult *r = PQexec(c, "SELECT count(*), count(DISTINCT xmin::text) FROM events");
    double per_commit = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && strtod(PQgetvalue(r, 0, 1), NULL) > 0)
        per_commit = strtod(PQgetvalue(r, 0, 0), NULL) / strtod(PQgetvalue(r, 0, 1), NULL);
    PQclear(r);
    PQfinish(c);
    printf("events_per_second=%.0f cpu_us_per_event=%.1f events_per_commit=%.1f failed=%ld\n",
           (double)events / secs, cpu * 1e6 / (double)events, per_commit, failed);
    free(body);
    return failed > 0;
}
