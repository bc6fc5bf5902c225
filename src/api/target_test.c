/*
 * target_test.c - POST /api/v1/targets/<name>/test (api/targets.c routes
 * it): stores a test event (source "herald", kind "test") with one
 * delivery, to this target alone, and answers its ids.
 */
#include "api/targets.h"

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
void hr_api__target_test(hr_api *api, hr_http_req *req, const char *target)
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
