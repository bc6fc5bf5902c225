/*
 * deliver.h - the delivery engine: one thread owning a libcurl multi handle.
 *
 * The engine asks its source (the store) for due deliveries, renders each
 * request from its target (URL and header templates, jq body), signs it,
 * sends it with connection reuse and bounded concurrency, classifies the
 * answer, and hands the attempt's outcome back to the source to be recorded
 * durably. A slow or dead target never holds up the others, not even
 * those on its own host: every request runs concurrently inside the multi
 * handle, with a per-target cap on requests in flight: a quarter of
 * delivery.max_in_flight, and no more than delivery.connections_per_host.
 * libcurl itself has no per-host limit (a request over it would wait
 * inside libcurl, its timeout running, behind a hung target's). A
 * delivery over its target's cap is simply not started; the source offers
 * it again later.
 *
 * Threads: the engine's thread is the only one that runs jq, libcurl
 * transfers and the source's claim and record. hr_deliver_wake and
 * hr_deliver_reload may be called from any other thread. The process must
 * call curl_global_init before starting any thread (main.c does).
 *
 * Outcomes: the target's service judges each answer (deliver/service.h).
 * For every service a 2xx answer delivers (unless the service says its
 * body is a failure, as Slack's "ok": false). 408, 429, 5xx, timeouts and
 * connection errors retry after exponential backoff with jitter (a
 * Retry-After on 429 or 503, or the service's own rate-limit answer, is
 * honoured, capped at the backoff maximum). Any other status (3xx, other
 * 4xx), a refused address and a request that cannot be rendered are dead
 * at once. After delivery.max_attempts a delivery is dead.
 *
 * Services: a webhook's request is rendered from its templates (below); a
 * chat service's from the event's message (deliver/message.h) by its file
 * under src/deliver/ (svc_*.c). Either way the engine adds its own
 * headers and judges the address.
 *
 * Requests: the URL template is rendered with percent-encoding, header
 * value templates without; a header value holding a line break is a
 * render failure. The body is the target's jq program's first output (a
 * string as is, anything else as compact JSON) or, without a program, the
 * event minus "raw" as compact JSON; GET and DELETE send none unless
 * body_for_get. Content-Type is application/json and User-Agent
 * herald/0.1 unless the target sets them.
 *
 * Every request carries the headers webhook-id (stable across retries:
 * "herald-<delivery id>"), X-Herald-Delivery and X-Herald-Event, so
 * receivers can drop duplicates. A target with a signing_secret also gets
 * webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" (Standard Webhooks; a secret "whsec_<base64>" is
 * decoded, any other is used as raw bytes). A target's own header with
 * one of these names, or Content-Length, Transfer-Encoding or Expect, is
 * dropped: signatures and framing stay herald's.
 *
 * No reaching inside: the address curl is about to connect to (after DNS)
 * is checked by the guard (deliver/guard.h); loopback, private,
 * link-local, unique-local, CGNAT, unspecified and multicast addresses,
 * and IPv6 forms that carry one, are refused unless delivery.allow names
 * the address's range or the URL's host. Only http and https, no
 * redirects, no proxy unless delivery.proxy is set (http_proxy and
 * no_proxy in the environment are ignored). With delivery.proxy, libcurl
 * connects to the proxy, not to the target: the guard then judges the
 * proxy's address (and delivery.allow names are compared with the
 * proxy's host), and reaching the target is the proxy's business.
 *
 * Nothing the engine logs or records holds a request's URL, header
 * values or body: they carry credentials.
 */
#ifndef HR_DELIVER_DELIVER_H
#define HR_DELIVER_DELIVER_H

#include "core/error.h"
#include "event/delivery.h"
#include "event/health.h"
#include "route/config.h"

#include <jansson.h>
#include <stdint.h>

typedef struct hr_deliver hr_deliver;

typedef struct hr_deliver_source {
    /*
     * Due deliveries: at most q->max whose state is pending or retrying,
     * whose next_at <= q->now, whose id is not in q->skip_ids, and whose
     * target is q->target (when set) or none of q->other_than; oldest
     * next_at first. *jobs is a new array of *n jobs (the engine clears and
     * frees them). Runs on the delivery thread; returns HR_OK or an error
     * (the engine logs it and tries again later).
     */
    int (*claim)(void *ctx, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                 hr_error *err);
    /*
     * Records one attempt durably. a and its strings are borrowed for the
     * call only. When the record is committed (or failed), the source calls
     * done(arg, status) exactly once, from any thread; until then the
     * engine does not claim that delivery again. When it failed (a full
     * disk), the engine keeps the outcome and records the same attempt
     * again later, with growing waits, and still does not send the
     * delivery meanwhile.
     */
    void (*record)(void *ctx, const hr_attempt *a, void (*done)(void *arg, int status), void *arg);
    void *ctx;
    /*
     * Every target's health record (event/health.h): *list is a new array
     * of *n (the engine frees it). Read once per claim round; a paused or
     * disabled target is not claimed for, an open circuit only probed.
     * NULL: no health is kept (every target is healthy).
     */
    int (*health)(void *ctx, hr_target_health **list, size_t *n, hr_error *err);
    /*
     * Hands back a claimed delivery the engine did not start, so that the
     * next claim (of any instance) may take it at once instead of after its
     * lease; claim_token is the job's. NULL, or a no-op, where claims are
     * not leased. Runs on the delivery thread; a failure only costs time.
     */
    void (*unclaim)(void *ctx, int64_t id, int64_t claim_token);
} hr_deliver_source;

/* Starts the engine's thread. cfg is borrowed until the next reload or
 * stop. src is copied. */
int hr_deliver_start(const hr_config *cfg, const hr_deliver_source *src, hr_deliver **out,
                     hr_error *err);
/* New deliveries may be due: look now (any thread, cheap, never blocks). */
void hr_deliver_wake(hr_deliver *d);
/* Uses cfg for attempts started from now on (any thread but the engine's:
 * not from inside the source's callbacks). Returns once the engine has
 * switched; requests in flight finish with copies of what they need, so
 * the old config may be freed as soon as this returns. */
void hr_deliver_reload(hr_deliver *d, const hr_config *cfg);
/* Stops: requests in flight are abandoned (not recorded, so they are sent
 * again after a restart: at least once). Records whose done has not come
 * yet are abandoned too: stop does not wait for them, and a done callback
 * arriving later (even after this returns) is safe: it touches only a
 * small refcounted block that the last of them frees. NULL is fine. */
void hr_deliver_stop(hr_deliver *d);

/* The backoff before attempt number next_attempt (2 for the first retry):
 * min(max, initial * 2^(next_attempt - 2)), times a jitter factor in
 * [0.8, 1.2] drawn from rnd (a number in [0, 1)). Exposed for tests. */
int64_t hr_deliver_backoff_ms(const hr_delivery_settings *s, int next_attempt, double rnd);

#endif
