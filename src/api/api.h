/*
 * api.h - herald's HTTP endpoints: what each path does.
 *
 *   POST /gocd/notification/<request-name>   GoCD's notification extension (gocd.c)
 *   GET  /healthz                            200 "ok"; 503 "degraded" while the store cannot write
 *   GET  /metrics                            Prometheus text format
 *   GET  /api/v1/events                      newest first, filtered (transition, since,
 *                                            until too), paged
 *   GET  /api/v1/events/<id>                 one event and its raw body
 *   GET  /api/v1/stages                      last known state of every stage
 *   GET  /api/v1/settings                    the GoCD plugin settings, secrets masked
 *   GET  /api/v1/config                      the configuration in use, secrets masked
 *   GET  /api/v1/deliveries                  newest first, by state, target, event, time
 *   GET  /api/v1/deliveries/<id>             one delivery with its attempts
 *   POST /api/v1/deliveries/<id>/retry       make one delivery due now
 *   POST /api/v1/deliveries/replay           {"target", "dead", "since", "until"}
 *   GET  /gocd/health-messages               failing targets, in GoCD's
 *                                            server-health.add-messages shape
 *   POST /gocd/server-info                   what GoCD says of itself (site URL)
 *   GET  /api/v1/gocd/server-info            the same, read back
 *   GET|POST|PUT|DELETE /jenkins/job-status  Jenkins' Job Status plugin (jenkins.c)
 *   POST /jenkins/notification               Jenkins' Notification plugin
 *   POST /ci/notify                          `herald notify`
 *   GET  /api/v1/jobs                        last known state of every CI job
 *   GET  /api/v1/targets/health              per target: pending, retrying now;
 *                                            delivered, dead within ?window=S
 *   GET  /api/v1/targets[/<name>]            targets' health (targets.c)
 *   POST /api/v1/targets/<name>/pause        and /resume, /enable (targets.c)
 *   POST /api/v1/targets/<name>/test         a test event to that target alone (target_test.c)
 *   GET  /ui/ and /ui/<file>                 the dashboard (ui.c)
 *   POST /api/v1/packages/<r>/<p>/revisions  publish a package revision (packages.c)
 *   GET  /api/v1/packages/<r>/<p>/revisions  a package's revisions, newest first
 *   GET  /api/v1/packages                    every package with revisions
 *   POST /gocd/package-repository/<request>  GoCD's package-repository extension
 *
 * Access: /healthz, /metrics and the dashboard's files are open. When herald has an API token
 * (api_token), every /api/v1/ endpoint demands it, except publishing a
 * package revision, which takes the package's own publish token when the
 * config has one; the /gocd/ endpoints demand the GoCD token (gocd_token),
 * and the Jenkins ones and /ci/notify the config's jenkins.token. Without
 * tokens, /api/v1 writes and GoCD's plugin settings changes are refused
 * unless insecure_local. Every route but /ui/ passes the browser rules
 * and, when it takes JSON, the content type (guard.c) first. hr_api_routes declares
 * each route's access next to its path; docs/operating.md, "Security
 * model", explains it.
 *
 * Handlers run on the HTTP threads; reads use the store's read connections,
 * and event writes answer from the store writer's completion.
 */
#ifndef HR_API_API_H
#define HR_API_API_H

#include "api/app.h"
#include "http/server.h"
#include "store/store.h"

#include <pthread.h>
#include <stddef.h>

/* The most routes hr_api_routes declares (checked when it compiles). */
#define HR_API_MAX_ROUTES 48

/* A route's own handler and what guarded() checks before calling it:
 * the browser rules, its token, its content type (filled by
 * hr_api_routes). */
typedef struct hr_api__guard {
    struct hr_api *api;
    hr_http_handler fn;
    int access;    /* api.c's route_access */
    int json_body; /* the body must be sent as application/json */
} hr_api__guard;

/* The names herald answers web browsers under (guard.c): besides any IP
 * address, localhost and *.localhost, the host of --listen and the names
 * the operator gives with --allow-host. Borrowed. */
typedef struct hr_api_hosts {
    const char *listen_host; /* NULL: none beyond the above */
    const char *const *names;
    size_t nnames;
} hr_api_hosts;

typedef struct hr_api {
    hr_store *store; /* borrowed */
    hr_app *app;     /* borrowed */
    const char *version;
    /* When set, every /gocd/ endpoint demands "Authorization: Bearer
     * <token>" (the bridge plugin's token). Borrowed; never logged. */
    const char *gocd_token;
    /* When set, every /api/v1/ endpoint but publishing demands it, as a
     * bearer token, Basic auth's password or ?token= (hr_api_check_token).
     * Borrowed; never logged. */
    const char *api_token;
    /* Without an API token herald refuses /api/v1 writes (replay, retry,
     * publishing a package without its own token), and without a GoCD
     * token GoCD's plugin settings changes, unless the operator started
     * it with --insecure-local (loopback only). */
    int insecure_local;
    hr_api_hosts hosts;
    hr_api__guard guards[HR_API_MAX_ROUTES];
    /* What GoCD's go.processor.server-info.get said, as the bridge posted
     * it to /gocd/server-info (guarded by info_lock; NULL before). */
    pthread_mutex_t info_lock;
    json_t *server_info;
} hr_api;

/* Whether a web browser may have sent the request (guard.c): one that
 * carries Sec-Fetch-Site cross-site or same-site, or with an Origin or
 * Sec-Fetch-Site a Host herald does not serve (DNS rebinding) or an Origin
 * other than the Host, is answered 403 here. Requests without those
 * headers (every real sender's) pass. */
int hr_api_browser_allowed(hr_api *api, hr_http_req *req);
/* The rule itself, for tests: 1 when allowed, else 0 with why filled.
 * Any argument but h may be NULL. */
int hr_api__browser_check(const hr_api_hosts *h, const char *host, const char *origin,
                          const char *fetch_site, char *why, size_t size);
/* Whether a Host header names herald (hr_api_hosts); NULL is not. */
int hr_api__host_served(const hr_api_hosts *h, const char *host);

/* Whether the request says its body is JSON (Content-Type
 * application/json, any parameters); answers 415 saying so when not. A
 * web page cannot send that type to another site without a CORS
 * preflight, which herald never grants. */
int hr_api_json_body(hr_http_req *req);
int hr_api__is_json(const char *content_type);

/* Whether a write that needs a token herald does not have (token, such
 * as "API token"; what, such as "/api/v1 writes") may go without it:
 * only with --insecure-local, and then only to a Host herald serves.
 * When not, why says so (the caller answers in its endpoint's shape). */
int hr_api_open_write(hr_api *api, hr_http_req *req, const char *token, const char *what, char *why,
                      size_t size);
/* Whether a request without a token may be answered: its Host (may be
 * NULL) must be one herald serves, so that a page that rebound its name
 * to herald reads nothing. When not, why says so. */
int hr_api_tokenless_host(hr_api *api, const char *host, char *why, size_t size);

/* Whether the request carries the GoCD token (always true when none is
 * configured); answers 401 itself when it does not. */
int hr_api_gocd_authorized(hr_api *api, hr_http_req *req);

/* Fills routes (room for max) with herald's endpoints, all bound to api
 * (the ones that need the API token through api->guards, so api must
 * outlive the routes); returns how many. */
size_t hr_api_routes(hr_api *api, hr_http_route *routes, size_t max);

/* Whether got equals want, in time that does not depend on where they
 * differ; got may be NULL (never equal). */
int hr_api_token_equal(const char *want, const char *got);

/* Whether the request carries token (always true when token is NULL): as
 * "Authorization: Bearer <token>", as Basic auth's password (any user), or
 * as a "token" query pair (query_tok when the caller already took it out
 * of the query; else read from the query here). Answers 401 naming what
 * (such as "herald's Jenkins token") when it does not. Never logs it. */
int hr_api_check_token(hr_http_req *req, const char *token, const char *query_tok,
                       const char *what);

/* The header a sender names one delivery of an event with; a retry
 * carries the same value, and the store keeps the event once. */
#define HR_REQUEST_ID_HEADER "X-Herald-Request-Id"

/* The request's X-Herald-Request-Id into ev->request_id (new; NULL when
 * it has none), with the digest of what the request carried (its body, or
 * a GET's query) into ev->request_digest. HR_EINVAL with *why (static)
 * when it is not 1 to 128 of A-Z a-z 0-9 - _ . : */
struct hr_event;
int hr_api_request_id(hr_http_req *req, struct hr_event *ev, const char **why);

/*
 * An event a handler handed to the store (gocd.c, jenkins.c, packages.c).
 * The writer's completion (hr_api_stored, the hr_store_done_fn with this
 * as ctx) only records the outcome here and wakes the request; answer
 * then runs on an HTTP thread (logs, metrics, the answer's JSON), and the
 * event and this are freed after it. With req NULL (a second answer, a
 * bug hr_http_resume logs) answer is skipped.
 */
typedef struct hr_api_pending hr_api_pending;
struct hr_api_pending {
    hr_http_req *req;
    struct hr_event *ev;
    const char *kind; /* static: a metrics label */
    int status;
    hr_error err; /* when status is not HR_OK */
    void (*answer)(hr_api_pending *p);
};
hr_api_pending *hr_api_pending_new(hr_http_req *req, struct hr_event *ev, const char *kind,
                                   void (*answer)(hr_api_pending *p));
void hr_api_stored(void *ctx, int status, const hr_error *err);

/* Jenkins and any CI (jenkins.c). */
void hr_api_jenkins_job_status(hr_http_req *req, void *ctx);
void hr_api_jenkins_notification(hr_http_req *req, void *ctx);
void hr_api_ci_notify(hr_http_req *req, void *ctx);

/* The Notification plugin's TCP and UDP listeners (addresses "HOST:PORT",
 * either NULL: not that one). *out is NULL when both are. */
typedef struct hr_jenkins_listeners hr_jenkins_listeners;
int hr_jenkins_listeners_start(hr_api *api, const char *tcp, const char *udp,
                               hr_jenkins_listeners **out, hr_error *err);
/* Stops both and frees; NULL is fine. */
void hr_jenkins_listeners_stop(hr_jenkins_listeners *l);

/* Parses the decimal integer query parameter name into *out when it is
 * given (returns 1; 0 when absent); answers 400 naming it and returns -1
 * when it is malformed or outside lo .. hi (api.c). */
int hr_api_query_int(hr_http_req *req, const char *name, long long lo, long long hi,
                     long long *out);

/* The lists paged by key: stages, jobs, packages (lists.c). */
void hr_api_list_stages(hr_http_req *req, void *ctx);
void hr_api_list_jobs(hr_http_req *req, void *ctx);
void hr_api_list_packages(hr_http_req *req, void *ctx);

/* Package revisions and GoCD's package-repository extension (packages.c). */
void hr_api_packages(hr_http_req *req, void *ctx);
void hr_api_gocd_package_repository(hr_http_req *req, void *ctx);

/* POST /api/v1/targets/<name>/<action>: test (targets.c). */
void hr_api_target_action(hr_http_req *req, void *ctx);

/* The GoCD endpoints' handlers, shared by hr_api_routes (gocd.c). */
void hr_api_gocd_notification(hr_http_req *req, void *ctx);
void hr_api_gocd_server_info(hr_http_req *req, void *ctx);

#endif
