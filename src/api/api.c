#include "api/api.h"
#include "api/targets.h"
#include "api/ui.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "ingest/gocd_settings.h"
#include "store/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 200 "ok", or 503 "degraded" with the reason while the store cannot
 * write (a full disk): herald then answers every event 503, so a load
 * balancer or supervisor should see it too. */
static void healthz(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_error why;
    json_t *body = json_pack("{s:s,s:s,s:I}", "status", "ok", "version", api->version,
                             "store_queue", (json_int_t)hr_store_queue_depth(api->store));
    if (hr_store_health(api->store, &why) != HR_OK) {
        json_object_set_new(body, "status", json_string("degraded"));
        json_object_set_new(body, "reason", json_string(why.msg));
        hr_http_reply_json(req, 503, body);
        return;
    }
    hr_http_reply_json(req, 200, body);
}

static void metrics(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_metrics_queue_depth(hr_store_queue_depth(api->store));
    char *text = hr_metrics_render();
    char *health = hr_api_health_metrics(api);
    size_t n = strlen(text), m = strlen(health);
    text = hr_realloc(text, n + m + 1);
    memcpy(text + n, health, m + 1);
    hr_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, n + m);
    free(health);
    free(text);
}

int hr_api_query_int(hr_http_req *req, const char *name, long long lo, long long hi, long long *out)
{
    const char *v = hr_http_query(req, name);
    char *end;
    long long n;
    if (v == NULL)
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *v == '\0' || *end != '\0' || n < lo || n > hi) {
        char msg[200];
        snprintf(msg, sizeof(msg), "query parameter %s: expected a whole number from %lld to %lld",
                 name, lo, hi);
        hr_http_reply_error(req, 400, msg);
        return -1;
    }
    *out = n;
    return 1;
}

/* Reads the time range of a list, ?since= and ?until= (RFC 3339 instants;
 * since inclusive, until exclusive); answers 400 naming the parameter and
 * returns -1 when one does not parse or the range is empty. */
static int query_range(hr_http_req *req, int64_t *since, int64_t *until)
{
    static const char *const names[] = {"since", "until"};
    int64_t *out[] = {since, until};
    char msg[240];

    for (size_t i = 0; i < 2; i++) {
        const char *v = hr_http_query(req, names[i]);
        if (v == NULL)
            continue;
        if (hr_time_parse(v, strlen(v), out[i]) != HR_OK || *out[i] <= 0) {
            snprintf(msg, sizeof(msg),
                     "query parameter %s: expected a time like 2026-11-22T10:00:00Z (RFC 3339, "
                     "with its zone); got \"%.40s\"",
                     names[i], v);
            hr_http_reply_error(req, 400, msg);
            return -1;
        }
    }
    if (*since > 0 && *until > 0 && *since >= *until) {
        hr_http_reply_error(req, 400,
                            "query parameters since and until: since must be before until");
        return -1;
    }
    return 0;
}

static void reply_store_error(hr_http_req *req, int rc, const hr_error *err)
{
    hr_http_reply_error(req, rc == HR_ENOTFOUND ? 404 : rc == HR_EINVAL ? 400 : 500, err->msg);
}

/* Answers one page: {key: items, "next_cursor": "ID" or null}; steals items. */
static void reply_page(hr_http_req *req, const char *key, json_t *items, int64_t next)
{
    json_t *out = json_pack("{s:o}", key, items);
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)next);
    json_object_set_new(out, "next_cursor", next > 0 ? json_string(buf) : json_null());
    hr_http_reply_json(req, 200, out);
}

static void list_events(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_event_query q = {0};
    long long limit = HR_DEFAULT_API_PAGE, cursor = 0, after = 0;
    json_t *events = NULL;
    int64_t next = 0;
    hr_error err;
    int rc;

    if (hr_api_query_int(req, "limit", 1, HR_MAX_API_PAGE, &limit) < 0 ||
        hr_api_query_int(req, "cursor", 1, INT64_MAX, &cursor) < 0 ||
        hr_api_query_int(req, "after", 1, INT64_MAX, &after) < 0)
        return;
    q.after_id = after;
    q.source = hr_http_query(req, "source");
    q.kind = hr_http_query(req, "kind");
    q.pipeline = hr_http_query(req, "pipeline");
    q.stage = hr_http_query(req, "stage");
    q.result = hr_http_query(req, "result");
    q.limit = (size_t)limit;
    q.before_id = cursor;
    if (hr_http_query(req, "warnings") != NULL) {
        if (strcmp(hr_http_query(req, "warnings"), "true") != 0) {
            hr_http_reply_error(req, 400,
                                "query parameter warnings: expected true (only events that "
                                "carry warnings)");
            return;
        }
        q.with_warnings = 1;
    }
    q.transition = hr_http_query(req, "transition");
    if (q.transition != NULL && hr_transition_from_name(q.transition) == HR_TRANSITION_NONE) {
        hr_http_reply_error(req, 400,
                            "query parameter transition: expected one of building, failing, "
                            "passed, fixed, failed, broken, still_failing, cancelled, unknown");
        return;
    }
    if (query_range(req, &q.since, &q.until) < 0)
        return;
    rc = hr_store_list_events(api->store, &q, &events, &next, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    reply_page(req, "events", events, next);
}

static void get_event(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const char *idtext = hr_http_path_rest(req);
    char *end;
    json_t *out = NULL;
    hr_error err;
    errno = 0;
    long long id = strtoll(idtext, &end, 10);
    if (errno != 0 || *end != '\0' || id <= 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "event id: expected a positive whole number; got \"%.40s\"",
                 idtext);
        hr_http_reply_error(req, 400, msg);
        return;
    }
    int rc = hr_store_get_event(api->store, id, &out, &err);
    if (rc != HR_OK)
        reply_store_error(req, rc, &err);
    else
        hr_http_reply_json(req, 200, out);
}

static void get_settings(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    json_t *settings = NULL;
    const char *key;
    json_t *value;
    hr_error err;
    int rc = hr_store_get_settings(api->store, &settings, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    /* Secrets never leave herald: show that a value is set, not what it is. */
    json_object_foreach(settings, key, value)
    {
        if (hr_gocd_settings_is_secret(key) && json_string_length(value) > 0)
            json_object_set_new(settings, key, json_string("******"));
    }
    hr_http_reply_json(req, 200, json_pack("{s:o}", "settings", settings));
}

static void get_config(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_http_reply_json(req, 200, hr_app_config_json(api->app));
}

/* HR_DELIVERY_STATES, one by one. "dropped": an operator dropped it (POST
 * /api/v1/deliveries/drop). */
static const char *const delivery_states[] = {"pending", "retrying",   "delivered", "dead",
                                              "skipped", "superseded", "dropped"};
#define NSTATES (sizeof(delivery_states) / sizeof(delivery_states[0]))

static void list_deliveries(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_delivery_query q = {0};
    long long limit = HR_DEFAULT_API_PAGE, cursor = 0, event = 0, after = 0;
    json_t *list = NULL;
    int64_t next = 0;
    hr_error err;

    if (hr_api_query_int(req, "limit", 1, HR_MAX_API_PAGE, &limit) < 0 ||
        hr_api_query_int(req, "cursor", 1, INT64_MAX, &cursor) < 0 ||
        hr_api_query_int(req, "event", 1, INT64_MAX, &event) < 0 ||
        hr_api_query_int(req, "after", 1, INT64_MAX, &after) < 0 ||
        query_range(req, &q.since, &q.until) < 0)
        return;
    q.state = hr_http_query(req, "state");
    if (q.state != NULL) {
        int ok = 0;
        for (size_t i = 0; i < NSTATES; i++)
            ok |= strcmp(q.state, delivery_states[i]) == 0;
        if (!ok) {
            hr_http_reply_error(req, 400,
                                "query parameter state: expected one of " HR_DELIVERY_STATES);
            return;
        }
    }
    q.target = hr_http_query(req, "target");
    q.event_id = event;
    q.before_id = cursor;
    q.after_id = after;
    q.limit = (size_t)limit;
    int rc = hr_store_list_deliveries(api->store, &q, &list, &next, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    reply_page(req, "deliveries", list, next);
}

/* Parses the id at the start of the path's rest; rest_out gets what follows. */
static int path_id(hr_http_req *req, const char *what, int64_t *id, const char **rest_out)
{
    const char *text = hr_http_path_rest(req);
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || end == text || n <= 0 || (*end != '\0' && *end != '/')) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s id: expected a positive whole number; got \"%.40s\"", what,
                 text);
        hr_http_reply_error(req, 400, msg);
        return -1;
    }
    *id = n;
    *rest_out = end;
    return 0;
}

static void get_delivery(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    int64_t id;
    const char *rest;
    json_t *out = NULL;
    hr_error err;
    if (path_id(req, "delivery", &id, &rest) < 0)
        return;
    if (*rest != '\0') {
        hr_http_reply_error(req, 404, "no such endpoint");
        return;
    }
    int rc = hr_store_get_delivery(api->store, id, &out, &err);
    if (rc != HR_OK)
        reply_store_error(req, rc, &err);
    else
        hr_http_reply_json(req, 200, out);
}

static void reset(hr_api *api, hr_http_req *req, const hr_delivery_reset *r)
{
    size_t count = 0;
    hr_error err;
    int rc = hr_store_reset_deliveries(api->store, r, &count, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    hr_log_info("api", "%zu deliveries made due again", count);
    hr_http_reply_json(req, 200, json_pack("{s:I}", "reset", (json_int_t)count));
}

static void retry_delivery(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_delivery_reset r = {0};
    const char *rest;
    json_t *d = NULL;
    hr_error err;
    if (path_id(req, "delivery", &r.id, &rest) < 0)
        return;
    if (strcmp(rest, "/retry") != 0) {
        hr_http_reply_error(req, 404, "no such endpoint (POST /api/v1/deliveries/ID/retry)");
        return;
    }
    int rc = hr_store_get_delivery(api->store, r.id, &d, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    json_decref(d);
    reset(api, req, &r);
}

/* Reads an RFC 3339 instant from a replay body field into ms. */
static int body_time(json_t *body, const char *key, int64_t *out, hr_errlist *errs)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || json_is_null(v))
        return HR_OK;
    if (!json_is_string(v) ||
        hr_time_parse(json_string_value(v), json_string_length(v), out) != HR_OK) {
        char brief[64];
        hr_errlist_add(errs, "%s: expected a time like 2026-11-22T10:00:00.000Z; got %s", key,
                       hr_json_brief(v, brief, sizeof(brief)));
        return HR_EINVAL;
    }
    return HR_OK;
}

/* Reads a bulk request's filter (target, state or "dead": true, since,
 * until) and dry_run (in the body, or ?dry_run=true) into r. */
static void bulk_filter(json_t *body, hr_http_req *req, hr_delivery_reset *r, hr_errlist *errs)
{
    const char *dry = hr_http_query(req, "dry_run");
    json_t *v;
    char brief[64];

    v = json_object_get(body, "target");
    if (v != NULL && !json_is_null(v)) {
        if (json_is_string(v))
            r->target = json_string_value(v);
        else
            hr_errlist_add(errs, "target: expected a string; got %s",
                           hr_json_brief(v, brief, sizeof(brief)));
    }
    v = json_object_get(body, "state");
    if (v != NULL && !json_is_null(v)) {
        for (size_t i = 0; i < NSTATES && json_is_string(v); i++)
            if (strcmp(json_string_value(v), delivery_states[i]) == 0)
                r->state = delivery_states[i];
        if (r->state == NULL)
            hr_errlist_add(errs, "state: expected one of " HR_DELIVERY_STATES "; got %s",
                           hr_json_brief(v, brief, sizeof(brief)));
    }
    /* "dead": true is the older way to write "state": "dead". */
    v = json_object_get(body, "dead");
    if (v != NULL && !json_is_boolean(v))
        hr_errlist_add(errs, "dead: expected a boolean; got %s",
                       hr_json_brief(v, brief, sizeof(brief)));
    else if (json_is_true(v) && r->state != NULL && strcmp(r->state, "dead") != 0)
        hr_errlist_add(errs, "dead: true contradicts \"state\": \"%s\"", r->state);
    else if (json_is_true(v))
        r->state = "dead";
    body_time(body, "since", &r->since, errs);
    body_time(body, "until", &r->until, errs);
    v = json_object_get(body, "dry_run");
    if (v != NULL && !json_is_boolean(v))
        hr_errlist_add(errs, "dry_run: expected a boolean; got %s",
                       hr_json_brief(v, brief, sizeof(brief)));
    r->dry_run = json_is_true(v);
    if (dry != NULL && strcmp(dry, "true") != 0 && strcmp(dry, "false") != 0)
        hr_errlist_add(errs, "query parameter dry_run: expected true or false");
    r->dry_run = r->dry_run || (dry != NULL && strcmp(dry, "true") == 0);
    if (hr_errlist_count(errs) == 0 && r->target == NULL && r->state == NULL && r->since <= 0 &&
        r->until <= 0)
        hr_errlist_add(errs, "body: name a target, a state (\"state\": \"dead\") or a time "
                             "range (since, until)");
}

/* POST /api/v1/deliveries/replay and /drop: the deliveries the filter
 * matches are made due again, or dropped; with dry_run, only counted
 * ({"matched": N}), so an operator sees how many first. */
static void bulk(hr_http_req *req, hr_api *api, bool drop)
{
    size_t len, count = 0;
    const char *text = hr_http_body(req, &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_delivery_reset r = {.drop = drop};
    json_t *body = NULL;
    hr_error err;
    int rc;

    if (hr_json_load_object(text, len, &errs, &body) == HR_OK)
        bulk_filter(body, req, &r, &errs);
    if (hr_errlist_count(&errs) == 0 && drop && r.state != NULL &&
        (strcmp(r.state, "delivered") == 0 || strcmp(r.state, "dropped") == 0))
        hr_errlist_add(&errs, "state: only pending, retrying and dead deliveries can be dropped");
    if (hr_errlist_count(&errs) > 0) {
        hr_http_reply_json(req, 400,
                           json_pack("{s:s,s:o}", "error",
                                     drop ? "invalid drop request" : "invalid replay request",
                                     "messages", hr_errlist_to_json(&errs)));
        goto out;
    }
    rc = hr_store_reset_deliveries(api->store, &r, &count, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        goto out;
    }
    if (r.dry_run) {
        hr_http_reply_json(req, 200, json_pack("{s:I}", "matched", (json_int_t)count));
    } else if (drop) {
        hr_log_info("api", "%zu deliveries dropped", count);
        hr_http_reply_json(req, 200, json_pack("{s:I}", "dropped", (json_int_t)count));
    } else {
        hr_log_info("api", "%zu deliveries made due again", count);
        hr_http_reply_json(req, 200, json_pack("{s:I}", "reset", (json_int_t)count));
    }
out:
    hr_errlist_clear(&errs);
    json_decref(body);
}

static void replay(hr_http_req *req, void *ctx)
{
    bulk(req, ctx, false);
}

static void drop_deliveries(hr_http_req *req, void *ctx)
{
    bulk(req, ctx, true);
}

/* GoCD's server-health.add-messages shape, so the bridge can forward it:
 * an error for a target that lost deliveries in the last hour, a warning
 * for one that is being retried. */
static void health_messages(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    json_t *targets = NULL, *out, *t;
    size_t i;
    hr_error err;
    if (!hr_api_gocd_authorized(api, req))
        return;
    out = json_array();
    const hr_config *cfg = NULL;
    hr_app_current(api->app, &cfg, NULL);
    if (cfg != NULL && cfg->gocd_set_aside != NULL) {
        char msg[1200];
        snprintf(msg, sizeof(msg),
                 "herald: the plugin settings stored earlier are set aside, so no GoCD webhook "
                 "target is configured; save them again on the plugin settings page (%s)",
                 cfg->gocd_set_aside);
        json_array_append_new(out, json_pack("{s:s,s:s}", "type", "error", "message", msg));
    }
    int rc = hr_store_target_health(api->store, hr_time_now_ms() - 3600 * 1000, &targets, &err);
    if (rc != HR_OK) {
        json_decref(out);
        reply_store_error(req, rc, &err);
        return;
    }
    hr_api_health_gocd_messages(api, out);
    json_array_foreach(targets, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "target"));
        const char *last = json_string_value(json_object_get(t, "last_error"));
        json_int_t dead = json_integer_value(json_object_get(t, "dead"));
        json_int_t retrying = json_integer_value(json_object_get(t, "retrying"));
        char msg[768];
        if (dead > 0) {
            snprintf(msg, sizeof(msg),
                     "herald: %lld notifications to %s failed for good in the last hour "
                     "(last error: %.400s); see GET /api/v1/deliveries?state=dead&target=%s",
                     (long long)dead, name, last ? last : "unknown", name);
            json_array_append_new(out, json_pack("{s:s,s:s}", "type", "error", "message", msg));
        } else if (retrying > 0) {
            snprintf(msg, sizeof(msg),
                     "herald: %lld notifications to %s are waiting to be retried (last error: "
                     "%.400s)",
                     (long long)retrying, name, last ? last : "unknown");
            json_array_append_new(out, json_pack("{s:s,s:s}", "type", "warning", "message", msg));
        }
    }
    json_decref(targets);
    hr_http_reply_json(req, 200, out);
}

/* Per target: deliveries pending and retrying now, and delivered and dead
 * within the last ?window= seconds (default an hour, at most a week): the
 * dashboard's overview asks for an hour and a day. */
static void targets_health(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    long long window = 3600;
    json_t *targets = NULL;
    hr_error err;

    if (hr_api_query_int(req, "window", 1, 7 * 24 * 3600, &window) < 0)
        return;
    int rc = hr_store_target_health(api->store, hr_time_now_ms() - window * 1000, &targets, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    hr_http_reply_json(req, 200,
                       json_pack("{s:I,s:o}", "window_s", (json_int_t)window, "targets", targets));
}

static void get_server_info(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    pthread_mutex_lock(&api->info_lock);
    json_t *info = api->server_info ? json_deep_copy(api->server_info) : json_null();
    pthread_mutex_unlock(&api->info_lock);
    hr_http_reply_json(req, 200, json_pack("{s:o}", "server_info", info));
}

#define API_TOKEN_NAME "herald's API token (--api-token-file or HERALD_API_TOKEN)"

/* Who may call a route. */
typedef enum route_access {
    OPEN,      /* anyone: /healthz for supervisors, /metrics for scrapers */
    OWN_TOKEN, /* the handler checks its own token: GoCD's, Jenkins', a package's */
    API_TOKEN, /* herald's API token when it has one, checked by guarded() */
    API_WRITE, /* as API_TOKEN; without one, refused unless --insecure-local */
    PAGE,      /* the dashboard's files: open, and past the browser rules too */
} route_access;

int hr_api_open_write(hr_api *api, hr_http_req *req, const char *token, const char *what, char *why,
                      size_t size)
{
    const char *host = hr_http_header(req, "Host");
    if (!api->insecure_local) {
        snprintf(why, size,
                 "herald has no %s, so it refuses %s: give herald one and send it with the "
                 "request, or start herald with --insecure-local to leave this open on "
                 "loopback (docs/operating.md, \"Security model\")",
                 token, what);
        return 0;
    }
    return hr_api_tokenless_host(api, host, why, size);
}

int hr_api_tokenless_host(hr_api *api, const char *host, char *why, size_t size)
{
    if (hr_api__host_served(&api->hosts, host))
        return 1;
    /* DNS rebinding reads as a plain request from the page's own name:
     * without a token, only names herald serves are answered. */
    snprintf(why, size,
             "without a token herald takes this only with a Host that is an address, "
             "localhost, --listen's host or an --allow-host name (a web page that rebound its "
             "own name to herald sends that name); got Host \"%.100s\"",
             host != NULL ? host : "");
    return 0;
}

/* Runs a route's own handler once the request passed the browser rules,
 * showed the API token where the route needs it (hr_api_check_token
 * answers 401 otherwise), and sent JSON where the route takes it. */
static void guarded(hr_http_req *req, void *ctx)
{
    const hr_api__guard *g = ctx;
    hr_api *api = g->api;
    char why[512];

    /* The dashboard's files hold no data (ui.c), and a link to them from
     * another site must open; the page's /api/v1 calls pass the rules. */
    if (g->access != PAGE && !hr_api_browser_allowed(api, req))
        return;
    if (g->access == API_TOKEN || g->access == API_WRITE) {
        if (api->api_token != NULL) {
            if (!hr_api_check_token(req, api->api_token, NULL, API_TOKEN_NAME))
                return;
        } else {
            /* No API token: writes only with --insecure-local, and reads
             * and writes only to a Host herald serves. */
            int ok =
                g->access == API_WRITE
                    ? hr_api_open_write(
                          api, req, "API token (--api-token-file or HERALD_API_TOKEN)",
                          "/api/v1 writes (replay, drop, retry, test, pause)", why, sizeof(why))
                    : hr_api_tokenless_host(api, hr_http_header(req, "Host"), why, sizeof(why));
            if (!ok) {
                hr_http_reply_error(req, 403, why);
                return;
            }
        }
    }
    if (g->json_body && !hr_api_json_body(req))
        return;
    g->fn(req, api);
}

typedef struct route_decl {
    const char *method, *path, *label;
    hr_http_handler fn;
    route_access access;
    int json_body; /* JSON: the body must come as application/json */
} route_decl;

#define JSON 1

size_t hr_api_routes(hr_api *api, hr_http_route *routes, size_t max)
{
    /* /metrics is open on purpose: it holds counts by endpoint, status and
     * outcome, no event content and no secret, and a scraper given the API
     * token could also replay deliveries (the token has no read-only
     * scope). docs/operating.md says so. */
    static const route_decl all[] = {
        {"POST", "/gocd/notification/*", "gocd_notification", hr_api_gocd_notification, OWN_TOKEN,
         JSON},
        {"GET", "/healthz", "healthz", healthz, OPEN, 0},
        {"GET", "/metrics", "metrics", metrics, OPEN, 0},
        {"GET", "/api/v1/events", "api_events", list_events, API_TOKEN, 0},
        {"GET", "/api/v1/events/*", "api_event", get_event, API_TOKEN, 0},
        {"GET", "/api/v1/stages", "api_stages", hr_api_list_stages, API_TOKEN, 0},
        {"GET", "/api/v1/settings", "api_settings", get_settings, API_TOKEN, 0},
        {"GET", "/api/v1/config", "api_config", get_config, API_TOKEN, 0},
        {"GET", "/api/v1/deliveries", "api_deliveries", list_deliveries, API_TOKEN, 0},
        {"POST", "/api/v1/deliveries/replay", "api_replay", replay, API_WRITE, JSON},
        {"POST", "/api/v1/deliveries/drop", "api_drop", drop_deliveries, API_WRITE, JSON},
        {"GET", "/api/v1/deliveries/*", "api_delivery", get_delivery, API_TOKEN, 0},
        {"POST", "/api/v1/deliveries/*", "api_delivery_retry", retry_delivery, API_WRITE, JSON},
        {"GET", "/gocd/health-messages", "gocd_health", health_messages, OWN_TOKEN, 0},
        {"POST", "/gocd/server-info", "gocd_server_info", hr_api_gocd_server_info, OWN_TOKEN, JSON},
        {"GET", "/api/v1/gocd/server-info", "api_server_info", get_server_info, API_TOKEN, 0},
        /* Jenkins' Job Status plugin sends a GET's pairs in the query, and
         * its POST, PUT and DELETE as application/json; take_body checks
         * the type after the Notification plugin's XML (jenkins.c). */
        {"GET", "/jenkins/job-status", "jenkins_job_status", hr_api_jenkins_job_status, OWN_TOKEN,
         0},
        {"POST", "/jenkins/job-status", "jenkins_job_status", hr_api_jenkins_job_status, OWN_TOKEN,
         0},
        {"PUT", "/jenkins/job-status", "jenkins_job_status", hr_api_jenkins_job_status, OWN_TOKEN,
         0},
        {"DELETE", "/jenkins/job-status", "jenkins_job_status", hr_api_jenkins_job_status,
         OWN_TOKEN, 0},
        {"POST", "/jenkins/notification", "jenkins_notification", hr_api_jenkins_notification,
         OWN_TOKEN, 0},
        {"POST", "/ci/notify", "ci_notify", hr_api_ci_notify, OWN_TOKEN, 0},
        {"GET", "/api/v1/jobs", "api_jobs", hr_api_list_jobs, API_TOKEN, 0},
        {"GET", "/api/v1/targets/health", "api_targets_health", targets_health, API_TOKEN, 0},
        {"GET", "/api/v1/targets", "api_targets", hr_api_list_targets, API_TOKEN, 0},
        {"GET", "/api/v1/targets/*", "api_target", hr_api_get_target, API_TOKEN, 0},
        {"POST", "/api/v1/targets/*", "api_target_action", hr_api_target_action, API_WRITE, JSON},
        {"GET", "/ui", "ui", hr_api_ui, PAGE, 0},
        {"GET", "/ui/", "ui", hr_api_ui, PAGE, 0},
        {"GET", "/ui/*", "ui", hr_api_ui, PAGE, 0},
        {"GET", "/api/v1/packages", "api_packages", hr_api_list_packages, API_TOKEN, 0},
        {"GET", "/api/v1/packages/*", "api_package_revisions", hr_api_packages, API_TOKEN, 0},
        /* Publishing keeps its own rule: the package's publish token from
         * the config, else herald's API token (packages.c). */
        {"POST", "/api/v1/packages/*", "api_package_publish", hr_api_packages, OWN_TOKEN, JSON},
        {"POST", "/gocd/package-repository/*", "gocd_package_repository",
         hr_api_gocd_package_repository, OWN_TOKEN, JSON},
    };
    size_t n = sizeof(all) / sizeof(all[0]);

    _Static_assert(sizeof(all) / sizeof(all[0]) <= HR_API_MAX_ROUTES,
                   "api->guards needs room for every route");
    if (n > max)
        n = max;
    /* Every route goes through guarded(): the browser rules hold for all
     * but the dashboard's files. */
    for (size_t i = 0; i < n; i++) {
        hr_http_route *r = &routes[i];
        r->method = all[i].method;
        r->path = all[i].path;
        r->label = all[i].label;
        api->guards[i] = (hr_api__guard){
            .api = api, .fn = all[i].fn, .access = all[i].access, .json_body = all[i].json_body};
        r->fn = guarded;
        r->ctx = &api->guards[i];
    }
    return n;
}
