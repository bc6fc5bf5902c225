/*
 * service.c - what the services share (service.h): the table of services
 * by type, HTTP's own meaning of an answer, the URL with api_url, and the
 * JSON helpers the renderers use.
 */
#include "deliver/service.h"

#include "core/mem.h"
#include "core/url.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const hr_service *hr_service_of(hr_target_type type)
{
    static const hr_service *const services[HR_TARGET_NTYPES] = {
        [HR_TARGET_WEBHOOK] = &hr_svc_webhook,       [HR_TARGET_SLACK] = &hr_svc_slack,
        [HR_TARGET_TEAMS] = &hr_svc_teams,           [HR_TARGET_DISCORD] = &hr_svc_discord,
        [HR_TARGET_MATTERMOST] = &hr_svc_mattermost, [HR_TARGET_GOOGLE_CHAT] = &hr_svc_google_chat,
        [HR_TARGET_EMAIL] = &hr_svc_email,           [HR_TARGET_GITHUB] = &hr_svc_github,
        [HR_TARGET_GITLAB] = &hr_svc_gitlab,         [HR_TARGET_BITBUCKET] = &hr_svc_bitbucket,
        [HR_TARGET_PAGERDUTY] = &hr_svc_pagerduty,
    };
    return (unsigned)type < HR_TARGET_NTYPES ? services[type] : &hr_svc_webhook;
}

bool hr_service_keeps_run(const hr_target *t)
{
    const hr_service *s = hr_service_of(t->type);
    return s->keeps_run != NULL && s->keeps_run(t);
}

void hr_svc_request_clear(hr_svc_request *r)
{
    if (r == NULL)
        return;
    free(r->url);
    free(r->content_type);
    if (r->authorization != NULL)
        OPENSSL_cleanse(r->authorization, strlen(r->authorization));
    free(r->authorization);
    free(r->body);
    free(r->mail_from);
    json_decref(r->ref);
    for (size_t i = 0; i < r->rcpt.n; i++)
        free(r->rcpt.items[i]);
    free(r->rcpt.items);
    for (size_t i = 0; i < r->headers.n; i++)
        free(r->headers.items[i]);
    free(r->headers.items);
    free(r->skip);
    memset(r, 0, sizeof(*r));
}

void hr__svc_reason(const char *p, size_t n, char *out, size_t size)
{
    size_t k = 0;
    if (size == 0)
        return;
    for (size_t i = 0; i < n && k + 1 < size; i++)
        out[k++] = ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? ' ' : p[i];
    /* A UTF-8 sequence cut at the end is dropped whole. */
    size_t j = k;
    while (j > 0 && ((unsigned char)out[j - 1] & 0xC0) == 0x80)
        j--;
    if (j > 0 && ((unsigned char)out[j - 1] & 0x80)) {
        unsigned char lead = (unsigned char)out[j - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (k - (j - 1) < need)
            k = j - 1;
    }
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

void hr__svc_classify_http(const hr_svc_answer *a, const char *reason, hr_svc_verdict *v)
{
    long s = a->status;
    const char *sep = reason != NULL && reason[0] != '\0' ? ": " : "";
    const char *why = reason != NULL ? reason : "";

    v->wait_ms = -1;
    v->error[0] = '\0';
    if (s >= 200 && s < 300) {
        v->outcome = HR_OUTCOME_DELIVERED;
        return;
    }
    if (s == 408 || s == 429 || (s >= 500 && s < 600)) {
        v->outcome = HR_OUTCOME_RETRY;
        if (s == 429 || s == 503)
            v->wait_ms = a->retry_after_ms;
    } else {
        v->outcome = HR_OUTCOME_DEAD;
    }
    if (s >= 300 && s < 400)
        snprintf(v->error, sizeof(v->error), "HTTP %ld (redirects are not followed)", s);
    else
        snprintf(v->error, sizeof(v->error), "HTTP %ld%s%s", s, sep, why);
}

char *hr__svc_url(const hr_target *t, const char *extra_query)
{
    const char *url = t->url != NULL ? t->url : "";
    const char *rest = url;
    char *base = NULL, *out;
    hr_url u;

    if (t->api_url != NULL && hr_url_check(url, strlen(url), 0, &u, NULL) == HR_OK) {
        size_t n = strlen(t->api_url);
        while (n > 0 && t->api_url[n - 1] == '/')
            n--;
        base = hr_strndup(t->api_url, n);
        rest = url + u.rest_at;
    }
    const char *sep = extra_query == NULL ? "" : strchr(rest, '?') != NULL ? "&" : "?";
    out = hr_msg_fmt("%s%s%s%s", base != NULL ? base : "", rest, sep,
                     extra_query != NULL ? extra_query : "");
    free(base);
    return out;
}

void hr__svc_json_body(hr_svc_request *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        hr_oom(0);
    req->body = text;
    req->body_len = strlen(text);
    req->content_type = hr_strdup("application/json");
}

json_t *hr__svc_answer_json(const hr_svc_answer *a)
{
    if (a->body == NULL || a->body_len == 0)
        return NULL;
    return json_loadb(a->body, a->body_len, 0, NULL);
}

const char *hr__svc_ref(const json_t *ref, const char *key)
{
    return json_string_value(json_object_get(ref, key));
}

void hr__svc_reason_pair(const char *first, const char *second, char *out, size_t size)
{
    char *both =
        hr_msg_fmt("%s%s%s", first != NULL ? first : "",
                   first != NULL && second != NULL ? ": " : "", second != NULL ? second : "");
    hr__svc_reason(both, strlen(both), out, size);
    free(both);
}

char *hr__svc_escape(const char *s, bool quotes)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : (quotes && *p == '"') ? 6 : 1;
    char *out = hr_malloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&'               ? "&amp;"
                          : *p == '<'             ? "&lt;"
                          : *p == '>'             ? "&gt;"
                          : (quotes && *p == '"') ? "&quot;"
                                                  : NULL;
        size_t k = rep != NULL ? strlen(rep) : 1;
        memcpy(o, rep != NULL ? rep : p, k);
        o += k;
    }
    *o = '\0';
    return out;
}

char *hr__svc_committers(const hr_svc_context *ctx, const hr_message *m,
                         char *(*mention)(const hr_person *p), char *(*plain)(const char *name))
{
    char *list = NULL;
    for (size_t i = 0; i < m->ncommitters; i++) {
        const hr_committer *c = &m->committers[i];
        const hr_person *p = hr_people_find(ctx->people, ctx->npeople, c);
        char *one = p != NULL ? mention(p) : NULL;
        if (one == NULL)
            one = plain(hr_people_display(c, p));
        char *more = list != NULL ? hr_msg_fmt("%s, %s", list, one) : hr_strdup(one);
        free(one);
        free(list);
        list = hr_msg_cut(more, HR_MSG_VALUE_MAX);
    }
    return list;
}
