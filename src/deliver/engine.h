/*
 * engine.h - what the delivery engine's files share, and nothing outside
 * src/deliver/ may include: the engine's state (hr_deliver), a request in
 * flight (xfer), the settings snapshot and compiled templates.
 *
 *   deliver.c   the thread: claims, the busy set, records, reloads
 *   targets.c   settings snapshots and compiled templates per config
 *   request.c   what a delivery sends (rendering and signing)
 *   transfer.c  a request through libcurl, and judging its answer
 *   order.c     ordered delivery: the keys in flight, superseding
 *   ratelimit.c how fast each target may be sent to (token buckets, pauses)
 *   health.c    targets' health: what may be claimed, probes, holding
 */
#ifndef HR_DELIVER_ENGINE_H
#define HR_DELIVER_ENGINE_H

#include "core/error.h"
#include "deliver/deliver.h"
#include "deliver/gocd_lookup.h"
#include "deliver/guard.h"
#include "deliver/service.h"
#include "event/delivery.h"
#include "event/event.h"
#include "event/health.h"
#include "route/config.h"
#include "route/jq.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for one Retry-After value ("Wed, 21 Oct 2015 07:28:00 GMT"). */
#define RETRY_AFTER_MAX 64

/* ---- The part shared with done callbacks ------------------------------ */

typedef struct shared shared;

/* One record handed to the source, waiting for its done callback; or, on
 * the engine's held list, one the source could not write yet. */
typedef struct done_node {
    struct done_node *next;
    shared *sh;
    hr_attempt attempt; /* a copy: error and excerpt are owned */
    int status;
    int failures;        /* times the source could not write it */
    int64_t next_try_us; /* held: when to hand it to the source again */
} done_node;

struct shared {
    pthread_mutex_t lock;
    pthread_cond_t switched; /* applied_seq moved, or the thread ended */
    unsigned refs;           /* the engine's, plus one per record not yet done */
    bool closed;             /* stop began: done nodes are dropped, multi is gone */
    CURLM *multi;            /* to wake the thread; valid while !closed */
    done_node *done;         /* records done, not yet taken by the thread */
    const hr_config *next_cfg;
    uint64_t reload_seq, applied_seq;
    bool ended; /* the thread left its loop: reloads no longer wait */
};

/* A private deep copy of the delivery settings, shared by the transfers
 * started under them (they outlive a reload; the config may not). Only
 * the delivery thread touches it, so refs needs no lock. */
typedef struct settings_ref {
    unsigned refs;
    hr_delivery_settings s; /* proxy and allow are owned copies */
    char *proxy_host;       /* the proxy's host name for the guard, or NULL */
    int per_target_cap;
} settings_ref;

/* A target's templates, compiled for one config generation. error is set
 * (and nothing else) when one of them does not compile. */
typedef struct compiled {
    char *name;
    hr_template *url;
    hr_template **headers; /* one per target header */
    size_t nheaders;
    hr_jq *body;          /* NULL: the default body */
    hr_jq *title, *text;  /* a service's message parts; NULL: herald's own */
    hr_template *subject; /* e-mail: the subject's template; NULL: herald's own */
    hr_template **to;     /* e-mail: one per recipient, NULL for an address or culprits */
    size_t nto;
    char *error;
} compiled;

/* A busy ordered delivery's (target, key), owned copies (order.c). */
typedef struct key_in_flight {
    int64_t id;
    char *target, *key;
} key_in_flight;

/* Requests in flight per target name, for the per-target cap. */
typedef struct target_count {
    char *name;
    int n;
} target_count;

/* A probe started for a target whose circuit is open, with the version of
 * the target's record then (deliver/health.c). */
typedef struct probe_mark {
    char target[HR_HEALTH_TARGET_MAX];
    int64_t version;
} probe_mark;

/* One request in flight. */
typedef struct xfer {
    struct xfer *prev, *next;
    CURL *easy;
    settings_ref *set; /* a reference */
    int64_t id, event_id;
    int attempt;
    int64_t claim_token; /* the store's fencing token for this attempt */
    char *target;
    const hr_service *svc; /* judges the answer (static) */
    bool smtp;             /* an e-mail: SMTP, not HTTP */
    struct curl_slist *rcpt;
    size_t sent;        /* SMTP: how much of body the read callback gave libcurl */
    int64_t started_at; /* wall clock, ms */
    int64_t started_us; /* monotonic */
    struct curl_slist *headers;
    char *shown_headers; /* headers as the attempt records them, secrets masked (JSON) */
    char *body;
    size_t body_len;
    char *guard_host; /* the host the guard compares delivery.allow names with */
    json_t *sent_ref; /* what the service knew before the answer (hr_svc_request.ref) */
    char *answer;     /* the first max_response_bytes of the answer */
    size_t kept, total;
    bool cut;       /* the answer was too long: the transfer was stopped */
    bool opened;    /* the guard let at least one address through */
    bool own_event; /* the delivery carries herald's own health event */
    char retry_after[RETRY_AFTER_MAX];
    char reset_after[RETRY_AFTER_MAX];   /* X-RateLimit-Reset-After (Discord) */
    char rl_remaining[RETRY_AFTER_MAX];  /* X-RateLimit-Remaining (Discord, GitHub) */
    char rl_reset[RETRY_AFTER_MAX];      /* X-RateLimit-Reset: epoch seconds (GitHub) */
    char refused[HR_GUARD_WHY_MAX + 64]; /* why the guard refused an address, or "" */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

/* A target's token bucket and pause (ratelimit.c). */
typedef struct rate_bucket {
    char *name;
    double tokens;           /* -1: not yet filled */
    int64_t at_us;           /* monotonic: when tokens was last brought up to date */
    int64_t paused_until_us; /* monotonic: the target asked to be left alone until then */
} rate_bucket;

struct hr_deliver {
    pthread_t thread;
    hr_deliver_source src;
    shared *sh;
    CURLM *multi;
    atomic_bool stopping, woken;

    /* Everything below belongs to the delivery thread. */
    const hr_config *cfg;
    settings_ref *set;
    compiled **cache; /* for cfg, filled as targets are first used */
    size_t ncache, capcache;
    target_count *counts;
    size_t ncounts, capcounts;
    int64_t *busy; /* sorted */
    size_t nbusy, capbusy;
    xfer *xfers; /* in flight */
    size_t nxfers;
    key_in_flight *keys; /* busy ordered deliveries' keys (order.c) */
    size_t nkeys, capkeys;
    done_node *held;              /* records the source could not write yet (ids busy) */
    bool claim_soon;              /* a slot or a record freed up: look again now */
    bool claim_after_xfer;        /* a request ended: look again now, lazily */
    int64_t next_orphan_check_us; /* when to look for unconfigured targets' deliveries */
    bool claim_blocked;           /* too many records awaited: wait for them */
    rate_bucket *buckets;         /* ratelimit.c */
    size_t nbuckets, capbuckets;
    int64_t rate_wake_us; /* when a rate-limited target may start its next request */
    uint64_t rng;
    hr_gocd_lookup *lookup;   /* GoCD's modifications of runs (gocd_lookup.h) */
    hr_target_health *health; /* the store's records, read each claim round */
    size_t nhealth;
    probe_mark *probes; /* probes the store has not recorded yet */
    size_t nprobes, capprobes;
};
static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* deliver.c */
double hr_deliver__random(hr_deliver *d);
const char *hr_deliver__human_delay(int64_t ms, char *buf, size_t size);
void hr_deliver__busy_add(hr_deliver *d, int64_t id);
void hr_deliver__count_add(hr_deliver *d, const char *name, int delta);
void hr_deliver__record(hr_deliver *d, const hr_attempt *a);
void hr_deliver__record_dead(hr_deliver *d, const hr_delivery_job *job, const char *why);
void hr_deliver__record_skipped(hr_deliver *d, const hr_delivery_job *job, const char *why);

/* targets.c */
char *hr_deliver__url_host(const char *url, unsigned flags, hr_error *err);
void hr_deliver__settings_unref(settings_ref *r);
void hr_deliver__use_config(hr_deliver *d, const hr_config *cfg);
void hr_deliver__cache_clear(hr_deliver *d);
compiled *hr_deliver__compiled_for(hr_deliver *d, const hr_target *t);
bool hr_deliver__needs_raw(const hr_target *t);

/* request.c */
int hr_deliver__render(hr_deliver *d, const hr_target *t, compiled *c, const hr_delivery_job *job,
                       xfer *x, hr_error *err);
int hr_deliver__render_service(hr_deliver *d, const hr_target *t, compiled *c,
                               const hr_delivery_job *job, json_t *mods, xfer *x, hr_error *err);

/* order.c: whether job's key is in flight under another delivery (do
 * not start it); remember a busy job's key, forget it once its record is
 * written (true when it had one: its key's next delivery may be due now);
 * record a job the store found superseded (true) instead of sending it. */
bool hr_deliver__order_held(const hr_deliver *d, const hr_delivery_job *job);
void hr_deliver__order_track(hr_deliver *d, const hr_delivery_job *job);
bool hr_deliver__order_forget(hr_deliver *d, int64_t id);
void hr_deliver__order_clear(hr_deliver *d);
bool hr_deliver__order_supersede(hr_deliver *d, const hr_delivery_job *job);

/* ratelimit.c: how many of want requests t may start now (asking the
 * thread to look again when it may start more); a token for a started
 * one; a pause of the whole target for wait_ms (why: for the log). */
size_t hr_deliver__rate_room(hr_deliver *d, const hr_target *t, size_t want);
void hr_deliver__rate_take(hr_deliver *d, const hr_target *t);
void hr_deliver__rate_pause(hr_deliver *d, const char *target, int64_t wait_ms, const char *why);
void hr_deliver__rate_clear(hr_deliver *d);

/* health.c */
void hr_deliver__health_refresh(hr_deliver *d);
/* How many of room deliveries target may start now (0: paused, disabled,
 * or an open circuit between probes; 1: the probe). */
size_t hr_deliver__health_room(hr_deliver *d, const char *target, size_t room, int in_flight);
void hr_deliver__health_started(hr_deliver *d, const char *target);
/* When the next probe is due (monotonic us; INT64_MAX: none to come). */
int64_t hr_deliver__health_wake_us(hr_deliver *d);
/* Fills what the attempt carries for the target's health; a 410 is held. */
void hr_deliver__health_judge(hr_deliver *d, const xfer *x, hr_attempt *a, int64_t now);
/* Whether a retryable failure past max_attempts is held, not dead. */
bool hr_deliver__health_holds(hr_deliver *d, const xfer *x);
void hr_deliver__health_free(hr_deliver *d);
/* Whether the job's event is herald's own health event. */
bool hr_deliver__own_event(const hr_delivery_job *job);

/* transfer.c */
bool hr_deliver__start_job(hr_deliver *d, const hr_target *t, const hr_delivery_job *job);
void hr_deliver__collect(hr_deliver *d);
void hr_deliver__xfer_unlink(hr_deliver *d, xfer *x);
void hr_deliver__xfer_free(xfer *x);

#endif
