/*
 * http.c - the retried POST of `herald notify` and `herald publish`.
 *
 * Blocking libcurl easy: the command has nothing else to do while it
 * waits. One handle is reused across attempts so a kept-alive connection
 * is reused too.
 */
#include "cli/http.h"

#include "core/error.h"
#include "core/mem.h"
#include "ingest/redact.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* How much of herald's answer a one-line cause quotes. */
#define CAUSE_QUOTE_BYTES 300

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A small xorshift generator for the jitter: it needs to differ between
 * the many clients a restart of herald makes retry at once, nothing
 * more. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
        x |= 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* The wait before attempt n + 1 (n >= 1): the backoff doubles from
 * HR_CLI_BACKOFF_FIRST_MS to HR_CLI_BACKOFF_MAX_MS, and the wait is drawn
 * from its upper half. */
static int64_t backoff_ms(unsigned n)
{
    int64_t d = HR_CLI_BACKOFF_FIRST_MS;
    while (--n > 0 && d < HR_CLI_BACKOFF_MAX_MS)
        d *= 2;
    if (d > HR_CLI_BACKOFF_MAX_MS)
        d = HR_CLI_BACKOFF_MAX_MS;
    return d / 2 + (int64_t)(rng_next() % (uint64_t)(d / 2 + 1));
}

/* Replaces control characters so herald's text cannot drive a terminal. */
static void sanitize(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

int hr_cli__usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "herald %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'herald --help'.\n");
    return HR_CLI_EXIT_USAGE;
}

int hr_cli__parse_duration(const char *text, int64_t *ms)
{
    const char *p = text;
    int64_t total = 0;

    if (text == NULL || *text == '\0')
        return HR_EINVAL;
    while (*p != '\0') {
        int64_t n = 0, unit;
        if (*p < '0' || *p > '9')
            return HR_EINVAL;
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p++ - '0');
            if (n > HR_CLI_MAX_DURATION_MS)
                return HR_EINVAL;
        }
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (*p == 's' || *p == '\0') {
            unit = 1000;
            p += *p == 's';
        } else if (*p == 'm') {
            unit = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            unit = 3600 * 1000;
            p++;
        } else {
            return HR_EINVAL;
        }
        total += n * unit;
        if (total > HR_CLI_MAX_DURATION_MS)
            return HR_EINVAL;
    }
    if (total <= 0)
        return HR_EINVAL;
    *ms = total;
    return HR_OK;
}

bool hr_cli__check_base_url(const char *url, char *why, size_t size)
{
    const char *host;
    if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else {
        snprintf(why, size, "expected an http:// or https:// URL");
        return false;
    }
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#') {
        snprintf(why, size, "expected a host after the scheme");
        return false;
    }
    if (strlen(url) > HR_CLI_MAX_URL_BYTES / 2) {
        snprintf(why, size, "expected at most %u bytes", HR_CLI_MAX_URL_BYTES / 2);
        return false;
    }
    for (const char *c = url; *c != '\0'; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            snprintf(why, size, "expected no spaces or control characters");
            return false;
        }
    }
    return true;
}

int hr_cli__token(const char *cmd, const char *flag, const char *file, char **out)
{
    return hr_cli_token(cmd, flag, file, "HERALD_TOKEN", out);
}

int hr_cli_token(const char *cmd, const char *flag, const char *file, const char *env_name,
                 char **out)
{
    char buf[4096];
    const char *env = getenv(env_name);
    const char *src = NULL;
    size_t n;

    *out = NULL;
    if (flag != NULL && file != NULL) {
        hr_cli__usage(cmd, "--token and --token-file are two ways to say one thing; give one");
        return HR_EINVAL;
    }
    if (file != NULL) {
        FILE *f = fopen(file, "r");
        if (f == NULL) {
            hr_cli__usage(cmd, "--token-file %s: cannot read it: %s", file, strerror(errno));
            return HR_EINVAL;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        src = buf;
        if (buf[0] == '\0') {
            hr_cli__usage(cmd, "--token-file %s: holds no token on its first line", file);
            return HR_EINVAL;
        }
    } else if (flag != NULL) {
        src = flag;
    } else if (env != NULL && env[0] != '\0') {
        src = env;
    }
    if (src == NULL)
        return HR_OK;
    for (const char *c = src; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            hr_cli__usage(cmd, "the token holds a control character; a header cannot carry it");
            return HR_EINVAL;
        }
    }
    *out = hr_strdup(src);
    return HR_OK;
}

/* ---- the request ------------------------------------------------------ */

typedef hr_cli__sink sink;

size_t hr_cli__on_data(char *p, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t k = size * n, room = HR_CLI_MAX_ANSWER_BYTES - s->len;
    if (k > room)
        k = room;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = '\0';
    return size * n;
}

/* herald's message in an answer: its "error" member, else its text;
 * sanitized, at most CAUSE_QUOTE_BYTES, into buf. */
static const char *answer_message(const hr_cli__answer *a, char *buf, size_t size)
{
    json_t *j = a->body != NULL ? json_loadb(a->body, a->len, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(j, "error"));
    snprintf(buf, size, "%s", e != NULL ? e : (a->body != NULL ? a->body : ""));
    json_decref(j);
    sanitize(buf);
    return buf;
}

void hr_cli__answer_clear(hr_cli__answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    a->body = NULL;
    a->len = 0;
    a->status = 0;
}

void hr_cli__print_refusal(const char *cmd, const char *what, const hr_cli__answer *a)
{
    char head[1024], line[1024];
    json_t *j = a->body != NULL ? json_loadb(a->body, a->len, 0, NULL) : NULL;
    json_t *list = json_object_get(j, "errors"), *v;
    size_t i;

    if (list == NULL)
        list = json_object_get(j, "messages");
    fprintf(stderr, "herald %s: herald refused %s (HTTP %ld): %s\n", cmd, what, a->status,
            answer_message(a, head, sizeof(head)));
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v))
            continue;
        snprintf(line, sizeof(line), "%s", json_string_value(v));
        sanitize(line);
        /* herald's "error" is its first message; it is said once. */
        if (i == 0 && strcmp(line, head) == 0)
            continue;
        fprintf(stderr, "  - %s\n", line);
    }
    json_decref(j);
}

/* Whether a transport error is one that trying again cannot fix. */
static bool curl_final(CURLcode cc)
{
    return cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
           cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CERTPROBLEM ||
           cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CIPHER || cc == CURLE_NOT_BUILT_IN;
}

static bool status_retried(long status)
{
    return status >= 500 || status == 408 || status == 429;
}

int hr_cli__post(const hr_cli__post_opts *o, hr_cli__answer *out)
{
    char url[HR_CLI_MAX_URL_BYTES], errbuf[CURL_ERROR_SIZE], cause[CAUSE_QUOTE_BYTES + 128];
    char msg[CAUSE_QUOTE_BYTES + 1], agent[64];
    char *auth = NULL, *shown = hr_redact_url_credentials(o->base);
    const char *safe = shown != NULL ? shown : o->base;
    struct curl_slist *headers = NULL;
    sink s = {.buf = hr_malloc(HR_CLI_MAX_ANSWER_BYTES + 1), .len = 0};
    int64_t start = now_ms(), deadline = start + o->deadline_ms;
    size_t blen = strlen(o->base);
    CURL *h = curl_easy_init();
    int rc = HR_CLI_EXIT_DEADLINE;
    unsigned attempt;

    out->status = 0;
    out->body = NULL;
    out->len = 0;
    if (h == NULL)
        hr_oom(sizeof(void *));
    while (blen > 0 && o->base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s%s", (int)blen, o->base, o->path);

    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (o->token != NULL) {
        size_t n = strlen(o->token) + sizeof("Authorization: Bearer ");
        auth = hr_malloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", o->token);
        headers = curl_slist_append(headers, auth);
    }
    if (o->request_id != NULL) {
        char rid[200];
        snprintf(rid, sizeof(rid), "X-Herald-Request-Id: %.128s", o->request_id);
        headers = curl_slist_append(headers, rid);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    snprintf(agent, sizeof(agent), "herald-%s", o->cmd);
    curl_easy_setopt(h, CURLOPT_USERAGENT, agent);
    /* An empty proxy turns proxies off, the environment's (http_proxy,
     * HTTPS_PROXY, ALL_PROXY) included. */
    curl_easy_setopt(h, CURLOPT_PROXY, o->proxy != NULL ? o->proxy : "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hr_cli__on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);

    for (attempt = 1;; attempt++) {
        int64_t left = deadline - now_ms(), limit = o->attempt_ms, wait;
        curl_off_t retry_after = 0;
        CURLcode cc;

        /* The last attempt still gets a second to be answered in. */
        if (limit > left)
            limit = left > 1000 ? left : 1000;
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)limit);
        curl_easy_setopt(
            h, CURLOPT_CONNECTTIMEOUT_MS,
            (long)(limit < HR_CLI_CONNECT_TIMEOUT_MS ? limit : HR_CLI_CONNECT_TIMEOUT_MS));
        errbuf[0] = '\0';
        s.len = 0;
        s.buf[0] = '\0';
        out->status = 0;
        cc = curl_easy_perform(h);
        if (cc != CURLE_OK) {
            snprintf(cause, sizeof(cause), "%s",
                     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
            sanitize(cause);
            if (curl_final(cc)) {
                fprintf(stderr, "herald %s: cannot talk to herald at %s: %s\n", o->cmd, safe,
                        cause);
                rc = HR_CLI_EXIT_REFUSED;
                goto out;
            }
        } else {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
            out->body = s.buf;
            out->len = s.len;
            if (out->status >= 200 && out->status < 300) {
                rc = HR_CLI_EXIT_OK;
                s.buf = NULL;
                goto out;
            }
            if (!status_retried(out->status)) {
                rc = HR_CLI_EXIT_REFUSED;
                s.buf = NULL;
                goto out;
            }
            snprintf(cause, sizeof(cause), "HTTP %ld: %s", out->status,
                     answer_message(out, msg, sizeof(msg)));
            out->body = NULL;
            out->len = 0;
            curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
        }

        wait = backoff_ms(attempt);
        left = deadline - now_ms();
        if (retry_after > 0) {
            if (retry_after * 1000 >= left) {
                size_t n = strlen(cause);
                snprintf(cause + n, sizeof(cause) - n, " (asked to retry after %llds)",
                         (long long)retry_after);
                break;
            }
            if (retry_after * 1000 > wait)
                wait = (int64_t)retry_after * 1000;
        }
        if (left <= 0)
            break;
        if (wait > left)
            wait = left;
        if (!o->quiet)
            fprintf(stderr, "herald %s: attempt %u: %s; trying again in %.1fs\n", o->cmd, attempt,
                    cause, (double)wait / 1000.0);
        sleep_ms(wait);
        if (now_ms() >= deadline)
            break;
    }
    fprintf(stderr, "herald %s: herald at %s did not acknowledge within %s: %s (%u attempts)\n",
            o->cmd, safe, o->deadline_text, cause, attempt);
    out->status = 0;
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    free(s.buf);
    free(shown);
    return rc;
}

void hr_cli__request_id(char buf[37])
{
    unsigned char b[16];
    size_t got = 0;

    /* getrandom blocks only before the kernel's pool is ready at boot. */
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            hr_oom(0); /* cannot happen on Linux 3.17+; nothing sensible to send */
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
