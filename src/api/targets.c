/*
 * targets.c - actions on one target: POST /api/v1/targets/<name>/<action>.
 *
 *   test   stores a test event (source "herald", kind "test") with one
 *          delivery, to this target alone, and answers its ids
 *
 * The routes table (api.c) sends every POST under /api/v1/targets/ here
 * as an /api/v1 write (the API token, or --insecure-local); each action is
 * one row of the table below, so pause and resume join as rows of their
 * own.
 */
#include "api/api.h"

#include "core/log.h"
#include "core/mem.h"
#include "event/event.h"
#include "store/json.h"

#include <stdio.h>
#include <string.h>

/* Makes a test event for target and answers 201 {"event", "delivery",
 * "target"}. Clicking twice sends two tests: each is its own event; a
 * request sent again with the same X-Herald-Request-Id (herald target test
 * retrying) answers the first one's. */
static void send_test(hr_api *api, hr_http_req *req, const char *target)
{
    hr_event *ev = hr_event_new();
    hr_delivery_query q = {0};
    json_t *list = NULL, *out;
    int64_t next = 0;
    const char *why = NULL;
    hr_error err;

    if (hr_api_request_id(req, ev, &why) != HR_OK) {
        hr_http_reply_error(req, 400, why);
        goto out;
    }
    ev->source = hr_strdup(HR_SOURCE_HERALD);
    ev->kind = hr_strdup(HR_KIND_TEST);
    ev->test_target = hr_strdup(target);
    int rc = hr_store_put(api->store, ev, &err);
    if (rc != HR_OK) {
        hr_http_reply_error(req, rc == HR_ECLOSED ? 503 : 500, err.msg);
        goto out;
    }
    q.event_id = ev->id;
    q.limit = 1;
    rc = hr_store_list_deliveries(api->store, &q, &list, &next, &err);
    if (rc != HR_OK || json_array_size(list) != 1) {
        hr_http_reply_error(req, 500, rc != HR_OK ? err.msg : "the test's delivery is missing");
        goto out;
    }
    hr_log_info("api", "test event %lld for target %s", (long long)ev->id, target);
    out = json_pack("{s:I,s:O,s:s}", "event", (json_int_t)ev->id, "delivery",
                    json_object_get(json_array_get(list, 0), "id"), "target", target);
    hr_http_reply_json(req, 201, out);
out:
    json_decref(list);
    hr_event_free(ev);
}

/* What one action does to the target named name (it exists). */
typedef struct target_action {
    const char *name;
    void (*fn)(hr_api *api, hr_http_req *req, const char *target);
} target_action;

static const target_action actions[] = {
    {"test", send_test},
    /* pause and resume (endpoint health) go here. */
};

void hr_api_target_action(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const char *rest = hr_http_path_rest(req), *slash = strchr(rest, '/');
    const hr_config *cfg = NULL;
    char name[256], msg[400];
    size_t n = slash != NULL ? (size_t)(slash - rest) : 0;

    if (slash == NULL || n == 0 || n >= sizeof(name)) {
        hr_http_reply_error(req, 404, "no such endpoint (POST /api/v1/targets/NAME/test)");
        return;
    }
    memcpy(name, rest, n);
    name[n] = '\0';
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (strcmp(slash + 1, actions[i].name) != 0)
            continue;
        hr_app_current(api->app, &cfg, NULL);
        if (cfg == NULL || hr_config_target(cfg, name) == NULL) {
            snprintf(msg, sizeof(msg), "no target named \"%.100s\" in the configuration in use",
                     name);
            hr_http_reply_error(req, 404, msg);
            return;
        }
        actions[i].fn(api, req, name);
        return;
    }
    hr_http_reply_error(req, 404, "no such endpoint (POST /api/v1/targets/NAME/test)");
}
