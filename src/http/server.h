/*
 * server.h - herald's HTTP server: a route table over libmicrohttpd.
 *
 * The server accepts a request, reads its body up to a bound (larger bodies
 * get 413 before any handler runs; a head past herald's limits, 414 or
 * 431), finds the route, and calls the route's handler with the request.
 * It knows nothing of GoCD, events or the store. Its guard (guard.h) caps
 * connections per client address and cuts those that send a request too
 * slowly.
 *
 * Threads: a small pool of libmicrohttpd threads (epoll) runs handlers.
 * A handler must answer every request exactly once with hr_http_reply*,
 * either before it returns or later from any thread (for example the store
 * writer's completion): the connection is suspended meanwhile, without
 * holding a thread. Handlers must not block for long.
 *
 * Lifetime: an hr_http_req and everything its accessors return live until
 * the reply is sent; copy what you need to keep.
 */
#ifndef HR_HTTP_SERVER_H
#define HR_HTTP_SERVER_H

#include "core/error.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_http_server hr_http_server;
typedef struct hr_http_req hr_http_req;

typedef void (*hr_http_handler)(hr_http_req *req, void *ctx);

typedef struct hr_http_route {
    const char *method; /* "GET", "POST", ...; a path may have one route per method */
    const char *path;   /* exact, or a prefix when it ends with '*' */
    const char *label;  /* static name for /metrics, such as "gocd_notification" */
    hr_http_handler fn;
    void *ctx;
} hr_http_route;

/* max_per_address: no cap at all. */
#define HR_HTTP_UNCAPPED UINT_MAX

typedef struct hr_http_options {
    const char *listen;       /* "ADDR:PORT", "[v6]:PORT"; port 0 picks a free one */
    size_t max_body;          /* 0: HR_MAX_BODY_BYTES */
    size_t max_head;          /* request line and header fields; 0: HR_MAX_REQUEST_HEAD_BYTES */
    unsigned threads;         /* 0: 2 */
    unsigned max_connections; /* 0: HR_MAX_CONNECTIONS */
    unsigned max_per_address; /* 0: HR_MAX_CONNECTIONS_PER_ADDRESS; or HR_HTTP_UNCAPPED */
    unsigned head_timeout_s;  /* 0: HR_HEAD_TIMEOUT_S */
    unsigned body_timeout_s;  /* 0: HR_BODY_TIMEOUT_S */
} hr_http_options;

/* Binds and starts serving. routes is borrowed and must outlive the
 * server. *out is new. */
int hr_http_start(const hr_http_options *opt, const hr_http_route *routes, size_t nroutes,
                  hr_http_server **out, hr_error *err);
/* Stops accepting new connections; requests in flight still finish. */
void hr_http_quiesce(hr_http_server *s);
/* Stops and frees. Every suspended request must have been answered
 * first. NULL is fine. */
void hr_http_stop(hr_http_server *s);
/* The port actually bound (useful with port 0). */
uint16_t hr_http_port(const hr_http_server *s);

const char *hr_http_method(const hr_http_req *r);
const char *hr_http_path(const hr_http_req *r);
/* For a prefix route, the part of the path after the prefix; "" otherwise. */
const char *hr_http_path_rest(const hr_http_req *r);
/* A request header (case-insensitive name) or NULL. */
const char *hr_http_header(const hr_http_req *r, const char *name);
/* A URL query parameter (decoded) or NULL. */
const char *hr_http_query(const hr_http_req *r, const char *name);
/* The request target's query exactly as sent, everything after the first
 * '?' (not decoded; it may hold more '?'), or NULL when there is none. */
const char *hr_http_raw_query(const hr_http_req *r);
/* The body as (pointer, length); never NULL (empty body: length 0). */
const char *hr_http_body(const hr_http_req *r, size_t *len);

/* Answers the request: the body is copied. Exactly once per request. */
void hr_http_reply(hr_http_req *r, int status, const char *content_type, const char *body,
                   size_t len);
/* Wakes a request its handler left unanswered, from any thread, in place
 * of hr_http_reply: fn(r, ctx) runs later on an HTTP thread and answers it
 * with hr_http_reply*. So work finished on another thread (the store's
 * writer) only records its outcome in ctx and calls this: the answer is
 * built off that thread. When the client is gone first, fn still runs,
 * as the request is freed, and its answer is dropped: ctx is always
 * released. Exactly once per request, instead of a reply (a second
 * answer is logged, and fn runs at once with r NULL, only to release
 * ctx). */
typedef void (*hr_http_resume_fn)(hr_http_req *r, void *ctx);
void hr_http_resume(hr_http_req *r, hr_http_resume_fn fn, void *ctx);
/* Answers with JSON; body is stolen (decref'd). */
void hr_http_reply_json(hr_http_req *r, int status, json_t *body);
/* Answers {"error": message} with the status. */
void hr_http_reply_error(hr_http_req *r, int status, const char *message);

#endif
