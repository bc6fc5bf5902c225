/*
 * test_core_metrics.c - counters, labels, histograms and the Prometheus
 * text they render to, including updates from several threads at once.
 */
#include "core/metrics.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reset(void)
{
    hr_metrics_reset();
}

TestSuite(metrics, .init = reset);

/* Asserts that text holds the line exactly (between newlines). */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return;
        p += n;
    }
    cr_assert_fail("no line \"%s\" in:\n%s", line, text);
}

static void assert_no(const char *text, const char *part)
{
    cr_assert_null(strstr(text, part), "unexpected \"%s\" in:\n%s", part, text);
}

Test(metrics, request_counters_by_endpoint_and_status)
{
    char *t;
    for (int i = 0; i < 3; i++)
        hr_metrics_request("events", 200);
    hr_metrics_request("events", 503);
    hr_metrics_request("metrics", 200);
    t = hr_metrics_render();
    assert_line(t, "herald_http_requests_total{endpoint=\"events\",status=\"200\"} 3");
    assert_line(t, "herald_http_requests_total{endpoint=\"events\",status=\"503\"} 1");
    assert_line(t, "herald_http_requests_total{endpoint=\"metrics\",status=\"200\"} 1");
    assert_no(t, "endpoint=\"metrics\",status=\"503\"");
    free(t);
}

Test(metrics, ingest_warnings_by_source)
{
    char *t = hr_metrics_render();
    assert_line(t, "# TYPE herald_ingest_warnings_total counter");
    assert_no(t, "herald_ingest_warnings_total{");
    free(t);
    hr_metrics_ingest_warnings("gocd", 2);
    hr_metrics_ingest_warnings("gocd", 1);
    hr_metrics_ingest_warnings("jenkins", 5);
    t = hr_metrics_render();
    assert_line(t, "herald_ingest_warnings_total{source=\"gocd\"} 3");
    assert_line(t, "herald_ingest_warnings_total{source=\"jenkins\"} 5");
    free(t);
}

Test(metrics, event_counters)
{
    char *t;
    hr_metrics_event("stage-status", true);
    hr_metrics_event("stage-status", true);
    hr_metrics_event("stage-status", false);
    hr_metrics_event("agent-status", false);
    t = hr_metrics_render();
    assert_line(t, "herald_events_total{kind=\"stage-status\",outcome=\"accepted\"} 2");
    assert_line(t, "herald_events_total{kind=\"stage-status\",outcome=\"rejected\"} 1");
    assert_line(t, "herald_events_total{kind=\"agent-status\",outcome=\"accepted\"} 0");
    assert_line(t, "herald_events_total{kind=\"agent-status\",outcome=\"rejected\"} 1");
    free(t);
}

Test(metrics, help_and_type_lines)
{
    char *t = hr_metrics_render();
    assert_line(t, "# TYPE herald_http_requests_total counter");
    assert_line(t, "# TYPE herald_events_total counter");
    assert_line(t, "# TYPE herald_store_commit_batch_size histogram");
    assert_line(t, "# TYPE herald_store_commit_seconds histogram");
    assert_line(t, "# TYPE herald_store_queue_depth gauge");
    cr_assert_not_null(strstr(t, "# HELP herald_http_requests_total "));
    cr_assert_not_null(strstr(t, "# HELP herald_events_total "));
    cr_assert_not_null(strstr(t, "# HELP herald_store_commit_batch_size "));
    cr_assert_not_null(strstr(t, "# HELP herald_store_commit_seconds "));
    cr_assert_not_null(strstr(t, "# HELP herald_store_queue_depth "));
    cr_assert_eq(t[strlen(t) - 1], '\n', "the text ends with a newline");
    free(t);
}

Test(metrics, histograms_are_cumulative)
{
    char *t;
    hr_metrics_commit(1, 400);     /* 0.4 ms */
    hr_metrics_commit(3, 3000);    /* 3 ms */
    hr_metrics_commit(600, 30000); /* past the last batch bound; 30 ms */
    t = hr_metrics_render();
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"1\"} 1");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"2\"} 1");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"4\"} 2");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"256\"} 2");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"512\"} 2");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"+Inf\"} 3");
    assert_line(t, "herald_store_commit_batch_size_sum 604");
    assert_line(t, "herald_store_commit_batch_size_count 3");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.0005\"} 1");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.001\"} 1");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.005\"} 2");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.025\"} 2");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.05\"} 3");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"+Inf\"} 3");
    assert_line(t, "herald_store_commit_seconds_sum 0.0334");
    assert_line(t, "herald_store_commit_seconds_count 3");
    free(t);
}

Test(metrics, bucket_bounds_are_inclusive)
{
    char *t;
    hr_metrics_commit(2, 1000); /* exactly le="2" and le="0.001" */
    t = hr_metrics_render();
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"1\"} 0");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"2\"} 1");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.0005\"} 0");
    assert_line(t, "herald_store_commit_seconds_bucket{le=\"0.001\"} 1");
    free(t);
}

Test(metrics, a_transaction_without_events_is_timed_but_not_a_batch)
{
    char *t;
    hr_metrics_commit(2, 1000);
    hr_metrics_commit(0, 1000); /* delivery attempts only */
    t = hr_metrics_render();
    assert_line(t, "herald_store_commit_batch_size_sum 2");
    assert_line(t, "herald_store_commit_batch_size_count 1");
    assert_line(t, "herald_store_commit_seconds_count 2");
    free(t);
}

Test(metrics, queue_depth_gauge)
{
    char *t;
    hr_metrics_queue_depth(17);
    hr_metrics_queue_depth(5);
    t = hr_metrics_render();
    assert_line(t, "herald_store_queue_depth 5");
    free(t);
}

Test(metrics, reset_zeroes_everything)
{
    char *t;
    hr_metrics_request("events", 200);
    hr_metrics_event("stage-status", true);
    hr_metrics_commit(4, 2000);
    hr_metrics_queue_depth(9);
    hr_metrics_reset();
    t = hr_metrics_render();
    assert_no(t, "herald_http_requests_total{");
    assert_no(t, "herald_events_total{");
    assert_line(t, "herald_store_commit_batch_size_bucket{le=\"+Inf\"} 0");
    assert_line(t, "herald_store_commit_batch_size_count 0");
    assert_line(t, "herald_store_commit_seconds_count 0");
    assert_line(t, "herald_store_queue_depth 0");
    free(t);
}

#define NTHREADS 8
#define PER_THREAD 20000

static const char *const endpoints[] = {"a", "b", "c", "d"};

static void *hammer(void *arg)
{
    int t = *(int *)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        /* Every thread also races to claim new labels and statuses. */
        hr_metrics_request(endpoints[(t + i) % 4], i % 2 ? 200 : 500);
        hr_metrics_event(i % 2 ? "stage-status" : "agent-status", i % 3 != 0);
        if (i % 100 == 0)
            hr_metrics_commit(2, 1000);
    }
    return NULL;
}

static void expect_events(const char *t, const char *kind, const char *outcome, unsigned long n)
{
    char line[128];
    snprintf(line, sizeof(line), "herald_events_total{kind=\"%s\",outcome=\"%s\"} %lu", kind,
             outcome, n);
    assert_line(t, line);
}

Test(metrics, concurrent_updates_add_up)
{
    pthread_t th[NTHREADS];
    int ids[NTHREADS];
    char line[128], *t;
    unsigned long sa = 0, sr = 0, aa = 0, ar = 0;

    for (int i = 0; i < NTHREADS; i++) {
        ids[i] = i;
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, &ids[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);

    t = hr_metrics_render();
    /* Each endpoint gets a quarter of the calls, half with each status. */
    for (int e = 0; e < 4; e++) {
        snprintf(line, sizeof(line),
                 "herald_http_requests_total{endpoint=\"%s\",status=\"200\"} %d", endpoints[e],
                 NTHREADS * PER_THREAD / 8);
        assert_line(t, line);
        snprintf(line, sizeof(line),
                 "herald_http_requests_total{endpoint=\"%s\",status=\"500\"} %d", endpoints[e],
                 NTHREADS * PER_THREAD / 8);
        assert_line(t, line);
    }
    /* Per kind: odd i are stage-status, even agent-status; i % 3 != 0 is
     * accepted. */
    for (int i = 0; i < PER_THREAD; i++) {
        int ok = i % 3 != 0;
        if (i % 2) {
            sa += ok;
            sr += !ok;
        } else {
            aa += ok;
            ar += !ok;
        }
    }
    expect_events(t, "stage-status", "accepted", sa * NTHREADS);
    expect_events(t, "stage-status", "rejected", sr * NTHREADS);
    expect_events(t, "agent-status", "accepted", aa * NTHREADS);
    expect_events(t, "agent-status", "rejected", ar * NTHREADS);
    snprintf(line, sizeof(line), "herald_store_commit_batch_size_count %d",
             NTHREADS * PER_THREAD / 100);
    assert_line(t, line);
    free(t);
}

Test(metrics, pruned_counters_and_store_size)
{
    char *t;
    hr_metrics_pruned(3, 4, 5);
    hr_metrics_pruned(1, 0, 2);
    hr_metrics_store_size(8192, 4096);
    t = hr_metrics_render();
    assert_line(t, "# TYPE herald_store_pruned_total counter");
    assert_line(t, "herald_store_pruned_total{what=\"events\"} 4");
    assert_line(t, "herald_store_pruned_total{what=\"deliveries\"} 4");
    assert_line(t, "herald_store_pruned_total{what=\"attempts\"} 7");
    assert_line(t, "# TYPE herald_store_size_bytes gauge");
    assert_line(t, "herald_store_size_bytes 8192");
    assert_line(t, "herald_store_free_bytes 4096");
    free(t);
    hr_metrics_reset();
    t = hr_metrics_render();
    assert_line(t, "herald_store_pruned_total{what=\"events\"} 0");
    assert_line(t, "herald_store_size_bytes 0");
    free(t);
}
