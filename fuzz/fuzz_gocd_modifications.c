/*
 * fuzz_gocd_modifications.c - GoCD's answer to a pipeline instance
 * (deliver/gocd_lookup.h), whatever the far end sends, and what the
 * messages make of the modifications it yields: the committers named and
 * mentioned through a people: map that matches everyone.
 *
 * Whatever the input: the parse gives NULL or an array of at most
 * HR_GOCD_MAX_MODIFICATIONS objects of strings, the message builds with
 * at most HR_MSG_MAX_COMMITTERS committers, and every service renders it
 * (the chat services to valid JSON).
 */
#include "deliver/gocd_lookup.h"
#include "deliver/message.h"
#include "deliver/service.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *mods = hr_gocd_modifications_parse((const char *)data, size), *m1;
    size_t i;
    hr_message m;
    hr_error err;

    if (mods == NULL)
        return 0;
    if (!json_is_array(mods) || json_array_size(mods) > HR_GOCD_MAX_MODIFICATIONS)
        abort();
    json_array_foreach(mods, i, m1)
    {
        const char *k;
        json_t *v;
        if (!json_is_object(m1))
            abort();
        json_object_foreach(m1, k, v) if (!json_is_string(v)) abort();
    }
    json_t *event = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s},s:{s:o}}", "kind",
                              "stage-status", "transition", "broken", "pipeline", "name", "deploy",
                              "counter", "42", "stage", "name", "test", "counter", "1", "result",
                              "Failed", "gocd", "modifications", mods);
    if (hr_message_from_event(event, &m, &err) != HR_OK || m.ncommitters > HR_MSG_MAX_COMMITTERS)
        abort();
    hr_person everyone = {.match = "*",
                          .name = "Someone",
                          .slack = "U0123",
                          .teams = "someone@corp.example",
                          .discord = "123",
                          .mattermost = "someone",
                          .email = "someone@corp.example"};
    for (int type = 1; type < HR_TARGET_NTYPES; type++) {
        if (hr_target_type_is_state((hr_target_type)type))
            continue; /* no message for people: fuzz_service covers them */
        hr_target t = {0};
        hr_svc_request req = {0};
        hr_svc_context ctx = {.delivery_id = 1, .people = &everyone, .npeople = 1};
        char *to[] = {"a@example.com"};
        t.name = "t";
        t.type = (hr_target_type)type;
        t.url = "https://example.com/hook";
        t.from = "herald@example.com";
        t.to.items = to;
        t.to.n = 1;
        if (hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err) != HR_OK)
            abort();
        if (req.mail_from == NULL) {
            json_t *j = json_loadb(req.body, req.body_len, 0, NULL);
            if (j == NULL)
                abort();
            json_decref(j);
        }
        hr_svc_request_clear(&req);
    }
    hr_message_clear(&m);
    json_decref(event);
    return 0;
}
