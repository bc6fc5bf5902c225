/*
 * ingest_micro.c - CPU nanoseconds per body of herald's ingest without
 * HTTP or the store: parse and map a body into an hr_event, then make the
 * document the store keeps, for bench/stage-status.json (GoCD),
 * bench/job-status.json (Jenkins Job Status), bench/notification.json
 * (Jenkins Notification) and tests/payloads/jenkins/notify_gitlab_success.json
 * (`herald notify`, named ci-notify). bench/micro.sh builds it
 * twice, against this tree and against an older commit's sources
 * (-DHR_MICRO_OLD: the document as the tree dumped, before event/doc.c),
 * and runs both in turn, so old and new are measured in the same run.
 *   ingest_micro BENCH_DIR [ITERATIONS]     (run from the source tree)
 * Prints one line per body and step: "name step ns".
 */
#include "event/event.h"
#include "ingest/gocd_notification.h"
#include "ingest/jenkins.h"
#include "ingest/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        fprintf(stderr, "ingest_micro: cannot read %s\n", path);
        exit(1);
    }
    rewind(f);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The document hr_store_submit makes. */
static char *stored_doc(const hr_event *ev)
{
#ifdef HR_MICRO_OLD
    json_t *doc = hr_event_to_json(ev);
    char *s;
    json_object_del(doc, "id");
    json_object_del(doc, "transition");
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
#else
    size_t len;
    return hr_event_doc(ev, &len);
#endif
}

typedef struct body {
    const char *name;
    const char *path; /* NULL: BENCH_DIR/name.json */
    char *buf;
    size_t len;
} body;

static hr_event *parse(const body *b, const hr_redact *r)
{
    hr_event *ev = NULL;
    int rc;

    if (strcmp(b->name, "stage-status") == 0)
        rc = hr_gocd_stage_status(b->buf, b->len, 4, &ev, NULL);
    else if (strcmp(b->name, "job-status") == 0)
        rc = hr_jenkins_job_status_json(b->buf, b->len, r, &ev, NULL);
    else if (strcmp(b->name, "notification") == 0)
        rc = hr_jenkins_notification(b->buf, b->len, r, &ev, NULL);
    else
        rc = hr_ci_notify(b->buf, b->len, r, &ev, NULL);
    if (rc != 0) {
        fprintf(stderr, "ingest_micro: %s refused\n", b->name);
        exit(1);
    }
    ev->received_at = 1700000000000;
    return ev;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "bench";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    char path[1024];
    hr_redact *r = NULL;
    hr_error err;
    body bodies[] = {{"stage-status", NULL, NULL, 0},
                     {"job-status", NULL, NULL, 0},
                     {"notification", NULL, NULL, 0},
                     {"ci-notify", "tests/payloads/jenkins/notify_gitlab_success.json", NULL, 0}};
    const size_t nbodies = sizeof(bodies) / sizeof(bodies[0]);

    hr_json_init();
    if (hr_redact_new(NULL, 0, NULL, 0, &r, &err) != 0)
        return 1;
    for (size_t i = 0; i < nbodies; i++) {
        if (bodies[i].path != NULL)
            snprintf(path, sizeof(path), "%s", bodies[i].path);
        else
            snprintf(path, sizeof(path), "%s/%s.json", dir, bodies[i].name);
        bodies[i].buf = slurp(path, &bodies[i].len);
    }
    for (size_t i = 0; i < nbodies; i++) {
        const body *b = &bodies[i];
        double t0, t1, t2;
        hr_event *ev;

        /* Warm up, then parse and map alone, then the document alone. */
        for (long k = 0; k < iters / 10; k++)
            hr_event_free(parse(b, r));
        t0 = cpu_ns();
        for (long k = 0; k < iters; k++)
            hr_event_free(parse(b, r));
        t1 = cpu_ns();
        ev = parse(b, r);
        for (long k = 0; k < iters; k++)
            free(stored_doc(ev));
        t2 = cpu_ns();
        hr_event_free(ev);
        printf("%s parse+map %.0f\n", b->name, (t1 - t0) / (double)iters);
        printf("%s document %.0f\n", b->name, (t2 - t1) / (double)iters);
        printf("%s total %.0f\n", b->name, (t2 - t0) / (double)iters);
        free(bodies[i].buf);
    }
    hr_redact_free(r);
    return 0;
}
