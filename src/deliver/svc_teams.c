/*
 * svc_teams.c - Microsoft Teams through a Workflows (Power Automate)
 * webhook. The retired Office 365 connector format (MessageCard) is not
 * sent: Workflows take a "message" whose attachments hold an Adaptive Card
 * (version 1.4, full width, named colours only), and a body without
 * attachments makes the flow fail.
 *
 * Answers: 200 or 202 delivers (202 only says the flow started; what fails
 * inside the flow is not reported back). An error answers with
 * {"error": {"code", "message"}}: its code and message go into the
 * attempt's error. 429 waits for Retry-After; 5xx retries; any other 4xx
 * is final.
 *
 * Mentions: a committer people: maps to a Teams user (their principal
 * name) is written <at>Name</at> in a TextBlock under the facts, with an
 * entity {type: mention, text, mentioned: {id, name}} in msteams.entities,
 * as Teams' Workflows cards take them.
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *colour(hr_tone t)
{
    switch (t) {
    case HR_TONE_GOOD:
        return "good";
    case HR_TONE_BAD:
        return "attention";
    case HR_TONE_WARN:
        return "warning";
    case HR_TONE_INFO:
        break;
    }
    return "accent";
}

/* The committers as a TextBlock's text, people: mapping to a Teams user
 * mentioned (<at>Name</at> in the text, and an entity naming the user
 * in *entities). NULL when nobody is mentioned: the fact says it then. */
static char *mentions(const hr_svc_context *ctx, const hr_message *m, json_t *entities)
{
    char *line = NULL;
    for (size_t i = 0; i < m->ncommitters; i++) {
        const hr_committer *c = &m->committers[i];
        const hr_person *p = hr_people_find(ctx->people, ctx->npeople, c);
        const char *name = hr_people_display(c, p);
        char *one =
            p != NULL && p->teams != NULL ? hr_msg_fmt("<at>%s</at>", name) : hr_strdup(name);
        if (p != NULL && p->teams != NULL)
            json_array_append_new(entities,
                                  json_pack("{s:s,s:s,s:{s:s,s:s}}", "type", "mention", "text", one,
                                            "mentioned", "id", p->teams, "name", name));
        char *more = line != NULL ? hr_msg_fmt("%s, %s", line, one) : hr_strdup(one);
        free(one);
        free(line);
        line = hr_msg_cut(more, HR_MSG_VALUE_MAX);
    }
    if (json_array_size(entities) > 0)
        return line;
    free(line);
    return NULL;
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    json_t *facts = json_array(), *body = json_array(), *entities = json_array();
    char *who = mentions(ctx, m, entities);

    json_array_append_new(body, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "type", "TextBlock", "text",
                                          m->title, "size", "Medium", "weight", "Bolder", "color",
                                          colour(m->tone), "wrap", 1));
    if (m->text != NULL)
        json_array_append_new(
            body, json_pack("{s:s,s:s,s:b}", "type", "TextBlock", "text", m->text, "wrap", 1));
    for (size_t i = 0; i < m->nfacts; i++)
        if (who == NULL || (int)i != m->committers_fact)
            json_array_append_new(facts, json_pack("{s:s,s:s}", "title", m->facts[i].label, "value",
                                                   m->facts[i].value));
    if (json_array_size(facts) > 0)
        json_array_append_new(body, json_pack("{s:s,s:o}", "type", "FactSet", "facts", facts));
    else
        json_decref(facts);
    if (who != NULL) {
        char *text = hr_msg_fmt(
            "%s: %s", m->committers_fact >= 0 ? m->facts[m->committers_fact].label : "Committers",
            who);
        json_array_append_new(
            body, json_pack("{s:s,s:s,s:b}", "type", "TextBlock", "text", text, "wrap", 1));
        free(text);
        free(who);
    }
    json_t *card = json_pack("{s:s,s:s,s:s,s:o,s:{s:s}}", "type", "AdaptiveCard", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "version", "1.4",
                             "body", body, "msteams", "width", "Full");
    if (json_array_size(entities) > 0)
        json_object_set_new(json_object_get(card, "msteams"), "entities", entities);
    else
        json_decref(entities);
    if (m->url != NULL)
        json_object_set_new(card, "actions",
                            json_pack("[{s:s,s:s,s:s}]", "type", "Action.OpenUrl", "title",
                                      "Open the run", "url", m->url));
    json_t *msg =
        json_pack("{s:s,s:[{s:s,s:n,s:o}]}", "type", "message", "attachments", "contentType",
                  "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
    req->url = hr__svc_url(t, NULL);
    req->method = "POST";
    hr__svc_json_body(req, msg);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX];
    json_t *j = hr__svc_answer_json(a), *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));

    hr__svc_reason_pair(code, message, reason, sizeof(reason));
    hr__svc_classify_http(a, reason, v);
    json_decref(j);
}

const hr_service hr_svc_teams = {"teams", render, classify, NULL, NULL};
