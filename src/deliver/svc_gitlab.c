/*
 * svc_gitlab.c - GitLab commit statuses: POST
 * {api}/projects/{path}/statuses/{sha} with {state, name, target_url,
 * description}, where path is the project's full path URL-encoded as one
 * segment (group%2Fsub%2Fproject), and the token as "Authorization:
 * Bearer" (GitLab takes a personal, project or group access token so).
 * api_url is a self-hosted GitLab's https://HOST/api/v4.
 *
 * States: queued is pending, running running, passed success, failed
 * failed, cancelled canceled (GitLab's spelling).
 *
 * Answers: 201 delivers. GitLab answers 400 "Cannot transition status
 * via :run from :running" when the status already has the state sent:
 * the commit shows it, so that is delivered, not a failure. Any other
 * 4xx is final with GitLab's message (401 a bad token, 404 a project the
 * token cannot see); 429 waits for Retry-After; 5xx retries.
 */
#include "deliver/status.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GITLAB_API "https://gitlab.com/api/v4"
/* GitLab's limit on a status's description. */
#define GITLAB_MAX_DESCRIPTION 255

static const char *state_word(hr_state s)
{
    switch (s) {
    case HR_STATE_QUEUED:
        return "pending";
    case HR_STATE_PASSED:
        return "success";
    case HR_STATE_FAILED:
        return "failed";
    case HR_STATE_CANCELLED:
        return "canceled";
    case HR_STATE_RUNNING:
        break;
    }
    return "running";
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    hr_status s;
    char *api, *project;
    json_t *body;
    int rc = hr__status_read(t, ctx, m, &s, req, err);

    if (rc != HR_OK || req->skip != NULL)
        goto out;
    api = hr__status_api(t, GITLAB_API);
    project = hr__status_encode(s.repo.path, false);
    req->url = hr_msg_fmt("%s/projects/%s/statuses/%s", api, project, s.sha);
    free(api);
    free(project);
    body = json_pack("{s:s,s:s,s:s}", "state", state_word(s.state), "name", s.context,
                     "description", hr_msg_cut(s.description, GITLAB_MAX_DESCRIPTION));
    if (s.url != NULL)
        json_object_set_new(body, "target_url", json_string(s.url));
    req->method = "POST";
    req->authorization = hr_msg_fmt("Bearer %s", t->token);
    hr__svc_json_body(req, body);
out:
    hr__status_clear(&s);
    return rc;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);
    json_t *message = json_object_get(j, "message");
    const char *error = json_string_value(json_object_get(j, "error"));

    if (json_is_string(message)) {
        hr__svc_reason(json_string_value(message), json_string_length(message), reason,
                       sizeof(reason));
    } else if (message != NULL) {
        /* A validation error: {"message": {"field": ["what"]}}. */
        char *text = json_dumps(message, JSON_COMPACT);
        if (text != NULL)
            hr__svc_reason(text, strlen(text), reason, sizeof(reason));
        free(text);
    } else if (error != NULL) {
        hr__svc_reason(error, strlen(error), reason, sizeof(reason));
    } else {
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
    }
    hr__svc_classify_http(a, reason, v);
    if (a->status == 400 && strstr(reason, "Cannot transition status") != NULL) {
        v->outcome = HR_OUTCOME_DELIVERED;
        snprintf(v->error, sizeof(v->error), "HTTP 400: %s (the status already has this state)",
                 reason);
    }
    json_decref(j);
}

const hr_service hr_svc_gitlab = {"gitlab", render, classify, NULL, NULL};
