#include "core/metrics.h"

#include "core/mem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Labelled counters live in small fixed tables. A slot is claimed once under
 * a mutex (rare: the first time a label is seen) and counted atomically
 * afterwards, so the hot path takes no lock.
 */
#define MAX_STATUS 16

typedef struct {
    const char *endpoint; /* static */
    int status[MAX_STATUS];
    _Atomic unsigned long count[MAX_STATUS];
    _Atomic int nstatus;
} request_row;

/* A counter pair under one label: events by kind (accepted, rejected),
 * ingest warnings by source (count only). */
typedef struct {
    const char *label; /* static */
    _Atomic unsigned long n[2];
} label_row;

static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NB_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))
#define NB_LAT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static request_row requests[HR_METRICS_MAX_LABELS];
static _Atomic int nrequests;
static label_row events[HR_METRICS_MAX_LABELS];
static _Atomic int nevents;
static label_row warnings[HR_METRICS_MAX_LABELS];
static _Atomic int nwarnings;
/* Target names come from the configuration, which a reload replaces:
 * their labels are copies, kept for the process's life (bounded). */
static label_row superseded[HR_METRICS_MAX_LABELS];
static _Atomic int nsuperseded;
static _Atomic unsigned long batch_buckets[NB_BATCH + 1], lat_buckets[NB_LAT + 1];
static _Atomic unsigned long commits, batch_sum, lat_sum_us;
static _Atomic size_t queue_depth;
static const char *const outcomes[] = {"delivered", "retry", "dead", "skipped"};
#define NB_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))
static _Atomic unsigned long attempts_by_outcome[NB_OUTCOMES];
/* Deliveries skipped, by target (labels are copies, freed by reset). */
static label_row skipped[HR_METRICS_MAX_LABELS];
static _Atomic int nskipped;
static _Atomic unsigned long attempt_buckets[NB_LAT + 1], attempt_sum_ms;
static const char *const pruned_what[] = {"events", "deliveries", "attempts"};
static _Atomic unsigned long pruned[3];
static _Atomic int64_t store_bytes, store_free_bytes;
static const char *const closed_reasons[] = {"head_timeout", "body_timeout", "stalled",
                                             "address_cap"};
#define NB_CLOSED (sizeof(closed_reasons) / sizeof(closed_reasons[0]))
static _Atomic unsigned long connections_closed[NB_CLOSED];
static _Atomic unsigned connections_open;

static request_row *request_slot(const char *endpoint)
{
    int n = atomic_load(&nrequests);
    for (int i = 0; i < n; i++)
        if (requests[i].endpoint == endpoint || strcmp(requests[i].endpoint, endpoint) == 0)
            return &requests[i];
    pthread_mutex_lock(&lock);
    n = atomic_load(&nrequests);
    for (int i = 0; i < n; i++) {
        if (strcmp(requests[i].endpoint, endpoint) == 0) {
            pthread_mutex_unlock(&lock);
            return &requests[i];
        }
    }
    request_row *r = NULL;
    if (n < HR_METRICS_MAX_LABELS) {
        r = &requests[n];
        r->endpoint = endpoint;
        atomic_store(&nrequests, n + 1);
    }
    pthread_mutex_unlock(&lock);
    return r;
}

void hr_metrics_request(const char *endpoint, int status)
{
    request_row *r = request_slot(endpoint);
    if (r == NULL)
        return;
    int n = atomic_load(&r->nstatus);
    for (int i = 0; i < n; i++) {
        if (r->status[i] == status) {
            atomic_fetch_add(&r->count[i], 1);
            return;
        }
    }
    pthread_mutex_lock(&lock);
    n = atomic_load(&r->nstatus);
    int i;
    for (i = 0; i < n && r->status[i] != status; i++)
        ;
    if (i == n && n < MAX_STATUS) {
        r->status[n] = status;
        atomic_store(&r->nstatus, n + 1);
    }
    if (i < MAX_STATUS)
        atomic_fetch_add(&r->count[i], 1);
    pthread_mutex_unlock(&lock);
}

/* The row of rows[] for label, claiming a free one the first time; NULL
 * when every row is taken. */
static label_row *label_slot(label_row *rows, _Atomic int *nrows, const char *label)
{
    label_row *r = NULL;
    int n = atomic_load(nrows);
    for (int i = 0; i < n && r == NULL; i++)
        if (strcmp(rows[i].label, label) == 0)
            r = &rows[i];
    if (r == NULL) {
        pthread_mutex_lock(&lock);
        n = atomic_load(nrows);
        for (int i = 0; i < n && r == NULL; i++)
            if (strcmp(rows[i].label, label) == 0)
                r = &rows[i];
        if (r == NULL && n < HR_METRICS_MAX_LABELS) {
            r = &rows[n];
            r->label = label;
            atomic_store(nrows, n + 1);
        }
        pthread_mutex_unlock(&lock);
    }
    return r;
}

void hr_metrics_event(const char *kind, bool accepted)
{
    label_row *r = label_slot(events, &nevents, kind);
    if (r != NULL)
        atomic_fetch_add(&r->n[accepted ? 0 : 1], 1);
}

void hr_metrics_ingest_warnings(const char *source, size_t n)
{
    label_row *r = label_slot(warnings, &nwarnings, source);
    if (r != NULL)
        atomic_fetch_add(&r->n[0], (unsigned long)n);
}

/* Counts one for target in rows: target names come and go with reloads,
 * so the row keeps a copy of the name, made under the lock the first time
 * it is seen (a copy from before a reset is reused). At most
 * HR_METRICS_MAX_LABELS targets are counted. */
static void count_target(label_row *rows, _Atomic int *nrows, const char *target)
{
    label_row *r = NULL;
    int n = atomic_load(nrows);
    for (int i = 0; i < n && r == NULL; i++)
        if (strcmp(rows[i].label, target) == 0)
            r = &rows[i];
    if (r == NULL) {
        pthread_mutex_lock(&lock);
        n = atomic_load(nrows);
        for (int i = 0; i < n && r == NULL; i++)
            if (strcmp(rows[i].label, target) == 0)
                r = &rows[i];
        if (r == NULL && n < HR_METRICS_MAX_LABELS) {
            r = &rows[n];
            if (r->label == NULL)
                r->label = hr_strdup(target);
            else if (strcmp(r->label, target) != 0) {
                free((char *)r->label);
                r->label = hr_strdup(target);
            }
            atomic_store(nrows, n + 1);
        }
        pthread_mutex_unlock(&lock);
    }
    if (r != NULL)
        atomic_fetch_add(&r->n[0], 1);
}

void hr_metrics_skipped(const char *target)
{
    count_target(skipped, &nskipped, target);
}

void hr_metrics_superseded(const char *target)
{
    count_target(superseded, &nsuperseded, target);
}

void hr_metrics_commit(size_t stored, int64_t latency_us)
{
    size_t b, l;
    double secs = (double)latency_us / 1e6;
    for (b = 0; b < NB_BATCH && (double)stored > batch_bounds[b]; b++)
        ;
    for (l = 0; l < NB_LAT && secs > latency_bounds[l]; l++)
        ;
    if (stored > 0) {
        atomic_fetch_add(&batch_buckets[b], 1);
        atomic_fetch_add(&batch_sum, stored);
    }
    atomic_fetch_add(&lat_buckets[l], 1);
    atomic_fetch_add(&commits, 1);
    atomic_fetch_add(&lat_sum_us, (unsigned long)(latency_us > 0 ? latency_us : 0));
}

void hr_metrics_attempt(const char *outcome, int64_t latency_ms)
{
    size_t l;
    double secs = (double)latency_ms / 1e3;
    for (size_t i = 0; i < NB_OUTCOMES; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            atomic_fetch_add(&attempts_by_outcome[i], 1);
    for (l = 0; l < NB_LAT && secs > latency_bounds[l]; l++)
        ;
    atomic_fetch_add(&attempt_buckets[l], 1);
    atomic_fetch_add(&attempt_sum_ms, (unsigned long)(latency_ms > 0 ? latency_ms : 0));
}

void hr_metrics_queue_depth(size_t depth)
{
    atomic_store(&queue_depth, depth);
}

void hr_metrics_pruned(size_t ev, size_t deliveries, size_t attempts)
{
    atomic_fetch_add(&pruned[0], ev);
    atomic_fetch_add(&pruned[1], deliveries);
    atomic_fetch_add(&pruned[2], attempts);
}

void hr_metrics_store_size(int64_t bytes, int64_t free_bytes)
{
    atomic_store(&store_bytes, bytes);
    atomic_store(&store_free_bytes, free_bytes);
}

void hr_metrics_connection_closed(const char *reason)
{
    for (size_t i = 0; i < NB_CLOSED; i++)
        if (strcmp(reason, closed_reasons[i]) == 0)
            atomic_fetch_add(&connections_closed[i], 1);
}

void hr_metrics_connections_open(unsigned n)
{
    atomic_store(&connections_open, n);
}

/* A bounded text builder for the exposition; metrics text is small. */
typedef struct {
    char *p;
    size_t len, cap;
} textbuf;

static void tb_printf(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n;
        t->p = hr_realloc(t->p, t->cap);
    }
}

static void histogram(textbuf *t, const char *name, const char *help, const double *bounds,
                      size_t nb, _Atomic unsigned long *buckets, double sum)
{
    unsigned long cum = 0;
    tb_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < nb; i++) {
        cum += atomic_load(&buckets[i]);
        tb_printf(t, "%s_bucket{le=\"%g\"} %lu\n", name, bounds[i], cum);
    }
    cum += atomic_load(&buckets[nb]);
    tb_printf(t, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %g\n%s_count %lu\n", name, cum, name, sum,
              name, cum);
}

char *hr_metrics_render(void)
{
    textbuf t = {hr_malloc(4096), 0, 4096};
    t.p[0] = '\0';

    tb_printf(&t, "# HELP herald_http_requests_total HTTP requests answered, by endpoint and "
                  "status.\n# TYPE herald_http_requests_total counter\n");
    int n = atomic_load(&nrequests);
    for (int i = 0; i < n; i++) {
        int ns = atomic_load(&requests[i].nstatus);
        for (int k = 0; k < ns; k++)
            tb_printf(&t, "herald_http_requests_total{endpoint=\"%s\",status=\"%d\"} %lu\n",
                      requests[i].endpoint, requests[i].status[k],
                      atomic_load(&requests[i].count[k]));
    }
    tb_printf(&t, "# HELP herald_events_total Events accepted (stored) or rejected, by kind.\n"
                  "# TYPE herald_events_total counter\n");
    n = atomic_load(&nevents);
    for (int i = 0; i < n; i++) {
        tb_printf(&t, "herald_events_total{kind=\"%s\",outcome=\"accepted\"} %lu\n",
                  events[i].label, atomic_load(&events[i].n[0]));
        tb_printf(&t, "herald_events_total{kind=\"%s\",outcome=\"rejected\"} %lu\n",
                  events[i].label, atomic_load(&events[i].n[1]));
    }
    tb_printf(&t, "# HELP herald_ingest_warnings_total Warnings recorded on accepted events "
                  "(what looked wrong in a body stored anyway), by source.\n"
                  "# TYPE herald_ingest_warnings_total counter\n");
    n = atomic_load(&nwarnings);
    for (int i = 0; i < n; i++)
        tb_printf(&t, "herald_ingest_warnings_total{source=\"%s\"} %lu\n", warnings[i].label,
                  atomic_load(&warnings[i].n[0]));
    histogram(&t, "herald_store_commit_batch_size",
              "New events per store transaction that stored events.", batch_bounds, NB_BATCH,
              batch_buckets, (double)atomic_load(&batch_sum));
    histogram(&t, "herald_store_commit_seconds", "Time to commit one store transaction.",
              latency_bounds, NB_LAT, lat_buckets, (double)atomic_load(&lat_sum_us) / 1e6);
    tb_printf(&t, "# HELP herald_delivery_attempts_total Delivery attempts, by outcome.\n"
                  "# TYPE herald_delivery_attempts_total counter\n");
    for (size_t i = 0; i < NB_OUTCOMES; i++)
        tb_printf(&t, "herald_delivery_attempts_total{outcome=\"%s\"} %lu\n", outcomes[i],
                  atomic_load(&attempts_by_outcome[i]));
    tb_printf(&t, "# HELP herald_deliveries_skipped_total Deliveries not sent because the event "
                  "was not for the target (no commit on its host), by target.\n"
                  "# TYPE herald_deliveries_skipped_total counter\n");
    n = atomic_load(&nskipped);
    for (int i = 0; i < n; i++)
        tb_printf(&t, "herald_deliveries_skipped_total{target=\"%s\"} %lu\n", skipped[i].label,
                  atomic_load(&skipped[i].n[0]));
    tb_printf(&t, "# HELP herald_deliveries_superseded_total Deliveries never sent because a "
                  "newer one with their order key took their place, by target.\n"
                  "# TYPE herald_deliveries_superseded_total counter\n");
    n = atomic_load(&nsuperseded);
    for (int i = 0; i < n; i++)
        tb_printf(&t, "herald_deliveries_superseded_total{target=\"%s\"} %lu\n",
                  superseded[i].label, atomic_load(&superseded[i].n[0]));
    histogram(&t, "herald_delivery_attempt_seconds", "Time one delivery attempt took.",
              latency_bounds, NB_LAT, attempt_buckets, (double)atomic_load(&attempt_sum_ms) / 1e3);
    tb_printf(&t,
              "# HELP herald_store_queue_depth Events waiting for the store writer.\n"
              "# TYPE herald_store_queue_depth gauge\nherald_store_queue_depth %zu\n",
              atomic_load(&queue_depth));
    tb_printf(&t, "# HELP herald_store_pruned_total Rows deleted by retention, by table.\n"
                  "# TYPE herald_store_pruned_total counter\n");
    for (size_t i = 0; i < 3; i++)
        tb_printf(&t, "herald_store_pruned_total{what=\"%s\"} %lu\n", pruned_what[i],
                  atomic_load(&pruned[i]));
    tb_printf(&t,
              "# HELP herald_store_size_bytes The database's size (page_count * page_size), at "
              "the last prune.\n# TYPE herald_store_size_bytes gauge\nherald_store_size_bytes "
              "%lld\n",
              (long long)atomic_load(&store_bytes));
    tb_printf(&t,
              "# HELP herald_store_free_bytes Of the database's size, free pages that new rows "
              "reuse, at the last prune.\n# TYPE herald_store_free_bytes gauge\n"
              "herald_store_free_bytes %lld\n",
              (long long)atomic_load(&store_free_bytes));
    tb_printf(&t, "# HELP herald_http_connections_closed_total HTTP connections herald closed "
                  "or refused, by reason.\n# TYPE herald_http_connections_closed_total counter\n");
    for (size_t i = 0; i < NB_CLOSED; i++)
        tb_printf(&t, "herald_http_connections_closed_total{reason=\"%s\"} %lu\n",
                  closed_reasons[i], atomic_load(&connections_closed[i]));
    tb_printf(&t,
              "# HELP herald_http_connections HTTP connections open.\n"
              "# TYPE herald_http_connections gauge\nherald_http_connections %u\n",
              atomic_load(&connections_open));
    return t.p;
}

void hr_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    atomic_store(&nrequests, 0);
    atomic_store(&nevents, 0);
    atomic_store(&nwarnings, 0);
    memset(requests, 0, sizeof(requests));
    memset(events, 0, sizeof(events));
    memset(warnings, 0, sizeof(warnings));
    atomic_store(&nsuperseded, 0);
    for (int i = 0; i < HR_METRICS_MAX_LABELS; i++)
        atomic_store(&superseded[i].n[0], 0);
    for (size_t i = 0; i <= NB_BATCH; i++)
        atomic_store(&batch_buckets[i], 0);
    for (size_t i = 0; i <= NB_LAT; i++)
        atomic_store(&lat_buckets[i], 0);
    atomic_store(&commits, 0);
    atomic_store(&batch_sum, 0);
    atomic_store(&lat_sum_us, 0);
    atomic_store(&queue_depth, 0);
    for (size_t i = 0; i < NB_OUTCOMES; i++)
        atomic_store(&attempts_by_outcome[i], 0);
    for (int i = 0; i < atomic_load(&nskipped); i++)
        free((char *)skipped[i].label);
    atomic_store(&nskipped, 0);
    memset(skipped, 0, sizeof(skipped));
    for (size_t i = 0; i <= NB_LAT; i++)
        atomic_store(&attempt_buckets[i], 0);
    atomic_store(&attempt_sum_ms, 0);
    for (size_t i = 0; i < 3; i++)
        atomic_store(&pruned[i], 0);
    atomic_store(&store_bytes, 0);
    atomic_store(&store_free_bytes, 0);
    for (size_t i = 0; i < NB_CLOSED; i++)
        atomic_store(&connections_closed[i], 0);
    atomic_store(&connections_open, 0);
    pthread_mutex_unlock(&lock);
}
