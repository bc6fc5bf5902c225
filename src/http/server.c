#include "http/server.h"

#include "core/limits.h"
#include "http/guard.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* libmicrohttpd's memory pool per connection (0.9.75; later versions
 * alike). The read buffer takes half of the pool at first, so a head up to
 * the server's limit (plus the read increment) is read without growing
 * into the other half. That half holds, from the pool's end, one record
 * per query argument and per header field (struct MHD_HTTP_Header, 56
 * bytes, 64 with the pool's alignment), then the reply's header lines.
 * When a record does not fit, 0.9.75 queues its own 431 but then waits
 * for more of the request: the client gets no answer at all. So the
 * server counts the arguments before libmicrohttpd parses them (on_uri)
 * and sizes the pool for the most it lets through (pool_bytes).
 *
 * The pool is no larger than the limits need, because libmicrohttpd
 * zeroes all of it (MHD_pool_reset) after every keep-alive request: with
 * a 528 KiB pool that memset was about 40% of the HTTP threads' samples on
 * stage-status ingest (bench/README.md, "The connection pool"). */
#define MHD_RECORD_BYTES 64u
#define READ_INCREMENT (4u * 1024u)
#define REPLY_RESERVE (16u * 1024u)

struct hr_http_server {
    struct MHD_Daemon *mhd;
    hr_http__guard *guard;
    const hr_http_route *routes;
    size_t nroutes;
    size_t max_body;
    size_t max_head; /* bytes of request line and header fields */
    size_t max_args; /* query arguments: max_head / HR_HEAD_BYTES_PER_QUERY_ARG */
    uint16_t port;
    int listen_fd;        /* owned by the daemon once started */
    atomic_bool quiesced; /* new connections are closed as they come */
};

/* Where a request is in its life; guarded by hr_http_req.lock once the
 * handler has run, because the reply may come from another thread. */
enum req_phase { READING, DISPATCHED };

struct hr_http_req {
    hr_http_server *server;
    struct MHD_Connection *conn;
    pthread_mutex_t lock;
    enum req_phase phase;
    int refused;           /* 413, 414 or 431: read and drop the body, then answer */
    char refused_msg[160]; /* with this message */
    bool too_many_args;    /* past the server's max_args: on_uri hid the query */
    size_t target_len;     /* of the request target as sent */
    bool suspended;
    bool replied;
    const hr_http_route *route;
    char *method, *path;
    char *raw_query; /* the request target after its first '?', undecoded; NULL: none */
    bool started;    /* on_request has seen the request */
    const char *rest;
    char *body;
    size_t body_len, body_cap;
    int64_t started_us;
    /* hr_http_resume's answer, to run on an HTTP thread (then NULL) */
    hr_http_resume_fn resume_fn;
    void *resume_ctx;
    /* the reply, once set */
    int status;
    char *content_type;
    char *reply;
    size_t reply_len;
};

/* Runs the answer hr_http_resume left, if any, on this thread; r's lock
 * is not held (the answer takes it in hr_http_reply). */
static void run_resume(hr_http_req *r)
{
    hr_http_resume_fn fn;
    pthread_mutex_lock(&r->lock);
    fn = r->resume_fn;
    r->resume_fn = NULL;
    pthread_mutex_unlock(&r->lock);
    if (fn != NULL)
        fn(r, r->resume_ctx);
}

static void req_free(hr_http_req *r)
{
    if (r == NULL)
        return;
    run_resume(r); /* the client left before it ran: ctx is released */
    pthread_mutex_destroy(&r->lock);
    free(r->method);
    free(r->path);
    free(r->raw_query);
    free(r->body);
    free(r->content_type);
    free(r->reply);
    free(r);
}

/* The guard's record of the connection, set when it opened. */
static hr_http__conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hr_http_server *s = cls;
    hr_http_req *r = *con_cls;
    /* A request whose line was read but that never reached on_request
     * ended with an error: libmicrohttpd refused its head itself (431, a
     * head too large for the pool), and counts nothing. */
    if (r != NULL && !r->started && toe == MHD_REQUEST_TERMINATED_WITH_ERROR)
        hr_metrics_request("other", 431);
    hr_http__guard_request_done(s->guard, conn_of(c));
    req_free(r);
    *con_cls = NULL;
}

/* libmicrohttpd's connection hook: the guard follows each connection from
 * its opening to its closing. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    hr_http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = addr != NULL ? addr->client_addr : NULL;
        socklen_t len = sa == NULL                  ? 0
                        : sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                                    : (socklen_t)sizeof(struct sockaddr_in);
        *socket_context =
            fd != NULL ? hr_http__guard_opened(s->guard, fd->connect_fd, sa, len) : NULL;
    } else {
        hr_http__guard_closed(s->guard, *socket_context);
        *socket_context = NULL;
    }
}

/* libmicrohttpd's own messages, in herald's log format. Nearly all are
 * about one connection (a client that left mid-request, a head too large
 * for its memory): at any level above debug every client could write lines
 * at will, a slow-client attack thousands a minute. What matters of them
 * is counted in /metrics. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    hr_log_debug("http", "libmicrohttpd: %s", msg);
}

/* libmicrohttpd's accept policy: the cap per client address. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    hr_http_server *s = cls;
    if (atomic_load(&s->quiesced))
        return MHD_NO;
    return hr_http__guard_admit(s->guard, addr, len) ? MHD_YES : MHD_NO;
}

/* Finds the route for (method, path). Sets *path_known when some route has
 * the path but not the method, for a 405. */
static const hr_http_route *find_route(const hr_http_server *s, const char *method,
                                       const char *path, const char **rest, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const hr_http_route *rt = &s->routes[i];
        size_t n = strlen(rt->path);
        bool match;
        if (n > 0 && rt->path[n - 1] == '*')
            match = strncmp(path, rt->path, n - 1) == 0 && path[n - 1] != '\0';
        else
            match = strcmp(path, rt->path) == 0;
        if (!match)
            continue;
        *path_known = true;
        if (strcmp(method, rt->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            *rest = rt->path[n - 1] == '*' ? path + n - 1 : "";
            return rt;
        }
    }
    return NULL;
}

static enum MHD_Result queue_reply(hr_http_req *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->reply_len, r->reply, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ok;
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->status == 405 && r->route == NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "see the API documentation");
    ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    hr_metrics_request(r->route ? r->route->label : "other", r->status);
    hr_log_debug("http", "%s %s %d %.1fms", r->method, r->path, r->status,
                 (double)(hr_time_mono_us() - r->started_us) / 1000.0);
    return ok;
}

static hr_http_req *req_new(const char *uri)
{
    hr_http_req *r = hr_calloc(1, sizeof(*r));
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;
    pthread_mutex_init(&r->lock, NULL);
    r->target_len = uri != NULL ? strlen(uri) : 0;
    if (q != NULL)
        r->raw_query = hr_strdup(q + 1);
    return r;
}

/* The query arguments libmicrohttpd will make of a query: one per '&',
 * plus the last (a bound: an empty last one makes none). */
static size_t count_args(const char *query)
{
    size_t n = 1;
    for (const char *p = query; *p != '\0'; p++)
        n += *p == '&';
    return n;
}

/* libmicrohttpd's URI log hook: the one place that sees the request
 * target exactly as sent, before libmicrohttpd splits its query into
 * arguments. Jenkins' Job Status plugin appends its query with a second
 * '?', which the parsed arguments cannot show. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    const hr_http_server *s = cls;
    hr_http_req *r = req_new(uri);
    (void)c;
    if (r->raw_query == NULL)
        return r;
    r->too_many_args = count_args(r->raw_query) > s->max_args;
    if (r->too_many_args || r->target_len > s->max_head) {
        /* Either may need more records than the pool holds (see
         * pool_bytes: a target past the limit grows the read buffer into
         * their half), and 0.9.75 would never answer. The
         * target lies in libmicrohttpd's read buffer, which it splits in
         * place right after this hook returns: ending the query at its
         * first byte leaves nothing to split, and on_request answers 414. */
        char *query = strchr((char *)uri, '?');
        query[1] = '\0';
    }
    return r;
}

/* Sums the header fields' count and bytes, as they were sent. */
typedef struct head_size {
    size_t fields, bytes;
} head_size;

static enum MHD_Result add_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    head_size *h = cls;
    (void)kind;
    h->fields++;
    h->bytes += strlen(key) + (value != NULL ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* Checks the head against herald's limits; sets r->refused (414, 431) and
 * its message when it is over one. */
static void check_head(hr_http_req *r, struct MHD_Connection *c, const char *method)
{
    const hr_http_server *s = r->server;
    head_size h = {0, 0};
    size_t line = strlen(method) + 1 + r->target_len + sizeof(" HTTP/1.1\r\n") - 1;
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_field, &h);
    if (r->target_len > s->max_head) {
        r->refused = 414;
        snprintf(r->refused_msg, sizeof(r->refused_msg),
                 "request target is longer than the limit of %zu bytes", s->max_head);
    } else if (r->too_many_args) {
        r->refused = 414;
        snprintf(r->refused_msg, sizeof(r->refused_msg),
                 "query has more than the limit of %zu arguments", s->max_args);
    } else if (h.fields > HR_MAX_HEADER_FIELDS) {
        r->refused = 431;
        snprintf(r->refused_msg, sizeof(r->refused_msg),
                 "request has more than the limit of %u header fields", HR_MAX_HEADER_FIELDS);
    } else if (line + h.bytes + 2 > s->max_head) {
        r->refused = 431;
        snprintf(r->refused_msg, sizeof(r->refused_msg),
                 "request line and header fields are larger than the limit of %zu bytes",
                 s->max_head);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    hr_http_server *s = cls;
    hr_http_req *r = *con_cls;

    if (r == NULL)
        *con_cls = r = req_new(NULL);
    if (!r->started) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        r->started = true;
        r->server = s;
        r->conn = c;
        r->method = hr_strdup(method);
        r->path = hr_strdup(url);
        r->started_us = hr_time_mono_us();
        *con_cls = r;
        if (!hr_http__guard_head_done(s->guard, conn_of(c)))
            return MHD_NO; /* the watchdog cut it: close */
        check_head(r, c, method);
        if (cl != NULL && r->refused == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || *end != '\0' || n > s->max_body)
                r->refused = 413;
        }
        return MHD_YES;
    }

    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->refused != 0 || r->body_len + n > s->max_body) {
            if (r->refused == 0)
                r->refused = 413; /* read and drop the rest, then answer 413 */
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n + 1)
                cap *= 2;
            r->body = hr_realloc(r->body, cap);
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }

    if (r->phase == DISPATCHED) {
        /* Resumed after a reply from another thread. */
        pthread_mutex_lock(&r->lock);
        r->suspended = false;
        pthread_mutex_unlock(&r->lock);
        run_resume(r);
        return queue_reply(r);
    }

    if (!hr_http__guard_body_done(s->guard, conn_of(c)))
        return MHD_NO; /* the watchdog cut it: serve nothing, close */
    r->phase = DISPATCHED;
    bool path_known;
    r->route = find_route(s, method, url, &r->rest, &path_known);
    if (r->refused != 0) {
        /* Counted under the route's label when the path has one. */
        if (r->refused == 413)
            snprintf(r->refused_msg, sizeof(r->refused_msg),
                     "request body is larger than the limit of %zu bytes", s->max_body);
        hr_http_reply_error(r, r->refused, r->refused_msg);
    } else {
        if (r->route != NULL) {
            r->route->fn(r, r->route->ctx);
        } else if (path_known) {
            char msg[160];
            snprintf(msg, sizeof(msg), "method %s is not allowed on %.100s", method, url);
            hr_http_reply_error(r, 405, msg);
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "no such endpoint: %.100s", url);
            hr_http_reply_error(r, 404, msg);
        }
    }

    pthread_mutex_lock(&r->lock);
    if (r->replied || r->resume_fn != NULL) {
        /* Answered, or woken, while the handler ran. */
        pthread_mutex_unlock(&r->lock);
        run_resume(r);
        return queue_reply(r);
    }
    /* The reply will come from another thread: park the connection. */
    r->suspended = true;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&r->lock);
    return MHD_YES;
}

void hr_http_reply(hr_http_req *r, int status, const char *content_type, const char *body,
                   size_t len)
{
    struct MHD_Connection *conn;

    pthread_mutex_lock(&r->lock);
    if (r->replied || r->resume_fn != NULL) {
        pthread_mutex_unlock(&r->lock);
        hr_log_error("http", "second reply to %s %s ignored", r->method, r->path);
        return;
    }
    r->status = status;
    r->content_type = hr_strdup(content_type);
    r->reply = hr_strndup(body ? body : "", body ? len : 0);
    r->reply_len = body ? len : 0;
    r->replied = true;
    /* Resume only after unlocking: once resumed, the connection's thread
     * may find the client gone and free r (on_completed) at once, so r and
     * its lock must not be touched after MHD_resume_connection. The
     * connection itself stays valid until then: a suspended connection is
     * never closed or timed out. */
    conn = r->suspended ? r->conn : NULL;
    pthread_mutex_unlock(&r->lock);
    if (conn != NULL)
        MHD_resume_connection(conn);
}

void hr_http_resume(hr_http_req *r, hr_http_resume_fn fn, void *ctx)
{
    struct MHD_Connection *conn;

    pthread_mutex_lock(&r->lock);
    if (r->replied || r->resume_fn != NULL) {
        pthread_mutex_unlock(&r->lock);
        hr_log_error("http", "second reply to %s %s ignored", r->method, r->path);
        fn(NULL, ctx);
        return;
    }
    r->resume_fn = fn;
    r->resume_ctx = ctx;
    /* As in hr_http_reply: resumed only after unlocking. */
    conn = r->suspended ? r->conn : NULL;
    pthread_mutex_unlock(&r->lock);
    if (conn != NULL)
        MHD_resume_connection(conn);
}

void hr_http_reply_json(hr_http_req *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = text ? strlen(text) : 0;
    hr_http_reply(r, status, "application/json", text ? text : "null", text ? n : 4);
    free(text);
    json_decref(body);
}

void hr_http_reply_error(hr_http_req *r, int status, const char *message)
{
    hr_http_reply_json(r, status, json_pack("{s:s}", "error", message));
}

const char *hr_http_method(const hr_http_req *r)
{
    return r->method;
}

const char *hr_http_path(const hr_http_req *r)
{
    return r->path;
}

const char *hr_http_path_rest(const hr_http_req *r)
{
    return r->rest ? r->rest : "";
}

const char *hr_http_header(const hr_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *hr_http_query(const hr_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *hr_http_raw_query(const hr_http_req *r)
{
    return r->raw_query;
}

const char *hr_http_body(const hr_http_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

/* Splits "host:port", "[v6]:port" into a bound, listening socket. */
static int bind_listen(const char *addr, int *fd_out, uint16_t *port_out, hr_error *err)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1, rc, one = 1;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return hr_error_set(err, HR_EINVAL, "--listen %s: expected [ADDRESS]:PORT", addr);
        snprintf(host, sizeof(host), "%.*s", (int)(close - addr - 1), addr + 1);
        port = close + 2;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || colon == addr)
            return hr_error_set(err, HR_EINVAL, "--listen %s: expected ADDRESS:PORT", addr);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
        return hr_error_set(err, HR_EINVAL, "--listen %s: the port must be 0 to 65535", addr);

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return hr_error_set(err, HR_EINVAL, "--listen %s: cannot resolve %s: %s", addr, host,
                            gai_strerror(rc));
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        rc = hr_error_set(err, HR_EIO, "--listen %s: socket: %s", addr, strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 512) != 0) {
        rc = hr_error_set(err, HR_EIO, "cannot listen on %s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    rc = HR_OK;
out:
    freeaddrinfo(res);
    return rc;
}

/* The connection's pool for these limits: twice the larger of its two
 * halves, the read buffer's (the head and two read increments) and the
 * records' (every argument and field, and the reply's header lines). */
static size_t pool_bytes(size_t max_head, size_t max_args)
{
    size_t read_half = max_head + 2u * READ_INCREMENT;
    size_t record_half = (max_args + HR_MAX_HEADER_FIELDS) * MHD_RECORD_BYTES + REPLY_RESERVE;
    return 2u * (read_half > record_half ? read_half : record_half);
}

int hr_http_start(const hr_http_options *opt, const hr_http_route *routes, size_t nroutes,
                  hr_http_server **out, hr_error *err)
{
    hr_http_server *s = hr_calloc(1, sizeof(*s));
    unsigned threads = opt->threads ? opt->threads : 2;
    hr_http__guard_limits lim = {
        .max_connections = opt->max_connections ? opt->max_connections : HR_MAX_CONNECTIONS,
        .per_address = opt->max_per_address == 0                  ? HR_MAX_CONNECTIONS_PER_ADDRESS
                       : opt->max_per_address == HR_HTTP_UNCAPPED ? 0
                                                                  : opt->max_per_address,
        .head_timeout_s = opt->head_timeout_s ? opt->head_timeout_s : HR_HEAD_TIMEOUT_S,
        .body_timeout_s = opt->body_timeout_s ? opt->body_timeout_s : HR_BODY_TIMEOUT_S,
    };
    int rc;

    s->routes = routes;
    s->nroutes = nroutes;
    s->max_body = opt->max_body ? opt->max_body : HR_MAX_BODY_BYTES;
    s->max_head = opt->max_head ? opt->max_head : HR_MAX_REQUEST_HEAD_BYTES;
    s->max_args = s->max_head / HR_HEAD_BYTES_PER_QUERY_ARG;
    s->listen_fd = -1;
    rc = bind_listen(opt->listen, &s->listen_fd, &s->port, err);
    if (rc != HR_OK)
        goto fail;
    rc = hr_http__guard_start(&lim, &s->guard, err);
    if (rc != HR_OK)
        goto fail;
    /* At its connection limit libmicrohttpd stops accepting (epoll): more
     * clients wait in the listen backlog, in order, while the guard makes
     * room. */
    s->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        0, on_accept, s, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        pool_bytes(s->max_head, s->max_args), MHD_OPTION_CONNECTION_MEMORY_INCREMENT,
        (size_t)READ_INCREMENT, MHD_OPTION_CONNECTION_LIMIT, lim.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HR_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (s->mhd == NULL) {
        rc = hr_error_set(err, HR_EIO, "cannot start the HTTP server on %s", opt->listen);
        goto fail;
    }
    /* The daemon owns the listening socket now: it closes it on stop,
     * and never hands it back. */
    *out = s;
    return HR_OK;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    hr_http__guard_stop(s->guard);
    free(s);
    return rc;
}

/* Not MHD_quiesce_daemon: with epoll and a thread pool, libmicrohttpd
 * 0.9.75 removes the listening socket from a worker's epoll set both there
 * and in the worker's own loop, unlocked, and aborts the process when the
 * worker loses that race ("Failed to remove listen FD from epoll set").
 * The accept policy closes every new connection instead. */
void hr_http_quiesce(hr_http_server *s)
{
    if (s != NULL)
        atomic_store(&s->quiesced, true);
}

void hr_http_stop(hr_http_server *s)
{
    if (s == NULL)
        return;
    if (s->mhd != NULL)
        MHD_stop_daemon(s->mhd);   /* closes the listening socket */
    hr_http__guard_stop(s->guard); /* every connection is closed now */
    free(s);
}

uint16_t hr_http_port(const hr_http_server *s)
{
    return s->port;
}
