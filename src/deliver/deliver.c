/*
 * deliver.c - the delivery thread: claims due deliveries, renders, signs
 * and sends them through one libcurl multi handle, classifies the answers
 * and hands every attempt back to the source.
 *
 * Threads and what they touch:
 *   - the delivery thread owns everything in hr_deliver except `sh`, the
 *     atomic flags and `multi`'s wake-up: the transfers, the compiled
 *     templates (jq is not thread-safe), the busy set, the per-target
 *     counts and the settings snapshot;
 *   - hr_deliver_wake (any thread) sets `woken` and calls
 *     curl_multi_wakeup, which libcurl allows from any thread;
 *   - hr_deliver_reload (any thread) hands the config over in `sh` and
 *     waits until the thread has switched to it;
 *   - the source's done callbacks (any thread, possibly after stop) touch
 *     only `sh`, a small refcounted struct: the engine holds one reference
 *     and every record not yet done holds one. Stop marks it closed, and
 *     the last reference frees it, so a late callback never touches freed
 *     memory and stop never waits for the store.
 *
 * A delivery id is "busy" from the moment its request starts (or its
 * render fails) until its record is done; busy ids are never started
 * again, even though the source still returns them as due meanwhile.
 * A record the source could not write (a full disk) keeps its id busy:
 * the engine holds the attempt's outcome and hands it to the source
 * again, waiting longer each time (RECORD_RETRY_MIN_MS doubling up to
 * RECORD_RETRY_MAX_MS), until it is written. Sending the delivery again
 * instead would repeat it as fast as the source refuses. Held records
 * count against max_in_flight like requests, so while nothing can be
 * written the engine stops starting new ones.
 *
 * Nothing here logs a URL, a header value or a body: URLs carry tokens
 * (Slack, Teams) and headers carry credentials.
 */
#include "deliver/deliver.h"

#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "core/url.h"
#include "deliver/guard.h"
#include "deliver/service.h"
#include "route/jq.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SUB "deliver"
#define USER_AGENT "herald/0.1"
/* The longest wait between two looks at the source for due deliveries. */
#define CLAIM_INTERVAL_MS 1000
/* A claimed delivery's lease beyond its request's timeout, for recording the
 * outcome (where instances share a store). */
#define LEASE_MARGIN_MS 10000
/* A record the source could not write is handed to it again after this
 * long, doubling with each failure up to the maximum. */
#define RECORD_RETRY_MIN_MS 1000
#define RECORD_RETRY_MAX_MS 30000
/* An answer is read past max_response_bytes (and dropped) so the
 * connection can be reused; past this many more bytes the transfer is cut
 * and judged by its status alone. */
#define DRAIN_MAX_BYTES (1024u * 1024u)
/* Room for one Retry-After value ("Wed, 21 Oct 2015 07:28:00 GMT"). */
#define RETRY_AFTER_MAX 64
/* Standard Webhooks secrets carry this prefix before their base64 key. */
#define WHSEC_PREFIX "whsec_"

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

static void done_node_free(done_node *n)
{
    if (n == NULL)
        return;
    free((char *)n->attempt.error);
    free((char *)n->attempt.excerpt);
    free(n);
}

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

static void shared_free(shared *sh)
{
    if (sh == NULL)
        return;
    pthread_mutex_destroy(&sh->lock);
    pthread_cond_destroy(&sh->switched);
    free(sh);
}

/* ---- The thread's own state ------------------------------------------ */

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
    hr_jq *body;         /* NULL: the default body */
    hr_jq *title, *text; /* a service's message parts; NULL: herald's own */
    char *error;
} compiled;

/* Requests in flight per target name, for the per-target cap. */
typedef struct target_count {
    char *name;
    int n;
} target_count;

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
    char *body;
    size_t body_len;
    char *guard_host; /* the host the guard compares delivery.allow names with */
    char *answer;     /* the first max_response_bytes of the answer */
    size_t kept, total;
    bool cut;    /* the answer was too long: the transfer was stopped */
    bool opened; /* the guard let at least one address through */
    char retry_after[RETRY_AFTER_MAX];
    char reset_after[RETRY_AFTER_MAX];   /* X-RateLimit-Reset-After (Discord) */
    char reset_at[RETRY_AFTER_MAX];      /* X-RateLimit-Reset (GitHub: epoch seconds) */
    char refused[HR_GUARD_WHY_MAX + 64]; /* why the guard refused an address, or "" */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

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
    done_node *held;              /* records the source could not write yet (ids busy) */
    bool claim_soon;              /* a slot or a record freed up: look again now */
    int64_t next_orphan_check_us; /* when to look for unconfigured targets' deliveries */
    bool claim_blocked;           /* too many records awaited: wait for them */
    uint64_t rng;
};

/* ---- Small helpers ---------------------------------------------------- */

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* xorshift64*: jitter needs no cryptographic quality, only spread. */
static double next_random(hr_deliver *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* "10s", "2m", "350ms": how long until a retry, for log lines. */
static const char *human_delay(int64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf(buf, size, "%lldms", (long long)max64(ms, 0));
    else if (ms < 120 * 1000)
        snprintf(buf, size, "%llds", (long long)((ms + 500) / 1000));
    else if (ms < 2 * 3600 * 1000)
        snprintf(buf, size, "%lldm", (long long)((ms + 30000) / 60000));
    else
        snprintf(buf, size, "%lldh", (long long)((ms + 1800000) / 3600000));
    return buf;
}

/* hr_utf8_len, with NUL counted as invalid: the excerpt travels as a C
 * string. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    return s[0] == 0 ? 0 : hr_utf8_len(s, n);
}

/* A new NUL-terminated copy of (p, n) in which every byte that is not part
 * of a valid UTF-8 sequence (and every NUL) is '?'. */
static char *utf8_clean(const char *p, size_t n)
{
    char *s = hr_strndup(p ? p : "", p ? n : 0);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
    return s;
}

/* ---- Backoff ---------------------------------------------------------- */

int64_t hr_deliver_backoff_ms(const hr_delivery_settings *s, int next_attempt, double rnd)
{
    int64_t max = max64(s->backoff_max_ms, 0);
    int64_t ms = max64(s->backoff_initial_ms, 0);

    for (int i = 2; i < next_attempt && ms < max; i++)
        ms = ms > INT64_MAX / 2 ? INT64_MAX : ms * 2;
    if (ms > max)
        ms = max;
    if (rnd < 0 || rnd >= 1)
        rnd = 0.5;
    return (int64_t)((double)ms * (0.8 + 0.4 * rnd));
}

/* ---- Settings snapshots and compiled targets -------------------------- */

/* The host of url as the guard compares it (no IPv6 brackets, lower
 * case), or NULL with err set when url breaks the one URL rule
 * (core/url.h) read with flags. */
static char *url_host(const char *url, unsigned flags, hr_error *err)
{
    hr_url u;
    if (hr_url_check(url, strlen(url), flags, &u, err) != HR_OK)
        return NULL;
    return hr_url_host(url, &u);
}

static settings_ref *settings_new(const hr_delivery_settings *src)
{
    settings_ref *r = hr_calloc(1, sizeof(*r));
    int per_host = src->connections_per_host > 0 ? src->connections_per_host : 1;
    int in_flight = src->max_in_flight > 0 ? src->max_in_flight : 1;

    r->refs = 1;
    r->s = *src;
    r->s.max_in_flight = in_flight;
    r->s.connections_per_host = per_host;
    r->s.proxy = hr_strdup(src->proxy);
    r->s.allow.items = hr_calloc(src->allow.n, sizeof(char *));
    for (size_t i = 0; i < src->allow.n; i++)
        r->s.allow.items[i] = hr_strdup(src->allow.items[i]);
    if (r->s.proxy != NULL && r->s.proxy[0] != '\0')
        r->proxy_host = url_host(r->s.proxy, HR_URL_PROXY, NULL);
    /* A quarter of the slots, so one dead target cannot take them all, and
     * no more than connections_per_host: the connections one target may
     * hold to its host at once. */
    r->per_target_cap = in_flight / 4 < per_host ? in_flight / 4 : per_host;
    if (r->per_target_cap < 1)
        r->per_target_cap = 1;
    return r;
}

static void settings_unref(settings_ref *r)
{
    if (r == NULL || --r->refs > 0)
        return;
    free(r->s.proxy);
    for (size_t i = 0; i < r->s.allow.n; i++)
        free(r->s.allow.items[i]);
    free(r->s.allow.items);
    free(r->proxy_host);
    free(r);
}

static void compiled_free(compiled *c)
{
    if (c == NULL)
        return;
    free(c->name);
    hr_template_free(c->url);
    for (size_t i = 0; i < c->nheaders; i++)
        hr_template_free(c->headers[i]);
    free(c->headers);
    hr_jq_free(c->body);
    hr_jq_free(c->title);
    hr_jq_free(c->text);
    free(c->error);
    free(c);
}

static void cache_clear(hr_deliver *d)
{
    for (size_t i = 0; i < d->ncache; i++)
        compiled_free(d->cache[i]);
    d->ncache = 0;
}

/* Compiles t's templates, or records why not in c->error. A secret
 * header's template is never quoted, not even in jq's message. */
static void compile_target(compiled *c, const hr_target *t)
{
    char msg[HR_ERROR_MSG_MAX + 128];
    hr_error e;

    hr_error_clear(&e);
    /* A service's URL is literal (only a webhook's is a template). */
    if (t->type == HR_TARGET_WEBHOOK &&
        hr_template_compile(t->url ? t->url : "", &c->url, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "url: %s", e.msg);
        goto fail;
    }
    c->headers = hr_calloc(t->nheaders, sizeof(hr_template *));
    c->nheaders = t->nheaders;
    for (size_t i = 0; i < t->nheaders; i++) {
        const hr_header *h = &t->headers[i];
        if (hr_template_compile(h->value ? h->value : "", &c->headers[i], &e) != HR_OK) {
            if (h->secret)
                snprintf(msg, sizeof(msg), "header %s: its template does not compile", h->name);
            else
                snprintf(msg, sizeof(msg), "header %s: %s", h->name, e.msg);
            goto fail;
        }
    }
    if (t->body != NULL && hr_jq_compile(t->body, &c->body, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "body: %s", e.msg);
        goto fail;
    }
    if (t->title != NULL && hr_jq_compile(t->title, &c->title, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "title: %s", e.msg);
        goto fail;
    }
    if (t->text != NULL && hr_jq_compile(t->text, &c->text, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "text: %s", e.msg);
        goto fail;
    }
    return;
fail:
    hr_template_free(c->url);
    c->url = NULL;
    for (size_t i = 0; i < c->nheaders; i++)
        hr_template_free(c->headers[i]);
    free(c->headers);
    c->headers = NULL;
    c->nheaders = 0;
    hr_jq_free(c->body);
    hr_jq_free(c->title);
    c->body = c->title = NULL;
    c->error = hr_strdup(msg);
}

/* The compiled templates of t for the current config (borrowed). */
static compiled *compiled_for(hr_deliver *d, const hr_target *t)
{
    for (size_t i = 0; i < d->ncache; i++)
        if (strcmp(d->cache[i]->name, t->name) == 0)
            return d->cache[i];
    if (d->ncache == d->capcache) {
        d->capcache = d->capcache ? d->capcache * 2 : 8;
        d->cache = hr_realloc(d->cache, d->capcache * sizeof(*d->cache));
    }
    compiled *c = hr_calloc(1, sizeof(*c));
    c->name = hr_strdup(t->name);
    compile_target(c, t);
    d->cache[d->ncache++] = c;
    return c;
}

/* Switches to cfg: a new settings snapshot, templates compiled afresh on
 * first use, and the multi handle's connection limits. */
static void use_config(hr_deliver *d, const hr_config *cfg)
{
    settings_unref(d->set);
    cache_clear(d);
    d->cfg = cfg;
    d->set = settings_new(&cfg->delivery);
    /* connections_per_host is applied per target (per_target_cap), not by
     * libcurl per host: targets often share a host (one chat server, one
     * receiver with a path per team), and a request over libcurl's
     * per-host limit waits inside libcurl with its timeout running, so a
     * hung target would hold up every other target on its host by a whole
     * timeout. The total stays bounded by max_in_flight. */
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)d->set->s.max_in_flight);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->set->s.max_in_flight);
}

/* ---- The busy set and per-target counts ------------------------------- */

/* Where id is, or where it would go, in the sorted busy set. */
static size_t busy_pos(const hr_deliver *d, int64_t id)
{
    size_t lo = 0, hi = d->nbusy;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->busy[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool busy_has(const hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    return i < d->nbusy && d->busy[i] == id;
}

static void busy_add(hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    if (i < d->nbusy && d->busy[i] == id)
        return;
    if (d->nbusy == d->capbusy) {
        d->capbusy = d->capbusy ? d->capbusy * 2 : 64;
        d->busy = hr_realloc(d->busy, d->capbusy * sizeof(*d->busy));
    }
    memmove(d->busy + i + 1, d->busy + i, (d->nbusy - i) * sizeof(*d->busy));
    d->busy[i] = id;
    d->nbusy++;
}

static void busy_remove(hr_deliver *d, int64_t id)
{
    size_t i = busy_pos(d, id);
    if (i >= d->nbusy || d->busy[i] != id)
        return;
    memmove(d->busy + i, d->busy + i + 1, (d->nbusy - i - 1) * sizeof(*d->busy));
    d->nbusy--;
}

static target_count *count_find(hr_deliver *d, const char *name)
{
    for (size_t i = 0; i < d->ncounts; i++)
        if (strcmp(d->counts[i].name, name) == 0)
            return &d->counts[i];
    return NULL;
}

static int count_of(hr_deliver *d, const char *name)
{
    target_count *c = count_find(d, name);
    return c ? c->n : 0;
}

static void count_add(hr_deliver *d, const char *name, int delta)
{
    target_count *c = count_find(d, name);
    if (c == NULL) {
        if (delta <= 0)
            return;
        if (d->ncounts == d->capcounts) {
            d->capcounts = d->capcounts ? d->capcounts * 2 : 8;
            d->counts = hr_realloc(d->counts, d->capcounts * sizeof(*d->counts));
        }
        c = &d->counts[d->ncounts++];
        c->name = hr_strdup(name);
        c->n = 0;
    }
    c->n += delta;
    if (c->n <= 0) {
        free(c->name);
        *c = d->counts[--d->ncounts];
    }
}

/* ---- Records ---------------------------------------------------------- */

static void on_record_done(void *arg, int status)
{
    done_node *n = arg;
    shared *sh = n->sh;
    bool last = false;

    n->status = status;
    pthread_mutex_lock(&sh->lock);
    if (!sh->closed) {
        n->next = sh->done;
        sh->done = n;
        curl_multi_wakeup(sh->multi);
        n = NULL;
    } else {
        last = --sh->refs == 0;
    }
    pthread_mutex_unlock(&sh->lock);
    done_node_free(n);
    if (last)
        shared_free(sh);
}

/* Hands n's attempt to the source (again). */
static void hand_over(hr_deliver *d, done_node *n)
{
    pthread_mutex_lock(&d->sh->lock);
    d->sh->refs++;
    pthread_mutex_unlock(&d->sh->lock);
    d->src.record(d->src.ctx, &n->attempt, on_record_done, n);
}

/* Hands a to the source; a->delivery_id stays busy until it is written. */
static void record(hr_deliver *d, const hr_attempt *a)
{
    done_node *n = hr_calloc(1, sizeof(*n));
    n->sh = d->sh;
    n->attempt = *a;
    n->attempt.error = a->error != NULL ? hr_strdup(a->error) : NULL;
    n->attempt.excerpt = a->excerpt != NULL ? hr_strdup(a->excerpt) : NULL;
    busy_add(d, a->delivery_id);
    hand_over(d, n);
}

/* Keeps a record the source could not write, to hand it over again
 * later. Only its first failure is logged: the store logs its own. */
static void hold(hr_deliver *d, done_node *n)
{
    int64_t wait = RECORD_RETRY_MIN_MS;
    char delay[32];

    for (int i = 0; i < n->failures && wait < RECORD_RETRY_MAX_MS; i++)
        wait *= 2;
    if (wait > RECORD_RETRY_MAX_MS)
        wait = RECORD_RETRY_MAX_MS;
    if (n->failures++ == 0)
        hr_log_warn(SUB,
                    "the store could not record attempt %d of delivery %lld (%s); herald keeps "
                    "its outcome, does not send the delivery again meanwhile, and tries to "
                    "record it again in %s",
                    n->attempt.attempt, (long long)n->attempt.delivery_id, hr_error_name(n->status),
                    human_delay(wait, delay, sizeof(delay)));
    n->next_try_us = hr_time_mono_us() + wait * 1000;
    n->next = d->held;
    d->held = n;
}

/* Hands the held records whose time has come to the source again.
 * Returns the time of the next one still held (INT64_MAX: none). */
static int64_t retry_held(hr_deliver *d)
{
    int64_t now = hr_time_mono_us(), next = INT64_MAX;
    done_node **p = &d->held;

    /* A record the source refuses at once comes back through take_done,
     * like any other, and is held again there. */
    while (*p != NULL) {
        done_node *n = *p;
        if (n->next_try_us <= now) {
            *p = n->next;
            n->next = NULL;
            hand_over(d, n);
        } else {
            next = n->next_try_us < next ? n->next_try_us : next;
            p = &n->next;
        }
    }
    return next;
}

/* Takes the records done since the last look: frees the ids of those
 * written, holds the others. */
static void take_done(hr_deliver *d)
{
    done_node *list, *next;
    unsigned n = 0;

    pthread_mutex_lock(&d->sh->lock);
    list = d->sh->done;
    d->sh->done = NULL;
    for (done_node *p = list; p != NULL; p = p->next)
        n++;
    d->sh->refs -= n;
    pthread_mutex_unlock(&d->sh->lock);
    for (; list != NULL; list = next) {
        next = list->next;
        if (list->status != HR_OK) {
            hold(d, list);
            continue;
        }
        if (list->failures > 0)
            hr_log_info(SUB, "attempt %d of delivery %lld is recorded after %d failed tries",
                        list->attempt.attempt, (long long)list->attempt.delivery_id,
                        list->failures);
        busy_remove(d, list->attempt.delivery_id);
        done_node_free(list);
    }
    if (n > 0 && d->claim_blocked)
        d->claim_soon = true;
}

/* Records a delivery its service declined (the event is not for the
 * target): skipped, final, nothing sent. */
static void record_skipped(hr_deliver *d, const hr_delivery_job *job, const char *why)
{
    hr_attempt a = {0};

    a.delivery_id = job->id;
    a.attempt = job->attempt;
    a.claim_token = job->claim_token;
    a.started_at = hr_time_now_ms();
    a.error = why;
    a.outcome = HR_OUTCOME_SKIPPED;
    hr_log_debug(SUB, "delivery %lld to %s: skipped: %s", (long long)job->id, job->target, why);
    hr_metrics_skipped(job->target);
    record(d, &a);
}

/* Records a delivery that cannot even be sent: dead at once. */
static void record_dead(hr_deliver *d, const hr_delivery_job *job, const char *why)
{
    char msg[HR_ERROR_MSG_MAX + 64];
    hr_attempt a = {0};

    snprintf(msg, sizeof(msg), "cannot render the request: %s", why);
    a.delivery_id = job->id;
    a.attempt = job->attempt;
    a.claim_token = job->claim_token;
    a.started_at = hr_time_now_ms();
    a.error = msg;
    a.outcome = HR_OUTCOME_DEAD;
    hr_log_info(SUB, "delivery %lld to %s: %s, dead", (long long)job->id, job->target, msg);
    record(d, &a);
}

/* ---- Rendering -------------------------------------------------------- */
/* What a delivery sends: request.c. */
#include "deliver/request.c"

/* ---- Transfers -------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb, max = x->set->s.max_response_bytes;

    if (x->kept < max) {
        size_t take = n < max - x->kept ? n : max - x->kept;
        if (x->answer == NULL)
            x->answer = hr_malloc(max);
        memcpy(x->answer + x->kept, p, take);
        x->kept += take;
    }
    x->total += n;
    if (x->total - x->kept > DRAIN_MAX_BYTES) {
        x->cut = true;
        return 0; /* stops the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Keeps header name's value from the line (p, n) in out, when it is that
 * header. */
static void keep_header(const char *p, size_t n, const char *name, char *out, size_t size)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(p, name, k) != 0)
        return;
    const char *v = p + k, *end = p + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t len = (size_t)(end - v);
    if (len < size) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

/* Keeps the last response's Retry-After and X-RateLimit-Reset-After;
 * (p, n) is one header line. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;

    if (n >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
        /* a new response (after 1xx) starts */
        x->retry_after[0] = '\0';
        x->reset_after[0] = '\0';
        x->reset_at[0] = '\0';
    } else {
        keep_header(p, n, "Retry-After:", x->retry_after, sizeof(x->retry_after));
        keep_header(p, n, "X-RateLimit-Reset-After:", x->reset_after, sizeof(x->reset_after));
        keep_header(p, n, "X-RateLimit-Reset:", x->reset_at, sizeof(x->reset_at));
    }
    return n;
}

/* The guard, at connect time: after DNS, before the socket exists. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = arg;
    char why[HR_GUARD_WHY_MAX];

    if (!hr_guard_allowed(&x->set->s.allow, x->guard_host, &a->addr, why, sizeof(why))) {
        snprintf(x->refused, sizeof(x->refused),
                 "refused to connect: %s (delivery.allow can permit it)", why);
        return CURL_SOCKET_BAD;
    }
    x->opened = true;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void xfer_free(xfer *x)
{
    if (x == NULL)
        return;
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->rcpt);
    settings_unref(x->set);
    free(x->target);
    free(x->body);
    free(x->guard_host);
    free(x->answer);
    free(x);
}

static void xfer_link(hr_deliver *d, xfer *x)
{
    x->prev = NULL;
    x->next = d->xfers;
    if (d->xfers != NULL)
        d->xfers->prev = x;
    d->xfers = x;
    d->nxfers++;
}

static void xfer_unlink(hr_deliver *d, xfer *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        d->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    d->nxfers--;
}

/* Starts job's request, or records it dead when it cannot be rendered.
 * Returns true when a request started. */
static bool start_job(hr_deliver *d, const hr_target *t, const hr_delivery_job *job)
{
    const hr_delivery_settings *s = &d->set->s;
    xfer *x = hr_calloc(1, sizeof(*x));
    hr_error err;

    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        hr_log_error(SUB, "cannot create a libcurl handle; delivery %lld waits",
                     (long long)job->id);
        free(x);
        return false;
    }
    x->set = d->set;
    d->set->refs++;
    x->id = job->id;
    x->event_id = job->event_id;
    x->attempt = job->attempt;
    x->claim_token = job->claim_token;
    x->target = hr_strdup(job->target);
    x->svc = hr_service_of(t->type);

    int rc = x->svc->render != NULL ? render_service(d, t, compiled_for(d, t), job, x, &err)
                                    : render(d, t, compiled_for(d, t), job, x, &err);
    if (rc == HR_ENOTFOUND) {
        record_skipped(d, job, err.msg);
        xfer_free(x);
        return false;
    }
    if (rc != HR_OK) {
        record_dead(d, job, err.msg);
        xfer_free(x);
        return false;
    }
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, x->smtp ? "smtp,smtps" : "http,https");
    curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    /* "" turns off the proxies the environment (http_proxy) would set, and
     * the environment's no_proxy cannot send a request around delivery.proxy
     * (where the guard would judge it by the proxy's name). */
    curl_easy_setopt(x->easy, CURLOPT_PROXY, s->proxy && !x->smtp ? s->proxy : "");
    curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "");
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x);

    x->started_at = hr_time_now_ms();
    x->started_us = hr_time_mono_us();
    CURLMcode mc = curl_multi_add_handle(d->multi, x->easy);
    if (mc != CURLM_OK) {
        hr_log_error(SUB, "cannot start delivery %lld: %s", (long long)job->id,
                     curl_multi_strerror(mc));
        xfer_free(x);
        return false;
    }
    xfer_link(d, x);
    busy_add(d, x->id);
    count_add(d, x->target, 1);
    return true;
}

/* The delay a Retry-After value asks for (delta seconds or an HTTP date),
 * or -1 when it says nothing usable. */
static int64_t retry_after_ms(const char *v, int64_t now_ms)
{
    if (v[0] == '\0')
        return -1;
    if (strspn(v, "0123456789") == strlen(v)) {
        char *end;
        long long s = strtoll(v, &end, 10);
        if (s > INT64_MAX / 1000 || *end != '\0')
            return INT64_MAX;
        return (int64_t)s * 1000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    return max64((int64_t)t * 1000 - now_ms, 0);
}

/* A number of seconds with an optional fraction ("1.5"), as ms, or -1. */
static int64_t seconds_ms(const char *v)
{
    char *end;
    if (v[0] < '0' || v[0] > '9')
        return -1;
    double s = strtod(v, &end);
    if (*end != '\0' || !(s >= 0 && s < 86400.0))
        return -1;
    return (int64_t)(s * 1000.0 + 0.999);
}

/* The wait until an instant in epoch seconds (X-RateLimit-Reset), or -1. */
static int64_t reset_at_ms(const char *v, int64_t now_ms)
{
    char *end;
    if (v[0] < '0' || v[0] > '9')
        return -1;
    long long s = strtoll(v, &end, 10);
    if (*end != '\0' || s > INT64_MAX / 1000)
        return -1;
    return max64((int64_t)s * 1000 - now_ms, 0);
}

/* Judges a finished transfer (by its service: deliver/service.h) and
 * records the attempt. */
static void finish(hr_deliver *d, xfer *x, CURLcode rc)
{
    const hr_delivery_settings *s = &x->set->s;
    char error[HR_ERROR_MSG_MAX + CURL_ERROR_SIZE], gave_up[sizeof(error) + 64], delay[32];
    const char *msg = error;
    long status = 0;
    hr_attempt a = {0};
    int64_t now = hr_time_now_ms();
    char *excerpt = NULL;
    hr_svc_verdict v = {.outcome = HR_OUTCOME_RETRY, .wait_ms = -1};

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_WRITE_ERROR && x->cut)
        rc = CURLE_OK; /* we stopped reading an over-long answer */
    a.delivery_id = x->id;
    a.attempt = x->attempt;
    a.claim_token = x->claim_token;
    a.started_at = x->started_at;
    a.latency_ms = (hr_time_mono_us() - x->started_us) / 1000;
    a.status = (int)status;
    if (x->total > 0 || status > 0)
        a.excerpt = excerpt = utf8_clean(x->answer, x->kept);

    error[0] = '\0';
    if (rc != CURLE_OK && x->refused[0] != '\0' && !x->opened) {
        snprintf(error, sizeof(error), "%s", x->refused);
        a.outcome = HR_OUTCOME_DEAD;
    } else if (rc != CURLE_OK && !(x->smtp && status >= 400)) {
        if (x->errbuf[0] != '\0')
            snprintf(error, sizeof(error), "%s: %s", curl_easy_strerror(rc), x->errbuf);
        else
            snprintf(error, sizeof(error), "%s", curl_easy_strerror(rc));
        a.outcome = HR_OUTCOME_RETRY;
    } else {
        /* An SMTP answer's words are in libcurl's message ("RCPT failed:
         * 550"); its status is the server's last reply code. */
        hr_svc_answer ans = {status,
                             x->smtp ? x->errbuf : x->answer,
                             x->smtp ? strlen(x->errbuf) : x->kept,
                             retry_after_ms(x->retry_after, now),
                             seconds_ms(x->reset_after),
                             reset_at_ms(x->reset_at, now)};
        x->svc->classify(&ans, &v);
        snprintf(error, sizeof(error), "%s", v.error);
        a.outcome = v.outcome;
    }
    if (a.outcome == HR_OUTCOME_RETRY && x->attempt >= s->max_attempts) {
        snprintf(gave_up, sizeof(gave_up), "gave up after %d attempts: %s", x->attempt, error);
        msg = gave_up;
        a.outcome = HR_OUTCOME_DEAD;
    }
    if (a.outcome == HR_OUTCOME_RETRY) {
        int64_t wait = v.wait_ms;
        if (wait < 0)
            wait = hr_deliver_backoff_ms(s, x->attempt + 1, next_random(d));
        else if (wait > s->backoff_max_ms)
            wait = s->backoff_max_ms;
        a.next_at = now + wait;
        hr_log_info(SUB, "delivery %lld to %s: %s, retry in %s", (long long)x->id, x->target, error,
                    human_delay(wait, delay, sizeof(delay)));
    } else if (a.outcome == HR_OUTCOME_DEAD) {
        hr_log_info(SUB, "delivery %lld to %s: %s, dead", (long long)x->id, x->target, msg);
    } else {
        hr_log_debug(SUB, "delivery %lld to %s: HTTP %ld in %lldms", (long long)x->id, x->target,
                     status, (long long)a.latency_ms);
    }
    a.error = msg[0] != '\0' ? msg : NULL;
    record(d, &a);
    free(excerpt);
}

/* Takes every finished transfer out of the multi handle and judges it. */
static void collect(hr_deliver *d)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        xfer *x = (xfer *)(void *)priv;
        curl_multi_remove_handle(d->multi, easy);
        xfer_unlink(d, x);
        count_add(d, x->target, -1);
        finish(d, x, rc);
        xfer_free(x);
        d->claim_soon = true;
    }
}

/* ---- Claiming --------------------------------------------------------- */

/* Starts the claimed jobs that are not busy and whose target is known and
 * under its cap; a job for a target the configuration no longer names is
 * dead. Frees the jobs. */
static void start_claimed(hr_deliver *d, hr_delivery_job *jobs, size_t n)
{
    size_t max = (size_t)d->set->s.max_in_flight;
    for (size_t i = 0; i < n; i++) {
        const hr_delivery_job *job = &jobs[i];
        if (!busy_has(d, job->id) && d->nxfers < max) {
            const hr_target *t = hr_config_target(d->cfg, job->target);
            if (t == NULL) {
                char why[300];
                snprintf(why, sizeof(why), "no target is named %.200s in the configuration",
                         job->target);
                record_dead(d, job, why);
            } else if (count_of(d, job->target) < d->set->per_target_cap) {
                start_job(d, t, job);
            }
        }
        hr_delivery_job_clear(&jobs[i]);
    }
    free(jobs);
}

/*
 * Asks the source for due deliveries, target by target: each target under
 * its cap asks for as many as it has room for (an index range in the
 * store), skipping the deliveries already busy. A target with a long
 * backlog at its cap is not asked at all, so it costs the others nothing.
 * Once per CLAIM_INTERVAL_MS, deliveries of targets that are no longer
 * configured are looked for too, and recorded as dead.
 */
static void claim_and_start(hr_deliver *d)
{
    size_t max = (size_t)d->set->s.max_in_flight;
    size_t awaiting = d->nbusy - d->nxfers;
    /* A request ends within its timeout; the margin covers recording it. */
    hr_claim_query q = {.now = hr_time_now_ms(),
                        .skip_ids = d->busy,
                        .lease_ms = d->set->s.timeout_ms + LEASE_MARGIN_MS};
    hr_error err;

    d->claim_blocked = awaiting >= max;
    if (d->nxfers >= max || d->claim_blocked)
        return;
    for (size_t i = 0; i < d->cfg->ntargets && d->nxfers < max; i++) {
        const char *name = d->cfg->targets[i].name;
        size_t have = (size_t)count_of(d, name), cap = (size_t)d->set->per_target_cap;
        hr_delivery_job *jobs = NULL;
        size_t n = 0;
        if (have >= cap)
            continue;
        q.target = name;
        q.n_skip_ids = d->nbusy;
        q.skip_ids = d->busy;
        q.max = cap - have < max - d->nxfers ? cap - have : max - d->nxfers;
        hr_error_clear(&err);
        if (d->src.claim(d->src.ctx, &q, &jobs, &n, &err) != HR_OK) {
            hr_log_warn(SUB, "cannot look for due deliveries: %s", err.msg);
            return;
        }
        start_claimed(d, jobs, n);
    }
    if (hr_time_mono_us() >= d->next_orphan_check_us) {
        const char **names = hr_calloc(d->cfg->ntargets + 1, sizeof(*names));
        hr_delivery_job *jobs = NULL;
        size_t n = 0;
        for (size_t i = 0; i < d->cfg->ntargets; i++)
            names[i] = d->cfg->targets[i].name;
        q.target = NULL;
        q.other_than = names;
        q.n_other_than = d->cfg->ntargets;
        q.skip_ids = d->busy;
        q.n_skip_ids = d->nbusy;
        q.max = max;
        hr_error_clear(&err);
        if (d->src.claim(d->src.ctx, &q, &jobs, &n, &err) == HR_OK)
            start_claimed(d, jobs, n);
        else
            hr_log_warn(SUB, "cannot look for due deliveries: %s", err.msg);
        free(names);
        d->next_orphan_check_us = hr_time_mono_us() + CLAIM_INTERVAL_MS * 1000;
    }
}

/* ---- The thread ------------------------------------------------------- */

/* Switches to a config handed over by hr_deliver_reload, if any. */
static void apply_reload(hr_deliver *d)
{
    const hr_config *cfg = NULL;
    uint64_t seq;

    pthread_mutex_lock(&d->sh->lock);
    seq = d->sh->reload_seq;
    if (seq != d->sh->applied_seq)
        cfg = d->sh->next_cfg;
    pthread_mutex_unlock(&d->sh->lock);
    if (cfg == NULL)
        return;
    use_config(d, cfg);
    d->claim_soon = true;
    pthread_mutex_lock(&d->sh->lock);
    d->sh->applied_seq = seq;
    pthread_cond_broadcast(&d->sh->switched);
    pthread_mutex_unlock(&d->sh->lock);
}

static void *run(void *arg)
{
    hr_deliver *d = arg;
    int64_t next_claim_us = 0;

    while (!atomic_load(&d->stopping)) {
        int running, timeout_ms;
        int64_t next_held_us;
        CURLMcode mc;

        take_done(d);
        next_held_us = retry_held(d);
        apply_reload(d);
        if (atomic_exchange(&d->woken, false) || d->claim_soon ||
            hr_time_mono_us() >= next_claim_us) {
            d->claim_soon = false;
            claim_and_start(d);
            next_claim_us = hr_time_mono_us() + CLAIM_INTERVAL_MS * 1000;
        }
        mc = curl_multi_perform(d->multi, &running);
        if (mc != CURLM_OK)
            hr_log_error(SUB, "libcurl: %s", curl_multi_strerror(mc));
        collect(d);
        if (d->claim_soon || atomic_load(&d->woken)) {
            timeout_ms = 0;
        } else {
            int64_t wake = next_held_us < next_claim_us ? next_held_us : next_claim_us;
            int64_t left = (wake - hr_time_mono_us() + 999) / 1000;
            timeout_ms = (int)(left < 0 ? 0 : left > CLAIM_INTERVAL_MS ? CLAIM_INTERVAL_MS : left);
        }
        mc = curl_multi_poll(d->multi, NULL, 0, timeout_ms, NULL);
        if (mc != CURLM_OK)
            hr_log_error(SUB, "libcurl: %s", curl_multi_strerror(mc));
    }

    /* Requests in flight are abandoned: their deliveries stay due, so they
     * are sent again after a restart. */
    while (d->xfers != NULL) {
        xfer *x = d->xfers;
        curl_multi_remove_handle(d->multi, x->easy);
        xfer_unlink(d, x);
        xfer_free(x);
    }
    /* So are the outcomes the store could not write: those deliveries are
     * due in the store, and sent again after the next start. */
    while (d->held != NULL) {
        done_node *n = d->held;
        d->held = n->next;
        done_node_free(n);
    }
    cache_clear(d);
    free(d->cache);
    for (size_t i = 0; i < d->ncounts; i++)
        free(d->counts[i].name);
    free(d->counts);
    free(d->busy);
    settings_unref(d->set);
    d->set = NULL;

    pthread_mutex_lock(&d->sh->lock);
    d->sh->ended = true;
    pthread_cond_broadcast(&d->sh->switched);
    pthread_mutex_unlock(&d->sh->lock);
    return NULL;
}

int hr_deliver_start(const hr_config *cfg, const hr_deliver_source *src, hr_deliver **out,
                     hr_error *err)
{
    hr_deliver *d = hr_calloc(1, sizeof(*d));
    shared *sh = hr_calloc(1, sizeof(*sh));
    int rc;

    d->src = *src;
    d->sh = sh;
    d->rng = ((uint64_t)hr_time_mono_us() << 1) ^ (uint64_t)(uintptr_t)d ^ 0x9E3779B97F4A7C15ull;
    if (d->rng == 0)
        d->rng = 1;
    atomic_init(&d->stopping, false);
    atomic_init(&d->woken, false);
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->switched, NULL);
    sh->refs = 1;
    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        rc = hr_error_set(err, HR_ENOMEM, "cannot create libcurl's multi handle");
        goto fail;
    }
    sh->multi = d->multi;
    use_config(d, cfg);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        rc = hr_error_set(err, HR_EIO, "cannot start the delivery thread");
        goto fail;
    }
    *out = d;
    return HR_OK;
fail:
    settings_unref(d->set);
    curl_multi_cleanup(d->multi);
    shared_free(sh);
    free(d);
    return rc;
}

void hr_deliver_wake(hr_deliver *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->woken, true);
    curl_multi_wakeup(d->multi);
}

void hr_deliver_reload(hr_deliver *d, const hr_config *cfg)
{
    uint64_t seq;

    if (d == NULL)
        return;
    pthread_mutex_lock(&d->sh->lock);
    d->sh->next_cfg = cfg;
    seq = ++d->sh->reload_seq;
    curl_multi_wakeup(d->multi);
    while (d->sh->applied_seq < seq && !d->sh->ended)
        pthread_cond_wait(&d->sh->switched, &d->sh->lock);
    pthread_mutex_unlock(&d->sh->lock);
}

void hr_deliver_stop(hr_deliver *d)
{
    shared *sh;
    done_node *list, *next;
    bool last;

    if (d == NULL)
        return;
    sh = d->sh;
    atomic_store(&d->stopping, true);
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);

    /* From here, done callbacks drop their node instead of waking the
     * (soon freed) multi handle; the last reference frees sh. */
    pthread_mutex_lock(&sh->lock);
    sh->closed = true;
    list = sh->done;
    sh->done = NULL;
    for (done_node *p = list; p != NULL; p = p->next)
        sh->refs--;
    last = --sh->refs == 0;
    pthread_mutex_unlock(&sh->lock);
    for (; list != NULL; list = next) {
        next = list->next;
        done_node_free(list);
    }
    curl_multi_cleanup(d->multi);
    if (last)
        shared_free(sh);
    free(d);
}
