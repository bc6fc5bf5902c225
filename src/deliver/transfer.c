/*
 * transfer.c - one delivery's request through libcurl: starting it (with
 * the address guard at connect time), reading the answer within its
 * bounds, and judging the finished transfer by its service
 * (deliver/service.h) into an attempt for the source.
 */
#include "core/json.h"
#include "core/jwrite.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "deliver/engine.h"
#include "deliver/guard.h"
#include "deliver/service.h"
#include "ingest/redact.h"

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
/* Whether a request header's value is a secret: a header the target marks
 * secret, a name that always is (Authorization and the like, whoever added
 * it), or the signature herald computes. */
static bool secret_header(const hr_target *t, const char *name, size_t n)
{
    char buf[128];
    if (n >= sizeof(buf))
        return true; /* no header herald or a target writes is this long */
    memcpy(buf, name, n);
    buf[n] = '\0';
    if (hr_config_header_always_secret(buf) || strcasecmp(buf, "webhook-signature") == 0)
        return true;
    for (size_t i = 0; i < t->nheaders; i++)
        if (t->headers[i].secret && strcasecmp(buf, t->headers[i].name) == 0)
            return true;
    return false;
}

/* The request's headers as the attempt records them: a JSON array of
 * {"name", "value"}, each secret header's value HR_REDACTED and every other
 * value scrubbed by the value rules (ingest/redact.h: credentials in URLs,
 * webhook URLs, token= pairs), so no secret reaches the store. New; NULL
 * when the request has no headers. */
static char *shown_headers(const hr_target *t, const struct curl_slist *h)
{
    hr_jw w;
    size_t len, shown = 0;
    char *out;

    hr_jw_init(&w, SIZE_MAX);
    hr_jw_array(&w);

    for (; h != NULL; h = h->next) {
        const char *line = h->data, *colon = strpbrk(line, ":;");
        if (colon == NULL)
            continue;
        size_t n = (size_t)(colon - line);
        const char *v = colon + 1;
        while (*colon == ':' && (*v == ' ' || *v == '\t'))
            v++;
        if (*colon == ':' && *v == '\0')
            continue; /* "Name:" tells libcurl not to send one ("Expect:") */
        if (*colon == ';')
            v = ""; /* "Name;" sends the header empty */
        bool secret = secret_header(t, line, n);
        char *scrubbed = secret ? NULL : hr_redact_value(v, strlen(v), NULL);
        const char *value = secret ? HR_REDACTED : scrubbed != NULL ? scrubbed : v;
        hr_jw_mark m = hr_jw_at(&w);
        hr_jw_object(&w);
        hr_jw_key(&w, "name");
        int rc = hr_jw_string(&w, line, n);
        hr_jw_key(&w, "value");
        if (rc == HR_OK)
            rc = hr_jw_string(&w, value, strlen(value));
        hr_jw_end_object(&w);
        free(scrubbed);
        if (rc != HR_OK)
            hr_jw_undo(&w, m); /* not UTF-8: not shown */
        else
            shown++;
    }
    hr_jw_end_array(&w);
    out = hr_jw_take(&w, &len);
    if (shown == 0) {
        free(out);
        out = NULL;
    }
    return out;
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

/* Keeps the last response's Retry-After and rate-limit headers; (p, n)
 * is one header line. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;

    if (n >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
        /* a new response (after 1xx) starts */
        x->retry_after[0] = '\0';
        x->reset_after[0] = '\0';
        x->rl_remaining[0] = '\0';
        x->rl_reset[0] = '\0';
    } else {
        keep_header(p, n, "Retry-After:", x->retry_after, sizeof(x->retry_after));
        keep_header(p, n, "X-RateLimit-Reset-After:", x->reset_after, sizeof(x->reset_after));
        keep_header(p, n, "X-RateLimit-Remaining:", x->rl_remaining, sizeof(x->rl_remaining));
        keep_header(p, n, "X-RateLimit-Reset:", x->rl_reset, sizeof(x->rl_reset));
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
    free(x->shown_headers);
    curl_slist_free_all(x->rcpt);
    hr_deliver__settings_unref(x->set);
    free(x->target);
    free(x->body);
    free(x->guard_host);
    free(x->answer);
    json_decref(x->sent_ref);
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
    json_t *mods = NULL;
    hr_error err;

    /* A chat or mail message about a GoCD run waits for GoCD's
     * modifications of the run (gocd_lookup.h); the delivery stays due. */
    if (hr_service_of(t->type)->render != NULL &&
        !hr_gocd_lookup_ready(d->lookup, d->multi, &d->cfg->gocd, s, job->input,
                              hr_deliver__random(d), &mods))
        return false;
    xfer *x = hr_calloc(1, sizeof(*x));

    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        hr_log_error(SUB, "cannot create a libcurl handle; delivery %lld waits",
                     (long long)job->id);
        free(x);
        json_decref(mods);
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

    int rc =
        x->svc->render != NULL
            ? hr_deliver__render_service(d, t, hr_deliver__compiled_for(d, t), job, mods, x, &err)
            : hr_deliver__render(d, t, hr_deliver__compiled_for(d, t), job, x, &err);
    json_decref(mods);
    if (rc == HR_ENOTFOUND) {
        hr_deliver__record_skipped(d, job, err.msg);
        hr_deliver__xfer_free(x);
        return false;
    }
    if (rc != HR_OK) {
        hr_deliver__record_dead(d, job, err.msg);
        hr_deliver__xfer_free(x);
        return false;
    }
    x->shown_headers = shown_headers(t, x->headers);
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

/* What a delivered answer says about the message (deliver/service.h), as
 * compact JSON for the store (new), or NULL. */
static char *remember(const xfer *x, const hr_svc_answer *ans)
{
    json_t *ref =
        x->svc->remember != NULL ? x->svc->remember(ans, x->sent_ref) : json_incref(x->sent_ref);
    char *text = json_is_object(ref) ? json_dumps(ref, JSON_COMPACT) : NULL;
    json_decref(ref);
    return text;
}

/* The wait until an instant in epoch seconds (X-RateLimit-Reset), or -1;
 * a reset more than a day ahead is not a wait herald believes. */
static int64_t reset_at_ms(const char *v, int64_t now_ms)
{
    char *end;
    if (v[0] < '0' || v[0] > '9')
        return -1;
    double at = strtod(v, &end), now_s = (double)now_ms / 1000.0;
    if (*end != '\0' || !(at < now_s + 86400.0))
        return -1;
    return at > now_s ? (int64_t)((at - now_s) * 1000.0) + 1 : 0;
}

/* How long the whole target must wait before its next request, by what
 * its answer says, or -1: a 429, or a Retry-After on an answer to retry
 * (retry_ms, the wait this delivery was given); or a service's rate-limit
 * headers saying no request is left (Discord's X-RateLimit-Reset-After,
 * GitHub's X-RateLimit-Reset in epoch seconds), whatever the outcome. */
static int64_t target_wait_ms(const xfer *x, long status, int64_t retry_ms, int64_t now_ms)
{
    if (retry_ms >= 0 && (status == 429 || x->retry_after[0] != '\0'))
        return retry_ms;
    if (strcmp(x->rl_remaining, "0") != 0)
        return -1;
    int64_t ms = seconds_ms(x->reset_after);
    return ms >= 0 ? ms : reset_at_ms(x->rl_reset, now_ms);
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
    int64_t now = hr_time_now_ms(), slow_ms = -1;
    char *excerpt = NULL, *ref = NULL;
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
    a.request_headers = x->shown_headers;
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
                             reset_at_ms(x->rl_reset, now)};
        x->svc->classify(&ans, &v);
        snprintf(error, sizeof(error), "%s", v.error);
        a.outcome = v.outcome;
        if (a.outcome == HR_OUTCOME_DELIVERED)
            a.service_ref = ref = remember(x, &ans);
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
        slow_ms = target_wait_ms(x, status, wait, now);
        hr_log_info(SUB, "delivery %lld to %s: %s, retry in %s", (long long)x->id, x->target, error,
                    hr_deliver__human_delay(wait, delay, sizeof(delay)));
    } else if (a.outcome == HR_OUTCOME_DEAD) {
        hr_log_info(SUB, "delivery %lld to %s: %s, dead", (long long)x->id, x->target, msg);
    } else {
        hr_log_debug(SUB, "delivery %lld to %s: HTTP %ld in %lldms", (long long)x->id, x->target,
                     status, (long long)a.latency_ms);
    }
    if (slow_ms < 0 && a.status > 0)
        slow_ms = target_wait_ms(x, status, -1, now);
    if (slow_ms > 0)
        hr_deliver__rate_pause(d, x->target, slow_ms, status == 429 ? "HTTP 429" : "its headers");
    a.error = msg[0] != '\0' ? msg : NULL;
    hr_deliver__record(d, &a);
    free(excerpt);
    free(ref);
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
        if (hr_gocd_lookup_done(d->lookup, d->multi, easy, rc)) {
            d->claim_soon = true; /* the run's deliveries may go now */
            continue;
        }
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        xfer *x = (xfer *)(void *)priv;
        curl_multi_remove_handle(d->multi, easy);
        hr_deliver__xfer_unlink(d, x);
        hr_deliver__count_add(d, x->target, -1);
        finish(d, x, rc);
        hr_deliver__xfer_free(x);
        d->claim_after_xfer = true;
    }
}
