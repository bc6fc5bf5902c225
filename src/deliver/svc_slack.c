/*
 * svc_slack.c - Slack, both ways people connect it: an incoming webhook
 * (url), or a bot token with a channel, through the Web API's
 * chat.postMessage (Authorization: Bearer). With a bot, one pipeline run
 * is one message: the run's first event posts it, and the answer's
 * channel and ts are kept (remember); later events of the run edit it in
 * place with chat.update (building, then passed), or, with thread: true,
 * answer in its thread (chat.postMessage with thread_ts). An incoming
 * webhook answers only "ok": each event is a message of its own.
 *
 * The message: a text fallback (notifications, screen readers) and one
 * attachment holding Block Kit blocks, so the colour bar shows the result:
 * a title linking to the run, the facts as section fields, herald in the
 * context line. Slack's mrkdwn escapes only &, < and > (its own docs,
 * "Formatting text for app surfaces").
 *
 * Answers, as Slack documents them: 200 "ok" delivers; 400
 * invalid_payload, 403 invalid_token / action_prohibited, 404
 * channel_not_found / no_service and 410 channel_is_archived are final,
 * with Slack's word in the error; 429 waits for Retry-After; 5xx retries.
 * A 200 whose body is {"ok": false, "error": ...} (what Slack's Web API
 * answers) is a failure, not a success: final, except "ratelimited".
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_API "https://slack.com/api"

/* Slack's limits: ten fields in a section, 3,000 characters of text. */
#define SLACK_MAX_FIELDS 10

static char *mrkdwn(const char *s)
{
    return hr__svc_escape(s, false);
}

static json_t *mrkdwn_text(char *text)
{
    json_t *j = json_pack("{s:s,s:s}", "type", "mrkdwn", "text", text);
    free(text);
    return j;
}

/* A person people: maps to a Slack member id is mentioned: <@U0123>. */
static char *mention(const hr_person *p)
{
    return p->slack != NULL ? hr_msg_fmt("<@%s>", p->slack) : NULL;
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    json_t *blocks = json_array(), *fields = json_array();
    char *title = mrkdwn(m->title);
    char *link = m->url != NULL ? mrkdwn(m->url) : NULL;
    char *head = link != NULL ? hr_msg_fmt("*<%s|%s>*", link, title) : hr_msg_fmt("*%s*", title);

    json_array_append_new(blocks,
                          json_pack("{s:s,s:o}", "type", "section", "text", mrkdwn_text(head)));
    if (m->text != NULL && m->text[0] != '\0')
        json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "section", "text",
                                                mrkdwn_text(mrkdwn(m->text))));
    for (size_t i = 0; i < m->nfacts && i < SLACK_MAX_FIELDS; i++) {
        char *label = mrkdwn(m->facts[i].label), *value = NULL;
        if ((int)i == m->committers_fact)
            value = hr__svc_committers(ctx, m, mention, mrkdwn);
        if (value == NULL)
            value = mrkdwn(m->facts[i].value);
        json_array_append_new(fields, mrkdwn_text(hr_msg_fmt("*%s*\n%s", label, value)));
        free(label);
        free(value);
    }
    if (json_array_size(fields) > 0)
        json_array_append_new(blocks, json_pack("{s:s,s:o}", "type", "section", "fields", fields));
    else
        json_decref(fields);
    json_array_append_new(blocks, json_pack("{s:s,s:[o]}", "type", "context", "elements",
                                            mrkdwn_text(hr_msg_fmt("herald · %s", m->word))));
    json_t *body = json_pack("{s:s,s:[{s:s,s:s,s:o}]}", "text", title, "attachments", "color",
                             hr_tone_hex(m->tone), "fallback", title, "blocks", blocks);
    free(title);
    free(link);
    req->method = "POST";
    if (t->token != NULL) {
        /* A bot: chat.postMessage on Slack's Web API (or api_url's); the
         * run's later events edit its message, or answer in its thread. */
        const char *channel = hr__svc_ref(ctx->run_ref, "channel");
        const char *ts = hr__svc_ref(ctx->run_ref, "ts");
        hr_target api = *t;
        bool edit = channel != NULL && ts != NULL && !t->thread;
        api.url = edit ? SLACK_API "/chat.update" : SLACK_API "/chat.postMessage";
        json_object_set_new(body, "channel", json_string(channel != NULL ? channel : t->channel));
        if (ts != NULL && channel != NULL)
            json_object_set_new(body, edit ? "ts" : "thread_ts", json_string(ts));
        req->url = hr__svc_url(&api, NULL);
        req->authorization = hr_msg_fmt("Bearer %s", t->token);
        hr__svc_json_body(req, body);
        /* Without a charset Slack answers with a missing_charset warning. */
        free(req->content_type);
        req->content_type = hr_strdup("application/json; charset=utf-8");
        return HR_OK;
    }
    req->url = hr__svc_url(t, NULL);
    hr__svc_json_body(req, body);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX];
    json_t *j = hr__svc_answer_json(a);
    const char *error = json_string_value(json_object_get(j, "error"));

    if (json_is_false(json_object_get(j, "ok"))) {
        hr__svc_reason(error != NULL ? error : "", error != NULL ? strlen(error) : 0, reason,
                       sizeof(reason));
        hr_svc_answer as_error = *a;
        as_error.status = error != NULL && strcmp(error, "ratelimited") == 0 ? 429 : 400;
        hr__svc_classify_http(&as_error, reason, v);
        if (a->status >= 200 && a->status < 300)
            snprintf(v->error, sizeof(v->error), "HTTP %ld with \"ok\": false: %s", a->status,
                     reason);
    } else {
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
        hr__svc_classify_http(a, reason, v);
    }
    json_decref(j);
}

/* Slack's Web API answers {"ok": true, "channel": "C0..", "ts": "17..",
 * "message": {...}} for chat.postMessage and chat.update alike. */
static json_t *remember(const hr_svc_answer *a, const json_t *sent)
{
    json_t *j = hr__svc_answer_json(a), *ref = NULL;
    const char *channel = hr__svc_ref(j, "channel"), *ts = hr__svc_ref(j, "ts");

    (void)sent;
    if (json_is_true(json_object_get(j, "ok")) && channel != NULL && ts != NULL)
        ref = json_pack("{s:s,s:s}", "channel", channel, "ts", ts);
    json_decref(j);
    return ref;
}

static bool keeps_run(const hr_target *t)
{
    return t->token != NULL;
}

const hr_service hr_svc_slack = {"slack", render, classify, remember, keeps_run};
