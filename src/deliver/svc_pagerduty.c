/*
 * svc_pagerduty.c - PagerDuty Events API v2: POST {api}/v2/enqueue with
 * the token as routing_key (an integration's key; it is in the body, as
 * PagerDuty wants, never in a header).
 *
 * A build that failed, broke or is still failing triggers an incident;
 * one that is fixed resolves it. Both carry dedup_key: the target's
 * dedup_key template, by default one per GoCD pipeline and stage or per
 * CI job, so every failure of one stage lands in one incident and the fix
 * resolves that one. Any other transition (building, passed, cancelled)
 * is skipped: it neither opens nor closes an incident. The trigger's
 * payload: summary (the target's template, else the title, at most 1,024
 * characters), source (the CI), severity (the target's, default error),
 * component (the pipeline/stage or job), the time, and a link to the run.
 *
 * Answers: 202 delivers. 400 is final, with PagerDuty's message and
 * errors. 429 waits (Retry-After, else the engine's backoff); 5xx retries.
 */
#include "deliver/status.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGERDUTY_API "https://events.pagerduty.com"
#define PAGERDUTY_MAX_SUMMARY 1024

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* trigger, resolve, or NULL (the transition is not for PagerDuty). */
static const char *action_of(const char *transition)
{
    static const char *const trigger[] = {"failed", "broken", "still_failing"};
    for (size_t i = 0; transition != NULL && i < sizeof(trigger) / sizeof(trigger[0]); i++)
        if (strcmp(transition, trigger[i]) == 0)
            return "trigger";
    return transition != NULL && strcmp(transition, "fixed") == 0 ? "resolve" : NULL;
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    const json_t *ev = ctx->event;
    const char *transition = str_of(ev, "transition"), *action = action_of(transition);
    char *dedup = NULL, *summary = NULL, *api = NULL;
    json_t *body;
    int rc = HR_OK;

    if (action == NULL) {
        req->skip = hr_msg_fmt("PagerDuty hears of failed, broken, still failing and fixed builds, "
                               "not %.40s",
                               transition != NULL ? m->word : "an event with no transition");
        return HR_OK;
    }
    rc =
        hr__status_render("dedup_key", t->context != NULL ? t->context : "herald", ev, &dedup, err);
    if (rc == HR_OK && t->summary != NULL)
        rc = hr__status_render("summary", t->summary, ev, &summary, err);
    if (rc != HR_OK)
        goto out;
    body = json_pack("{s:s,s:s,s:s}", "routing_key", t->token, "event_action", action, "dedup_key",
                     dedup);
    if (strcmp(action, "trigger") == 0) {
        const char *source = str_of(ev, "source");
        const json_t *sum = json_object_get(ev, "summary");
        if (summary == NULL)
            summary = hr_strdup(m->title);
        summary = hr_msg_cut(summary, PAGERDUTY_MAX_SUMMARY);
        json_t *payload = json_pack("{s:s,s:s,s:s}", "summary", summary, "source",
                                    source != NULL ? source : "herald", "severity",
                                    t->severity != NULL ? t->severity : "error");
        if (str_of(sum, "name") != NULL)
            json_object_set_new(payload, "component", json_string(str_of(sum, "name")));
        if (m->timestamp != NULL)
            json_object_set_new(payload, "timestamp", json_string(m->timestamp));
        json_object_set_new(
            payload, "custom_details",
            json_pack("{s:s,s:s?}", "transition", m->word, "number", str_of(sum, "number")));
        json_object_set_new(body, "payload", payload);
        if (m->url != NULL)
            json_object_set_new(body, "links",
                                json_pack("[{s:s,s:s}]", "href", m->url, "text", "the run"));
    }
    api = hr__status_api(t, PAGERDUTY_API);
    req->url = hr_msg_fmt("%s/v2/enqueue", api);
    req->method = "POST";
    hr__svc_json_body(req, body);
out:
    free(api);
    free(dedup);
    free(summary);
    return rc;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);
    const json_t *errors = json_object_get(j, "errors");
    const char *message = str_of(j, "message");

    if (j != NULL) {
        char *all = hr_strdup(message != NULL ? message : "");
        size_t i;
        const json_t *e;
        json_array_foreach(errors, i, e)
        {
            if (!json_is_string(e))
                continue;
            char *more = hr_msg_fmt("%s%s%s", all, all[0] ? ": " : "", json_string_value(e));
            free(all);
            all = more;
        }
        hr__svc_reason(all, strlen(all), reason, sizeof(reason));
        free(all);
    } else {
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
    }
    hr__svc_classify_http(a, reason, v);
    json_decref(j);
}

const hr_service hr_svc_pagerduty = {"pagerduty", render, classify, NULL, NULL};
