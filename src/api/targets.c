/*
 * targets.c - the targets' health over HTTP: GET /api/v1/targets and
 * /api/v1/targets/<name> (each configured target with its health record),
 * POST /api/v1/targets/<name>/pause, /resume and /enable (an operator's
 * action, durable through the store's writer) and /test (target_test.c), the health lines of
 * /metrics, and GoCD's health messages for targets in trouble.
 *
 * The records are the store's (event/health.h); one read lists them all,
 * so every answer here costs one small query whatever the backlog.
 */
#include "api/targets.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_json(int64_t ms)
{
    char buf[40];
    return ms > 0 ? json_string(hr_time_format(ms, buf, sizeof(buf))) : json_null();
}

static json_t *text_json(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

static const hr_target_health *find(const hr_target_health *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].target, name) == 0)
            return &list[i];
    return NULL;
}

/* One target as the API shows it; t may be NULL (a record for a target the
 * configuration no longer names), h too (nothing recorded yet: healthy). */
static json_t *target_json(const hr_config *c, const hr_target *t, const char *name,
                           const hr_target_health *h)
{
    hr_target_health fresh;
    hr_circuit_settings cs;
    json_t *o;

    if (h == NULL) {
        hr_health_init(&fresh, name);
        h = &fresh;
    }
    hr_config_circuit(c, t, &cs);
    o = json_pack("{s:s,s:s,s:b,s:s,s:s,s:b,s:I}", "name", name, "type",
                  t != NULL ? hr_target_type_name(t->type) : "unknown", "configured", t != NULL,
                  "state", hr_health_shown(h), "circuit",
                  h->state == HR_HEALTH_OPEN ? "open" : "closed", "paused", h->paused,
                  "consecutive_failures", (json_int_t)h->consecutive_failures);
    json_object_set_new(o, "disabled", json_boolean(h->state == HR_HEALTH_DISABLED));
    json_object_set_new(o, "failing_since", time_json(h->failing_since));
    json_object_set_new(o, "last_success_at", time_json(h->last_success_at));
    json_object_set_new(o, "last_failure_at", time_json(h->last_failure_at));
    json_object_set_new(o, "opened_at", time_json(h->state == HR_HEALTH_OPEN ? h->opened_at : 0));
    json_object_set_new(o, "next_probe_at",
                        time_json(h->state == HR_HEALTH_OPEN ? h->next_probe_at : 0));
    json_object_set_new(o, "last_error", text_json(h->last_error));
    json_object_set_new(o, "disabled_reason",
                        h->state == HR_HEALTH_DISABLED ? text_json(h->disabled_reason)
                                                       : json_null());
    json_object_set_new(o, "policy",
                        json_pack("{s:i,s:I,s:I,s:I}", "failures", cs.failures, "probe_initial_ms",
                                  (json_int_t)cs.probe_initial_ms, "probe_max_ms",
                                  (json_int_t)cs.probe_max_ms, "disable_after_ms",
                                  (json_int_t)cs.disable_after_ms));
    return o;
}

static int read_all(hr_api *api, hr_http_req *req, hr_target_health **list, size_t *n)
{
    hr_error err;
    int rc = hr_store_list_health(api->store, list, n, &err);
    if (rc != HR_OK)
        hr_http_reply_error(req, 500, err.msg);
    return rc;
}

void hr_api_list_targets(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const hr_config *c;
    hr_target_health *list;
    size_t n;
    json_t *out;

    if (read_all(api, req, &list, &n) != HR_OK)
        return;
    hr_app_current(api->app, &c, NULL);
    out = json_array();
    for (size_t i = 0; i < c->ntargets; i++)
        json_array_append_new(out, target_json(c, &c->targets[i], c->targets[i].name,
                                               find(list, n, c->targets[i].name)));
    /* Records of targets no longer configured: their deliveries wait
     * until an operator drops them or the target comes back. */
    for (size_t i = 0; i < n; i++)
        if (hr_config_target(c, list[i].target) == NULL)
            json_array_append_new(out, target_json(c, NULL, list[i].target, &list[i]));
    free(list);
    hr_http_reply_json(req, 200, json_pack("{s:o}", "targets", out));
}

/* Answers 404 naming the target the configuration does not have. */
static void no_such_target(hr_http_req *req, const char *name)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "no target named \"%.100s\" in the configuration in use", name);
    hr_http_reply_error(req, 404, msg);
}

/* "<name>" or "<name>/<action>" from the path's rest; name is cut at the
 * slash (in place, in buf). */
static const char *split(const char *rest, char *buf, size_t size, const char **action)
{
    char *slash;
    if (snprintf(buf, size, "%s", rest) >= (int)size)
        return NULL;
    slash = strchr(buf, '/');
    *action = NULL;
    if (slash != NULL) {
        *slash = '\0';
        *action = slash + 1;
    }
    return buf[0] != '\0' ? buf : NULL;
}

void hr_api_get_target(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const hr_config *c;
    const hr_target *t;
    hr_target_health *list;
    const hr_target_health *h;
    const char *action;
    char buf[HR_HEALTH_TARGET_MAX];
    const char *name = split(hr_http_path_rest(req), buf, sizeof(buf), &action);
    size_t n;

    if (name == NULL || action != NULL) {
        hr_http_reply_error(req, 404, "no such target: GET /api/v1/targets/<name>");
        return;
    }
    if (read_all(api, req, &list, &n) != HR_OK)
        return;
    hr_app_current(api->app, &c, NULL);
    t = hr_config_target(c, name);
    h = find(list, n, name);
    if (t == NULL && h == NULL)
        no_such_target(req, name);
    else
        hr_http_reply_json(req, 200, target_json(c, t, name, h));
    free(list);
}

void hr_api_target_action(hr_http_req *req, void *ctx)
{
    static const struct {
        const char *name;
        hr_health_action act;
        bool test; /* a test event, not a health action */
    } actions[] = {{"pause", HR_ACTION_PAUSE, false},
                   {"resume", HR_ACTION_RESUME, false},
                   {"enable", HR_ACTION_ENABLE, false},
                   {"test", HR_ACTION_PAUSE, true}};
    hr_api *api = ctx;
    const hr_config *c;
    const char *action;
    char buf[HR_HEALTH_TARGET_MAX];
    const char *name = split(hr_http_path_rest(req), buf, sizeof(buf), &action);
    hr_target_health h;
    hr_error err;
    int rc;

    for (size_t i = 0; name != NULL && action != NULL && i < sizeof(actions) / sizeof(actions[0]);
         i++) {
        if (strcmp(action, actions[i].name) != 0)
            continue;
        hr_app_current(api->app, &c, NULL);
        if (hr_config_target(c, name) == NULL) {
            no_such_target(req, name);
            return;
        }
        if (actions[i].test) {
            hr_api__target_test(api, req, name);
            return;
        }
        rc = hr_store_target_act(api->store, name, actions[i].act, &h, &err);
        if (rc != HR_OK) {
            hr_http_reply_error(req, rc == HR_ECLOSED || rc == HR_ETOOBIG ? 503 : 500, err.msg);
            return;
        }
        hr_app_wake(api->app);
        hr_http_reply_json(req, 200, target_json(c, hr_config_target(c, name), name, &h));
        return;
    }
    hr_http_reply_error(req, 404,
                        "expected POST /api/v1/targets/<name>/pause, /resume, /enable or /test");
}

/* Appends to buf (grown as needed). */
static void appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (w < 0)
            return;
        if ((size_t)w < *cap - *len) {
            *len += (size_t)w;
            return;
        }
        *cap = *cap * 2 + (size_t)w;
        *buf = hr_realloc(*buf, *cap);
    }
}

char *hr_api_health_metrics(hr_api *api)
{
    static const char *const states[] = {"healthy", "failing", "open", "paused", "disabled"};
    const hr_config *c;
    hr_target_health *list = NULL;
    size_t n = 0, len = 0, cap = 1024;
    char *buf = hr_malloc(cap);
    hr_error err;

    buf[0] = '\0';
    if (hr_store_list_health(api->store, &list, &n, &err) != HR_OK)
        return buf;
    hr_app_current(api->app, &c, NULL);
    appendf(&buf, &len, &cap,
            "# HELP herald_target_state A target's health: 1 for its state, 0 for the others.\n"
            "# TYPE herald_target_state gauge\n");
    for (size_t i = 0; i < c->ntargets; i++) {
        const hr_target_health *h = find(list, n, c->targets[i].name);
        const char *shown = h != NULL ? hr_health_shown(h) : "healthy";
        for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++)
            appendf(&buf, &len, &cap, "herald_target_state{target=\"%s\",state=\"%s\"} %d\n",
                    c->targets[i].name, states[k], strcmp(shown, states[k]) == 0);
    }
    appendf(&buf, &len, &cap,
            "# HELP herald_target_consecutive_failures Failed attempts in a row, per target.\n"
            "# TYPE herald_target_consecutive_failures gauge\n");
    for (size_t i = 0; i < c->ntargets; i++) {
        const hr_target_health *h = find(list, n, c->targets[i].name);
        appendf(&buf, &len, &cap, "herald_target_consecutive_failures{target=\"%s\"} %lld\n",
                c->targets[i].name, h != NULL ? (long long)h->consecutive_failures : 0LL);
    }
    free(list);
    return buf;
}

void hr_api_health_gocd_messages(hr_api *api, json_t *out)
{
    hr_target_health *list = NULL;
    size_t n = 0;
    hr_error err;
    char msg[768];

    if (hr_store_list_health(api->store, &list, &n, &err) != HR_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        const hr_target_health *h = &list[i];
        const char *type = "error";
        if (h->state == HR_HEALTH_DISABLED) {
            snprintf(msg, sizeof(msg),
                     "herald: target %s is disabled (%.300s); its notifications are held until "
                     "`herald target enable %s`",
                     h->target, h->disabled_reason, h->target);
        } else if (h->paused) {
            type = "warning";
            snprintf(msg, sizeof(msg),
                     "herald: target %s is paused; its notifications are held until `herald "
                     "target resume %s`",
                     h->target, h->target);
        } else if (h->state == HR_HEALTH_OPEN) {
            snprintf(msg, sizeof(msg),
                     "herald: target %s is down (%lld failures in a row; last error: %.300s); "
                     "its notifications are held and herald probes it now and then",
                     h->target, (long long)h->consecutive_failures, h->last_error);
        } else {
            continue;
        }
        json_array_append_new(out, json_pack("{s:s,s:s}", "type", type, "message", msg));
    }
    free(list);
}
