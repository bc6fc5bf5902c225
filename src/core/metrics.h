/*
 * metrics.h - counters, gauges and histograms for /metrics.
 *
 * Any thread may update a metric; updates are atomic and never block on
 * I/O. hr_metrics_render writes the Prometheus text exposition format.
 * Label values (endpoints, kinds) must be static strings: the table keeps
 * the pointers, bounded at HR_METRICS_MAX_LABELS distinct values each.
 */
#ifndef HR_CORE_METRICS_H
#define HR_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HR_METRICS_MAX_LABELS 64

/* One HTTP request answered: endpoint is the route's static label. */
void hr_metrics_request(const char *endpoint, int status);
/* One event accepted (stored) or rejected (invalid, or the store failed). */
void hr_metrics_event(const char *kind, bool accepted);
/* n warnings recorded on an event accepted from source (a static string):
 * what looked wrong in a body herald stored anyway. */
void hr_metrics_ingest_warnings(const char *source, size_t n);
/* One store transaction committed in latency_us, storing `stored` new
 * events. A transaction without events (delivery attempts, settings,
 * resets) counts in the commit time but not in the batch size. */
void hr_metrics_commit(size_t stored, int64_t latency_us);
/* One delivery attempt finished: outcome is "delivered", "retry", "dead" or
 * "skipped". */
void hr_metrics_attempt(const char *outcome, int64_t latency_ms);
/* One delivery to target skipped (the event was not for it). */
void hr_metrics_skipped(const char *target);
/* One delivery to target superseded (never sent: a newer one with its
 * order key took its place). target is copied the first time it is seen;
 * at most HR_METRICS_MAX_LABELS targets are counted. */
void hr_metrics_superseded(const char *target);
/* The number of events waiting for the store writer. */
void hr_metrics_queue_depth(size_t depth);
/* Rows one prune deleted (retention). */
void hr_metrics_pruned(size_t events, size_t deliveries, size_t attempts);
/* The database's size in bytes (page_count * page_size), and how much of
 * it is free pages waiting for reuse; refreshed at each prune. */
void hr_metrics_store_size(int64_t bytes, int64_t free_bytes);
/* An HTTP connection closed by herald, or refused, for a reason:
 * "head_timeout", "body_timeout", "stalled" (room made for others) or
 * "address_cap" (refused: its address holds its cap). */
void hr_metrics_connection_closed(const char *reason);
/* The number of HTTP connections open. */
void hr_metrics_connections_open(unsigned n);

/* A new NUL-terminated string with every metric; caller frees. */
char *hr_metrics_render(void);
/* Zeroes everything (tests). */
void hr_metrics_reset(void);

#endif
