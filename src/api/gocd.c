/*
 * gocd.c - POST /gocd/notification/<request-name>: GoCD's notification
 * extension over HTTP.
 *
 * The reply's status and body are exactly what the plugin returns to GoCD.
 * GoCD treats any status but 200 as "the plugin sent a response that could
 * not be understood" and drops the body, so an event herald cannot take
 * (not JSON, or nothing that identifies it) is answered 200 with
 * {"status":"failure","messages":[...]}: GoCD shows those messages to its
 * operator. GoCD never sends a notification again, so everything else is
 * stored, and what looked wrong is the event's warnings: logged, counted in
 * /metrics and shown by the API. A store that cannot write is
 * answered 503 with the same body, so the bridge plugin spools and retries.
 * An X-Herald-Request-Id used before with another body is answered 200
 * with a failure, which GoCD shows and the bridge does not retry.
 *
 * The plugin settings hold a target and its templates: changing them needs
 * the GoCD token, and a herald without one refuses (validation says so on
 * GoCD's settings page) unless started with --insecure-local.
 */
#include "api/api.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "ingest/gocd_notification.h"
#include "ingest/gocd_settings.h"
#include "route/config.h"
#include "route/jq.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *failure(json_t *messages)
{
    return json_pack("{s:s,s:o}", "status", "failure", "messages", messages);
}

static json_t *failure1(const char *message)
{
    return failure(json_pack("[s]", message));
}

/* Logs (one WARN line, every untrusted byte escaped by the JSON encoding)
 * and counts what looked wrong in a stored event. */
static void report_warnings(const hr_event *ev, const char *kind)
{
    size_t n = hr_errlist_count(&ev->warnings);
    json_t *list;
    char *text;

    if (n == 0)
        return;
    hr_metrics_ingest_warnings(HR_SOURCE_GOCD, n);
    list = hr_errlist_to_json(&ev->warnings);
    text = json_dumps(list, JSON_COMPACT | JSON_ENSURE_ASCII);
    hr_log_warn("gocd", "%s event %lld stored with %zu warning%s: %s", kind, (long long)ev->id, n,
                n == 1 ? "" : "s", text != NULL ? text : "[]");
    free(text);
    json_decref(list);
}

/* GoCD's answer to a stored notification, the same bytes every time. */
static const char SUCCESS[] = "{\"status\":\"success\"}";

/* The answer to a stored notification (on an HTTP thread). */
static void answer_stored(hr_api_pending *p)
{
    if (p->status == HR_OK) {
        if (p->ev->repeat)
            hr_log_info("gocd", "%s request %s was stored before as event %lld; not stored again",
                        p->kind, p->ev->request_id, (long long)p->ev->id);
        else
            report_warnings(p->ev, p->kind);
        hr_metrics_event(p->kind, true);
        hr_http_reply(p->req, 200, "application/json", SUCCESS, sizeof(SUCCESS) - 1);
    } else if (p->status == HR_ECONFLICT) {
        /* GoCD reads only a 200's body: a failure it shows, which the
         * bridge does not retry. */
        hr_metrics_event(p->kind, false);
        hr_log_info("gocd", "refused %s request %s: %s", p->kind, p->ev->request_id, p->err.msg);
        hr_http_reply_json(p->req, 200, failure1(p->err.msg));
    } else {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the event: %s", p->err.msg);
        hr_metrics_event(p->kind, false);
        hr_http_reply_json(p->req, 503, failure1(msg));
    }
}

/* Validates and maps an event body, then hands it to the store; the store's
 * completion answers. kind is one of the static HR_KIND_* strings. */
static void accept_event(hr_api *api, hr_http_req *req, const char *kind, int version)
{
    size_t len;
    const char *body = hr_http_body(req, &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    hr_error err;
    int rc;

    if (strcmp(kind, HR_KIND_STAGE_STATUS) == 0)
        rc = hr_gocd_stage_status(body, len, version, &ev, &errs);
    else
        rc = hr_gocd_agent_status(body, len, version, &ev, &errs);
    if (rc != HR_OK) {
        hr_metrics_event(kind, false);
        hr_log_info("gocd", "rejected %s (version %d.0): %s%s", kind, version,
                    errs.n ? errs.msgs[0] : "invalid",
                    hr_errlist_count(&errs) > 1 ? " (and more)" : "");
        hr_http_reply_json(req, 200, failure(hr_errlist_to_json(&errs)));
        hr_errlist_clear(&errs);
        return;
    }
    const char *why = NULL;
    if (hr_api_request_id(req, ev, &why) != HR_OK) {
        hr_metrics_event(kind, false);
        hr_http_reply_json(req, 200, failure1(why));
        hr_event_free(ev);
        return;
    }
    ev->doc_from_raw = true; /* the mapper's event, as it made it */
    hr_api_pending *p = hr_api_pending_new(req, ev, kind, answer_stored);
    rc = hr_store_submit(api->store, ev, hr_api_stored, p, &err);
    if (rc != HR_OK) {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the event: %s", err.msg);
        hr_metrics_event(kind, false);
        hr_log_warn("gocd", "%s", msg);
        hr_http_reply_json(req, 503, failure1(msg));
        hr_event_free(ev);
        free(p);
    }
}

/* Adds to out (the settings page's answer) each of extra's entries whose
 * key out does not name yet: one message per field. */
static void merge_problems(json_t *out, const json_t *extra)
{
    size_t i, j;
    json_t *e, *o;

    json_array_foreach(extra, i, e)
    {
        const char *key = json_string_value(json_object_get(e, "key"));
        bool named = false;
        json_array_foreach(out, j, o)
        {
            const char *k = json_string_value(json_object_get(o, "key"));
            named = named || (k != NULL && key != NULL && strcmp(k, key) == 0);
        }
        if (!named)
            json_array_append(out, e);
    }
}

/* The plugin settings define a target and its templates, so changing them
 * needs the GoCD token; a herald without one refuses, unless started with
 * --insecure-local. When refused, why says so. */
static int settings_may_change(hr_api *api, hr_http_req *req, char *why, size_t size)
{
    if (api->gocd_token != NULL)
        return 1; /* hr_api_gocd_authorized checked it */
    return hr_api_open_write(api, req, "GoCD token (--gocd-token-file or HERALD_GOCD_TOKEN)",
                             "changes to GoCD's plugin settings", why, size);
}

/* One setting's value in a validate request (borrowed), or NULL. */
static const char *setting_value(const json_t *root, const char *key)
{
    const json_t *ps = json_object_get(root, "plugin-settings");
    return json_string_value(json_object_get(json_object_get(ps, key), "value"));
}

/* Adds GoCD's {key, message} to problems. */
static void add_problem(json_t *problems, const char *key, const char *fmt, const char *what)
{
    char msg[HR_ERROR_MSG_MAX + 96];
    json_t *m;

    snprintf(msg, sizeof(msg), fmt, what);
    m = json_string(msg);
    json_array_append_new(problems, json_pack("{s:s,s:o}", "key", key, "message",
                                              m != NULL ? m : json_string("invalid value")));
}

/* The body program and the URL template are compiled and tried once on an
 * empty event, as a config file's are, so GoCD refuses on the settings
 * page what would fail every delivery (the ingest module, which checks
 * the rest, has no jq). Header values are secret: not tried here. */
static void check_programs(const char *body, size_t len, json_t *problems)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *program = setting_value(root, "webhook_body"),
               *url = setting_value(root, "webhook_url");
    hr_template *t = NULL;
    hr_jq *q = NULL;
    hr_error err;

    if (program != NULL && program[0] != '\0') {
        if (hr_jq_compile(program, &q, &err) != HR_OK)
            add_problem(problems, "webhook_body", "jq program does not compile: %s", err.msg);
        else if (hr_jq_probe(q, &err) != HR_OK)
            add_problem(problems, "webhook_body",
                        "jq program does not stay within its budget on an empty event: %s",
                        err.msg);
    }
    if (url != NULL && strstr(url, "{{") != NULL && hr_template_compile(url, &t, &err) == HR_OK &&
        hr_template_probe(t, &err) != HR_OK)
        add_problem(problems, "webhook_url",
                    "template does not stay within its budget on an empty event: %s", err.msg);
    hr_jq_free(q);
    hr_template_free(t);
    json_decref(root);
}

static void settings_validate(hr_api *api, hr_http_req *req)
{
    size_t len;
    const char *body = hr_http_body(req, &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL, *values = NULL, *extra;
    char why[512];
    if (hr_gocd_settings_validate(body, len, &out, &values, &errs) != HR_OK) {
        hr_http_reply_json(req, 400, failure(hr_errlist_to_json(&errs)));
        hr_errlist_clear(&errs);
        return;
    }
    /* The page's answer must be the apply path's verdict: settings it
     * accepts and herald then refuses to apply would be lost at the next
     * reload. So the apply path checks them too (templates compile, ...). */
    extra = hr_config_check_gocd_settings(values);
    merge_problems(out, extra);
    json_decref(extra);
    json_decref(values);
    /* And the programs are tried once, within their budgets. */
    extra = json_array();
    check_programs(body, len, extra);
    merge_problems(out, extra);
    json_decref(extra);
    /* GoCD shows validation errors on its settings page and does not save:
     * the place to tell its administrator, once the values are right. */
    if (json_array_size(out) == 0 && !settings_may_change(api, req, why, sizeof(why)))
        json_array_append_new(out, json_pack("{s:s,s:s}", "key", "webhook_url", "message", why));
    hr_http_reply_json(req, 200, out);
}

static void settings_changed(hr_api *api, hr_http_req *req)
{
    size_t len;
    const char *body = hr_http_body(req, &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *settings = NULL;
    hr_config *scratch;
    hr_error err;
    int rc;
    char why[512];
    if (!settings_may_change(api, req, why, sizeof(why))) {
        hr_log_warn("gocd", "plugin settings change refused: %s", why);
        hr_http_reply_json(req, 200, failure1(why));
        return;
    }
    if (hr_gocd_settings_changed(body, len, &settings, &errs) != HR_OK) {
        hr_http_reply_json(req, 400, failure(hr_errlist_to_json(&errs)));
        hr_errlist_clear(&errs);
        return;
    }
    /* Settings herald would refuse to apply are not stored: stored, they
     * would be refused again at every reload and start. GoCD asks
     * validate-configuration first, which runs the same checks, so only
     * other callers meet this. */
    scratch = hr_config_new_default();
    rc = hr_config_add_gocd_settings(scratch, settings, &errs);
    hr_config_free(scratch);
    if (rc != HR_OK) {
        hr_http_reply_json(req, 200, failure(hr_errlist_to_json(&errs)));
        hr_errlist_clear(&errs);
        json_decref(settings);
        return;
    }
    /* Rare (an operator saved the settings page): waiting for the commit
     * on this thread is fine. */
    if (hr_store_put_settings(api->store, settings, &err) != HR_OK) {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the settings: %s", err.msg);
        hr_http_reply_json(req, 503, failure1(msg));
    } else {
        hr_errlist problems = HR_ERRLIST_INIT;
        hr_log_info("gocd", "plugin settings changed (%zu keys)", json_object_size(settings));
        /* The settings define a target and route: use them from now on. */
        if (hr_app_reload(api->app, &problems) != HR_OK) {
            json_t *msgs = hr_errlist_to_json(&problems);
            hr_log_warn("gocd", "the new plugin settings are not used: %s",
                        problems.n ? problems.msgs[0] : "invalid");
            hr_errlist_clear(&problems);
            hr_http_reply_json(req, 200, failure(msgs));
        } else {
            hr_http_reply_json(req, 200, json_pack("{s:s}", "status", "success"));
        }
    }
    json_decref(settings);
}

static void not_in_version(hr_http_req *req, const char *name, int version, int since)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "%.100s is not a request of notification extension version %d.0 (it needs %d.0 or "
             "later)",
             name, version, since);
    hr_http_reply_error(req, 404, msg);
}

int hr_api_gocd_authorized(hr_api *api, hr_http_req *req)
{
    const char *auth = hr_http_header(req, "Authorization");
    size_t want, got;
    unsigned char diff = 0;
    if (api->gocd_token == NULL)
        return 1;
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0) {
        hr_http_reply_error(req, 401,
                            "this endpoint needs \"Authorization: Bearer <token>\" "
                            "with herald's GoCD token");
        return 0;
    }
    auth += 7;
    /* Constant time in the token's content: the comparison does not stop
     * at the first difference. */
    want = strlen(api->gocd_token);
    got = strlen(auth);
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned char)(api->gocd_token[i] ^ (i < got ? auth[i] : 0));
    if (diff != 0 || got != want) {
        hr_http_reply_error(req, 401, "the GoCD token is not right");
        return 0;
    }
    return 1;
}

void hr_api_gocd_server_info(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    size_t len;
    const char *body = hr_http_body(req, &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *info = NULL;
    if (!hr_api_gocd_authorized(api, req))
        return;
    if (hr_json_load_object(body, len, &errs, &info) != HR_OK) {
        hr_http_reply_json(req, 400, failure(hr_errlist_to_json(&errs)));
        hr_errlist_clear(&errs);
        return;
    }
    const char *site = json_string_value(json_object_get(info, "site_url"));
    hr_log_info("gocd", "GoCD server %s at %s",
                json_string_value(json_object_get(info, "server_id"))
                    ? json_string_value(json_object_get(info, "server_id"))
                    : "(no id)",
                site ? site : "(no site URL)");
    hr_app_set_gocd_info(api->app, info);
    pthread_mutex_lock(&api->info_lock);
    json_decref(api->server_info);
    api->server_info = info;
    pthread_mutex_unlock(&api->info_lock);
    hr_http_reply_json(req, 200, json_pack("{s:s}", "status", "success"));
}

void hr_api_gocd_notification(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const char *name = hr_http_path_rest(req);
    const char *vh = hr_http_header(req, "X-Go-Extension-Version");
    int version;

    if (!hr_api_gocd_authorized(api, req))
        return;
    if (hr_gocd_parse_version(vh, &version) != HR_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "X-Go-Extension-Version: expected one of 1.0, 2.0, 3.0, 4.0; got \"%.40s\"", vh);
        hr_http_reply_json(req, 400, failure1(msg));
        return;
    }
    if (strcmp(name, "notifications-interested-in") == 0) {
        json_t *n = version >= 3 ? json_pack("[ss]", HR_KIND_STAGE_STATUS, HR_KIND_AGENT_STATUS)
                                 : json_pack("[s]", HR_KIND_STAGE_STATUS);
        hr_http_reply_json(req, 200, json_pack("{s:o}", "notifications", n));
    } else if (strcmp(name, HR_KIND_STAGE_STATUS) == 0) {
        accept_event(api, req, HR_KIND_STAGE_STATUS, version);
    } else if (strcmp(name, HR_KIND_AGENT_STATUS) == 0) {
        if (version < 3)
            not_in_version(req, name, version, 3);
        else
            accept_event(api, req, HR_KIND_AGENT_STATUS, version);
    } else if (strcmp(name, "go.plugin-settings.get-configuration") == 0) {
        hr_http_reply_json(req, 200, hr_gocd_settings_configuration());
    } else if (strcmp(name, "go.plugin-settings.get-view") == 0) {
        hr_http_reply_json(req, 200, json_pack("{s:s}", "template", hr_gocd_settings_view()));
    } else if (strcmp(name, "go.plugin-settings.validate-configuration") == 0) {
        settings_validate(api, req);
    } else if (strcmp(name, "go.plugin-settings.plugin-settings-changed") == 0) {
        if (version < 3)
            not_in_version(req, name, version, 3);
        else
            settings_changed(api, req);
    } else {
        char msg[200];
        snprintf(msg, sizeof(msg), "unknown request name for the notification extension: %.100s",
                 name);
        hr_http_reply_error(req, 404, msg);
    }
}
