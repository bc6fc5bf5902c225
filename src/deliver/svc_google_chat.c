/*
 * svc_google_chat.c - Google Chat space webhooks: a text line for
 * notifications and a cardsV2 card (header, the result in its colour, the
 * facts, a button to the run). Every event of one run answers in the same
 * thread: thread.threadKey is the run ("app/42") and the URL asks
 * messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD, so the first
 * event starts the thread and the others reply in it. The thread's name
 * in the first answer ("spaces/S/threads/T") is kept with the delivery
 * and the run (remember); the threadKey alone finds the thread again, so
 * nothing herald keeps is needed for that. A card's text takes
 * Google Chat's small HTML subset, so values are escaped.
 *
 * Answers: 200 delivers. An error answers with Google's
 * {"error": {"code", "message", "status"}}: status and message go into the
 * attempt's error. 429 (RESOURCE_EXHAUSTED: about one write per second
 * per space) waits for Retry-After or backs off; 5xx retries; any other
 * 4xx is final.
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static char *html(const char *s)
{
    return hr__svc_escape(s, true);
}

static json_t *decorated(const char *label, char *text)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "decoratedText", "topLabel", label, "text", text);
    free(text);
    return j;
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    json_t *widgets = json_array();
    char *word = html(m->word);

    json_array_append_new(widgets,
                          decorated("Result", hr_msg_fmt("<font color=\"%s\"><b>%s</b></font>",
                                                         hr_tone_hex(m->tone), word)));
    free(word);
    if (m->text != NULL) {
        char *text = html(m->text);
        json_array_append_new(widgets, json_pack("{s:{s:s}}", "textParagraph", "text", text));
        free(text);
    }
    for (size_t i = 0; i < m->nfacts; i++)
        json_array_append_new(widgets, decorated(m->facts[i].label, html(m->facts[i].value)));
    if (m->url != NULL)
        json_array_append_new(widgets, json_pack("{s:{s:[{s:s,s:{s:{s:s}}}]}}", "buttonList",
                                                 "buttons", "text", "Open the run", "onClick",
                                                 "openLink", "url", m->url));
    json_t *body = json_pack("{s:s,s:[{s:s,s:{s:{s:s,s:s},s:[{s:o}]}}]}", "text", m->title,
                             "cardsV2", "cardId", "herald", "card", "header", "title", m->title,
                             "subtitle", "herald", "sections", "widgets", widgets);
    if (m->run != NULL)
        json_object_set_new(body, "thread", json_pack("{s:s}", "threadKey", m->run));
    req->url = hr__svc_url(
        t, m->run != NULL ? "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD" : NULL);
    req->method = "POST";
    hr__svc_json_body(req, body);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX];
    json_t *j = hr__svc_answer_json(a), *e = json_object_get(j, "error");
    const char *status = json_string_value(json_object_get(e, "status"));
    const char *message = json_string_value(json_object_get(e, "message"));

    hr__svc_reason_pair(status, message, reason, sizeof(reason));
    hr__svc_classify_http(a, reason, v);
    json_decref(j);
}

/* Google Chat answers with the message: {"name": "spaces/S/messages/M",
 * "thread": {"name": "spaces/S/threads/T", ...}, ...}. */
static json_t *remember(const hr_svc_answer *a, const json_t *sent)
{
    json_t *j = hr__svc_answer_json(a), *ref = NULL;
    const char *name = hr__svc_ref(j, "name");
    const char *thread = hr__svc_ref(json_object_get(j, "thread"), "name");

    (void)sent;
    if (name != NULL || thread != NULL) {
        ref = json_object();
        if (name != NULL)
            json_object_set_new(ref, "message", json_string(name));
        if (thread != NULL)
            json_object_set_new(ref, "thread", json_string(thread));
    }
    json_decref(j);
    return ref;
}

/* Every event of a run answers in the run's thread: the first one makes
 * it, so the others wait for it (two at once could start two threads). */
static bool keeps_run(const hr_target *t)
{
    (void)t;
    return true;
}

const hr_service hr_svc_google_chat = {"google-chat", render, classify, remember, keeps_run};
