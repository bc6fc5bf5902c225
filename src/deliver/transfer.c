/*
 * transfer.c - one delivery's request through libcurl: starting it (with
 * the address guard at connect time), reading the answer within its
 * bounds, and judging the finished transfer by its service
 * (deliver/service.h) into an attempt for the source.
 */
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "deliver/engine.h"
#include "deliver/guard.h"
#include "deliver/service.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define SUB "deliver"
/* An answer is read past max_response_bytes (and dropped) so the
 * connection can be reused; past this many more bytes the transfer is cut
 * and judged by its status alone. */
#define DRAIN_MAX_BYTES (1024u * 1024u)

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
    } else {
        keep_header(p, n, "Retry-After:", x->retry_after, sizeof(x->retry_after));
        keep_header(p, n, "X-RateLimit-Reset-After:", x->reset_after, sizeof(x->reset_after));
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

void hr_deliver__xfer_free(xfer *x)
{
    if (x == NULL)
        return;
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->rcpt);
    hr_deliver__settings_unref(x->set);
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

void hr_deliver__xfer_unlink(hr_deliver *d, xfer *x)
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
bool hr_deliver__start_job(hr_deliver *d, const hr_target *t, const hr_delivery_job *job)
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
    x->own_event = hr_deliver__own_event(job);

    if ((x->svc->render != NULL
             ? hr_deliver__render_service(d, t, hr_deliver__compiled_for(d, t), job, x, &err)
             : hr_deliver__render(d, t, hr_deliver__compiled_for(d, t), job, x, &err)) != HR_OK) {
        hr_deliver__record_dead(d, job, err.msg);
        hr_deliver__xfer_free(x);
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
        hr_deliver__xfer_free(x);
        return false;
    }
    xfer_link(d, x);
    hr_deliver__busy_add(d, x->id);
    hr_deliver__count_add(d, x->target, 1);
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
        hr_svc_answer ans = {status, x->smtp ? x->errbuf : x->answer,
                             x->smtp ? strlen(x->errbuf) : x->kept,
                             retry_after_ms(x->retry_after, now), seconds_ms(x->reset_after)};
        x->svc->classify(&ans, &v);
        snprintf(error, sizeof(error), "%s", v.error);
        a.outcome = v.outcome;
    }
    hr_deliver__health_judge(d, x, &a, now);
    if (a.outcome == HR_OUTCOME_RETRY && x->attempt >= s->max_attempts &&
        !hr_deliver__health_holds(d, x)) {
        snprintf(gave_up, sizeof(gave_up), "gave up after %d attempts: %s", x->attempt, error);
        msg = gave_up;
        a.outcome = HR_OUTCOME_DEAD;
    }
    if (a.outcome == HR_OUTCOME_RETRY) {
        int64_t wait = v.wait_ms;
        if (wait < 0)
            wait = hr_deliver_backoff_ms(s, x->attempt + 1, hr_deliver__random(d));
        else if (wait > s->backoff_max_ms)
            wait = s->backoff_max_ms;
        a.next_at = now + wait;
        hr_log_info(SUB, "delivery %lld to %s: %s, retry in %s", (long long)x->id, x->target, error,
                    hr_deliver__human_delay(wait, delay, sizeof(delay)));
    } else if (a.outcome == HR_OUTCOME_DEAD) {
        hr_log_info(SUB, "delivery %lld to %s: %s, dead", (long long)x->id, x->target, msg);
    } else {
        hr_log_debug(SUB, "delivery %lld to %s: HTTP %ld in %lldms", (long long)x->id, x->target,
                     status, (long long)a.latency_ms);
    }
    a.error = msg[0] != '\0' ? msg : NULL;
    hr_deliver__record(d, &a);
    free(excerpt);
}

/* Takes every finished transfer out of the multi handle and judges it. */
void hr_deliver__collect(hr_deliver *d)
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
        hr_deliver__xfer_unlink(d, x);
        hr_deliver__count_add(d, x->target, -1);
        finish(d, x, rc);
        hr_deliver__xfer_free(x);
        d->claim_soon = true;
    }
}
