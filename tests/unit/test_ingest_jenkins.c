/*
 * Tests for src/ingest/jenkins.c.
 *
 * Bodies come from tests/payloads/jenkins/ (written from the plugins'
 * source: the Job Status plugin's EnvVars map as fastjson2 writes it, its
 * GET query as URLEncoder writes it, the Notification plugin's JobState as
 * Gson writes it, and `herald notify` bodies), each checked field by field,
 * and from small bodies built here, one per rule, with its exact message.
 */
#include "test_files.h"
#include <criterion/criterion.h>

#include "core/jwrite.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "ingest/jenkins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOADS HR_TEST_SRCDIR "/tests/payloads/jenkins"

#define JOB_STATUS_WORDS                                                                           \
    "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE"
#define NOTIFY_MEMBERS                                                                             \
    "ci, job, build, status, url, job_url, branch, commit, scm_url, display_name, body, "          \
    "environment"

/* 2024-06-10T06:13:20Z, the start of the payloads' builds. */
#define START 1718000000000LL

/* ---- helpers ---------------------------------------------------------- */

/* A payload file (tests/payloads/NAME), new and NUL-terminated. */
static char *payload(const char *name, size_t *len)
{
    char path[512], *body;

    snprintf(path, sizeof(path), "%s/%s", PAYLOADS, name);
    body = test_slurp(path, len);
    cr_assert_not_null(body, "cannot open %s", path);
    return body;
}

/* A redactor: the default patterns, or the given lists. */
static hr_redact *redactor(const char *const *patterns, size_t np, const char *const *keep,
                           size_t nk)
{
    hr_redact *r = NULL;
    hr_error err;
    cr_assert_eq(hr_redact_new(patterns, np, keep, nk, &r, &err), HR_OK, "%s", err.msg);
    return r;
}

typedef int (*parser)(const char *, size_t, const hr_redact *, hr_event **, hr_errlist *);

/* Parses body, which must be accepted; returns the event (new). */
static hr_event *accept_with(parser p, const hr_redact *r, const char *body, size_t len)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = p(body, len, r, &ev, &errs);
    cr_assert_eq(rc, HR_OK, "refused: %s", errs.n ? errs.msgs[0] : "(no message)");
    cr_assert_not_null(ev);
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_eq(ev->received_at, 0);
    cr_assert(ev->has_build);
    cr_assert_str_eq(ev->kind, HR_KIND_BUILD_STATUS);
    cr_assert_not_null(ev->raw);
    cr_assert_eq(strlen(ev->raw), ev->raw_len);
    hr_errlist_clear(&errs);
    return ev;
}

static hr_event *accept_file(parser p, const char *name)
{
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    size_t len;
    char *body = payload(name, &len);
    hr_event *ev = accept_with(p, r, body, len);
    free(body);
    hr_redact_free(r);
    return ev;
}

static hr_event *accept_str(parser p, const char *body)
{
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    hr_event *ev = accept_with(p, r, body, strlen(body));
    hr_redact_free(r);
    return ev;
}

/* Parses body, which must be refused with exactly the messages given
 * (NULL-terminated). */
static void refuse(parser p, const char *body, size_t len, const char *const *want)
{
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    size_t n = 0;
    int rc = p(body, len, r, &ev, &errs);

    cr_assert_eq(rc, HR_EINVAL, "accepted: %.*s", (int)len, body);
    cr_assert_null(ev);
    while (want[n] != NULL)
        n++;
    for (size_t i = 0; i < errs.n && i < n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i], "message %zu:\n got: %s\nwant: %s", i, errs.msgs[i],
                         want[i]);
    cr_assert_eq(errs.n, n, "%zu messages, expected %zu; first: %s", errs.n, n,
                 errs.n ? errs.msgs[0] : "(none)");
    /* Without a list the parser still refuses. */
    cr_assert_eq(p(body, len, r, &ev, NULL), HR_EINVAL);
    cr_assert_null(ev);
    hr_errlist_clear(&errs);
    hr_redact_free(r);
}

#define REFUSE(p, body, ...)                                                                       \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        refuse(p, body, strlen(body), want_);                                                      \
    } while (0)

static void expect_str(const char *got, const char *want, const char *what)
{
    if (want == NULL)
        cr_expect_null(got, "%s: expected NULL, got \"%s\"", what, got ? got : "");
    else
        cr_expect(got != NULL && strcmp(got, want) == 0, "%s: expected \"%s\", got \"%s\"", what,
                  want, got ? got : "(NULL)");
}

/* Whether a JSON value equals the JSON text want. */
static void expect_json(const json_t *got, const char *want, const char *what)
{
    json_error_t jerr;
    json_t *w;

    if (want == NULL) {
        cr_expect_null(got, "%s: expected NULL", what);
        return;
    }
    w = json_loads(want, 0, &jerr);
    cr_assert_not_null(w, "bad expected JSON for %s: %s", what, jerr.text);
    cr_expect(got != NULL && json_equal(got, w), "%s: got %s", what,
              got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : "NULL");
    json_decref(w);
}

/* The event's value of environment[name], or NULL. */
static const char *env_at(const hr_event *ev, const char *name)
{
    const hr_vars *vs = ev->build.environment;
    long i = vs != NULL ? hr_vars_find(vs, name, strlen(name)) : -1;
    return i >= 0 ? hr_vars_value(vs, (size_t)i) : NULL;
}

/* Whether an environment, written as the stored document writes it, is
 * the JSON text want (NULL: no environment). */
static void expect_env(const hr_vars *got, const char *want, const char *what)
{
    hr_jw w;
    size_t len;
    char *text;
    json_t *j = NULL;

    if (got != NULL) {
        hr_jw_init(&w, 1u << 20);
        hr_vars_write(&w, got);
        text = hr_jw_take(&w, &len);
        j = json_loadb(text, len, 0, NULL);
        cr_assert_not_null(j, "%s: not JSON: %s", what, text);
        free(text);
    }
    expect_json(j, want, what);
    json_decref(j);
}

/* s with every occurrence of from replaced by to. New. */
static char *replace(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    const char *p;
    char *out, *o;

    for (p = strstr(s, from); p != NULL; p = strstr(p + fl, from))
        n++;
    out = malloc(strlen(s) + n * tl + 1);
    cr_assert_not_null(out);
    o = out;
    while ((p = strstr(s, from)) != NULL) {
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, to, tl);
        o += tl;
        s = p + fl;
    }
    memcpy(o, s, strlen(s) + 1);
    return out;
}

/* ---- Job Status plugin: JSON ------------------------------------------ */

Test(job_status, start_multibranch_pipeline_field_by_field)
{
    hr_event *ev = accept_file(hr_jenkins_job_status_json, "job-status_start.json");
    const hr_build *b = &ev->build;
    size_t len;
    char *body = payload("job-status_start.json", &len), *a, *want;

    expect_str(ev->source, "jenkins", "source");
    expect_str(ev->version, "job-status", "version");
    expect_str(b->job_name, "acme/webapp/main", "job_name");
    expect_str(b->job_base_name, "main", "job_base_name");
    expect_str(b->job_url, "https://ci.example.com/job/acme/job/webapp/job/main/", "job_url");
    expect_str(b->branch, "main", "branch");
    cr_expect_eq(b->number, 42);
    expect_str(b->display_name, "#42", "display_name");
    expect_str(b->url, "https://ci.example.com/job/acme/job/webapp/job/main/42/", "url");
    expect_str(b->phase, "started", "phase");
    expect_str(b->status, NULL, "status");
    expect_str(b->result, NULL, "result");
    cr_expect_eq(b->queue_id, 0);
    cr_expect_eq(b->started_at, HR_TIME_NONE);
    cr_expect_eq(b->duration_ms, -1);
    expect_str(b->scm_url, NULL, "scm_url");
    expect_str(b->scm_branch, NULL, "scm_branch");
    expect_str(b->scm_commit, NULL, "scm_commit");
    cr_expect_null(b->scm_changes);
    cr_expect_null(b->scm_culprits);
    cr_expect_null(b->parameters);
    cr_expect_null(b->test_summary);
    cr_expect_null(b->artifacts);
    expect_str(b->log, NULL, "log");
    expect_str(b->notes, NULL, "notes");
    expect_str(b->body, NULL, "body");

    /* The environment: every variable, without the plugin's members, the
     * two server cookies hidden by the default *COOKIE* pattern. */
    cr_assert_not_null(b->environment);
    cr_expect_eq(b->environment->n, 27);
    expect_str(env_at(ev, "JOB_NAME"), "acme/webapp/main", "env JOB_NAME");
    expect_str(env_at(ev, "PATH"),
               "/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "env PATH");
    expect_str(env_at(ev, "HUDSON_SERVER_COOKIE"), HR_REDACTED, "env HUDSON_SERVER_COOKIE");
    expect_str(env_at(ev, "JENKINS_SERVER_COOKIE"), HR_REDACTED, "env JENKINS_SERVER_COOKIE");
    cr_expect_null(env_at(ev, "jobExecuteStatus"));
    cr_expect_null(env_at(ev, "JOB_EXECUTE_STATUS"));
    cr_expect_null(env_at(ev, "buildNo"));
    cr_expect_eq(b->redacted, 2);

    /* raw: the body as received (compact, same order) with the two
     * values hidden. */
    a = replace(body, "\"1b9a33e9f3c4d1a2\"", "\"" HR_REDACTED "\"");
    want = replace(a, "\"durable-5c2a1f0e9b8d7c6a\"", "\"" HR_REDACTED "\"");
    cr_expect_str_eq(ev->raw, want);
    free(a);
    free(want);
    free(body);
    hr_event_free(ev);
}

Test(job_status, every_status_word)
{
    static const struct {
        const char *file, *phase, *status, *result;
    } cases[] = {
        {"job-status_start.json", "started", NULL, NULL},
        {"job-status_running.json", "running", NULL, NULL},
        {"job-status_success.json", "completed", "SUCCESS", "Passed"},
        {"job-status_unstable.json", "completed", "UNSTABLE", "Failed"},
        {"job-status_failure.json", "completed", "FAILURE", "Failed"},
        {"job-status_not_built.json", "completed", "NOT_BUILT", "Unknown"},
        {"job-status_aborted.json", "completed", "ABORTED", "Cancelled"},
        {"job-status_complete.json", "completed", "COMPLETE", "Unknown"},
        {"job-status_notify.json", "running", NULL, NULL},
        {"job-status_notify_unstable.json", "running", "UNSTABLE", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_event *ev = accept_file(hr_jenkins_job_status_json, cases[i].file);
        expect_str(ev->build.phase, cases[i].phase, cases[i].file);
        expect_str(ev->build.status, cases[i].status, cases[i].file);
        expect_str(ev->build.result, cases[i].result, cases[i].file);
        hr_event_free(ev);
    }
}

Test(job_status, freestyle_running_maps_git_variables)
{
    hr_event *ev = accept_file(hr_jenkins_job_status_json, "job-status_running.json");
    const hr_build *b = &ev->build;

    expect_str(b->job_name, "tools/nightly report", "job_name");
    expect_str(b->job_base_name, "nightly report", "job_base_name");
    expect_str(b->job_url, "https://ci.example.com/job/tools/job/nightly%20report/", "job_url");
    /* No BRANCH_NAME outside multibranch: the SCM branch. */
    expect_str(b->branch, "origin/develop", "branch");
    cr_expect_eq(b->number, 7);
    expect_str(b->scm_url, "https://git.example.com/tools/report.git", "scm_url");
    expect_str(b->scm_branch, "origin/develop", "scm_branch");
    expect_str(b->scm_commit, "8f2d1c4b9a7e6d5c4b3a29180f7e6d5c4b3a2918", "scm_commit");
    expect_str(env_at(ev, "WORKSPACE"), "/home/jenkins/workspace/tools/nightly report", "env");
    cr_expect_eq(b->redacted, 0);
    hr_event_free(ev);
}

Test(job_status, notify_step_body)
{
    hr_event *ev = accept_file(hr_jenkins_job_status_json, "job-status_notify.json");
    expect_str(ev->build.body,
               "{\"stage\":\"deploy\",\"msg\":\"deploying <v1.2> to prod & staging\"}", "body");
    cr_expect_null(env_at(ev, "body"));
    cr_expect(strstr(ev->raw, "\"body\":\"{\\\"stage\\\":\\\"deploy\\\"") != NULL, "%s", ev->raw);
    hr_event_free(ev);

    /* A step in a build whose result is already set sends the result, and
     * is still a running build. */
    ev = accept_file(hr_jenkins_job_status_json, "job-status_notify_unstable.json");
    expect_str(ev->build.body, "tests flaky, going on", "body");
    expect_str(ev->build.phase, "running", "phase");
    expect_str(ev->build.status, "UNSTABLE", "status");
    expect_str(ev->build.result, NULL, "result");
    hr_event_free(ev);
}

Test(job_status, secrets_never_reach_the_event)
{
    static const char *const secrets[] = {"AKIAFAKEFAKEFAKE1234",
                                          "wJalrXUtnFEMIfakeK7MDENGbPxRfiCYFAKEKEY",
                                          "ghp_fakefakefakefakefakefakefakefake1234",
                                          "hunter2pass",
                                          "m1rr0rpw",
                                          "correct-horse-battery",
                                          "b0tpass",
                                          NULL};
    hr_event *ev = accept_file(hr_jenkins_job_status_json, "job-status_secrets.json");
    const hr_build *b = &ev->build;
    size_t dump_len = 0;
    char *dump = hr_event_doc(ev, &dump_len);

    cr_assert_not_null(dump);
    expect_str(env_at(ev, "AWS_ACCESS_KEY_ID"), HR_REDACTED, "AWS_ACCESS_KEY_ID");
    expect_str(env_at(ev, "AWS_SECRET_ACCESS_KEY"), HR_REDACTED, "AWS_SECRET_ACCESS_KEY");
    expect_str(env_at(ev, "GITHUB_TOKEN"), HR_REDACTED, "GITHUB_TOKEN");
    expect_str(env_at(ev, "DB_PASSWORD"), HR_REDACTED, "DB_PASSWORD");
    expect_str(env_at(ev, "GIT_URL"), "https://" HR_REDACTED "@git.example.com/tools/report.git",
               "GIT_URL");
    expect_str(env_at(ev, "MIRROR"),
               "see https://" HR_REDACTED "@mirror.example.com/repo and ssh://git@host/x",
               "MIRROR");
    expect_str(b->scm_url, "https://" HR_REDACTED "@git.example.com/tools/report.git", "scm_url");
    expect_str(b->body, "deploy to https://" HR_REDACTED "@deploy.example.com/hook failed", "body");
    expect_str(b->status, "FAILURE", "status");
    /* Four hidden, two environment URLs and the body scrubbed. */
    cr_expect_eq(b->redacted, 7);
    for (size_t i = 0; secrets[i] != NULL; i++) {
        cr_expect_null(strstr(ev->raw, secrets[i]), "raw holds %s", secrets[i]);
        cr_expect_null(strstr(dump, secrets[i]), "JSON holds %s", secrets[i]);
    }
    free(dump);
    hr_event_free(ev);
}

Test(job_status, allow_list_drops_variables_but_not_the_mapping)
{
    static const char *const keep[] = {"JOB_*", "BUILD_*"};
    hr_redact *r = redactor(NULL, 0, keep, 2);
    size_t len;
    char *body = payload("job-status_secrets.json", &len);
    hr_event *ev = accept_with(hr_jenkins_job_status_json, r, body, len);
    const hr_vars *env = ev->build.environment;

    for (size_t i = 0; i < env->n; i++) {
        const char *key = hr_vars_name(env, i);
        cr_expect(strncmp(key, "JOB_", 4) == 0 || strncmp(key, "BUILD_", 6) == 0, "kept %s", key);
    }
    cr_expect_eq(env->n, 8);
    /* GIT_* left the environment and raw, but still describe the SCM,
     * redacted by the same rules. */
    expect_str(ev->build.scm_url, "https://" HR_REDACTED "@git.example.com/tools/report.git",
               "scm_url");
    expect_str(ev->build.branch, "origin/develop", "branch");
    cr_expect_null(strstr(ev->raw, "GIT_URL"));
    cr_expect_null(strstr(ev->raw, "AWS_"));
    cr_expect(strstr(ev->raw, "\"jobExecuteStatus\":\"FAILURE\"") != NULL);
    cr_expect(strstr(ev->raw, "\"buildNo\":\"7\"") != NULL);
    /* Only the body was scrubbed among what is kept. */
    cr_expect_eq(ev->build.redacted, 1);
    hr_event_free(ev);
    free(body);
    hr_redact_free(r);
}

Test(job_status, own_patterns_apply_to_mapped_fields)
{
    static const char *const patterns[] = {"*_URL"};
    hr_redact *r = redactor(patterns, 1, NULL, 0);
    size_t len;
    char *body = payload("job-status_running.json", &len);
    hr_event *ev = accept_with(hr_jenkins_job_status_json, r, body, len);

    expect_str(ev->build.url, HR_REDACTED, "url");
    expect_str(ev->build.job_url, HR_REDACTED, "job_url");
    expect_str(ev->build.scm_url, HR_REDACTED, "scm_url");
    expect_str(env_at(ev, "JENKINS_URL"), HR_REDACTED, "JENKINS_URL");
    expect_str(ev->build.job_name, "tools/nightly report", "job_name");
    cr_expect_eq(ev->build.redacted, 4);
    hr_event_free(ev);
    free(body);
    hr_redact_free(r);
}

Test(job_status, small_bodies)
{
    hr_event *ev;

    /* JOB_EXECUTE_STATUS alone, any case; buildNo alone; no JOB_BASE_NAME. */
    ev =
        accept_str(hr_jenkins_job_status_json,
                   "{\"JOB_NAME\":\"a/b/c\",\"JOB_EXECUTE_STATUS\":\"success\",\"buildNo\":\"9\"}");
    expect_str(ev->build.job_base_name, "c", "base");
    expect_str(ev->build.status, "SUCCESS", "status");
    expect_str(ev->build.result, "Passed", "result");
    cr_expect_eq(ev->build.number, 9);
    expect_env(ev->build.environment, "{\"JOB_NAME\":\"a/b/c\"}", "environment");
    cr_expect_str_eq(
        ev->raw, "{\"JOB_NAME\":\"a/b/c\",\"JOB_EXECUTE_STATUS\":\"success\",\"buildNo\":\"9\"}");
    hr_event_free(ev);

    /* jobExecuteStatus wins over JOB_EXECUTE_STATUS; BUILD_NUMBER over
     * buildNo; empty optional variables count as not sent. */
    ev = accept_str(hr_jenkins_job_status_json,
                    "{\"JOB_NAME\":\"x\",\"jobExecuteStatus\":\"ABORTED\",\"JOB_EXECUTE_STATUS\":"
                    "\"SUCCESS\",\"BUILD_NUMBER\":\"12\",\"buildNo\":\"11\",\"BUILD_URL\":\"\","
                    "\"GIT_BRANCH\":\"\"}");
    expect_str(ev->build.status, "ABORTED", "status");
    expect_str(ev->build.result, "Cancelled", "result");
    cr_expect_eq(ev->build.number, 12);
    expect_str(ev->build.url, NULL, "url");
    expect_str(ev->build.branch, NULL, "branch");
    expect_str(ev->build.job_base_name, "x", "base");
    expect_str(env_at(ev, "BUILD_URL"), "", "env BUILD_URL");
    hr_event_free(ev);

    /* An empty notify body is a body. */
    ev = accept_str(hr_jenkins_job_status_json,
                    "{\"JOB_NAME\":\"x\",\"jobExecuteStatus\":\"RUNNING\",\"body\":\"\"}");
    expect_str(ev->build.body, "", "body");
    expect_str(ev->build.phase, "running", "phase");
    hr_event_free(ev);
}

Test(job_status, errors)
{
    parser p = hr_jenkins_job_status_json;
    const char *const ok = "\"JOB_NAME\":\"a\",\"jobExecuteStatus\":\"SUCCESS\"";
    char buf[256];

    REFUSE(p, "", "invalid JSON: the body is empty");
    REFUSE(p, "not json", "invalid JSON at line 1, column 3: invalid token near 'not'");
    REFUSE(p, "[1,2]", "body: expected a JSON object of strings; got an array");
    REFUSE(p, "\"JOB_NAME\"", "body: expected a JSON object of strings; got \"JOB_NAME\"");
    snprintf(buf, sizeof(buf), "{%s,\"BUILD_NUMBER\":5}", ok);
    REFUSE(p, buf, "BUILD_NUMBER: expected a string; got a number");
    snprintf(buf, sizeof(buf), "{%s,\"a.b\":null,\"X\":{},\"Y\":[true]}", ok);
    REFUSE(p, buf, "[\"a.b\"]: expected a string; got null", "X: expected a string; got an object",
           "Y: expected a string; got an array");
    REFUSE(p, "{\"JOB_NAME\":\"a\",\"jobExecuteStatus\":\"EXPLODED\"}",
           "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got \"EXPLODED\"");
    REFUSE(p, "{\"JOB_NAME\":\"a\",\"JOB_EXECUTE_STATUS\":\"DONE\"}",
           "JOB_EXECUTE_STATUS: expected " JOB_STATUS_WORDS "; got \"DONE\"");
    REFUSE(p, "{\"JOB_NAME\":\"a\"}",
           "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got nothing");
    REFUSE(p, "{\"JOB_NAME\":\"a\",\"jobExecuteStatus\":7}",
           "jobExecuteStatus: expected a string; got a number");
    REFUSE(p, "{\"jobExecuteStatus\":\"START\"}",
           "JOB_NAME: expected a non-empty string; got nothing");
    REFUSE(p, "{\"JOB_NAME\":\"\",\"jobExecuteStatus\":\"START\"}",
           "JOB_NAME: expected a non-empty string; got \"\"");
    snprintf(buf, sizeof(buf), "{%s,\"BUILD_NUMBER\":\"abc\",\"buildNo\":\"0\"}", ok);
    REFUSE(p, buf, "BUILD_NUMBER: expected a build number such as \"42\"; got \"abc\"",
           "buildNo: expected a build number such as \"42\"; got \"0\"");
    snprintf(buf, sizeof(buf), "{%s,\"BUILD_NUMBER\":\"-3\"}", ok);
    REFUSE(p, buf, "BUILD_NUMBER: expected a build number such as \"42\"; got \"-3\"");
    snprintf(buf, sizeof(buf), "{%s,\"BUILD_NUMBER\":\"1234567890123456789\"}", ok);
    REFUSE(p, buf,
           "BUILD_NUMBER: expected a build number such as \"42\"; got \"1234567890123456789\"");
    /* Every problem at once, in order. */
    REFUSE(p, "{\"BUILD_NUMBER\":\"x\",\"N\":1,\"jobExecuteStatus\":\"no\"}",
           "N: expected a string; got a number",
           "JOB_NAME: expected a non-empty string; got nothing",
           "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got \"no\"",
           "BUILD_NUMBER: expected a build number such as \"42\"; got \"x\"");
}

Test(job_status, many_problems_are_counted)
{
    char body[4096];
    size_t at = 0;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    hr_event *ev = NULL;

    at += (size_t)snprintf(body + at, sizeof(body) - at, "{");
    for (int i = 0; i < 30; i++)
        at += (size_t)snprintf(body + at, sizeof(body) - at, "\"V%d\":%d,", i, i);
    snprintf(body + at, sizeof(body) - at, "\"JOB_NAME\":\"a\",\"jobExecuteStatus\":\"START\"}");
    cr_assert_eq(hr_jenkins_job_status_json(body, strlen(body), r, &ev, &errs), HR_EINVAL);
    cr_expect_eq(errs.n, HR_MAX_ERRORS);
    cr_expect_eq(hr_errlist_count(&errs), 30);
    hr_errlist_clear(&errs);
    hr_redact_free(r);
}

/* ---- Job Status plugin: GET query ------------------------------------- */

/* Parses a query that must be accepted; sets *token. */
static hr_event *accept_query(const char *q, char **token)
{
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_jenkins_job_status_query(q, strlen(q), r, token, &ev, &errs);
    cr_assert_eq(rc, HR_OK, "refused: %s", errs.n ? errs.msgs[0] : "(no message)");
    cr_assert_not_null(ev);
    cr_assert(ev->has_build);
    expect_str(ev->version, "job-status", "version");
    expect_str(ev->source, "jenkins", "source");
    cr_assert_eq(strlen(ev->raw), ev->raw_len);
    hr_errlist_clear(&errs);
    hr_redact_free(r);
    return ev;
}

/* A query that must be refused with exactly the given messages; the token
 * found (or NULL) must be want_token. */
static void refuse_query(const char *q, size_t len, const char *want_token, const char *const *want)
{
    hr_redact *r = redactor(NULL, 0, NULL, 0);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    char *token = (char *)"unset";
    size_t n = 0;

    cr_assert_eq(hr_jenkins_job_status_query(q, len, r, &token, &ev, &errs), HR_EINVAL);
    cr_assert_null(ev);
    expect_str(token, want_token, "token");
    free(token);
    while (want[n] != NULL)
        n++;
    for (size_t i = 0; i < errs.n && i < n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i], "message %zu:\n got: %s\nwant: %s", i, errs.msgs[i],
                         want[i]);
    cr_assert_eq(errs.n, n, "%zu messages, expected %zu; first: %s", errs.n, n,
                 errs.n ? errs.msgs[0] : "(none)");
    hr_errlist_clear(&errs);
    hr_redact_free(r);
}

#define REFUSE_QUERY(q, tok, ...)                                                                  \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        refuse_query(q, strlen(q), tok, want_);                                                    \
    } while (0)

Test(job_status_query, plugin_get_with_double_question_mark)
{
    size_t len;
    char *q = payload("job-status_get_success.query", &len);
    char *token = NULL;
    const char *prefix = "token=t0k3n-GET?";
    hr_event *ev = accept_query(q, &token);
    const hr_build *b = &ev->build;

    expect_str(token, "t0k3n-GET", "token");
    expect_str(b->job_name, "tools/nightly report", "job_name");
    expect_str(b->job_base_name, "nightly report", "job_base_name");
    expect_str(b->url, "https://ci.example.com/job/tools/job/nightly%20report/7/", "url");
    expect_str(b->display_name, "#7", "display_name");
    cr_expect_eq(b->number, 7);
    expect_str(b->phase, "completed", "phase");
    expect_str(b->status, "SUCCESS", "status");
    expect_str(b->result, "Passed", "result");
    expect_str(b->scm_commit, "8f2d1c4b9a7e6d5c4b3a29180f7e6d5c4b3a2918", "scm_commit");
    expect_str(env_at(ev, "WORKSPACE"), "/home/jenkins/workspace/tools/nightly report", "env");
    cr_expect_null(env_at(ev, "token"));
    /* Encoded again as URLEncoder does, the pairs are the query the
     * plugin sent, without the token. */
    cr_assert_eq(strncmp(q, prefix, strlen(prefix)), 0);
    cr_expect_str_eq(ev->raw, q + strlen(prefix));
    free(token);
    free(q);
    hr_event_free(ev);
}

Test(job_status_query, decoding_duplicates_and_separators)
{
    char *token = (char *)"unset";
    hr_event *ev = accept_query("JOB_NAME=a+b%2Fc+d&&jobExecuteStatus=START?X&JOB_NAME=x%2Fy%20z&"
                                "E=%C3%A9t%C3%A9&",
                                &token);
    cr_expect_null(token);
    expect_str(ev->build.job_name, "x/y z", "last JOB_NAME wins");
    expect_str(ev->build.job_base_name, "y z", "base");
    expect_str(env_at(ev, "X"), "", "pair without =");
    expect_str(env_at(ev, "E"), "\xC3\xA9t\xC3\xA9", "UTF-8");
    /* The duplicate keeps the first one's place. */
    cr_expect_str_eq(ev->raw, "JOB_NAME=x%2Fy+z&jobExecuteStatus=START&X=&E=%C3%A9t%C3%A9");
    hr_event_free(ev);

    /* The token anywhere, last one wins; secrets hidden in raw. */
    ev = accept_query("JOB_NAME=j&token=one&jobExecuteStatus=FAILURE?token=two&GITHUB_TOKEN=ghp_x&"
                      "U=https%3A%2F%2Fu%3Ap%40h%2Fr",
                      &token);
    expect_str(token, "two", "token");
    cr_expect_str_eq(ev->raw, "JOB_NAME=j&jobExecuteStatus=FAILURE&GITHUB_TOKEN=********&"
                              "U=https%3A%2F%2F********%40h%2Fr");
    cr_expect_eq(ev->build.redacted, 2);
    free(token);
    hr_event_free(ev);
}

Test(job_status_query, errors)
{
    static char many[6 * (HR_JENKINS_MAX_PAIRS + 1) + 1];
    size_t at = 0;

    REFUSE_QUERY("JOB_NAME=a&BUILD_NUMBER=%ZZ&jobExecuteStatus=START", NULL,
                 "query: pair 2 (\"BUILD_NUMBER=...\"): invalid %-escape");
    REFUSE_QUERY("JOB_NAME=a%4", NULL, "query: pair 1 (\"JOB_NAME=...\"): invalid %-escape");
    REFUSE_QUERY("J%G1=a", NULL, "query: pair 1 (\"J%G1=...\"): invalid %-escape");
    REFUSE_QUERY("token=t?JOB_NAME=%FF%FE", "t",
                 "query: pair 2 (\"JOB_NAME=...\"): not valid UTF-8, or holds a NUL byte, "
                 "once decoded");
    REFUSE_QUERY("A=x%00y", NULL,
                 "query: pair 1 (\"A=...\"): not valid UTF-8, or holds a NUL byte, once decoded");
    REFUSE_QUERY("=x&JOB_NAME=a", NULL, "query: pair 1 (\"=...\"): the name is empty");
    REFUSE_QUERY("LONG=0123456789012345678901234567890123456789%", NULL,
                 "query: pair 1 (\"LONG=...\"): invalid %-escape");
    /* Only the name is quoted, never the value (it may be a credential),
     * and a long name is cut. */
    REFUSE_QUERY("DB_PASSWORD=hunter2%zz", NULL,
                 "query: pair 1 (\"DB_PASSWORD=...\"): invalid %-escape");
    REFUSE_QUERY("N0123456789012345678901234567890123456789012345=x%", NULL,
                 "query: pair 1 (\"N012345678901234567890123456789012345678...=...\"): invalid "
                 "%-escape");
    /* Well-formed pairs are then checked like the JSON body, and the
     * token is still handed back. */
    REFUSE_QUERY("token=abc", "abc", "JOB_NAME: expected a non-empty string; got nothing",
                 "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got nothing");
    REFUSE_QUERY("", NULL, "JOB_NAME: expected a non-empty string; got nothing",
                 "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got nothing");
    REFUSE_QUERY("JOB_NAME=a&jobExecuteStatus=WEIRD&token=k", "k",
                 "jobExecuteStatus: expected " JOB_STATUS_WORDS "; got \"WEIRD\"");

    for (int i = 0; i <= HR_JENKINS_MAX_PAIRS; i++)
        at += (size_t)snprintf(many + at, sizeof(many) - at, "%s%c=1", i ? "&" : "", 'A' + i % 26);
    REFUSE_QUERY(many, NULL, "query: more than 4096 pairs");
}

/* ---- Notification plugin ---------------------------------------------- */

Test(notification, queued)
{
    hr_event *ev = accept_file(hr_jenkins_notification, "notification_queued.json");
    const hr_build *b = &ev->build;

    expect_str(ev->source, "jenkins", "source");
    expect_str(ev->version, "notification", "version");
    expect_str(b->job_name, "acme/webapp/main", "job_name");
    expect_str(b->job_base_name, "main", "job_base_name");
    expect_str(b->job_url, "https://ci.example.com/job/acme/job/webapp/job/main/", "job_url");
    expect_str(b->branch, NULL, "branch");
    cr_expect_eq(b->number, 42);
    expect_str(b->display_name, NULL, "display_name");
    expect_str(b->url, "https://ci.example.com/job/acme/job/webapp/job/main/42/", "url");
    expect_str(b->phase, "queued", "phase");
    expect_str(b->status, NULL, "status");
    expect_str(b->result, NULL, "result");
    cr_expect_eq(b->queue_id, 1187);
    cr_expect_eq(b->started_at, HR_TIME_NONE);
    cr_expect_eq(b->duration_ms, -1);
    expect_str(b->scm_url, NULL, "scm_url");
    expect_json(b->scm_changes, "[]", "changes");
    expect_json(b->scm_culprits, "[]", "culprits");
    expect_env(b->parameters, "{\"DEPLOY_ENV\":\"staging\",\"SLACK_TOKEN\":\"********\"}",
               "parameters");
    expect_json(b->test_summary, NULL, "test_summary");
    expect_json(b->artifacts, "{}", "artifacts");
    expect_str(b->log, "", "log");
    expect_str(b->notes, NULL, "notes");
    expect_str(b->body, NULL, "body");
    cr_expect_null(b->environment);
    cr_expect_eq(b->redacted, 1);
    cr_expect_null(strstr(ev->raw, "xoxb"));
    hr_event_free(ev);
}

Test(notification, started)
{
    hr_event *ev = accept_file(hr_jenkins_notification, "notification_started.json");
    expect_str(ev->build.phase, "started", "phase");
    cr_expect_eq(ev->build.started_at, START);
    cr_expect_eq(ev->build.duration_ms, -1);
    expect_str(ev->build.result, NULL, "result");
    hr_event_free(ev);
}

Test(notification, completed_field_by_field)
{
    size_t len;
    char *body = payload("notification_completed.json", &len), *want;
    hr_event *ev = accept_file(hr_jenkins_notification, "notification_completed.json");
    const hr_build *b = &ev->build;
    json_t *got_raw, *want_raw;
    json_error_t jerr;

    expect_str(b->phase, "completed", "phase");
    expect_str(b->status, "SUCCESS", "status");
    expect_str(b->result, "Passed", "result");
    cr_expect_eq(b->started_at, START);
    cr_expect_eq(b->duration_ms, 93512);
    expect_str(b->scm_url, "https://git.example.com/acme/webapp.git", "scm_url");
    expect_str(b->scm_branch, "main", "scm_branch");
    expect_str(b->branch, "main", "branch");
    expect_str(b->scm_commit, "c0ffee1234567890abcdef1234567890abcdef12", "scm_commit");
    expect_json(b->scm_changes, "[\"src/app.c\",\"README.md\"]", "changes");
    expect_json(b->scm_culprits, "[\"alice\",\"bob\"]", "culprits");
    expect_json(b->test_summary,
                "{\"total\":120,\"failed\":0,\"passed\":117,\"skipped\":3,\"failed_tests\":[]}",
                "test_summary");
    expect_json(b->artifacts,
                "{\"webapp.tar.gz\":{\"archive\":\"https://ci.example.com/job/acme/job/webapp/job/"
                "main/42/artifact/dist/webapp.tar.gz\"}}",
                "artifacts");
    /* Gson's \u003c escapes are decoded. */
    expect_str(b->log, "[Pipeline] echo\nbuilt <webapp> & tested it\nFinished: SUCCESS\n", "log");
    expect_str(b->notes, "Release candidate for 'v1.2'", "notes");

    /* raw is the body, compact, same order, the parameter hidden. */
    want = replace(body, "xoxb-fake-fake-fake", HR_REDACTED);
    want_raw = json_loads(want, 0, &jerr);
    got_raw = json_loads(ev->raw, 0, &jerr);
    cr_assert_not_null(got_raw);
    cr_expect(json_equal(got_raw, want_raw));
    cr_expect(strncmp(ev->raw, "{\"name\":\"main\",\"display_name\":\"main\",\"url\":", 42) == 0,
              "%s", ev->raw);
    cr_expect(strstr(ev->raw, "\"timestamp\":1718000093512,\"duration\":93512,\"phase\":") != NULL);
    json_decref(got_raw);
    json_decref(want_raw);
    free(want);
    free(body);
    hr_event_free(ev);
}

Test(notification, finalized_and_every_status)
{
    static const struct {
        const char *file, *phase, *status, *result;
        long long duration;
    } cases[] = {
        {"notification_finalized.json", "finalized", "SUCCESS", "Passed", 93512},
        {"notification_completed_unstable.json", "completed", "UNSTABLE", "Failed", 60000},
        {"notification_completed_failure.json", "completed", "FAILURE", "Failed", 30000},
        {"notification_completed_aborted.json", "completed", "ABORTED", "Cancelled", 60000},
        {"notification_completed_not_built.json", "completed", "NOT_BUILT", "Unknown", 60000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_event *ev = accept_file(hr_jenkins_notification, cases[i].file);
        expect_str(ev->build.phase, cases[i].phase, cases[i].file);
        expect_str(ev->build.status, cases[i].status, cases[i].file);
        expect_str(ev->build.result, cases[i].result, cases[i].file);
        cr_expect_eq(ev->build.duration_ms, cases[i].duration, "%s", cases[i].file);
        hr_event_free(ev);
    }
}

Test(notification, freestyle_in_folder_with_secrets)
{
    static const char *const secrets[] = {"hunter2pass", "pw-fake-123", "mirrorpw", "b0tpass",
                                          NULL};
    hr_event *ev = accept_file(hr_jenkins_notification, "notification_completed_failure.json");
    const hr_build *b = &ev->build;

    expect_str(b->job_name, "tools/nightly report", "job_name (decoded from url)");
    expect_str(b->job_base_name, "nightly report", "job_base_name");
    expect_str(b->job_url, "https://ci.example.com/job/tools/job/nightly%20report/", "job_url");
    cr_expect_eq(b->started_at, START);
    expect_str(b->scm_url, "https://" HR_REDACTED "@git.example.com/tools/report.git", "scm_url");
    expect_str(b->branch, "origin/develop", "branch");
    expect_env(b->parameters,
               "{\"REPORT_DATE\":\"2024-06-10\",\"UPLOAD_PASSWORD\":\"********\","
               "\"MIRROR_URL\":\"https://********@mirror.example.com/\"}",
               "parameters");
    expect_str(b->log,
               "+ ./report.py\nfetching https://" HR_REDACTED
               "@data.example.com/x\nFinished: FAILURE\n",
               "log");
    cr_expect_eq(b->redacted, 4);
    for (size_t i = 0; secrets[i] != NULL; i++)
        cr_expect_null(strstr(ev->raw, secrets[i]), "raw holds %s", secrets[i]);
    hr_event_free(ev);
}

Test(notification, small_bodies)
{
    hr_event *ev;

    /* Completed without a status: Unknown; nulls are not sent; a URL
     * without job segments keeps the name. */
    ev = accept_str(hr_jenkins_notification,
                    "{\"name\":\"solo\",\"url\":\"view/x/\",\"display_name\":null,\"build\":{"
                    "\"phase\":\"completed\",\"status\":null,\"scm\":null,\"number\":3}}");
    expect_str(ev->build.job_name, "solo", "job_name");
    expect_str(ev->build.job_url, "view/x/", "job_url as sent");
    expect_str(ev->build.phase, "completed", "phase");
    expect_str(ev->build.status, NULL, "status");
    expect_str(ev->build.result, "Unknown", "result");
    cr_expect_eq(ev->build.started_at, HR_TIME_NONE);
    cr_expect_null(ev->build.scm_changes);
    cr_expect_str_eq(ev->raw, "{\"name\":\"solo\",\"url\":\"view/x/\",\"display_name\":null,"
                              "\"build\":{\"phase\":\"completed\",\"status\":null,\"scm\":null,"
                              "\"number\":3}}");
    hr_event_free(ev);

    /* A status before completion is kept, without a result; a URL whose
     * last job is not the name falls back to the name. */
    ev = accept_str(hr_jenkins_notification,
                    "{\"name\":\"b\",\"url\":\"job/a/job/c/\",\"build\":{\"phase\":\"STARTED\","
                    "\"status\":\"failure\",\"url\":\"job/a/job/c/1/\",\"display_name\":\"#1\"}}");
    expect_str(ev->build.job_name, "b", "job_name");
    expect_str(ev->build.status, "FAILURE", "status");
    expect_str(ev->build.result, NULL, "result");
    expect_str(ev->build.url, "job/a/job/c/1/", "url");
    expect_str(ev->build.job_url, "job/a/job/c/", "job_url");
    expect_str(ev->build.display_name, "#1", "display_name");
    hr_event_free(ev);

    /* A folder named "job", and an absolute url. */
    ev = accept_str(hr_jenkins_notification,
                    "{\"name\":\"x\",\"url\":\"https://h/job/job/job/x/\",\"build\":{\"phase\":"
                    "\"FINALIZED\"}}");
    expect_str(ev->build.job_name, "job/x", "job_name");
    expect_str(ev->build.job_url, "https://h/job/job/job/x/", "job_url");
    hr_event_free(ev);
}

Test(notification, xml_is_refused)
{
    size_t len;
    char *xml = payload("notification.xml", &len);
    const char *const want[] = {HR_JENKINS_XML_REFUSED, NULL};

    cr_expect(hr_jenkins_is_xml(xml, len));
    cr_expect(hr_jenkins_is_xml("\xEF\xBB\xBF \r\n\t<?xml version=\"1.0\"?><job/>", 36));
    cr_expect(!hr_jenkins_is_xml("{\"name\":\"<x>\"}", 14));
    cr_expect(!hr_jenkins_is_xml("   ", 3));
    cr_expect(!hr_jenkins_is_xml("", 0));
    refuse(hr_jenkins_notification, xml, len, want);
    cr_expect_str_eq(HR_JENKINS_XML_REFUSED,
                     "body: XML is not supported; set the Notification plugin's Format to JSON");
    free(xml);
}

Test(notification, errors)
{
    parser p = hr_jenkins_notification;

    REFUSE(p, "nope", "invalid JSON at line 1, column 4: invalid token near 'nope'");
    REFUSE(p, "[]", "body: expected an object; got an array");
    REFUSE(p, "{}", "name: expected a non-empty string; got nothing",
           "build: expected an object; got nothing");
    REFUSE(p, "{\"name\":\"\",\"display_name\":1,\"url\":[],\"build\":[]}",
           "name: expected a non-empty string; got \"\"", "display_name: expected a string; got 1",
           "url: expected a string; got an array", "build: expected an object; got an array");
    REFUSE(p, "{\"name\":\"a\",\"build\":{}}",
           "build.phase: expected one of QUEUED, STARTED, COMPLETED, FINALIZED; got nothing");
    REFUSE(p, "{\"name\":\"a\",\"build\":{\"phase\":\"NONE\"}}",
           "build.phase: expected one of QUEUED, STARTED, COMPLETED, FINALIZED; got \"NONE\"");
    REFUSE(p, "{\"name\":\"a\",\"build\":{\"phase\":\"COMPLETED\",\"status\":\"COMPLETE\"}}",
           "build.status: expected one of SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED; got "
           "\"COMPLETE\"");
    REFUSE(p,
           "{\"name\":\"a\",\"build\":{\"phase\":\"QUEUED\",\"number\":\"42\",\"queue_id\":-1,"
           "\"timestamp\":1.5,\"duration\":true,\"full_url\":2,\"url\":3,\"display_name\":4,"
           "\"log\":5,\"notes\":6}}",
           "build.full_url: expected a string; got 2",
           "build.number: expected an integer of 1 or more; got \"42\"",
           "build.queue_id: expected an integer of 0 or more; got -1",
           "build.timestamp: expected an integer of 0 or more; got 1.5",
           "build.duration: expected an integer of 0 or more; got true",
           "build.url: expected a string; got 3", "build.display_name: expected a string; got 4",
           "build.log: expected a string; got 5", "build.notes: expected a string; got 6");
    REFUSE(p,
           "{\"name\":\"a\",\"build\":{\"phase\":\"QUEUED\",\"number\":0,\"scm\":{\"url\":1,"
           "\"branch\":2,\"commit\":3,\"changes\":[\"a\",1],\"culprits\":\"bob\"}}}",
           "build.number: expected an integer of 1 or more; got 0",
           "build.scm.url: expected a string; got 1", "build.scm.branch: expected a string; got 2",
           "build.scm.commit: expected a string; got 3",
           "build.scm.changes[1]: expected a string; got 1",
           "build.scm.culprits: expected an array of strings; got \"bob\"");
    REFUSE(p,
           "{\"name\":\"a\",\"build\":{\"phase\":\"QUEUED\",\"scm\":5,\"parameters\":{\"X\":1,"
           "\"a b\":null},\"test_summary\":{\"total\":-1,\"failed\":\"0\",\"passed\":null,"
           "\"skipped\":2,\"failed_tests\":[null]},\"artifacts\":{\"a.jar\":\"x\",\"b.jar\":{"
           "\"s3\":1}}}}",
           "build.scm: expected an object; got 5",
           "build.parameters.X: expected a string; got a number",
           "build.parameters[\"a b\"]: expected a string; got null",
           "build.test_summary.total: expected an integer of 0 or more; got -1",
           "build.test_summary.failed: expected an integer of 0 or more; got \"0\"",
           "build.test_summary.failed_tests[0]: expected a string; got null",
           "build.artifacts[\"a.jar\"]: expected an object of location -> URL; got \"x\"",
           "build.artifacts[\"b.jar\"].s3: expected a string; got a number");
    REFUSE(p, "{\"name\":\"a\",\"build\":{\"phase\":\"QUEUED\",\"parameters\":[]}}",
           "build.parameters: expected an object; got an array");
}

/* ---- herald notify ---------------------------------------------------- */

Test(ci_notify, gitlab_field_by_field)
{
    hr_event *ev = accept_file(hr_ci_notify, "notify_gitlab_success.json");
    const hr_build *b = &ev->build;

    expect_str(ev->source, "gitlab", "source");
    expect_str(ev->version, "notify", "version");
    expect_str(b->job_name, "group/project/test", "job_name");
    expect_str(b->job_base_name, "test", "job_base_name");
    expect_str(b->job_url, "https://gitlab.example.com/group/project", "job_url");
    expect_str(b->branch, "main", "branch");
    cr_expect_eq(b->number, 123);
    expect_str(b->display_name, "test #123", "display_name");
    expect_str(b->url, "https://gitlab.example.com/group/project/-/jobs/123", "url");
    expect_str(b->phase, "completed", "phase");
    expect_str(b->status, "SUCCESS", "status");
    expect_str(b->result, "Passed", "result");
    cr_expect_eq(b->queue_id, 0);
    cr_expect_eq(b->started_at, HR_TIME_NONE);
    cr_expect_eq(b->duration_ms, -1);
    expect_str(b->scm_url, "https://gitlab.example.com/group/project.git", "scm_url");
    expect_str(b->scm_branch, "main", "scm_branch");
    expect_str(b->scm_commit, "0123456789abcdef0123456789abcdef01234567", "scm_commit");
    expect_str(b->body, "all green", "body");
    expect_env(b->environment,
               "{\"CI_PIPELINE_ID\":\"991\",\"CI_JOB_TOKEN\":\"********\",\"CI_REPOSITORY_URL\":"
               "\"https://********@gitlab.example.com/group/project.git\"}",
               "environment");
    cr_expect_eq(b->redacted, 2);
    cr_expect_null(strstr(ev->raw, "glcbt-fake"));
    cr_expect(strncmp(ev->raw, "{\"ci\":\"gitlab\",\"job\":\"group/project/test\",\"build\":123,",
                      54) == 0,
              "%s", ev->raw);
    hr_event_free(ev);
}

Test(ci_notify, minimal_and_started)
{
    hr_event *ev = accept_file(hr_ci_notify, "notify_minimal.json");
    expect_str(ev->source, "ci", "source");
    expect_str(ev->build.job_name, "nightly", "job_name");
    expect_str(ev->build.job_base_name, "nightly", "base");
    cr_expect_eq(ev->build.number, 0);
    expect_str(ev->build.status, "FAILURE", "status");
    expect_str(ev->build.result, "Failed", "result");
    cr_expect_null(ev->build.environment);
    cr_expect_str_eq(ev->raw, "{\"job\":\"nightly\",\"status\":\"failed\"}");
    hr_event_free(ev);

    ev = accept_file(hr_ci_notify, "notify_started.json");
    expect_str(ev->source, "drone", "source");
    expect_str(ev->build.phase, "started", "phase");
    expect_str(ev->build.status, NULL, "status");
    cr_expect_eq(ev->build.number, 5);
    hr_event_free(ev);
}

Test(ci_notify, every_status_and_alias)
{
    static const struct {
        const char *word, *phase, *status, *result;
    } cases[] = {
        {"START", "started", NULL, NULL},
        {"started", "started", NULL, NULL},
        {"Running", "running", NULL, NULL},
        {"SUCCESS", "completed", "SUCCESS", "Passed"},
        {"success", "completed", "SUCCESS", "Passed"},
        {"passed", "completed", "SUCCESS", "Passed"},
        {"UNSTABLE", "completed", "UNSTABLE", "Failed"},
        {"FAILURE", "completed", "FAILURE", "Failed"},
        {"Failed", "completed", "FAILURE", "Failed"},
        {"not_built", "completed", "NOT_BUILT", "Unknown"},
        {"ABORTED", "completed", "ABORTED", "Cancelled"},
        {"cancelled", "completed", "ABORTED", "Cancelled"},
        {"CANCELED", "completed", "ABORTED", "Cancelled"},
        {"complete", "completed", "COMPLETE", "Unknown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[128];
        hr_event *ev;
        snprintf(body, sizeof(body), "{\"job\":\"j\",\"status\":\"%s\",\"url\":null}",
                 cases[i].word);
        ev = accept_str(hr_ci_notify, body);
        expect_str(ev->build.phase, cases[i].phase, cases[i].word);
        expect_str(ev->build.status, cases[i].status, cases[i].word);
        expect_str(ev->build.result, cases[i].result, cases[i].word);
        hr_event_free(ev);
    }
}

Test(ci_notify, errors)
{
    parser p = hr_ci_notify;
    const char *const st =
        "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE (in any "
        "case), started, passed, failed, cancelled or canceled";
    char want[512];

    REFUSE(p, "[1]", "body: expected an object; got an array");
    snprintf(want, sizeof(want), "status: expected %s; got nothing", st);
    REFUSE(p, "{}", "job: expected a non-empty string; got nothing", want);
    snprintf(want, sizeof(want), "status: expected %s; got \"exploded\"", st);
    REFUSE(p, "{\"job\":\"j\",\"status\":\"exploded\"}", want);
    REFUSE(p, "{\"job\":\"j\",\"status\":\"ok\",\"foo\":1,\"a b\":2,\"Job\":3}",
           "foo: unknown member; the members are " NOTIFY_MEMBERS,
           "[\"a b\"]: unknown member; the members are " NOTIFY_MEMBERS,
           "Job: unknown member; the members are " NOTIFY_MEMBERS,
           "status: expected one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, "
           "ABORTED, COMPLETE (in any case), started, passed, failed, cancelled or canceled; "
           "got \"ok\"");
    REFUSE(p, "{\"ci\":\"GitLab\",\"job\":\"j\",\"status\":\"START\"}",
           "ci: expected a name of 1 to 32 characters from a-z, 0-9 and '-'; got \"GitLab\"");
    REFUSE(p, "{\"ci\":\"\",\"job\":\"j\",\"status\":\"START\"}",
           "ci: expected a name of 1 to 32 characters from a-z, 0-9 and '-'; got \"\"");
    REFUSE(p, "{\"ci\":\"abcdefghijklmnopqrstuvwxyz0123456\",\"job\":\"j\",\"status\":\"START\"}",
           "ci: expected a name of 1 to 32 characters from a-z, 0-9 and '-'; got "
           "\"abcdefghijklmnopqrstuvwxyz0123456\"");
    REFUSE(p, "{\"ci\":5,\"job\":\"\",\"build\":0,\"status\":\"START\"}",
           "ci: expected a name of 1 to 32 characters from a-z, 0-9 and '-'; got 5",
           "job: expected a non-empty string; got \"\"",
           "build: expected an integer of 1 or more; got 0");
    REFUSE(p, "{\"job\":\"j\",\"build\":\"5\",\"status\":\"START\"}",
           "build: expected an integer of 1 or more; got \"5\"");
    REFUSE(p,
           "{\"job\":\"j\",\"status\":\"START\",\"url\":1,\"job_url\":2,\"branch\":3,\"commit\":4,"
           "\"scm_url\":5,\"display_name\":6,\"body\":{},\"environment\":{\"A\":1,\"B\":\"b\"}}",
           "url: expected a string; got 1", "job_url: expected a string; got 2",
           "branch: expected a string; got 3", "commit: expected a string; got 4",
           "scm_url: expected a string; got 5", "display_name: expected a string; got 6",
           "body: expected a string; got an object",
           "environment.A: expected a string; got a number");
    REFUSE(p, "{\"job\":\"j\",\"status\":\"START\",\"environment\":[\"A=1\"]}",
           "environment: expected an object; got an array");
}
