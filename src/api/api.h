/*
 * api.h - herald's HTTP endpoints: what each path does.
 *
 *   POST /gocd/notification/<request-name>   GoCD's notification extension (gocd.c)
 *   GET  /healthz                            200 "ok"; 503 "degraded" while the store cannot write
 *   GET  /metrics                            Prometheus text format
 *   GET  /api/v1/events                      newest first, filtered, paged
 *   GET  /api/v1/events/<id>                 one event and its raw body
 *   GET  /api/v1/stages                      last known state of every stage
 *   GET  /api/v1/settings                    the GoCD plugin settings, secrets masked
 *   GET  /api/v1/config                      the configuration in use, secrets masked
 *   GET  /api/v1/deliveries                  newest first, by state, target, event
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
 *   POST /api/v1/packages/<r>/<p>/revisions  publish a package revision (packages.c)
 *   GET  /api/v1/packages/<r>/<p>/revisions  a package's revisions, newest first
 *   GET  /api/v1/packages                    every package with revisions
 *   POST /gocd/package-repository/<request>  GoCD's package-repository extension
 *
 * Access: /healthz and /metrics are open. When herald has an API token
 * (api_token), every /api/v1/ endpoint demands it, except publishing a
 * package revision, which has the packages' own publish tokens; the /gocd/
 * endpoints demand the GoCD token (gocd_token), and the Jenkins ones and
 * /ci/notify the config's jenkins.token. hr_api_routes declares each
 * route's access next to its path.
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

/* A route that needs the API token: its own handler, called once the
 * token is checked (filled by hr_api_routes). */
typedef struct hr_api__guard {
    struct hr_api *api;
    hr_http_handler fn;
} hr_api__guard;

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
    hr_api__guard guards[HR_API_MAX_ROUTES];
    /* What GoCD's go.processor.server-info.get said, as the bridge posted
     * it to /gocd/server-info (guarded by info_lock; NULL before). */
    pthread_mutex_t info_lock;
    json_t *server_info;
} hr_api;

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

/* The request's X-Herald-Request-Id (new, into *out), or *out = NULL when
 * it has none. HR_EINVAL with *why (static) when it is not 1 to 128 of
 * A-Z a-z 0-9 - _ . : */
int hr_api_request_id(hr_http_req *req, char **out, const char **why);

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

/* Package revisions and GoCD's package-repository extension (packages.c). */
void hr_api_packages(hr_http_req *req, void *ctx);
void hr_api_list_packages(hr_http_req *req, void *ctx);
void hr_api_gocd_package_repository(hr_http_req *req, void *ctx);

/* The GoCD endpoints' handlers, shared by hr_api_routes (gocd.c). */
void hr_api_gocd_notification(hr_http_req *req, void *ctx);
void hr_api_gocd_server_info(hr_http_req *req, void *ctx);

#endif
