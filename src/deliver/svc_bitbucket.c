/*
 * svc_bitbucket.c - Bitbucket build statuses, Cloud or Data Center (the
 * api_url says which: Cloud's ends with /2.0, Data Center's with
 * /rest/api/1.0; check-config refuses any other).
 *
 * Cloud: POST {api}/repositories/{workspace}/{repo}/commit/{sha}/statuses/build
 * Data Center: POST {api}/projects/{project}/repos/{repo}/commits/{sha}/builds
 * Both take {key, state, url, name, description} with the token as
 * "Authorization: Bearer" (a repository, project or workspace access
 * token; Data Center's HTTP access token). The same key overwrites the
 * status, so key is the context. A Data Center clone URL over HTTP has
 * /scm/ before the project (https://HOST/scm/PROJ/repo.git); it is
 * dropped.
 *
 * States: queued and running are INPROGRESS, passed SUCCESSFUL, failed
 * FAILED, cancelled STOPPED (Cloud) or CANCELLED (Data Center, which has
 * no STOPPED).
 *
 * Answers: 200 or 201 delivers; 4xx is final with Bitbucket's message
 * (Cloud's {"error": {"message"}}, Data Center's {"errors": [{"message"}]});
 * 429 waits for Retry-After; 5xx retries.
 */
#include "deliver/status.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BITBUCKET_API "https://api.bitbucket.org/2.0"

/* Whether the target speaks to Data Center (its api_url ends with
 * /rest/api/1.0). */
static bool data_center(const hr_target *t)
{
    const char *u = t->api_url;
    size_t n = u != NULL ? strlen(u) : 0;
    while (n > 0 && u[n - 1] == '/')
        n--;
    return n >= 13 && memcmp(u + n - 13, "/rest/api/1.0", 13) == 0;
}

static const char *state_word(hr_state s, bool dc)
{
    switch (s) {
    case HR_STATE_PASSED:
        return "SUCCESSFUL";
    case HR_STATE_FAILED:
        return "FAILED";
    case HR_STATE_CANCELLED:
        return dc ? "CANCELLED" : "STOPPED";
    case HR_STATE_QUEUED:
    case HR_STATE_RUNNING:
        break;
    }
    return "INPROGRESS";
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    hr_status s;
    bool dc = data_center(t);
    const char *path;
    char *api = NULL, *owner = NULL, *repo = NULL;
    json_t *body;
    int rc = hr__status_read(t, ctx, m, &s, req, err);

    if (rc != HR_OK || req->skip != NULL)
        goto out;
    path = s.repo.path;
    if (dc && s.repo.nsegments == 3 && strncmp(path, "scm/", 4) == 0)
        path += 4;
    if (strchr(path, '/') != strrchr(path, '/')) {
        req->skip = hr_msg_fmt("%.200s is not %s", path,
                               dc ? "project/repository" : "workspace/repository");
        goto out;
    }
    owner = hr_strndup(path, (size_t)(strchr(path, '/') - path));
    repo = hr__status_encode(strchr(path, '/') + 1, false);
    {
        char *o = hr__status_encode(owner, false);
        free(owner);
        owner = o;
    }
    api = hr__status_api(t, BITBUCKET_API);
    if (dc)
        req->url = hr_msg_fmt("%s/projects/%s/repos/%s/commits/%s/builds", api, owner, repo, s.sha);
    else
        req->url =
            hr_msg_fmt("%s/repositories/%s/%s/commit/%s/statuses/build", api, owner, repo, s.sha);
    body = json_pack("{s:s,s:s,s:s,s:s}", "key", s.context, "state", state_word(s.state, dc),
                     "name", s.context, "description", s.description);
    if (s.url != NULL)
        json_object_set_new(body, "url", json_string(s.url));
    req->method = "POST";
    req->authorization = hr_msg_fmt("Bearer %s", t->token);
    hr__svc_json_body(req, body);
out:
    free(api);
    free(owner);
    free(repo);
    hr__status_clear(&s);
    return rc;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX] = "";
    json_t *j = hr__svc_answer_json(a);
    const char *cloud = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    const char *dc = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message"));
    const char *why = cloud != NULL ? cloud : dc;

    if (why != NULL)
        hr__svc_reason(why, strlen(why), reason, sizeof(reason));
    else if (j == NULL)
        hr__svc_reason(a->body, a->body_len, reason, sizeof(reason));
    hr__svc_classify_http(a, reason, v);
    json_decref(j);
}

const hr_service hr_svc_bitbucket = {"bitbucket", render, classify, NULL, NULL};
