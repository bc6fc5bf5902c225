/*
 * test_deliver_state.c - the state types without a server: git remote URLs
 * read into host and path (core/repo.h), a build's state and commit
 * (deliver/status.h), each state service's request and its answers
 * (svc_github.c, svc_gitlab.c, svc_bitbucket.c, svc_pagerduty.c), and the
 * defaults of a state target (route/target_state.c).
 */
#include "deliver/message.h"
#include "core/repo.h"
#include "deliver/service.h"
#include "deliver/status.h"

#include "core/mem.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA "0123456789abcdef0123456789abcdef01234567"

/* ---- repo.c ---------------------------------------------------------------- */

static void expect_repo(const char *url, const char *host, const char *path, size_t segs)
{
    hr_repo r;
    hr_error err;
    cr_assert_eq(hr_repo_parse(url, strlen(url), &r, &err), HR_OK, "%s: %s", url, err.msg);
    cr_expect_str_eq(r.host, host, "%s", url);
    cr_expect_str_eq(r.path, path, "%s", url);
    cr_expect_eq(r.nsegments, segs, "%s", url);
}

static void expect_not_repo(const char *url)
{
    hr_repo r;
    hr_error err;
    cr_expect_eq(hr_repo_parse(url, strlen(url), &r, &err), HR_EINVAL, "%s", url);
    cr_expect_null(strstr(err.msg, "hunter2"), "%s", err.msg);
}

Test(repo, https_ssh_and_scp_like)
{
    expect_repo("https://github.com/acme/app.git", "github.com", "acme/app", 2);
    expect_repo("https://GitHub.com/acme/app/", "github.com", "acme/app", 2);
    expect_repo("http://deploy:hunter2@git.example.com:8443/acme/app.git?x=1#y", "git.example.com",
                "acme/app", 2);
    expect_repo("ssh://git@bitbucket.corp:7999/proj/app.git", "bitbucket.corp", "proj/app", 2);
    expect_repo("git+ssh://git@github.com/acme/app", "github.com", "acme/app", 2);
    expect_repo("git://github.com/acme/app.git", "github.com", "acme/app", 2);
    expect_repo("git@github.com:acme/app.git", "github.com", "acme/app", 2);
    expect_repo("gitlab.com:group/sub/app", "gitlab.com", "group/sub/app", 3);
    expect_repo("https://git.corp/scm/PROJ/app.git", "git.corp", "scm/PROJ/app", 3);
    expect_repo("ssh://git@[::1]:22/a/b.git", "::1", "a/b", 2);
    expect_repo("https://[2001:db8::1]/a/b", "2001:db8::1", "a/b", 2);
}

Test(repo, refused)
{
    expect_not_repo("");
    expect_not_repo("https://github.com/acme");
    expect_not_repo("https://github.com/");
    expect_not_repo("https://github.com/acme//app");
    expect_not_repo("https://github.com/acme/../app");
    expect_not_repo("https://github.com/acme/./app");
    expect_not_repo("https://user:hunter2@/acme/app");
    expect_not_repo("https://github.com:port/acme/app");
    expect_not_repo("ftp://github.com/acme/app");
    expect_not_repo("/srv/git/app.git");
    expect_not_repo("github.com/acme/app");
    expect_not_repo("git@github.com:acme");
    expect_not_repo("https://github.com/acme/a pp");
    expect_not_repo("https://[::1/a/b");
    expect_not_repo("https://git hub.com/a/b");
}

/* ---- states ---------------------------------------------------------------- */

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, text);
    return j;
}

static void expect_state(const char *event, bool ok, hr_state want)
{
    json_t *e = load(event);
    char why[200] = "";
    hr_state got = HR_STATE_CANCELLED;
    cr_expect_eq(hr__status_state(e, &got, why, sizeof(why)), ok, "%s: %s", event, why);
    if (ok)
        cr_expect_eq(got, want, "%s", event);
    else
        cr_expect_neq(why[0], '\0');
    json_decref(e);
}

Test(state, gocd_and_ci)
{
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Building\"}}", true,
                 HR_STATE_RUNNING);
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Failing\"}}", true,
                 HR_STATE_RUNNING);
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Passed\"}}", true,
                 HR_STATE_PASSED);
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Failed\"}}", true,
                 HR_STATE_FAILED);
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Cancelled\"}}", true,
                 HR_STATE_CANCELLED);
    expect_state("{\"kind\":\"stage-status\",\"stage\":{\"state\":\"Unknown\"}}", false, 0);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"queued\"}}", true,
                 HR_STATE_QUEUED);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"started\"}}", true,
                 HR_STATE_RUNNING);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"running\"}}", true,
                 HR_STATE_RUNNING);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"completed\","
                 "\"result\":\"Failed\"}}",
                 true, HR_STATE_FAILED);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"finalized\","
                 "\"result\":\"Cancelled\"}}",
                 true, HR_STATE_CANCELLED);
    expect_state("{\"kind\":\"build-status\",\"build\":{\"phase\":\"completed\","
                 "\"result\":\"Unknown\"}}",
                 false, 0);
    expect_state("{\"kind\":\"agent-status\"}", false, 0);
    expect_state("[]", false, 0);
}

/* ---- requests -------------------------------------------------------------- */

static const char gocd_failed[] =
    "{\"source\":\"gocd\",\"kind\":\"stage-status\",\"transition\":\"broken\","
    "\"summary\":{\"name\":\"app/test\",\"number\":\"4\"},"
    "\"pipeline\":{\"name\":\"app\",\"counter\":\"4\"},"
    "\"stage\":{\"name\":\"test\",\"counter\":\"1\",\"state\":\"Failed\",\"result\":\"Failed\"},"
    "\"build_cause\":[{\"material_type\":\"git\",\"material\":\"git@github.com:acme/lib.git\","
    "\"changed\":false,\"revision\":\"" SHA "\"},"
    "{\"material_type\":\"git\",\"config\":{\"url\":\"https://github.com/acme/app.git\"},"
    "\"changed\":true,\"revision\":\"" SHA "\"}],"
    "\"gocd\":{\"site_url\":\"https://gocd.example.com\"}}";

static hr_target state_target(hr_target_type type)
{
    hr_target t = {0};
    t.name = hr_strdup("s");
    t.type = type;
    t.token = hr_strdup("tok");
    hr_target_state_defaults(&t);
    return t;
}

static void target_free(hr_target *t)
{
    free(t->name);
    free(t->token);
    free(t->context);
    free(t->severity);
    free(t->order_by);
    free(t->api_url);
    free(t->repository);
}

/* Renders event for t (req cleared by the caller). */
static hr_svc_request render_state(const hr_target *t, const char *event)
{
    hr_svc_request req = {0};
    hr_message m;
    hr_error err;
    json_t *e = load(event);
    hr_svc_context ctx = {.delivery_id = 1, .event = e};

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_eq(hr_service_of(t->type)->render(t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    hr_message_clear(&m);
    json_decref(e);
    return req;
}

Test(render, github_reports_the_changed_material)
{
    hr_target t = state_target(HR_TARGET_GITHUB);
    hr_svc_request req = render_state(&t, gocd_failed);
    cr_assert_null(req.skip, "%s", req.skip);
    cr_expect_str_eq(req.url, "https://api.github.com/repos/acme/app/statuses/" SHA);
    cr_expect_str_eq(req.authorization, "Bearer tok");
    cr_expect_str_eq(req.body, "{\"state\":\"failure\",\"description\":\"app/test #4 broken\","
                               "\"context\":\"gocd/app/test\",\"target_url\":"
                               "\"https://gocd.example.com/go/pipelines/app/4/test/1\"}");
    cr_expect_eq(req.headers.n, 2);
    hr_svc_request_clear(&req);
    /* The material the repository names, though it did not change. */
    t.repository = hr_strdup("acme/lib");
    req = render_state(&t, gocd_failed);
    cr_expect_str_eq(req.url, "https://api.github.com/repos/acme/lib/statuses/" SHA);
    hr_svc_request_clear(&req);
    target_free(&t);
}

/* A delivery with a subject (the router's, one per changed material)
 * reports that material's commit, whichever the default would pick. */
Test(render, github_reports_the_material_its_subject_names)
{
    static const char two[] =
        "{\"source\":\"gocd\",\"kind\":\"stage-status\",\"transition\":\"passed\","
        "\"pipeline\":{\"name\":\"app\",\"counter\":\"4\"},"
        "\"stage\":{\"name\":\"test\",\"counter\":\"1\",\"state\":\"Passed\"},"
        "\"build_cause\":[{\"material_type\":\"git\",\"material\":\"git@github.com:acme/"
        "app.git\",\"changed\":true,\"revision\":\"" SHA "\"},"
        "{\"material_type\":\"git\",\"config\":{\"url\":\"https://github.com/acme/lib.git\"},"
        "\"changed\":true,\"revision\":\"abcdef0\"}]}";
    hr_target t = state_target(HR_TARGET_GITHUB);
    hr_svc_request req = {0};
    hr_message m;
    hr_error err;
    json_t *e = load(two);
    hr_svc_context ctx = {.delivery_id = 1, .event = e, .subject = "acme/lib@abcdef0"};

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_eq(hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    cr_assert_null(req.skip, "%s", req.skip);
    cr_expect_str_eq(req.url, "https://api.github.com/repos/acme/lib/statuses/abcdef0");
    hr_svc_request_clear(&req);
    ctx.subject = NULL; /* without one: the first changed */
    cr_assert_eq(hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    cr_expect_str_eq(req.url, "https://api.github.com/repos/acme/app/statuses/" SHA);
    hr_svc_request_clear(&req);
    ctx.subject = "acme/gone@abcdef0";
    cr_assert_eq(hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    cr_expect_str_eq(req.skip, "no changed git material on github.com is acme/gone@abcdef0");
    hr_svc_request_clear(&req);
    hr_message_clear(&m);
    json_decref(e);
    target_free(&t);
}

Test(render, skipped_with_why)
{
    hr_target t = state_target(HR_TARGET_GITLAB);
    hr_svc_request req = render_state(&t, gocd_failed);
    cr_expect_str_eq(req.skip, "no git material of the build cause is on gitlab.com");
    cr_expect_null(req.url);
    hr_svc_request_clear(&req);
    /* The host follows api_url (without "api."). */
    t.api_url = hr_strdup("https://api.github.com/");
    req = render_state(&t, gocd_failed);
    cr_expect_null(req.skip);
    cr_expect_str_eq(req.url, "https://api.github.com/projects/acme%2Fapp/statuses/" SHA);
    hr_svc_request_clear(&req);
    t.repository = hr_strdup("acme/other");
    req = render_state(&t, gocd_failed);
    cr_expect_str_eq(req.skip, "no git material on github.com is acme/other");
    hr_svc_request_clear(&req);
    target_free(&t);

    t = state_target(HR_TARGET_GITHUB);
    req = render_state(&t, "{\"kind\":\"build-status\",\"build\":{\"phase\":\"started\"}}");
    cr_expect_str_eq(req.skip, "the build names no commit (build.scm.url and build.scm.commit)");
    hr_svc_request_clear(&req);
    req =
        render_state(&t, "{\"kind\":\"build-status\",\"build\":{\"phase\":\"started\","
                         "\"scm\":{\"url\":\"https://github.com/a/b/c\",\"commit\":\"" SHA "\"}}}");
    cr_expect_str_eq(req.skip, "a/b/c is not owner/repository");
    hr_svc_request_clear(&req);
    req = render_state(&t, "{\"kind\":\"build-status\",\"build\":{\"phase\":\"started\","
                           "\"scm\":{\"url\":\"https://github.com/a/b\",\"commit\":\"HEAD\"}}}");
    cr_expect_str_eq(req.skip, "build.scm.commit is not a commit id");
    hr_svc_request_clear(&req);
    req = render_state(&t, "{\"kind\":\"agent-status\"}");
    cr_expect_str_eq(req.skip, "a agent-status event is about no build");
    hr_svc_request_clear(&req);
    target_free(&t);
}

Test(render, bitbucket_cloud_and_data_center)
{
    static const char build[] =
        "{\"source\":\"jenkins\",\"kind\":\"build-status\",\"transition\":\"building\","
        "\"summary\":{\"name\":\"app\",\"number\":\"3\"},\"job\":{\"name\":\"app\"},"
        "\"build\":{\"phase\":\"queued\",\"scm\":{\"url\":"
        "\"https://bitbucket.org/ws/app.git\",\"commit\":\"" SHA "\"}}}";
    hr_target t = state_target(HR_TARGET_BITBUCKET);
    hr_svc_request req = render_state(&t, build);
    cr_expect_str_eq(req.url, "https://api.bitbucket.org/2.0/repositories/ws/app/commit/" SHA
                              "/statuses/build");
    cr_expect_str_eq(req.body, "{\"key\":\"jenkins/app\",\"state\":\"INPROGRESS\",\"name\":"
                               "\"jenkins/app\",\"description\":\"app #3 building\"}");
    hr_svc_request_clear(&req);
    t.api_url = hr_strdup("https://bitbucket.org/rest/api/1.0");
    req = render_state(&t, "{\"kind\":\"build-status\",\"build\":{\"phase\":\"completed\","
                           "\"result\":\"Cancelled\",\"scm\":{\"url\":"
                           "\"https://bitbucket.org/scm/PROJ/app.git\",\"commit\":\"" SHA "\"}}}");
    cr_expect_str_eq(req.url,
                     "https://bitbucket.org/rest/api/1.0/projects/PROJ/repos/app/commits/" SHA
                     "/builds");
    cr_expect_not_null(strstr(req.body, "\"state\":\"CANCELLED\""), "%s", req.body);
    hr_svc_request_clear(&req);
    target_free(&t);
}

Test(render, pagerduty_actions)
{
    hr_target t = state_target(HR_TARGET_PAGERDUTY);
    hr_svc_request req = render_state(&t, gocd_failed);
    cr_expect_str_eq(req.url, "https://events.pagerduty.com/v2/enqueue");
    cr_expect_null(req.authorization);
    json_t *b = load(req.body);
    cr_expect_str_eq(json_string_value(json_object_get(b, "event_action")), "trigger");
    cr_expect_str_eq(json_string_value(json_object_get(b, "dedup_key")), "gocd/app/test");
    cr_expect_str_eq(json_string_value(json_object_get(b, "routing_key")), "tok");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(b, "payload"), "severity")),
                     "error");
    json_decref(b);
    hr_svc_request_clear(&req);
    req = render_state(&t, "{\"kind\":\"stage-status\",\"transition\":\"passed\","
                           "\"pipeline\":{\"name\":\"a\"},\"stage\":{\"name\":\"b\"}}");
    cr_expect_str_eq(
        req.skip, "PagerDuty hears of failed, broken, still failing and fixed builds, not passed");
    hr_svc_request_clear(&req);
    req = render_state(&t, "{\"source\":\"gocd\",\"kind\":\"stage-status\","
                           "\"transition\":\"fixed\",\"pipeline\":{\"name\":\"a\"},"
                           "\"stage\":{\"name\":\"b\"}}");
    cr_expect_str_eq(req.body, "{\"routing_key\":\"tok\",\"event_action\":\"resolve\","
                               "\"dedup_key\":\"gocd/a/b\"}");
    hr_svc_request_clear(&req);
    target_free(&t);
}

Test(defaults, order_by_commit_and_context)
{
    hr_target t = state_target(HR_TARGET_GITHUB);
    cr_expect_eq(t.latest_wins, 1);
    cr_expect_not_null(strstr(t.order_by, t.context));
    cr_expect_not_null(strstr(t.order_by, ".build.scm.commit"));
    target_free(&t);
    t = state_target(HR_TARGET_PAGERDUTY);
    cr_expect_str_eq(t.order_by, t.context);
    target_free(&t);
    hr_target w = {0};
    hr_target_state_defaults(&w);
    cr_expect_null(w.order_by);
    cr_expect_eq(w.latest_wins, 0);
}

/* ---- answers --------------------------------------------------------------- */

typedef struct state_answer {
    long status;
    const char *body;
    int64_t retry_after_ms, reset_at_ms;
    hr_outcome outcome;
    int64_t wait_ms;
    const char *error;
} state_answer;

static void expect_answers(const hr_service *svc, const state_answer *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const state_answer *c = &cases[i];
        hr_svc_answer a = {c->status,         c->body, c->body ? strlen(c->body) : 0,
                           c->retry_after_ms, -1,      c->reset_at_ms};
        hr_svc_verdict v;
        svc->classify(&a, &v);
        cr_expect_eq(v.outcome, c->outcome, "%s case %zu: outcome %d", svc->name, i, v.outcome);
        cr_expect_eq(v.wait_ms, c->wait_ms, "%s case %zu: wait %lld", svc->name, i,
                     (long long)v.wait_ms);
        cr_expect_str_eq(v.error, c->error, "%s case %zu", svc->name, i);
    }
}

#define D HR_OUTCOME_DELIVERED
#define R HR_OUTCOME_RETRY
#define X HR_OUTCOME_DEAD
#define CASES(svc, ...)                                                                            \
    do {                                                                                           \
        static const state_answer c_[] = {__VA_ARGS__};                                            \
        expect_answers(&(svc), c_, sizeof(c_) / sizeof(c_[0]));                                    \
    } while (0)

Test(classify, github)
{
    CASES(hr_svc_github, {201, "{\"id\":1}", -1, -1, D, -1, ""},
          {422,
           "{\"message\":\"Validation Failed\",\"errors\":[{\"message\":\"This SHA and context "
           "has reached the maximum number of statuses.\"}]}",
           -1, -1, X, -1,
           "HTTP 422: Validation Failed: This SHA and context has reached the maximum number of "
           "statuses."},
          {422, "{\"message\":\"No commit found for SHA: x\"}", -1, -1, X, -1,
           "HTTP 422: No commit found for SHA: x"},
          {403, "{\"message\":\"secondary rate limit\"}", 7000, 9000, R, 7000,
           "HTTP 403: secondary rate limit"},
          {403, "{}", -1, 9000, R, 9000, "HTTP 403"},
          {403, "{\"message\":\"You have exceeded a secondary rate limit\"}", -1, -1, R, 60000,
           "HTTP 403: You have exceeded a secondary rate limit"},
          {429, "", -1, -1, R, 60000, "HTTP 429"},
          {403, "{\"message\":\"Must have admin rights to Repository.\"}", -1, -1, X, -1,
           "HTTP 403: Must have admin rights to Repository."},
          {401, "{\"message\":\"Bad credentials\"}", -1, -1, X, -1, "HTTP 401: Bad credentials"},
          {502, "<html>", -1, -1, R, -1, "HTTP 502: <html>"});
}

Test(classify, gitlab)
{
    CASES(hr_svc_gitlab, {201, "{}", -1, -1, D, -1, ""},
          {400, "{\"message\":\"Cannot transition status via :run from :running\"}", -1, -1, D, -1,
           "HTTP 400: Cannot transition status via :run from :running (the status already has "
           "this state)"},
          {400, "{\"message\":{\"state\":[\"is invalid\"]}}", -1, -1, X, -1,
           "HTTP 400: {\"state\":[\"is invalid\"]}"},
          {401, "{\"message\":\"401 Unauthorized\"}", -1, -1, X, -1, "HTTP 401: 401 Unauthorized"},
          {404, "{\"error\":\"404 Not Found\"}", -1, -1, X, -1, "HTTP 404: 404 Not Found"},
          {429, "Retry later", 2000, -1, R, 2000, "HTTP 429: Retry later"});
}

Test(classify, bitbucket)
{
    CASES(hr_svc_bitbucket, {201, "{}", -1, -1, D, -1, ""}, {200, "{}", -1, -1, D, -1, ""},
          {400, "{\"type\":\"error\",\"error\":{\"message\":\"bad key\"}}", -1, -1, X, -1,
           "HTTP 400: bad key"},
          {404, "{\"errors\":[{\"message\":\"Repository app does not exist.\"}]}", -1, -1, X, -1,
           "HTTP 404: Repository app does not exist."},
          {503, "", -1, -1, R, -1, "HTTP 503"});
}

Test(classify, pagerduty)
{
    CASES(hr_svc_pagerduty, {202, "{\"status\":\"success\"}", -1, -1, D, -1, ""},
          {400,
           "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":"
           "[\"'payload.summary' is missing\"]}",
           -1, -1, X, -1, "HTTP 400: Event object is invalid: 'payload.summary' is missing"},
          {429, "{}", 1000, -1, R, 1000, "HTTP 429"}, {429, "", -1, -1, R, -1, "HTTP 429"},
          {500, "", -1, -1, R, -1, "HTTP 500"});
}
