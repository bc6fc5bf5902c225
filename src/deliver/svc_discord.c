/*
 * svc_discord.c - Discord webhooks: one embed with the result's colour,
 * the title linking to the run and the facts as inline fields. The URL
 * gets ?wait=true, so Discord answers 200 with the message it created
 * (not 204) and an error is an error; the message's id in that answer is
 * kept (remember), and with edit: true the run's later events edit that
 * message in place (PATCH .../messages/{id}). Only the committers people:
 * maps to a Discord user are pinged (their <@id> in content, their ids
 * alone in allowed_mentions.users): nothing an event carries can ping
 * anyone else.
 *
 * Discord's limits are kept: a title of 256 characters, a description of
 * 4,096, field names of
 * 256, values of 1,024 (message.h cuts them at 1,000 bytes), 25 fields.
 *
 * Answers: 200 or 204 delivers. 429 waits for the body's retry_after
 * (seconds, with a fraction), else Retry-After, else
 * X-RateLimit-Reset-After. An error's {"message", "code"} goes into the
 * attempt's error ("HTTP 404: Unknown Webhook (code 10015)").
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISCORD_MAX_TITLE 256
#define DISCORD_MAX_FIELDS 25
#define DISCORD_MAX_DESCRIPTION 4096
#define DISCORD_MAX_VALUE 1024
#define DISCORD_MAX_CONTENT 2000

/* s cut to at most max bytes on a UTF-8 boundary (new). */
static char *cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return hr_strdup(s);
    while (n > 0 && (n > max || ((unsigned char)s[n] & 0xC0) == 0x80))
        n--;
    return hr_strndup(s, n);
}

/* A person people: maps to a Discord user id is mentioned: <@id>. */
static char *mention(const hr_person *p)
{
    return p->discord != NULL ? hr_msg_fmt("<@%s>", p->discord) : NULL;
}

static char *plain(const char *name)
{
    return hr_strdup(name);
}

/* The content that pings the committers people: maps to a Discord user,
 * and those users' ids in users (allowed_mentions lets only them be
 * pinged). NULL when there are none. */
static char *pings(const hr_svc_context *ctx, const hr_message *m, json_t *users)
{
    char *content = NULL;
    for (size_t i = 0; i < m->ncommitters; i++) {
        const hr_person *p = hr_people_find(ctx->people, ctx->npeople, &m->committers[i]);
        if (p == NULL || p->discord == NULL)
            continue;
        char *more = content != NULL ? hr_msg_fmt("%s <@%s>", content, p->discord)
                                     : hr_msg_fmt("<@%s>", p->discord);
        free(content);
        content = more;
        if (strlen(content) > DISCORD_MAX_CONTENT) {
            /* Never past Discord's limit: the last ping is left out. */
            content[strlen(content) - strlen(p->discord) - 4] = '\0';
            break;
        }
        json_array_append_new(users, json_string(p->discord));
    }
    return content;
}

/* Whether id is a snowflake (digits only): it goes into the URL. */
static bool snowflake(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) <= 20 &&
           strspn(id, "0123456789") == strlen(id);
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    json_t *fields = json_array(), *users = json_array();
    char *title = cut(m->title, DISCORD_MAX_TITLE);
    char *content = pings(ctx, m, users);

    for (size_t i = 0; i < m->nfacts && i < DISCORD_MAX_FIELDS; i++) {
        char *who =
            (int)i == m->committers_fact ? hr__svc_committers(ctx, m, mention, plain) : NULL;
        char *value = cut(who != NULL ? who : m->facts[i].value, DISCORD_MAX_VALUE);
        json_array_append_new(fields, json_pack("{s:s,s:s,s:b}", "name", m->facts[i].label, "value",
                                                value, "inline", 1));
        free(value);
        free(who);
    }
    json_t *embed =
        json_pack("{s:s,s:I,s:o,s:{s:s}}", "title", title, "color",
                  (json_int_t)hr_tone_rgb(m->tone), "fields", fields, "footer", "text", "herald");
    free(title);
    if (m->url != NULL)
        json_object_set_new(embed, "url", json_string(m->url));
    if (m->text != NULL) {
        char *text = cut(m->text, DISCORD_MAX_DESCRIPTION);
        json_object_set_new(embed, "description", json_string(text));
        free(text);
    }
    if (m->timestamp != NULL)
        json_object_set_new(embed, "timestamp", json_string(m->timestamp));
    json_t *body = json_pack("{s:[o],s:{s:[]}}", "embeds", embed, "allowed_mentions", "parse");
    if (json_array_size(users) > 0)
        json_object_set_new(json_object_get(body, "allowed_mentions"), "users", users);
    else
        json_decref(users);
    if (content != NULL)
        json_object_set_new(body, "content", json_string(content));
    free(content);
    if (t->username != NULL)
        json_object_set_new(body, "username", json_string(t->username));
    if (t->icon_url != NULL)
        json_object_set_new(body, "avatar_url", json_string(t->icon_url));
    const char *id = t->edit ? hr__svc_ref(ctx->run_ref, "id") : NULL;
    if (!snowflake(id))
        id = NULL;
    req->url = hr__svc_url(t, strstr(t->url, "wait=") != NULL ? NULL : "wait=true");
    req->method = "POST";
    if (id != NULL) {
        /* The webhook's message: /messages/{id} after the webhook's path,
         * before its query (PATCH answers 200 with the message). */
        char *url = req->url;
        size_t path = strcspn(url, "?");
        req->url = hr_msg_fmt("%.*s/messages/%s%s", (int)path, url, id, url + path);
        req->method = "PATCH";
        free(url);
    }
    hr__svc_json_body(req, body);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);
    const char *message = json_string_value(json_object_get(j, "message"));
    json_t *code = json_object_get(j, "code");
    double after = json_number_value(json_object_get(j, "retry_after"));

    if (message != NULL) {
        char *both = json_is_integer(code) ? hr_msg_fmt("%s (code %lld)", message,
                                                        (long long)json_integer_value(code))
                                           : hr_strdup(message);
        hr__svc_reason(both, strlen(both), reason, sizeof(reason));
        free(both);
    }
    hr__svc_classify_http(a, reason, v);
    if (a->status == 429) {
        if (after > 0 && after < 86400)
            v->wait_ms = (int64_t)(after * 1000.0 + 0.999);
        else if (a->retry_after_ms >= 0)
            v->wait_ms = a->retry_after_ms;
        else
            v->wait_ms = a->reset_after_ms;
    }
    json_decref(j);
}

/* With ?wait=true Discord answers with the message it made: its "id"
 * (a snowflake, as a string) and "channel_id". */
static json_t *remember(const hr_svc_answer *a, const json_t *sent)
{
    json_t *j = hr__svc_answer_json(a), *ref = NULL;
    const char *id = hr__svc_ref(j, "id"), *channel = hr__svc_ref(j, "channel_id");

    (void)sent;
    if (snowflake(id)) {
        ref = json_pack("{s:s}", "id", id);
        if (channel != NULL)
            json_object_set_new(ref, "channel_id", json_string(channel));
    }
    json_decref(j);
    return ref;
}

static bool keeps_run(const hr_target *t)
{
    return t->edit;
}

const hr_service hr_svc_discord = {"discord", render, classify, remember, keeps_run};
