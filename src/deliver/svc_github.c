/*
 * svc_github.c - GitHub commit statuses: POST
 * {api}/repos/{owner}/{repo}/statuses/{sha} with {state, target_url,
 * description, context}, a token as "Authorization: Bearer" and GitHub's
 * media type. api_url is GitHub Enterprise's https://HOST/api/v3 (or a
 * local server); commits on github.com (or the Enterprise host) only.
 *
 * States: queued and running are pending, passed success, failed
 * failure, cancelled error. GitHub keeps at most 140 characters of a
 * description, so herald cuts it there.
 *
 * Answers, as GitHub documents them: 201 delivers. 422 is final (a sha
 * GitHub does not know, or the 1,000 statuses a sha and context may
 * have): GitHub's message and its errors' messages go into the attempt's
 * error. Rate limits answer 403 or 429: with retry-after, herald waits
 * that long; with x-ratelimit-reset, until that instant; a 403 that says
 * "rate limit" without either waits a minute, as GitHub asks. Any other
 * 403, and 401 and 404, are final (a token without access to the
 * repository). 5xx retries.
 */
#include "deliver/status.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GITHUB_API "https://api.github.com"
#define GITHUB_MAX_DESCRIPTION 140
/* GitHub's advice for a secondary limit that names no time. */
#define GITHUB_LIMIT_WAIT_MS 60000

static const char *state_word(hr_state s)
{
    switch (s) {
    case HR_STATE_PASSED:
        return "success";
    case HR_STATE_FAILED:
        return "failure";
    case HR_STATE_CANCELLED:
        return "error";
    case HR_STATE_QUEUED:
    case HR_STATE_RUNNING:
        break;
    }
    return "pending";
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    hr_status s;
    char *api, *path;
    json_t *body;
    int rc = hr__status_read(t, ctx, m, &s, req, err);

    if (rc != HR_OK || req->skip != NULL)
        goto out;
    if (s.repo.nsegments != 2) {
        req->skip = hr_msg_fmt("%.200s is not owner/repository", s.repo.path);
        goto out;
    }
    api = hr__status_api(t, GITHUB_API);
    path = hr__status_encode(s.repo.path, true);
    req->url = hr_msg_fmt("%s/repos/%s/statuses/%s", api, path, s.sha);
    free(api);
    free(path);
    body = json_pack("{s:s,s:s,s:s}", "state", state_word(s.state), "description",
                     hr_msg_cut(s.description, GITHUB_MAX_DESCRIPTION), "context", s.context);
    if (s.url != NULL)
        json_object_set_new(body, "target_url", json_string(s.url));
    req->method = "POST";
    req->authorization = hr_msg_fmt("Bearer %s", t->token);
    hr__status_header(req, "Accept: application/vnd.github+json");
    hr__status_header(req, "X-GitHub-Api-Version: 2022-11-28");
    hr__svc_json_body(req, body);
out:
    hr__status_clear(&s);
    return rc;
}

/* GitHub's message, and its errors' messages after it. */
static void github_reason(const json_t *j, char *out, size_t size)
{
    const char *message = json_string_value(json_object_get(j, "message"));
    const json_t *errors = json_object_get(j, "errors"), *e;
    char *all = hr_strdup(message != NULL ? message : "");
    size_t i;

    json_array_foreach(errors, i, e)
    {
        const char *what = json_string_value(json_object_get(e, "message"));
        if (what == NULL)
            what = json_string_value(json_object_get(e, "code"));
        if (what == NULL)
            continue;
        char *more = hr_msg_fmt("%s%s%s", all, all[0] != '\0' ? ": " : "", what);
        free(all);
        all = more;
    }
    hr__svc_reason(all, strlen(all), out, size);
    free(all);
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);

    if (j != NULL)
        github_reason(j, reason, sizeof(reason));
    else
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
    hr__svc_classify_http(a, reason, v);
    if (a->status == 403 || a->status == 429) {
        bool limit = a->retry_after_ms >= 0 || a->reset_at_ms >= 0 || a->status == 429 ||
                     strcasestr(reason, "rate limit") != NULL;
        if (limit) {
            v->outcome = HR_OUTCOME_RETRY;
            v->wait_ms = a->retry_after_ms >= 0 ? a->retry_after_ms
                         : a->reset_at_ms >= 0  ? a->reset_at_ms
                                                : GITHUB_LIMIT_WAIT_MS;
        }
    }
    json_decref(j);
}

const hr_service hr_svc_github = {"github", render, classify, NULL, NULL};
