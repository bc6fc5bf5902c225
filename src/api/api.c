#include "api/api.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/gocd_settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void healthz(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_http_reply_json(req, 200,
                       json_pack("{s:s,s:s,s:I}", "status", "ok", "version", api->version,
                                 "store_queue", (json_int_t)hr_store_queue_depth(api->store)));
}

static void metrics(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_metrics_queue_depth(hr_store_queue_depth(api->store));
    char *text = hr_metrics_render();
    hr_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

/* Parses a positive decimal integer query parameter; answers 400 naming it
 * and returns -1 when it is malformed. */
static int query_int(hr_http_req *req, const char *name, long long lo, long long hi,
                     long long *out)
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

static void reply_store_error(hr_http_req *req, int rc, const hr_error *err)
{
    hr_http_reply_error(req, rc == HR_ENOTFOUND ? 404 : rc == HR_EINVAL ? 400 : 500, err->msg);
}

static void list_events(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    hr_event_query q = {0};
    long long limit = HR_DEFAULT_API_PAGE, cursor = 0;
    json_t *events = NULL;
    int64_t next = 0;
    hr_error err;
    int rc;

    if (query_int(req, "limit", 1, HR_MAX_API_PAGE, &limit) < 0 ||
        query_int(req, "cursor", 1, INT64_MAX, &cursor) < 0)
        return;
    q.source = hr_http_query(req, "source");
    q.kind = hr_http_query(req, "kind");
    q.pipeline = hr_http_query(req, "pipeline");
    q.stage = hr_http_query(req, "stage");
    q.result = hr_http_query(req, "result");
    q.limit = (size_t)limit;
    q.before_id = cursor;
    rc = hr_store_list_events(api->store, &q, &events, &next, &err);
    if (rc != HR_OK) {
        reply_store_error(req, rc, &err);
        return;
    }
    json_t *out = json_pack("{s:o}", "events", events);
    if (next > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)next);
        json_object_set_new(out, "next_cursor", json_string(buf));
    } else {
        json_object_set_new(out, "next_cursor", json_null());
    }
    hr_http_reply_json(req, 200, out);
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

static void list_stages(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    json_t *stages = NULL;
    hr_error err;
    int rc = hr_store_list_stages(api->store, &stages, &err);
    if (rc != HR_OK)
        reply_store_error(req, rc, &err);
    else
        hr_http_reply_json(req, 200, json_pack("{s:o}", "stages", stages));
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

size_t hr_api_routes(hr_api *api, hr_http_route *routes, size_t max)
{
    const hr_http_route all[] = {
        {"POST", "/gocd/notification/*", "gocd_notification", hr_api_gocd_notification, api},
        {"GET", "/healthz", "healthz", healthz, api},
        {"GET", "/metrics", "metrics", metrics, api},
        {"GET", "/api/v1/events", "api_events", list_events, api},
        {"GET", "/api/v1/events/*", "api_event", get_event, api},
        {"GET", "/api/v1/stages", "api_stages", list_stages, api},
        {"GET", "/api/v1/settings", "api_settings", get_settings, api},
    };
    size_t n = sizeof(all) / sizeof(all[0]);
    if (n > max)
        n = max;
    memcpy(routes, all, n * sizeof(all[0]));
    return n;
}
