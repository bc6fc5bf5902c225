/*
 * svc_mattermost.c - Mattermost incoming webhooks (Slack-compatible): one
 * attachment with the result's colour, the title linking to the run and
 * the facts as short fields; channel, username and icon_url when the
 * target sets them (Mattermost lets a webhook override them unless its
 * admin forbids it).
 *
 * Answers: 200 "ok" delivers. An error answers with Mattermost's
 * {"id", "message", "status_code"}: its message goes into the attempt's
 * error. 429 waits for Retry-After; 5xx retries; any other 4xx is final.
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* A person people: maps to a Mattermost user name is mentioned: @jane. */
static char *mention(const hr_person *p)
{
    return p->mattermost != NULL ? hr_msg_fmt("@%s", p->mattermost) : NULL;
}

static char *plain(const char *name)
{
    return hr_strdup(name);
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    json_t *fields = json_array();

    for (size_t i = 0; i < m->nfacts; i++) {
        char *who =
            (int)i == m->committers_fact ? hr__svc_committers(ctx, m, mention, plain) : NULL;
        json_array_append_new(fields,
                              json_pack("{s:s,s:s,s:b}", "title", m->facts[i].label, "value",
                                        who != NULL ? who : m->facts[i].value, "short", 1));
        free(who);
    }
    json_t *att =
        json_pack("{s:s,s:s,s:s,s:o,s:s}", "fallback", m->title, "color", hr_tone_hex(m->tone),
                  "title", m->title, "fields", fields, "footer", "herald");
    if (m->url != NULL)
        json_object_set_new(att, "title_link", json_string(m->url));
    if (m->text != NULL)
        json_object_set_new(att, "text", json_string(m->text));
    json_t *body = json_pack("{s:[o]}", "attachments", att);
    if (t->channel != NULL)
        json_object_set_new(body, "channel", json_string(t->channel));
    if (t->username != NULL)
        json_object_set_new(body, "username", json_string(t->username));
    if (t->icon_url != NULL)
        json_object_set_new(body, "icon_url", json_string(t->icon_url));
    req->url = hr__svc_url(t, NULL);
    req->method = "POST";
    hr__svc_json_body(req, body);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);
    const char *message = json_string_value(json_object_get(j, "message"));

    if (message != NULL)
        hr__svc_reason(message, strlen(message), reason, sizeof(reason));
    else if (j == NULL)
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
    hr__svc_classify_http(a, reason, v);
    json_decref(j);
}

const hr_service hr_svc_mattermost = {"mattermost", render, classify, NULL, NULL};
