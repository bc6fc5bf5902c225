/*
 * fuzz_service.c - the services over untrusted bytes: the event a
 * message is made from (whatever JSON an ingest let through, read as
 * deliver/message.c reads it) and the answers the services' classifiers
 * parse (a service's body is whatever the far end sends).
 *
 * Whatever the input: the message builds, every service renders it to a
 * body that is valid JSON (or a state type skips it, with a reason on one
 * line, or its context template fails), every classifier gives an outcome and an error
 * that is one line, and nothing reads past the input (the answer is
 * copied to a buffer of exactly its size, as the engine hands it over).
 */
#include "deliver/message.h"
#include "deliver/service.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void classify_all(const char *body, size_t n)
{
    static const long statuses[] = {200, 202, 400, 404, 429, 503};
    for (int type = 0; type < HR_TARGET_NTYPES; type++)
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
            hr_svc_answer a = {statuses[i], body, n, 1000, 2000, 3000};
            hr_svc_verdict v;
            hr_service_of((hr_target_type)type)->classify(&a, &v);
            if (v.outcome > HR_OUTCOME_DEAD || strpbrk(v.error, "\r\n") != NULL)
                abort();
            /* What a service remembers of an answer is an object or nothing. */
            const hr_service *s = hr_service_of((hr_target_type)type);
            json_t *ref = s->remember != NULL ? s->remember(&a, NULL) : NULL;
            if (ref != NULL && !json_is_object(ref))
                abort();
            json_decref(ref);
        }
}

/* Renders every service's message for event; run_ref, when not NULL,
 * stands for what an earlier delivery of the run remembered (the input
 * itself: any strings under any keys). */
static void render_all(const json_t *event, const json_t *run_ref)
{
    hr_message m;
    hr_error err;

    if (hr_message_from_event(event, &m, &err) != HR_OK)
        return;
    for (int type = 1; type < HR_TARGET_NTYPES; type++) {
        hr_target t = {0};
        hr_svc_request req = {0};
        hr_svc_context ctx = {.delivery_id = 1, .run_ref = run_ref, .event = event};
        char *to[] = {"a@example.com"};
        t.name = "t";
        t.type = (hr_target_type)type;
        t.url = "https://example.com/hook";
        t.from = "herald@example.com";
        t.to.items = to;
        t.to.n = 1;
        /* Slack with a run's message needs a bot token; the state types
         * need one too (their token goes in a header or the body). */
        t.token = type == HR_TARGET_SLACK ? (run_ref != NULL ? "xoxb-1" : NULL) : "tok";
        t.channel = type == HR_TARGET_SLACK && t.token != NULL ? "C1" : NULL;
        t.edit = true;
        t.context = "ci/{{ .summary.name }}";
        int rc = hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err);
        /* A state type's context template may fail on an odd event (the
         * delivery is then dead, with jq's word); nothing else may. */
        if (rc != HR_OK && !hr_target_type_is_state(t.type))
            abort();
        if (rc != HR_OK || req.skip != NULL) {
            if (req.skip != NULL && (req.url != NULL || strpbrk(req.skip, "\r\n") != NULL))
                abort();
        } else if (req.mail_from != NULL) {
            /* An e-mail: no bare LF, and no line over RFC 5322's 998. */
            for (size_t i = 0, len = 0; i < req.body_len; i++, len++) {
                if (req.body[i] == '\n' && (i == 0 || req.body[i - 1] != '\r'))
                    abort();
                if (req.body[i] == '\n')
                    len = 0;
                if (len > 998)
                    abort();
            }
        } else {
            json_t *j = json_loadb(req.body, req.body_len, 0, NULL);
            if (j == NULL)
                abort();
            json_decref(j);
        }
        hr_svc_request_clear(&req);
    }
    hr_message_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    classify_all(copy, size);
    json_t *event = json_loadb(copy, size, 0, NULL);
    if (event != NULL) {
        render_all(event, NULL);
        render_all(event, event);
    }
    json_decref(event);
    free(copy);
    return 0;
}
