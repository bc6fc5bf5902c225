/*
 * jenkins.c - builds from Jenkins and any CI, into events.
 *
 *   GET|POST|PUT|DELETE /jenkins/job-status   the Job Status Notification plugin
 *   POST /jenkins/notification                the Notification plugin (JSON)
 *   POST /ci/notify                           `herald notify`
 *   TCP and UDP listeners (jenkins.tcp, jenkins.udp in the config) for the
 *   Notification plugin's raw JSON
 *
 * Answers: 200 {"id", "transition"} once the event is committed; 400
 * {"error", "errors"} for a body herald will not take; 401 without the
 * token (jenkins.token) when one is configured; 413 over the body limit;
 * 415 for the Notification plugin's XML and for a body not sent as
 * application/json; 409 for an X-Herald-Request-Id used before with
 * another body; 503 when the store cannot write.
 * Neither plugin looks at the answer, so each refusal is also logged and
 * counted in /metrics (herald_http_requests_total by endpoint and status;
 * herald_events_total{accepted="false"}).
 *
 * The token may come the ways the plugins can send it: the Job Status
 * plugin sets headers ("Authorization: Bearer T"); the Notification
 * plugin can only put user:T@ in its URL (Basic auth) or T in the query
 * (?token=T). TCP and UDP carry no token: they bind to loopback unless
 * the operator configures otherwise.
 */
#include "api/api.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "ingest/jenkins.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SUB "jenkins"
#define JENKINS_TOKEN "herald's Jenkins token (jenkins.token)"

int hr_api_token_equal(const char *want, const char *got)
{
    size_t wn = strlen(want), gn = got != NULL ? strlen(got) : 0;
    unsigned char diff = 0;

    /* Constant time in the token's content: no early exit. */
    for (size_t i = 0; i < wn; i++)
        diff |= (unsigned char)(want[i] ^ (i < gn ? got[i] : 0));
    return got != NULL && diff == 0 && gn == wn;
}

int hr_api_request_id(hr_http_req *req, hr_event *ev, const char **why)
{
    const char *v = hr_http_header(req, HR_REQUEST_ID_HEADER);
    const char *carried;
    size_t n, len;

    ev->request_id = NULL;
    if (v == NULL)
        return HR_OK;
    n = strlen(v);
    if (n == 0 || n > 128 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") != n) {
        *why = HR_REQUEST_ID_HEADER ": expected 1 to 128 letters, digits, \"-\", \"_\", \".\" "
                                    "or \":\", such as a UUID";
        return HR_EINVAL;
    }
    if (strcmp(hr_http_method(req), "GET") == 0) {
        carried = hr_http_raw_query(req);
        len = carried != NULL ? strlen(carried) : 0;
    } else {
        carried = hr_http_body(req, &len);
    }
    if (EVP_Digest(carried != NULL ? carried : "", len, ev->request_digest, NULL, EVP_sha256(),
                   NULL) != 1)
        hr_oom(len); /* SHA-256 of bytes in memory fails only for want of memory */
    ev->request_id = hr_strdup(v);
    return HR_OK;
}

hr_api_pending *hr_api_pending_new(hr_http_req *req, hr_event *ev, const char *kind,
                                   void (*answer)(hr_api_pending *p))
{
    hr_api_pending *p = hr_malloc(sizeof(*p));
    p->req = req;
    p->ev = ev;
    p->kind = kind;
    p->status = HR_OK;
    p->err.code = HR_OK;
    p->err.msg[0] = '\0';
    p->answer = answer;
    return p;
}

/* On an HTTP thread (hr_http_resume): the answer, then the frees. */
static void pending_answer(hr_http_req *req, void *ctx)
{
    hr_api_pending *p = ctx;
    if (req != NULL)
        p->answer(p);
    hr_event_free(p->ev);
    free(p);
}

void hr_api_stored(void *ctx, int status, const hr_error *err)
{
    hr_api_pending *p = ctx;
    p->status = status;
    if (status != HR_OK && err != NULL)
        p->err = *err;
    else if (status != HR_OK)
        hr_error_set(&p->err, status, "%s", hr_error_name(status));
    hr_http_resume(p->req, pending_answer, p);
}

/* The value of the first "token" pair of a raw query whose pairs are
 * separated by '&' or '?' (new, %XX and '+' decoded), or NULL. */
static char *query_token(const char *q)
{
    while (q != NULL && *q != '\0') {
        size_t n = strcspn(q, "&?");
        if (n > 6 && strncmp(q, "token=", 6) == 0) {
            char *out = hr_malloc(n - 6 + 1);
            size_t k = 0;
            for (size_t i = 6; i < n; i++) {
                char ch = q[i];
                if (ch == '+')
                    ch = ' ';
                else if (ch == '%' && i + 2 < n + 1 && q[i + 1] != '\0' && q[i + 2] != '\0') {
                    char hex[3] = {q[i + 1], q[i + 2], '\0'};
                    char *end;
                    long v = strtol(hex, &end, 16);
                    if (*end == '\0' && v > 0) {
                        ch = (char)v;
                        i += 2;
                    }
                }
                out[k++] = ch;
            }
            out[k] = '\0';
            return out;
        }
        q += n;
        if (*q != '\0')
            q++;
    }
    return NULL;
}

/* The password of "Authorization: Basic base64(user:password)" (new), or
 * NULL. */
static char *basic_password(const char *auth)
{
    size_t n = strlen(auth);
    unsigned char *buf;
    char *colon, *out = NULL;
    int len;

    if (n > 4096)
        return NULL;
    buf = hr_malloc(n + 1);
    len = EVP_DecodeBlock(buf, (const unsigned char *)auth, (int)n);
    if (len > 0) {
        /* EVP_DecodeBlock counts the padding's zero bytes too. */
        while (n > 0 && auth[n - 1] == '=' && len > 0) {
            n--;
            len--;
        }
        buf[len] = '\0';
        colon = memchr(buf, ':', (size_t)len);
        if (colon != NULL && strlen((char *)buf) == (size_t)len)
            out = hr_strdup(colon + 1);
    }
    free(buf);
    return out;
}

int hr_api_check_token(hr_http_req *req, const char *token, const char *query_tok, const char *what)
{
    const char *auth = hr_http_header(req, "Authorization");
    char *presented = NULL;
    int ok;

    if (token == NULL)
        return 1;
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
        presented = hr_strdup(auth + 7);
    else if (auth != NULL && strncmp(auth, "Basic ", 6) == 0)
        presented = basic_password(auth + 6);
    else if (query_tok != NULL)
        presented = hr_strdup(query_tok);
    else
        presented = query_token(hr_http_raw_query(req));
    ok = hr_api_token_equal(token, presented);
    free(presented);
    if (!ok) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "this endpoint needs %s: \"Authorization: Bearer <token>\", Basic auth with "
                 "the token as the password (http://user:<token>@host/...), or ?token=<token>",
                 what);
        hr_http_reply_error(req, 401, msg);
    }
    return ok;
}

/* The answer to a stored build event (on an HTTP thread). */
static void answer_stored(hr_api_pending *p)
{
    if (p->status == HR_OK) {
        const char *t = hr_transition_name(p->ev->transition);
        if (p->ev->repeat)
            hr_log_info(SUB, "request %s was stored before as event %lld; not stored again",
                        p->ev->request_id, (long long)p->ev->id);
        hr_metrics_event(HR_KIND_BUILD_STATUS, true);
        hr_http_reply_json(p->req, 200,
                           json_pack("{s:I,s:o}", "id", (json_int_t)p->ev->id, "transition",
                                     t ? json_string(t) : json_null()));
    } else if (p->status == HR_ECONFLICT) {
        /* The sender's mistake, not the store's: a retry cannot help. */
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_info(SUB, "refused request %s: %s", p->ev->request_id, p->err.msg);
        hr_http_reply_error(p->req, 409, p->err.msg);
    } else {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the event: %s", p->err.msg);
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_http_reply_error(p->req, 503, msg);
    }
}

/* Answers a body herald will not take: 400 with every message. */
static void refuse(hr_http_req *req, const char *what, hr_errlist *errs)
{
    json_t *all = hr_errlist_to_json(errs);
    const char *first = errs->n ? errs->msgs[0] : "invalid";

    hr_metrics_event(HR_KIND_BUILD_STATUS, false);
    hr_log_info(SUB, "rejected %s: %s%s", what, first,
                hr_errlist_count(errs) > 1 ? " (and more)" : "");
    hr_http_reply_json(req, 400, json_pack("{s:s,s:o}", "error", first, "errors", all));
    hr_errlist_clear(errs);
}

static void submit(hr_api *api, hr_http_req *req, hr_event *ev)
{
    hr_api_pending *p;
    const char *why = NULL;
    hr_error err;

    if (hr_api_request_id(req, ev, &why) != HR_OK) {
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_http_reply_json(req, 400, json_pack("{s:s,s:[s]}", "error", why, "errors", why));
        hr_event_free(ev);
        return;
    }
    p = hr_api_pending_new(req, ev, HR_KIND_BUILD_STATUS, answer_stored);
    if (hr_store_submit(api->store, ev, hr_api_stored, p, &err) != HR_OK) {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the event: %s", err.msg);
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_warn(SUB, "%s", msg);
        hr_http_reply_error(req, 503, msg);
        hr_event_free(ev);
        free(p);
    }
}

/* A body parser of ingest/jenkins.h. */
typedef int (*parse_fn)(const char *body, size_t len, const hr_redact *r, hr_event **out,
                        hr_errlist *errs);

/* The token, then the body's type, then the body through parse, then the
 * store; what names the body in the log. The Notification plugin's XML is
 * refused first, with its own message. */
static void take_body(hr_api *api, hr_http_req *req, parse_fn parse, const char *what,
                      bool refuse_xml)
{
    const hr_config *c;
    const hr_redact *r;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    size_t len;
    const char *body = hr_http_body(req, &len);

    hr_app_current(api->app, &c, &r);
    if (!hr_api_check_token(req, c->jenkins.token, NULL, JENKINS_TOKEN))
        return;
    if (refuse_xml && hr_jenkins_is_xml(body, len)) {
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_info(SUB, "rejected a Notification plugin body in XML");
        hr_http_reply_error(req, 415, HR_JENKINS_XML_REFUSED);
        return;
    }
    /* Both plugins and herald notify send application/json; a web page
     * cannot, to another site (guard.c). */
    if (!hr_api_json_body(req)) {
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_info(SUB, "rejected %s sent as another type than application/json", what);
        return;
    }
    if (parse(body, len, r, &ev, &errs) != HR_OK) {
        refuse(req, what, &errs);
        return;
    }
    submit(api, req, ev);
}

/* POST, PUT and DELETE carry the JSON body; GET carries the same pairs in
 * its query, token and all. */
void hr_api_jenkins_job_status(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const hr_config *c;
    const hr_redact *r;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    const char *q = hr_http_raw_query(req);
    char *tok = NULL;
    int rc, ok;

    if (strcmp(hr_http_method(req), "GET") != 0) {
        take_body(api, req, hr_jenkins_job_status_json, "a Job Status notification", false);
        return;
    }
    hr_app_current(api->app, &c, &r);
    rc = hr_jenkins_job_status_query(q ? q : "", q ? strlen(q) : 0, r, &tok, &ev, &errs);
    ok = hr_api_check_token(req, c->jenkins.token, tok, JENKINS_TOKEN);
    free(tok);
    if (!ok) {
        hr_errlist_clear(&errs);
        hr_event_free(ev);
    } else if (rc != HR_OK) {
        refuse(req, "a Job Status notification", &errs);
    } else {
        submit(api, req, ev);
    }
}

void hr_api_jenkins_notification(hr_http_req *req, void *ctx)
{
    take_body(ctx, req, hr_jenkins_notification, "a Notification plugin body", true);
}

void hr_api_ci_notify(hr_http_req *req, void *ctx)
{
    take_body(ctx, req, hr_ci_notify, "a herald notify body", false);
}

/* ---- TCP and UDP ----------------------------------------------------------
 *
 * The Notification plugin's TCP protocol writes the JSON and closes; UDP
 * sends it as one datagram. Nothing is answered, so every outcome is
 * logged and counted. One thread serves both sockets with poll: up to
 * HR_TCP_MAX_CONNS senders at once, each read without blocking into its
 * own buffer until EOF, each given HR_TCP_READ_MS for its whole body, so a
 * slow sender holds up neither the others nor UDP.
 *
 * A datagram costs its sender nothing, so the lines about what senders
 * sent go through one log limit per protocol: HR_LISTEN_LOG_BURST lines
 * each HR_LISTEN_LOG_INTERVAL_MS, then one line with the count of the
 * rest (every outcome is still counted in /metrics).
 */

#define HR_TCP_READ_MS 5000
#define HR_TCP_MAX_CONNS 64
#define HR_UDP_MAX_BYTES 65536
#define HR_LISTEN_LOG_BURST 5
#define HR_LISTEN_LOG_INTERVAL_MS 10000

typedef struct tcp_conn {
    int fd;
    char *buf;
    size_t len, cap;
    int64_t deadline_us;
    char from[64];
} tcp_conn;

struct hr_jenkins_listeners {
    hr_api *api;
    int tcp_fd, udp_fd;
    int stop_pipe[2];
    pthread_t thread;
    int running;
    tcp_conn conns[HR_TCP_MAX_CONNS];
    size_t nconns;
    hr_log_limit tcp_log, udp_log;
};

/* A sender's address as "HOST:PORT" ("[v6]:PORT"), into out. */
static void sender_text(const struct sockaddr_storage *a, socklen_t len, char *out, size_t cap)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getnameinfo((const struct sockaddr *)a, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "an unknown address");
        return;
    }
    snprintf(out, cap, strchr(host, ':') != NULL ? "[%s]:%s" : "%s:%s", host, port);
}

/* What the store's completion needs: nothing to answer, only to count. */
static void on_stored_quiet(void *ctx, int status, const hr_error *err)
{
    hr_event *ev = ctx;
    hr_metrics_event(HR_KIND_BUILD_STATUS, status == HR_OK);
    if (status != HR_OK)
        hr_log_warn(SUB, "could not store a Notification plugin event: %s",
                    err ? err->msg : hr_error_name(status));
    hr_event_free(ev);
}

/* Takes one raw body from a listener; label is the static metrics name,
 * from the sender's address, lim the protocol's log limit. */
static void take_raw(hr_api *api, const char *label, hr_log_limit *lim, const char *from,
                     const char *body, size_t len)
{
    const hr_redact *r;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    hr_error err;

    hr_app_current(api->app, NULL, &r);
    if (hr_jenkins_is_xml(body, len)) {
        hr_metrics_request(label, 415);
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_limited(lim, from, "%s: rejected a body from %s: %s", label, from,
                       HR_JENKINS_XML_REFUSED);
        return;
    }
    if (hr_jenkins_notification(body, len, r, &ev, &errs) != HR_OK) {
        hr_metrics_request(label, 400);
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_limited(lim, from, "%s: rejected a Notification plugin body from %s: %s%s", label,
                       from, errs.n ? errs.msgs[0] : "invalid",
                       hr_errlist_count(&errs) > 1 ? " (and more)" : "");
        hr_errlist_clear(&errs);
        return;
    }
    if (hr_store_submit(api->store, ev, on_stored_quiet, ev, &err) != HR_OK) {
        hr_metrics_request(label, 503);
        hr_metrics_event(HR_KIND_BUILD_STATUS, false);
        hr_log_limited(lim, from, "%s: could not store the event from %s: %s", label, from,
                       err.msg);
        hr_event_free(ev);
        return;
    }
    hr_metrics_request(label, 200);
}

static void conn_close(hr_jenkins_listeners *l, size_t i)
{
    close(l->conns[i].fd);
    free(l->conns[i].buf);
    l->conns[i] = l->conns[--l->nconns];
}

static void conn_accept(hr_jenkins_listeners *l)
{
    struct sockaddr_storage a;
    socklen_t alen = sizeof(a);
    int fd = accept4(l->tcp_fd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    tcp_conn *c;

    if (fd < 0)
        return;
    c = &l->conns[l->nconns++];
    sender_text(&a, alen, c->from, sizeof(c->from));
    c->fd = fd;
    c->cap = 16384;
    c->buf = hr_malloc(c->cap);
    c->len = 0;
    c->deadline_us = hr_time_mono_us() + (int64_t)HR_TCP_READ_MS * 1000;
}

/* Reads what sender i has sent. Returns 1 when it is done with (its body
 * taken or refused), 0 while it still sends. */
static int conn_read(hr_jenkins_listeners *l, size_t i)
{
    tcp_conn *c = &l->conns[i];
    for (;;) {
        ssize_t n;
        if (c->len == c->cap) {
            if (c->cap > HR_MAX_BODY_BYTES) {
                hr_metrics_request("jenkins_tcp", 413);
                hr_log_limited(&l->tcp_log, c->from,
                               "jenkins_tcp: rejected a body from %s over %u bytes", c->from,
                               HR_MAX_BODY_BYTES);
                return 1;
            }
            c->cap *= 2;
            c->buf = hr_realloc(c->buf, c->cap);
        }
        n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0) {
            hr_log_limited(&l->tcp_log, c->from, "jenkins_tcp: reading from %s: %s", c->from,
                           strerror(errno));
            return 1;
        }
        if (c->len > HR_MAX_BODY_BYTES) {
            hr_metrics_request("jenkins_tcp", 413);
            hr_log_limited(&l->tcp_log, c->from,
                           "jenkins_tcp: rejected a body from %s over %u bytes", c->from,
                           HR_MAX_BODY_BYTES);
        } else {
            take_raw(l->api, "jenkins_tcp", &l->tcp_log, c->from, c->buf, c->len);
        }
        return 1;
    }
}

static void *listen_loop(void *arg)
{
    hr_jenkins_listeners *l = arg;
    char *dgram = hr_malloc(HR_UDP_MAX_BYTES);
    struct pollfd pfd[3 + HR_TCP_MAX_CONNS];

    for (;;) {
        int64_t now = hr_time_mono_us(), soonest = -1, due;
        int timeout = -1;
        size_t n = 3;

        pfd[0] = (struct pollfd){l->stop_pipe[0], POLLIN, 0};
        /* A full table leaves new senders in the kernel's backlog. */
        pfd[1] = (struct pollfd){l->nconns < HR_TCP_MAX_CONNS ? l->tcp_fd : -1, POLLIN, 0};
        pfd[2] = (struct pollfd){l->udp_fd, POLLIN, 0};
        for (size_t i = 0; i < l->nconns; i++, n++) {
            pfd[n] = (struct pollfd){l->conns[i].fd, POLLIN, 0};
            if (soonest < 0 || l->conns[i].deadline_us < soonest)
                soonest = l->conns[i].deadline_us;
        }
        if (soonest >= 0)
            timeout = soonest <= now ? 0 : (int)((soonest - now) / 1000 + 1);
        /* Wake up for a log limit's summary, so a flood that stops is
         * still reported. */
        for (int k = 0; k < 2; k++) {
            due = hr_log_limit_flush(k == 0 ? &l->tcp_log : &l->udp_log);
            if (due >= 0 && (timeout < 0 || due + 1 < timeout))
                timeout = (int)due + 1;
        }
        if (poll(pfd, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            hr_log_error(SUB, "listeners: poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents)
            break;
        /* Senders first, from the end, so closing one (which moves the
         * last into its place) skips none. */
        now = hr_time_mono_us();
        for (size_t i = l->nconns; i-- > 0;) {
            int done = 0;
            if (pfd[3 + i].revents)
                done = conn_read(l, i);
            if (!done && l->conns[i].deadline_us <= now) {
                hr_metrics_request("jenkins_tcp", 408);
                hr_log_limited(&l->tcp_log, l->conns[i].from,
                               "jenkins_tcp: %s did not finish its body within %d ms",
                               l->conns[i].from, HR_TCP_READ_MS);
                done = 1;
            }
            if (done)
                conn_close(l, i);
        }
        if (pfd[1].revents & POLLIN)
            conn_accept(l);
        if (pfd[2].revents & POLLIN) {
            struct sockaddr_storage a;
            socklen_t alen = sizeof(a);
            char from[64];
            ssize_t got = recvfrom(l->udp_fd, dgram, HR_UDP_MAX_BYTES, MSG_DONTWAIT,
                                   (struct sockaddr *)&a, &alen);
            if (got > 0) {
                sender_text(&a, alen, from, sizeof(from));
                take_raw(l->api, "jenkins_udp", &l->udp_log, from, dgram, (size_t)got);
            }
        }
    }
    while (l->nconns > 0)
        conn_close(l, l->nconns - 1);
    free(dgram);
    return NULL;
}

/* Binds "HOST:PORT" ("[v6]:PORT" too) for type (SOCK_STREAM or
 * SOCK_DGRAM). */
static int bind_addr(const char *addr, int type, int *out, hr_error *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints, *ai = NULL;
    int fd, rc, one = 1;
    size_t hlen;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return hr_error_set(err, HR_EINVAL, "%s: expected HOST:PORT", addr);
    hlen = (size_t)(colon - addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = type;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0)
        return hr_error_set(err, HR_EIO, "%s: %s", addr, gai_strerror(rc));
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (type == SOCK_STREAM && listen(fd, 64) != 0)) {
        rc = hr_error_set(err, HR_EIO, "cannot listen on %s (%s): %s", addr,
                          type == SOCK_STREAM ? "tcp" : "udp", strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    *out = fd;
    return HR_OK;
}

int hr_jenkins_listeners_start(hr_api *api, const char *tcp, const char *udp,
                               hr_jenkins_listeners **out, hr_error *err)
{
    hr_jenkins_listeners *l;
    int rc = HR_OK;

    *out = NULL;
    if (tcp == NULL && udp == NULL)
        return HR_OK;
    l = hr_calloc(1, sizeof(*l));
    l->api = api;
    l->tcp_fd = l->udp_fd = l->stop_pipe[0] = l->stop_pipe[1] = -1;
    hr_log_limit_init(&l->tcp_log, HR_LOG_WARN, SUB, "bad bodies on jenkins_tcp",
                      HR_LISTEN_LOG_BURST, HR_LISTEN_LOG_INTERVAL_MS);
    hr_log_limit_init(&l->udp_log, HR_LOG_WARN, SUB, "bad datagrams on jenkins_udp",
                      HR_LISTEN_LOG_BURST, HR_LISTEN_LOG_INTERVAL_MS);
    if (tcp != NULL)
        rc = bind_addr(tcp, SOCK_STREAM, &l->tcp_fd, err);
    if (rc == HR_OK && udp != NULL)
        rc = bind_addr(udp, SOCK_DGRAM, &l->udp_fd, err);
    if (rc == HR_OK && pipe2(l->stop_pipe, O_CLOEXEC) != 0)
        rc = hr_error_set(err, HR_EIO, "cannot make a pipe: %s", strerror(errno));
    if (rc == HR_OK && pthread_create(&l->thread, NULL, listen_loop, l) != 0)
        rc = hr_error_set(err, HR_EIO, "cannot start the Jenkins listeners' thread");
    if (rc != HR_OK) {
        hr_jenkins_listeners_stop(l);
        return rc;
    }
    l->running = 1;
    if (tcp != NULL)
        hr_log_info(SUB, "listening for the Notification plugin on tcp %s", tcp);
    if (udp != NULL)
        hr_log_info(SUB, "listening for the Notification plugin on udp %s", udp);
    *out = l;
    return HR_OK;
}

void hr_jenkins_listeners_stop(hr_jenkins_listeners *l)
{
    if (l == NULL)
        return;
    if (l->running) {
        ssize_t n = write(l->stop_pipe[1], "x", 1);
        (void)n;
        pthread_join(l->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (l->stop_pipe[i] >= 0)
            close(l->stop_pipe[i]);
    if (l->tcp_fd >= 0)
        close(l->tcp_fd);
    if (l->udp_fd >= 0)
        close(l->udp_fd);
    hr_log_limit_clear(&l->tcp_log);
    hr_log_limit_clear(&l->udp_log);
    free(l);
}
