/*
 * test_deliver.c - the delivery engine against real local targets: herald's
 * own HTTP server (which records what it receives and answers per path),
 * and a raw socket server for what that one cannot do (exact request
 * bytes, custom answer headers, closing without an answer, counting
 * connections). The source is an in-memory table of jobs that records
 * attempts under a mutex.
 *
 * Waits are generous (they end as soon as the condition holds) so the
 * file passes under valgrind; the few "nothing more happened" checks wait
 * briefly.
 */
#include "deliver/deliver.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a test waits for something that should happen. */
#define WAIT_MS 20000

static int64_t now_ms(void)
{
    return hr_time_now_ms();
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ---- The in-memory source --------------------------------------------- */

typedef struct src_job {
    hr_delivery_job job; /* the template handed out by claim */
    int64_t next_at;
    bool finished;
} src_job;

typedef struct rec {
    int64_t id;
    int attempt;
    int status;
    hr_outcome outcome;
    int64_t started_at, latency_ms, next_at;
    int64_t recorded_at;
    char *error, *excerpt;
} rec;

/* A done callback to run later from another thread. */
typedef struct later_done {
    void (*done)(void *arg, int status);
    void *arg;
    int64_t id;
    hr_outcome outcome;
    int64_t next_at;
    int delay_ms;
} later_done;

#define MAX_JOBS 64
#define MAX_RECS 256
#define MAX_LATER 64

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    src_job jobs[MAX_JOBS];
    size_t njobs;
    rec recs[MAX_RECS];
    size_t nrecs;
    size_t claims;
    char no_raw[256];  /* " name" for each target claimed with no_raw */
    int done_delay_ms; /* 0: done from inside record; else from a thread */
    int fail_records;  /* this many records fail next, as on a full disk */
    pthread_t later[MAX_LATER];
    size_t nlater;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Applies an attempt's outcome to the job, as a store's commit would. */
static void apply_locked(int64_t id, hr_outcome outcome, int64_t next_at)
{
    for (size_t i = 0; i < S.njobs; i++) {
        src_job *j = &S.jobs[i];
        if (j->job.id != id)
            continue;
        if (outcome == HR_OUTCOME_RETRY) {
            j->next_at = next_at;
            j->job.attempt++;
        } else {
            j->finished = true;
        }
    }
}

/* Whether the claim query q takes job j (target and skip conditions). */
static bool query_takes(const hr_claim_query *q, const hr_delivery_job *j)
{
    for (size_t i = 0; i < q->n_skip_ids; i++)
        if (q->skip_ids[i] == j->id)
            return false;
    if (q->target != NULL)
        return strcmp(q->target, j->target) == 0;
    for (size_t i = 0; i < q->n_other_than; i++)
        if (strcmp(q->other_than[i], j->target) == 0)
            return false;
    return true;
}

static int src_claim(void *ctx, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                     hr_error *err)
{
    hr_delivery_job *out = hr_calloc(MAX_JOBS, sizeof(*out));
    size_t k = 0;

    pthread_mutex_lock(&S.lock);
    S.claims++;
    if (q->no_raw && q->target != NULL) {
        size_t len = strlen(S.no_raw);
        snprintf(S.no_raw + len, sizeof(S.no_raw) - len, " %s", q->target);
    }
    for (size_t i = 0; i < S.njobs && k < q->max; i++) {
        src_job *j = &S.jobs[i];
        if (j->finished || j->next_at > q->now || !query_takes(q, &j->job))
            continue;
        out[k] = j->job;
        out[k].target = hr_strdup(j->job.target);
        out[k].input = json_incref(j->job.input);
        k++;
    }
    pthread_mutex_unlock(&S.lock);
    *jobs = out;
    *n = k;
    return HR_OK;
}

static void *later_main(void *arg)
{
    later_done *l = arg;
    sleep_ms(l->delay_ms);
    pthread_mutex_lock(&S.lock);
    apply_locked(l->id, l->outcome, l->next_at);
    pthread_mutex_unlock(&S.lock);
    l->done(l->arg, HR_OK);
    free(l);
    return NULL;
}

static void src_record(void *ctx, const hr_attempt *a, void (*done)(void *arg, int status),
                       void *arg)
{
    pthread_mutex_lock(&S.lock);
    cr_assert_lt(S.nrecs, MAX_RECS);
    rec *r = &S.recs[S.nrecs++];
    r->id = a->delivery_id;
    r->attempt = a->attempt;
    r->status = a->status;
    r->outcome = a->outcome;
    r->started_at = a->started_at;
    r->latency_ms = a->latency_ms;
    r->next_at = a->next_at;
    r->recorded_at = now_ms();
    r->error = hr_strdup(a->error);
    r->excerpt = hr_strdup(a->excerpt);
    pthread_cond_broadcast(&S.cond);
    if (S.fail_records > 0) {
        /* Nothing applied: the delivery stays due, as in a store whose
         * commit failed. */
        S.fail_records--;
        pthread_mutex_unlock(&S.lock);
        done(arg, HR_ESTORE);
        return;
    }
    if (S.done_delay_ms == 0) {
        apply_locked(a->delivery_id, a->outcome, a->next_at);
        pthread_mutex_unlock(&S.lock);
        done(arg, HR_OK);
        return;
    }
    later_done *l = hr_calloc(1, sizeof(*l));
    l->done = done;
    l->arg = arg;
    l->id = a->delivery_id;
    l->outcome = a->outcome;
    l->next_at = a->next_at;
    l->delay_ms = S.done_delay_ms;
    cr_assert_lt(S.nlater, MAX_LATER);
    pthread_create(&S.later[S.nlater++], NULL, later_main, l);
    pthread_mutex_unlock(&S.lock);
}

static const hr_deliver_source source = {.claim = src_claim, .record = src_record};

/* Adds a due job; input is stolen. */
static void add_job(int64_t id, const char *target, int attempt, json_t *input)
{
    pthread_mutex_lock(&S.lock);
    cr_assert_lt(S.njobs, MAX_JOBS);
    src_job *j = &S.jobs[S.njobs++];
    j->job.id = id;
    j->job.event_id = id * 10;
    j->job.target = hr_strdup(target);
    j->job.attempt = attempt;
    j->job.input = input;
    j->next_at = 0;
    j->finished = false;
    pthread_mutex_unlock(&S.lock);
}

/* Waits until at least n attempts are recorded; returns how many are. */
static size_t wait_recs(size_t n)
{
    int64_t deadline = now_ms() + WAIT_MS;
    size_t got;

    pthread_mutex_lock(&S.lock);
    while (S.nrecs < n && now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&S.cond, &S.lock, &ts);
    }
    got = S.nrecs;
    pthread_mutex_unlock(&S.lock);
    cr_assert_geq(got, n, "waited for %zu attempts, got %zu", n, got);
    return got;
}

/* The first record of delivery id (the records array is append-only). */
static rec *rec_of(int64_t id)
{
    rec *r = NULL;
    pthread_mutex_lock(&S.lock);
    for (size_t i = 0; i < S.nrecs && r == NULL; i++)
        if (S.recs[i].id == id)
            r = &S.recs[i];
    pthread_mutex_unlock(&S.lock);
    cr_assert_not_null(r, "no attempt recorded for delivery %lld", (long long)id);
    return r;
}

static size_t recs_of(int64_t id)
{
    size_t n = 0;
    pthread_mutex_lock(&S.lock);
    for (size_t i = 0; i < S.nrecs; i++)
        n += S.recs[i].id == id;
    pthread_mutex_unlock(&S.lock);
    return n;
}

/* ---- herald's HTTP server as the target -------------------------------- */

static const char *const hdr_names[] = {
    "content-type",      "user-agent",     "webhook-id", "webhook-timestamp", "webhook-signature",
    "x-herald-delivery", "x-herald-event", "x-pipeline", "authorization",     "expect",
    "x-empty",           "content-length",
};
#define NHDR (sizeof(hdr_names) / sizeof(hdr_names[0]))

typedef struct seen {
    char *method, *path, *body;
    size_t body_len;
    char *h[NHDR];
} seen;

#define MAX_SEEN 128

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    seen reqs[MAX_SEEN];
    size_t n;
    hr_http_req *hung[MAX_SEEN];
    size_t nhung;
} H = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static hr_http_server *srv;
static char base[64]; /* http://127.0.0.1:PORT */

/* Records the request, then answers by the path's first segment: /ok 200,
 * /fail 500, /gone 404, /redirect 302, /hang never (until teardown). */
static void on_request(hr_http_req *req, void *ctx)
{
    const char *path = hr_http_path(req);
    size_t len;
    const char *body = hr_http_body(req, &len);

    pthread_mutex_lock(&H.lock);
    cr_assert_lt(H.n, MAX_SEEN);
    seen *s = &H.reqs[H.n++];
    s->method = hr_strdup(hr_http_method(req));
    s->path = hr_strdup(path);
    s->body = hr_strndup(body, len);
    s->body_len = len;
    for (size_t i = 0; i < NHDR; i++)
        s->h[i] = hr_strdup(hr_http_header(req, hdr_names[i]));
    pthread_cond_broadcast(&H.cond);
    if (strncmp(path, "/hang", 5) == 0) {
        H.hung[H.nhung++] = req;
        pthread_mutex_unlock(&H.lock);
        return;
    }
    pthread_mutex_unlock(&H.lock);
    if (strncmp(path, "/ok", 3) == 0)
        hr_http_reply(req, 200, "text/plain", "ok", 2);
    else if (strncmp(path, "/fail", 5) == 0)
        hr_http_reply(req, 500, "text/plain", "boom", 4);
    else if (strncmp(path, "/redirect", 9) == 0)
        hr_http_reply(req, 302, "text/plain", "", 0);
    else
        hr_http_reply(req, 404, "application/json", "{\"error\":\"gone\"}", 16);
}

static const hr_http_route routes[] = {
    {"GET", "/*", "t", on_request, NULL},
    {"POST", "/*", "t", on_request, NULL},
    {"PUT", "/*", "t", on_request, NULL},
    {"DELETE", "/*", "t", on_request, NULL},
};

/* Whether path is under prefix: equal to it, or going on past it with a new
 * segment. A bare string prefix would let "/ok/get" find "/ok/getbody" too,
 * which then decides by which of two concurrent deliveries the server
 * happened to see first. */
static bool path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 &&
           (path[n] == '\0' || path[n] == '/' || (n > 0 && prefix[n - 1] == '/'));
}

/* The first request whose path is under prefix, or NULL. */
static seen *seen_at(const char *prefix)
{
    seen *s = NULL;
    pthread_mutex_lock(&H.lock);
    for (size_t i = 0; i < H.n && s == NULL; i++)
        if (path_under(H.reqs[i].path, prefix))
            s = &H.reqs[i];
    pthread_mutex_unlock(&H.lock);
    return s;
}

static size_t seen_count(const char *prefix)
{
    size_t n = 0;
    pthread_mutex_lock(&H.lock);
    for (size_t i = 0; i < H.n; i++)
        n += path_under(H.reqs[i].path, prefix);
    pthread_mutex_unlock(&H.lock);
    return n;
}

static const char *hdr(const seen *s, const char *name)
{
    for (size_t i = 0; i < NHDR; i++)
        if (strcasecmp(hdr_names[i], name) == 0)
            return s->h[i];
    cr_assert_fail("the test server does not record header %s", name);
    return NULL;
}

/* ---- A raw socket server ---------------------------------------------- */

/* Accepts one connection at a time; reads each request (headers and a
 * Content-Length body), keeps the last one, and answers with `answer`
 * (NULL: closes without answering). With keep_alive it reads further
 * requests on the same connection. */
typedef struct raw_server {
    int fd;
    uint16_t port;
    pthread_t thread;
    const char *answer;
    size_t answer_len; /* 0: strlen(answer) */
    bool keep_alive;
    atomic_bool stop;
    atomic_int accepts, requests;
    pthread_mutex_t lock;
    char last[16384];
    size_t last_len;
} raw_server;

static raw_server raw;

/* Reads one request from fd into buf; returns its length, 0 on close. */
static size_t raw_read_request(raw_server *r, int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0)
            return 0;
        n += (size_t)k;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        size_t want = (size_t)(end + 4 - buf);
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl != NULL && cl < end)
            want += strtoul(cl + 17, NULL, 10);
        if (n >= want)
            return n;
    }
    return 0;
}

static void *raw_main(void *arg)
{
    raw_server *r = arg;
    char buf[16384];

    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&r->accepts, 1);
        for (;;) {
            size_t n = raw_read_request(r, c, buf, sizeof(buf));
            if (n == 0)
                break;
            pthread_mutex_lock(&r->lock);
            memcpy(r->last, buf, n + 1);
            r->last_len = n;
            pthread_mutex_unlock(&r->lock);
            atomic_fetch_add(&r->requests, 1);
            if (r->answer == NULL)
                break;
            size_t len = r->answer_len ? r->answer_len : strlen(r->answer), off = 0;
            while (off < len) {
                ssize_t k = send(c, r->answer + off, len - off, MSG_NOSIGNAL);
                if (k <= 0)
                    break;
                off += (size_t)k;
            }
            if (off < len)
                break;
            if (!r->keep_alive)
                break;
        }
        close(c);
    }
    return NULL;
}

static void raw_start_n(const char *answer, size_t answer_len, bool keep_alive)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int one = 1;

    raw.answer = answer;
    raw.answer_len = answer_len;
    raw.keep_alive = keep_alive;
    atomic_init(&raw.stop, false);
    atomic_init(&raw.accepts, 0);
    atomic_init(&raw.requests, 0);
    pthread_mutex_init(&raw.lock, NULL);
    raw.fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(raw.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(bind(raw.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(raw.fd, 16), 0);
    getsockname(raw.fd, (struct sockaddr *)&a, &len);
    raw.port = ntohs(a.sin_port);
    pthread_create(&raw.thread, NULL, raw_main, &raw);
}

static void raw_start(const char *answer, bool keep_alive)
{
    raw_start_n(answer, 0, keep_alive);
}

static void raw_stop(void)
{
    if (raw.fd <= 0)
        return;
    atomic_store(&raw.stop, true);
    pthread_join(raw.thread, NULL);
    close(raw.fd);
    pthread_mutex_destroy(&raw.lock);
    raw.fd = 0;
}

/* Waits until the raw server has read n requests. */
static void raw_wait(int n)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (atomic_load(&raw.requests) < n && now_ms() < deadline)
        sleep_ms(5);
    cr_assert_geq(atomic_load(&raw.requests), n);
}

/* A port on 127.0.0.1 with nothing listening. */
static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- Configs built by hand -------------------------------------------- */

#define MAX_TARGETS 16

static hr_config *cfg_new(bool allow_loopback)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_delivery_settings *d = &c->delivery;

    c->targets = hr_calloc(MAX_TARGETS, sizeof(hr_target));
    d->max_attempts = 5;
    d->backoff_initial_ms = 10000;
    d->backoff_max_ms = 60000;
    /* Long enough for a loaded machine under valgrind; tests of timeouts
     * set their own. */
    d->connect_timeout_ms = 10000;
    d->timeout_ms = 10000;
    d->max_response_bytes = 64;
    d->connections_per_host = 4;
    d->max_in_flight = 16;
    if (allow_loopback) {
        d->allow.items = hr_calloc(1, sizeof(char *));
        d->allow.items[0] = hr_strdup("127.0.0.0/8");
        d->allow.n = 1;
    }
    return c;
}

/* Adds a target whose URL is base + path (path may hold templates). */
static hr_target *add_target(hr_config *c, const char *name, const char *method, const char *url)
{
    cr_assert_lt(c->ntargets, MAX_TARGETS);
    hr_target *t = &c->targets[c->ntargets++];
    t->name = hr_strdup(name);
    t->method = hr_strdup(method);
    t->url = hr_strdup(url);
    return t;
}

/* Adds a signing secret to t (a rotation signs with each). */
static void add_secret(hr_target *t, const char *secret)
{
    hr_strlist *l = &t->signing_secrets;
    l->items = hr_realloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = hr_strdup(secret);
}

static char *url_at(const char *path)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 512, "%s%s", base, path);
    return b;
}

static void add_header(hr_target *t, const char *name, const char *value, bool secret)
{
    t->headers = hr_realloc(t->headers, (t->nheaders + 1) * sizeof(hr_header));
    t->headers[t->nheaders].name = hr_strdup(name);
    t->headers[t->nheaders].value = hr_strdup(value);
    t->headers[t->nheaders].secret = secret;
    t->nheaders++;
}

static void cfg_free(hr_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->ntargets; i++) {
        hr_target *t = &c->targets[i];
        free(t->name);
        free(t->url);
        free(t->method);
        for (size_t k = 0; k < t->nheaders; k++) {
            free(t->headers[k].name);
            free(t->headers[k].value);
        }
        free(t->headers);
        free(t->body);
        for (size_t k = 0; k < t->signing_secrets.n; k++)
            free(t->signing_secrets.items[k]);
        free(t->signing_secrets.items);
    }
    free(c->targets);
    for (size_t i = 0; i < c->delivery.allow.n; i++)
        free(c->delivery.allow.items[i]);
    free(c->delivery.allow.items);
    free(c->delivery.proxy);
    free(c);
}

/* ---- Fixture ------------------------------------------------------------ */

static hr_deliver *eng;
static hr_config *cfgs[4];

static void engine_start(hr_config *c)
{
    hr_error err;
    cr_assert_eq(hr_deliver_start(c, &source, &eng, &err), HR_OK, "%s", err.msg);
}

static void setup(void)
{
    hr_http_options o = {.listen = "127.0.0.1:0", .threads = 2};
    hr_error err;

    hr_log_set_level(HR_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cr_assert_eq(hr_http_start(&o, routes, sizeof(routes) / sizeof(routes[0]), &srv, &err), HR_OK,
                 "%s", err.msg);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)hr_http_port(srv));
}

static void teardown(void)
{
    hr_deliver_stop(eng);
    eng = NULL;
    /* Done callbacks still pending run now, after stop. */
    for (size_t i = 0; i < S.nlater; i++)
        pthread_join(S.later[i], NULL);
    S.nlater = 0;
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        cfg_free(cfgs[i]);
        cfgs[i] = NULL;
    }
    for (size_t i = 0; i < H.nhung; i++)
        hr_http_reply(H.hung[i], 504, "text/plain", "late", 4);
    H.nhung = 0;
    hr_http_stop(srv);
    srv = NULL;
    raw_stop();
    for (size_t i = 0; i < H.n; i++) {
        free(H.reqs[i].method);
        free(H.reqs[i].path);
        free(H.reqs[i].body);
        for (size_t k = 0; k < NHDR; k++)
            free(H.reqs[i].h[k]);
    }
    H.n = 0;
    for (size_t i = 0; i < S.njobs; i++)
        hr_delivery_job_clear(&S.jobs[i].job);
    S.njobs = 0;
    for (size_t i = 0; i < S.nrecs; i++) {
        free(S.recs[i].error);
        free(S.recs[i].excerpt);
    }
    S.nrecs = 0;
    S.fail_records = 0;
    S.no_raw[0] = '\0';
    curl_global_cleanup();
}

TestSuite(deliver, .init = setup, .fini = teardown, .timeout = 60);

/* An event as jq sees it, with a raw body. */
static json_t *event(const char *pipeline)
{
    return json_pack("{s:s,s:s,s:{s:s,s:i},s:s,s:{s:s}}", "source", "gocd", "kind", "stage-status",
                     "pipeline", "name", pipeline, "counter", 7, "note", "caf\xc3\xa9 \"quoted\"",
                     "raw", "secret", "raw stuff");
}

/* ---- The backoff (the guard is tested in test_deliver_guard.c) -------- */

Test(deliver, backoff_doubles_with_jitter_and_caps)
{
    hr_delivery_settings s = {.backoff_initial_ms = 10000, .backoff_max_ms = 3600000};

    cr_assert_eq(hr_deliver_backoff_ms(&s, 2, 0.0), 8000);
    cr_assert_eq(hr_deliver_backoff_ms(&s, 2, 0.5), 10000);
    cr_assert_leq(hr_deliver_backoff_ms(&s, 2, 0.999999), 12000);
    cr_assert_geq(hr_deliver_backoff_ms(&s, 2, 0.999999), 11999);
    cr_assert_eq(hr_deliver_backoff_ms(&s, 3, 0.5), 20000);
    cr_assert_eq(hr_deliver_backoff_ms(&s, 4, 0.5), 40000);
    for (int n = 2; n <= 100; n++) {
        for (double r = 0; r < 1; r += 0.125) {
            int64_t ms = hr_deliver_backoff_ms(&s, n, r);
            cr_assert_geq(ms, 8000, "attempt %d", n);
            cr_assert_leq(ms, 3600000 * 12 / 10, "attempt %d", n);
        }
    }
    cr_assert_eq(hr_deliver_backoff_ms(&s, 100, 0.5), 3600000);
    cr_assert_eq(hr_deliver_backoff_ms(&s, 1000000, 0.0), 2880000);
    cr_assert_eq(hr_deliver_backoff_ms(&s, 1, 0.5), 10000, "below 2 counts as the first retry");
}

/* ---- Requests ------------------------------------------------------------ */

/* The claim parses the stored raw body only for targets whose requests
 * run jq on the event: not for a webhook with literal URL and headers and
 * the default body. */
Test(deliver, raw_is_parsed_only_for_targets_that_run_jq)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    add_target(c, "plain", "POST", url_at("/ok/plain"));
    hr_target *t = add_target(c, "jqbody", "POST", url_at("/ok/jqbody"));
    t->body = hr_strdup("{raw}");
    t = add_target(c, "jqheader", "POST", url_at("/ok/jqheader"));
    add_header(t, "X-Raw", "{{ .raw.secret }}", false);
    add_target(c, "jqurl", "POST", url_at("/ok/jqurl?x={{ .raw.secret }}"));
    add_job(1, "plain", 1, event("a"));
    add_job(2, "jqbody", 1, event("b"));
    add_job(3, "jqheader", 1, event("c"));
    add_job(4, "jqurl", 1, event("d"));
    engine_start(c);
    wait_recs(4);
    pthread_mutex_lock(&S.lock);
    cr_assert_not_null(strstr(S.no_raw, " plain"), "%s", S.no_raw);
    cr_assert_null(strstr(S.no_raw, " jq"), "%s", S.no_raw);
    pthread_mutex_unlock(&S.lock);
}

Test(deliver, methods_bodies_and_headers)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t;

    add_target(c, "post", "POST", url_at("/ok/post"));
    add_target(c, "put", "PUT", url_at("/ok/put"));
    add_target(c, "get", "GET", url_at("/ok/get"));
    add_target(c, "delete", "DELETE", url_at("/ok/delete"));
    t = add_target(c, "getbody", "GET", url_at("/ok/getbody"));
    t->body_for_get = true;
    add_job(1, "post", 1, event("build"));
    add_job(2, "put", 1, event("build"));
    add_job(3, "get", 1, event("build"));
    add_job(4, "delete", 1, event("build"));
    add_job(5, "getbody", 1, event("build"));
    engine_start(c);
    wait_recs(5);

    const char *want = "{\"source\":\"gocd\",\"kind\":\"stage-status\",\"pipeline\":{\"name\":"
                       "\"build\",\"counter\":7},\"note\":\"caf\xc3\xa9 \\\"quoted\\\"\"}";
    static const struct {
        const char *path, *method;
        bool body;
    } cases[] = {
        {"/ok/post", "POST", true},      {"/ok/put", "PUT", true},     {"/ok/get", "GET", false},
        {"/ok/delete", "DELETE", false}, {"/ok/getbody", "GET", true},
    };
    for (size_t i = 0; i < 5; i++) {
        seen *s = seen_at(cases[i].path);
        cr_assert_not_null(s, "%s", cases[i].path);
        cr_assert_str_eq(s->method, cases[i].method);
        if (cases[i].body) {
            cr_assert_str_eq(s->body, want, "%s", cases[i].path);
            cr_assert_eq(s->body_len, strlen(want));
            cr_assert_str_eq(hdr(s, "content-type"), "application/json");
        } else {
            cr_assert_eq(s->body_len, 0, "%s: %s", cases[i].path, s->body);
            cr_assert_null(hdr(s, "content-type"));
        }
        cr_assert_str_eq(hdr(s, "user-agent"), "herald/0.1");
        cr_assert_null(hdr(s, "expect"));
        cr_assert_null(hdr(s, "webhook-signature"), "unsigned without a secret");
        rec *r = rec_of((int64_t)i + 1);
        cr_assert_eq(r->outcome, HR_OUTCOME_DELIVERED);
        cr_assert_eq(r->status, 200);
        cr_assert_null(r->error);
        cr_assert_str_eq(r->excerpt, "ok");
        cr_assert_eq(r->attempt, 1);
    }
    seen *s = seen_at("/ok/post");
    cr_assert_str_eq(hdr(s, "webhook-id"), "herald-1");
    cr_assert_str_eq(hdr(s, "x-herald-delivery"), "1");
    cr_assert_str_eq(hdr(s, "x-herald-event"), "10");
}

Test(deliver, header_templates_and_overrides)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t = add_target(c, "hdr", "POST", url_at("/ok/hdr"));
    add_header(t, "X-Pipeline", "{{ .pipeline.name }}/{{ .pipeline.counter }} a b", false);
    add_header(t, "Authorization", "Bearer tok-{{ .source }}", true);
    add_header(t, "Content-Type", "text/plain; charset=utf-8", false);
    add_header(t, "User-Agent", "custom/1", false);
    add_header(t, "X-Empty", "", false);
    add_header(t, "webhook-id", "forged", false);
    add_job(1, "hdr", 1, event("my pipe"));
    engine_start(c);
    wait_recs(1);

    seen *s = seen_at("/ok/hdr");
    cr_assert_not_null(s);
    cr_assert_str_eq(hdr(s, "x-pipeline"), "my pipe/7 a b", "header values are not URL-encoded");
    cr_assert_str_eq(hdr(s, "authorization"), "Bearer tok-gocd");
    cr_assert_str_eq(hdr(s, "content-type"), "text/plain; charset=utf-8");
    cr_assert_str_eq(hdr(s, "user-agent"), "custom/1");
    cr_assert_str_eq(hdr(s, "x-empty"), "");
    cr_assert_str_eq(hdr(s, "webhook-id"), "herald-1", "herald's own headers win");
    cr_assert_eq(rec_of(1)->outcome, HR_OUTCOME_DELIVERED);
}

Test(deliver, jq_body_string_as_is_and_json_compact)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t = add_target(c, "json", "POST", url_at("/ok/json"));
    t->body = hr_strdup("{text: (.pipeline.name + \" failed\"), n: .pipeline.counter, raw}");
    t = add_target(c, "text", "PUT", url_at("/ok/text"));
    t->body = hr_strdup("\"pipeline \\(.pipeline.name) #\\(.pipeline.counter)\"");
    add_job(1, "json", 1, event("deploy"));
    add_job(2, "text", 1, event("deploy"));
    engine_start(c);
    wait_recs(2);

    seen *s = seen_at("/ok/json");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->body,
                     "{\"text\":\"deploy failed\",\"n\":7,\"raw\":{\"secret\":\"raw stuff\"}}");
    cr_assert_str_eq(hdr(s, "content-type"), "application/json");
    s = seen_at("/ok/text");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->body, "pipeline deploy #7");
    cr_assert_str_eq(hdr(s, "content-length"), "18");
}

Test(deliver, url_template_is_percent_encoded)
{
    char url[256];
    raw_start("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false);
    hr_config *c = cfgs[0] = cfg_new(true);
    snprintf(
        url, sizeof(url),
        "http://127.0.0.1:%u/hook/{{ .pipeline.name }}?n={{ .pipeline.counter }}&q={{ .note }}",
        (unsigned)raw.port);
    add_target(c, "enc", "POST", url);
    add_job(1, "enc", 1, event("a b/c?d&e"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DELIVERED, "%s", r->error);
    cr_assert_eq(r->status, 204);
    pthread_mutex_lock(&raw.lock);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(raw.last, "\r"), raw.last);
    pthread_mutex_unlock(&raw.lock);
    cr_assert_str_eq(line, "POST /hook/a%20b%2Fc%3Fd%26e?n=7&q=caf%C3%A9%20%22quoted%22 HTTP/1.1");
}

/* base64 of (p, n), NUL-terminated, in out. */
static void b64(const void *p, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* "v1," + base64(HMAC-SHA256(key, id.ts.body)) of the request s, in want
 * (64 bytes), after checking its timestamp is within [t0, t1]. */
static void expected_signature(const seen *s, const char *key, int64_t t0, int64_t t1, char *want)
{
    const char *id = hdr(s, "webhook-id"), *ts = hdr(s, "webhook-timestamp");
    unsigned char mac[32];
    unsigned int maclen = 0;
    char content[4096];

    cr_assert_not_null(id);
    cr_assert_not_null(ts);
    long long when = strtoll(ts, NULL, 10);
    cr_assert_geq(when, t0 / 1000);
    cr_assert_leq(when, t1 / 1000 + 1);
    int n = snprintf(content, sizeof(content), "%s.%s.", id, ts);
    memcpy(content + n, s->body, s->body_len);
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)content, (size_t)n + s->body_len,
         mac, &maclen);
    cr_assert_eq(maclen, 32);
    memcpy(want, "v1,", 3);
    b64(mac, 32, want + 3);
}

/* Checks the request carries one signature, made with key. */
static void check_signature(const seen *s, const char *key, int64_t t0, int64_t t1)
{
    const char *sig = hdr(s, "webhook-signature");
    char want[64];

    cr_assert_not_null(sig);
    expected_signature(s, key, t0, t1, want);
    cr_assert_str_eq(sig, want);
}

Test(deliver, signs_with_whsec_and_raw_secrets)
{
    char secret[64], unpadded[64];
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t;

    memcpy(secret, "whsec_", 6);
    b64("secret-key-bytes", 16, secret + 6);
    cr_assert_str_eq(secret, "whsec_c2VjcmV0LWtleS1ieXRlcw==");
    snprintf(unpadded, sizeof(unpadded), "%.*s", (int)strcspn(secret, "="), secret);
    t = add_target(c, "whsec", "POST", url_at("/ok/whsec"));
    add_secret(t, secret);
    t = add_target(c, "unpadded", "POST", url_at("/ok/unpadded"));
    add_secret(t, unpadded);
    t = add_target(c, "rawkey", "POST", url_at("/ok/rawkey"));
    add_secret(t, "plain secret");
    t = add_target(c, "get", "GET", url_at("/ok/get"));
    add_secret(t, secret);
    t = add_target(c, "bad", "POST", url_at("/ok/bad"));
    add_secret(t, "whsec_not*base64");
    add_job(1, "whsec", 1, event("sig"));
    add_job(2, "unpadded", 1, event("sig"));
    add_job(3, "rawkey", 1, event("sig"));
    add_job(4, "get", 1, event("sig"));
    add_job(5, "bad", 1, event("sig"));
    int64_t t0 = now_ms();
    engine_start(c);
    wait_recs(5);
    int64_t t1 = now_ms();

    check_signature(seen_at("/ok/whsec"), "secret-key-bytes", t0, t1);
    check_signature(seen_at("/ok/unpadded"), "secret-key-bytes", t0, t1);
    check_signature(seen_at("/ok/rawkey"), "plain secret", t0, t1);
    seen *g = seen_at("/ok/get");
    cr_assert_eq(g->body_len, 0);
    check_signature(g, "secret-key-bytes", t0, t1);
    rec *r = rec_of(5);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_str_eq(r->error, "cannot render the request: the signing secret starts with whsec_ "
                               "but the rest is not base64");
    cr_assert_null(strstr(r->error, "not*base64"), "the secret is never shown");
    cr_assert_null(seen_at("/ok/bad"));
}

Test(deliver, signs_once_with_each_secret_of_a_rotation)
{
    char secret[64], a[64], b[64], want[200];
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t = add_target(c, "rotating", "POST", url_at("/ok/rotating"));

    memcpy(secret, "whsec_", 6);
    b64("new-key", 7, secret + 6);
    add_secret(t, "old key");
    add_secret(t, secret);
    add_job(1, "rotating", 1, event("sig"));
    int64_t t0 = now_ms();
    engine_start(c);
    cr_assert_eq(wait_recs(1), 1);
    int64_t t1 = now_ms();

    cr_assert_eq(rec_of(1)->outcome, HR_OUTCOME_DELIVERED, "%s", rec_of(1)->error);
    seen *s = seen_at("/ok/rotating");
    cr_assert_not_null(s);
    expected_signature(s, "old key", t0, t1, a);
    expected_signature(s, "new-key", t0, t1, b);
    snprintf(want, sizeof(want), "%s %s", a, b);
    cr_assert_str_eq(hdr(s, "webhook-signature"), want);
}

Test(deliver, webhook_id_is_stable_across_attempts)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.backoff_initial_ms = 50;
    hr_target *t = add_target(c, "flaky", "POST", url_at("/fail/flaky"));
    add_secret(t, "k");
    add_job(42, "flaky", 1, event("x"));
    engine_start(c);
    wait_recs(2);

    cr_assert_eq(seen_count("/fail/flaky"), 2);
    seen *a = &H.reqs[0], *b = &H.reqs[1];
    cr_assert_str_eq(hdr(a, "webhook-id"), "herald-42");
    cr_assert_str_eq(hdr(b, "webhook-id"), "herald-42");
    cr_assert_str_eq(hdr(b, "x-herald-delivery"), "42");
    cr_assert_str_eq(a->body, b->body);
    cr_assert_eq(S.recs[0].attempt, 1);
    cr_assert_eq(S.recs[1].attempt, 2);
    cr_assert_eq(S.recs[1].outcome, HR_OUTCOME_RETRY);
    cr_assert_str_eq(S.recs[1].error, "HTTP 500");
    cr_assert_str_eq(S.recs[1].excerpt, "boom");
}

/* ---- Outcomes ------------------------------------------------------------ */

Test(deliver, outcomes_by_status)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    add_target(c, "ok", "POST", url_at("/ok/x"));
    add_target(c, "fail", "POST", url_at("/fail/x"));
    add_target(c, "gone", "POST", url_at("/gone/x"));
    add_target(c, "redirect", "POST", url_at("/redirect/x"));
    add_job(1, "ok", 1, event("x"));
    add_job(2, "fail", 1, event("x"));
    add_job(3, "gone", 1, event("x"));
    add_job(4, "redirect", 1, event("x"));
    engine_start(c);
    wait_recs(4);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DELIVERED);
    cr_assert_geq(r->latency_ms, 0);
    cr_assert_geq(r->started_at, r->recorded_at - WAIT_MS);
    r = rec_of(2);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 500);
    cr_assert_str_eq(r->error, "HTTP 500");
    cr_assert_geq(r->next_at, r->recorded_at + 8000 - 100);
    cr_assert_leq(r->next_at, r->recorded_at + 12000);
    r = rec_of(3);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_eq(r->status, 404);
    cr_assert_str_eq(r->error, "HTTP 404");
    cr_assert_str_eq(r->excerpt, "{\"error\":\"gone\"}");
    r = rec_of(4);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_eq(r->status, 302);
    cr_assert_str_eq(r->error, "HTTP 302 (redirects are not followed)");
}

Test(deliver, too_many_requests_honours_retry_after)
{
    raw_start("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nslow",
              false);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "slow", "POST", url);
    add_job(1, "slow", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 429);
    cr_assert_str_eq(r->error, "HTTP 429");
    cr_assert_str_eq(r->excerpt, "slow");
    cr_assert_geq(r->next_at, r->recorded_at + 1000 - 250, "%lld",
                  (long long)(r->next_at - r->recorded_at));
    cr_assert_leq(r->next_at, r->recorded_at + 1000 + 50);
}

Test(deliver, retry_after_date_is_capped_at_backoff_max)
{
    raw_start("HTTP/1.1 503 Service Unavailable\r\nRetry-After: Fri, 31 Dec 2100 23:59:59 GMT\r\n"
              "Content-Length: 0\r\n\r\n",
              false);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "busy", "POST", url);
    add_job(1, "busy", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 503);
    cr_assert_str_eq(r->excerpt, "");
    cr_assert_geq(r->next_at, r->recorded_at + 60000 - 250);
    cr_assert_leq(r->next_at, r->recorded_at + 60000 + 50);
}

Test(deliver, no_answer_in_time_retries)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.timeout_ms = 300;
    add_target(c, "hang", "POST", url_at("/hang/x"));
    add_job(1, "hang", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 0);
    cr_assert_null(r->excerpt);
    cr_assert(strstr(r->error, "Timeout was reached") == r->error, "%s", r->error);
    cr_assert_geq(r->latency_ms, 250);
}

Test(deliver, closed_connection_retries)
{
    raw_start(NULL, false);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "closer", "POST", url);
    add_job(1, "closer", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->error, "Server returned nothing") == r->error, "%s", r->error);
}

Test(deliver, nothing_listening_retries)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)free_port());
    add_target(c, "nobody", "POST", url);
    add_job(1, "nobody", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert_eq(r->status, 0);
    cr_assert(strstr(r->error, "Couldn't connect to server") == r->error, "%s", r->error);
}

Test(deliver, last_attempt_gives_up)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.max_attempts = 3;
    add_target(c, "fail", "POST", url_at("/fail/x"));
    add_target(c, "gone", "POST", url_at("/gone/x"));
    add_job(1, "fail", 3, event("x"));
    add_job(2, "gone", 3, event("x"));
    engine_start(c);
    wait_recs(2);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_eq(r->attempt, 3);
    cr_assert_str_eq(r->error, "gave up after 3 attempts: HTTP 500");
    cr_assert_str_eq(rec_of(2)->error, "HTTP 404");
}

Test(deliver, excerpt_is_bounded_valid_utf8)
{
    raw_start(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 68\r\n\r\n"
        "\xff\xfeok \xc3\xa9\xe2\x82 0123456789012345678901234567890123456789012345678901234567",
        false);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "bad", "POST", url);
    add_job(1, "bad", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(r->excerpt,
                     "??ok \xc3\xa9?? 012345678901234567890123456789012345678901234567890123");
    cr_assert_eq(strlen(r->excerpt), 64);
}

/* ---- Refusals and render failures -------------------------------------- */

Test(deliver, guard_refuses_loopback_without_allow)
{
    hr_config *c = cfgs[0] = cfg_new(false);
    add_target(c, "local", "POST", url_at("/ok/local"));
    add_job(1, "local", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_eq(r->status, 0);
    cr_assert_str_eq(r->error,
                     "refused to connect: 127.0.0.1 is a loopback address (delivery.allow can "
                     "permit it)");
    cr_assert_eq(seen_count("/"), 0);
}

Test(deliver, guard_allows_by_host_name)
{
    hr_config *c = cfgs[0] = cfg_new(false);
    char url[128];
    c->delivery.allow.items = hr_calloc(1, sizeof(char *));
    c->delivery.allow.items[0] = hr_strdup("LOCALHOST");
    c->delivery.allow.n = 1;
    snprintf(url, sizeof(url), "http://localhost:%u/ok/named", (unsigned)hr_http_port(srv));
    add_target(c, "named", "POST", url);
    add_job(1, "named", 1, event("x"));
    engine_start(c);
    wait_recs(1);

    rec *r = rec_of(1);
    /* localhost may resolve to ::1 first, where nothing listens: either way
     * the guard let it through. */
    cr_assert(r->outcome == HR_OUTCOME_DELIVERED || r->outcome == HR_OUTCOME_RETRY, "%s", r->error);
    cr_assert(r->error == NULL || strstr(r->error, "refused") == NULL, "%s", r->error);
}

Test(deliver, render_failures_are_dead)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    hr_target *t = add_target(c, "jqfail", "POST", url_at("/ok/jqfail"));
    t->body = hr_strdup("error(\"no way\")");
    t = add_target(c, "crlf", "POST", url_at("/ok/crlf"));
    add_header(t, "X-Pipeline", "{{ .pipeline.name }}", false);
    t = add_target(c, "secret", "POST", url_at("/ok/secret"));
    add_header(t, "Authorization", "{{ error(\"tok-123\") }}", true);
    t = add_target(c, "scheme", "POST", "ftp://127.0.0.1/x");
    t = add_target(c, "method", "PATCH", url_at("/ok/method"));
    add_job(1, "jqfail", 1, event("x"));
    add_job(2, "crlf", 1, event("evil\r\nX-Injected: 1"));
    add_job(3, "secret", 1, event("x"));
    add_job(4, "scheme", 1, event("x"));
    add_job(5, "method", 1, event("x"));
    add_job(6, "no-such-target", 1, event("x"));
    engine_start(c);
    wait_recs(6);

    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert(strstr(r->error, "cannot render the request: body: ") == r->error, "%s", r->error);
    cr_assert(strstr(r->error, "no way") != NULL, "%s", r->error);
    /* route/jq.c refuses the line break itself; deliver.c checks again. */
    r = rec_of(2);
    cr_assert(strstr(r->error, "cannot render the request: header X-Pipeline: ") == r->error, "%s",
              r->error);
    cr_assert(strstr(r->error, "line break") != NULL, "%s", r->error);
    cr_assert_str_eq(rec_of(3)->error,
                     "cannot render the request: header Authorization: its template failed");
    cr_assert_str_eq(rec_of(4)->error,
                     "cannot render the request: url: the URL must start with http:// or "
                     "https://");
    cr_assert_str_eq(rec_of(5)->error,
                     "cannot render the request: the method PATCH is not supported");
    cr_assert_str_eq(rec_of(6)->error, "cannot render the request: no target is named "
                                       "no-such-target in the configuration");
    for (int64_t id = 1; id <= 6; id++) {
        cr_assert_eq(rec_of(id)->outcome, HR_OUTCOME_DEAD);
        cr_assert_eq(recs_of(id), 1);
    }
    cr_assert_eq(seen_count("/"), 0);
}

Test(deliver, environment_proxies_are_ignored)
{
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    setenv("all_proxy", "http://127.0.0.1:1", 1);
    hr_config *c = cfgs[0] = cfg_new(true);
    add_target(c, "ok", "POST", url_at("/ok/env"));
    add_job(1, "ok", 1, event("x"));
    engine_start(c);
    wait_recs(1);
    cr_assert_eq(rec_of(1)->outcome, HR_OUTCOME_DELIVERED, "%s", rec_of(1)->error);
}

Test(deliver, proxy_is_used_and_guarded)
{
    char proxy[64];
    raw_start("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nvia", false);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", (unsigned)raw.port);

    /* The target's name is never resolved here: the proxy does that. */
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.proxy = hr_strdup(proxy);
    add_target(c, "far", "POST", "http://hooks.example.invalid/x/{{ .pipeline.name }}");
    add_job(1, "far", 1, event("p q"));
    engine_start(c);
    wait_recs(1);
    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DELIVERED, "%s", r->error);
    cr_assert_str_eq(r->excerpt, "via");
    pthread_mutex_lock(&raw.lock);
    cr_assert(strncmp(raw.last, "POST http://hooks.example.invalid/x/p%20q HTTP/1.1\r\n", 52) == 0,
              "%s", raw.last);
    pthread_mutex_unlock(&raw.lock);
}

Test(deliver, proxy_address_is_what_the_guard_judges)
{
    char proxy[64];
    raw_start("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nvia", false);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", (unsigned)raw.port);
    hr_config *c = cfgs[0] = cfg_new(false);
    c->delivery.proxy = hr_strdup(proxy);
    add_target(c, "far", "POST", "http://hooks.example.invalid/x");
    add_job(1, "far", 1, event("x"));
    engine_start(c);
    wait_recs(1);
    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DEAD);
    cr_assert_str_eq(r->error, "refused to connect: 127.0.0.1 is a loopback address "
                               "(delivery.allow can permit it)");
    cr_assert_eq(atomic_load(&raw.requests), 0);
}

Test(deliver, a_long_answer_is_cut_and_judged_by_status)
{
    /* 2 MiB of a declared 3 MiB, then the connection closes: only a
     * transfer cut after the excerpt and 1 MiB more is delivered. */
    static char big[2 * 1024 * 1024 + 100];
    int n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
                     3u * 1024 * 1024);
    memset(big + n, 'a', sizeof(big) - (size_t)n);
    raw_start_n(big, sizeof(big), false);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "big", "POST", url);
    add_job(1, "big", 1, event("x"));
    engine_start(c);
    wait_recs(1);
    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_DELIVERED, "%s", r->error);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(strlen(r->excerpt), 64);
    cr_assert_eq(strspn(r->excerpt, "a"), 64);
}

/* ---- Concurrency, busy deliveries, reloads, stop ----------------------- */

Test(deliver, hanging_target_does_not_delay_others)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.max_in_flight = 8; /* the per-target cap is 2 */
    c->delivery.timeout_ms = 5000;
    add_target(c, "hang", "POST", url_at("/hang/x"));
    add_target(c, "ok", "POST", url_at("/ok/x"));
    for (int i = 1; i <= 20; i++)
        add_job(i, "hang", 1, event("x"));
    for (int i = 21; i <= 24; i++)
        add_job(i, "ok", 1, event("x"));
    int64_t t0 = now_ms();
    engine_start(c);
    wait_recs(4);

    for (int i = 21; i <= 24; i++)
        cr_assert_eq(rec_of(i)->outcome, HR_OUTCOME_DELIVERED);
    for (int i = 1; i <= 20; i++)
        cr_assert_eq(recs_of(i), 0, "the hanging target's requests are still in flight");
    cr_assert_lt(now_ms() - t0, 5000);
    cr_assert_leq(seen_count("/hang"), 2, "at most the per-target cap in flight");
    cr_assert_eq(seen_count("/ok"), 4);
}

Test(deliver, hanging_target_does_not_hold_its_hosts_connections)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    c->delivery.max_in_flight = 64; /* the defaults: the per-target cap is connections_per_host */
    c->delivery.connections_per_host = 4;
    c->delivery.timeout_ms = 5000;
    add_target(c, "hang", "POST", url_at("/hang/x"));
    add_target(c, "ok", "POST", url_at("/ok/x")); /* the same host and port */
    for (int i = 1; i <= 10; i++)
        add_job(i, "hang", 1, event("x"));
    engine_start(c);
    int64_t deadline = now_ms() + WAIT_MS;
    while (seen_count("/hang") < 4 && now_ms() < deadline)
        sleep_ms(5);
    cr_assert_eq(seen_count("/hang"), 4, "the hanging target holds its four connections");

    int64_t t0 = now_ms();
    for (int i = 11; i <= 14; i++)
        add_job(i, "ok", 1, event("x"));
    hr_deliver_wake(eng);
    wait_recs(4);
    for (int i = 11; i <= 14; i++)
        cr_assert_eq(rec_of(i)->outcome, HR_OUTCOME_DELIVERED);
    /* Behind the hung requests it would wait their whole timeout (5 s). */
    cr_assert_lt(now_ms() - t0, 2500, "the other target waited %lld ms for the hung one",
                 (long long)(now_ms() - t0));
    cr_assert_eq(seen_count("/hang"), 4);
}

Test(deliver, an_outcome_the_store_cannot_write_is_kept_not_sent_again)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    add_target(c, "ok", "POST", url_at("/ok/x"));
    add_job(1, "ok", 1, event("x"));
    S.fail_records = 2;
    engine_start(c);
    wait_recs(3);

    /* One request; the same outcome handed over three times, waiting
     * longer each time; the source says the delivery is due all along. */
    cr_assert_eq(seen_count("/ok"), 1, "the delivery was sent again");
    cr_assert_eq(recs_of(1), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(S.recs[i].attempt, 1);
        cr_assert_eq(S.recs[i].outcome, HR_OUTCOME_DELIVERED);
        cr_assert_eq(S.recs[i].status, 200);
        cr_assert_eq(S.recs[i].started_at, S.recs[0].started_at);
    }
    cr_assert_geq(S.recs[1].recorded_at - S.recs[0].recorded_at, 900);
    cr_assert_geq(S.recs[2].recorded_at - S.recs[1].recorded_at, 1900);
    sleep_ms(300);
    cr_assert_eq(recs_of(1), 3, "recorded once it was written");
    cr_assert_eq(seen_count("/ok"), 1);
}

Test(deliver, busy_delivery_is_not_started_twice)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    S.done_delay_ms = 700;
    add_target(c, "ok", "POST", url_at("/ok/x"));
    add_job(1, "ok", 1, event("x"));
    engine_start(c);
    wait_recs(1);
    /* The record is not done yet and the source still says it is due. */
    for (int i = 0; i < 10; i++) {
        hr_deliver_wake(eng);
        sleep_ms(20);
    }
    cr_assert_eq(seen_count("/ok"), 1);
    pthread_join(S.later[0], NULL);
    S.nlater = 0;
    hr_deliver_wake(eng);
    sleep_ms(100);
    cr_assert_eq(seen_count("/ok"), 1);
    cr_assert_eq(recs_of(1), 1);
    S.done_delay_ms = 0;
}

Test(deliver, wake_looks_at_once)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    add_target(c, "ok", "POST", url_at("/ok/x"));
    engine_start(c);
    sleep_ms(100); /* the first look found nothing */
    add_job(1, "ok", 1, event("x"));
    int64_t t0 = now_ms();
    hr_deliver_wake(eng);
    wait_recs(1);
    cr_assert_eq(rec_of(1)->outcome, HR_OUTCOME_DELIVERED);
    cr_assert_lt(now_ms() - t0, 900, "woken, not found by the once-a-second look");
}

Test(deliver, reload_switches_config)
{
    hr_config *c1 = cfg_new(true), *c2 = cfg_new(true);
    hr_target *t = add_target(c1, "t", "POST", url_at("/ok/one"));
    add_header(t, "X-Pipeline", "one-{{ .source }}", false);
    t = add_target(c2, "t", "PUT", url_at("/ok/two/{{ .pipeline.name }}"));
    add_header(t, "X-Pipeline", "two-{{ .source }}", false);
    t->body = hr_strdup(".pipeline");
    cfgs[1] = c2;
    add_job(1, "t", 1, event("p"));
    engine_start(c1);
    wait_recs(1);
    hr_deliver_reload(eng, c2);
    cfg_free(c1); /* the engine no longer reads it */
    add_job(2, "t", 1, event("p"));
    hr_deliver_wake(eng);
    wait_recs(2);

    seen *a = seen_at("/ok/one"), *b = seen_at("/ok/two/p");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_str_eq(a->method, "POST");
    cr_assert_str_eq(hdr(a, "x-pipeline"), "one-gocd");
    cr_assert_str_eq(b->method, "PUT");
    cr_assert_str_eq(hdr(b, "x-pipeline"), "two-gocd");
    cr_assert_str_eq(b->body, "{\"name\":\"p\",\"counter\":7}");
}

Test(deliver, reload_while_requests_are_in_flight)
{
    hr_config *c1 = cfg_new(true), *c2 = cfg_new(true);
    c1->delivery.timeout_ms = 400;
    c1->delivery.max_response_bytes = 8;
    add_target(c1, "h", "POST", url_at("/hang/x"));
    add_target(c2, "h", "POST", url_at("/ok/x"));
    cfgs[1] = c2;
    add_job(1, "h", 1, event("x"));
    engine_start(c1);
    int64_t deadline = now_ms() + WAIT_MS;
    while (seen_count("/hang") == 0 && now_ms() < deadline)
        sleep_ms(5);
    hr_deliver_reload(eng, c2);
    cfg_free(c1); /* the request in flight must not read it any more */
    wait_recs(1);
    rec *r = rec_of(1);
    cr_assert_eq(r->outcome, HR_OUTCOME_RETRY);
    cr_assert(strstr(r->error, "Timeout") == r->error, "%s", r->error);
}

Test(deliver, connections_are_reused)
{
    raw_start("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true);
    hr_config *c = cfgs[0] = cfg_new(true);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", (unsigned)raw.port);
    add_target(c, "ka", "POST", url);
    add_job(1, "ka", 1, event("x"));
    engine_start(c);
    wait_recs(1);
    add_job(2, "ka", 1, event("x"));
    hr_deliver_wake(eng);
    wait_recs(2);
    raw_wait(2);
    cr_assert_eq(rec_of(2)->outcome, HR_OUTCOME_DELIVERED);
    cr_assert_eq(atomic_load(&raw.accepts), 1);
}

Test(deliver, done_after_stop_is_safe)
{
    hr_config *c = cfgs[0] = cfg_new(true);
    S.done_delay_ms = 300;
    add_target(c, "ok", "POST", url_at("/ok/x"));
    add_target(c, "hang", "POST", url_at("/hang/x"));
    add_job(1, "ok", 1, event("x"));
    add_job(2, "ok", 1, event("y"));
    add_job(3, "hang", 1, event("z"));
    engine_start(c);
    wait_recs(2);
    hr_deliver_stop(eng); /* two records not done, one request in flight */
    eng = NULL;
    for (size_t i = 0; i < S.nlater; i++)
        pthread_join(S.later[i], NULL);
    S.nlater = 0;
    S.done_delay_ms = 0;
    cr_assert_eq(recs_of(3), 0, "abandoned, not recorded");
}

Test(deliver, stop_accepts_null)
{
    hr_deliver_stop(NULL);
    hr_deliver_wake(NULL);
    hr_delivery_job_clear(NULL);
}
