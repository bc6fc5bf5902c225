/*
 * test_route_commits.c - a commit-status target's deliveries per git
 * material (route/commits.h through route.c's hr_router_match): one per
 * changed git material on the target's host, each with its subject and
 * its own order key; one for the event when nothing changed, when the
 * target names a repository, for other types and for CI builds.
 */
#include "route/commits.h"
#include "route/route.h"

#include "core/mem.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA1 "1111111111111111111111111111111111111111"
#define SHA2 "2222222222222222222222222222222222222222"
#define SHA3 "3333333333333333333333333333333333333333"
#define SHA4 "4444444444444444444444444444444444444444"

/* A GoCD stage whose build cause has two changed git materials on
 * github.com (app, and lib in scp-like spelling), one unchanged there
 * (docs), one changed on another host, app again (no second delivery)
 * and a pipeline material; changed false everywhere with !changed. */
static json_t *stage_input(bool changed)
{
    const char *c = changed ? "true" : "false";
    char text[2048];
    json_error_t e;
    snprintf(text, sizeof(text),
             "{\"source\":\"gocd\",\"kind\":\"stage-status\",\"pipeline\":{\"name\":\"app\"},"
             "\"stage\":{\"name\":\"test\"},\"build_cause\":["
             "{\"material_type\":\"git\",\"config\":{\"url\":\"https://github.com/acme/app.git\"},"
             "\"changed\":%s,\"revision\":\"" SHA1 "\"},"
             "{\"material_type\":\"pipeline\",\"material\":\"up\",\"changed\":true,"
             "\"revision\":\"up/1/build/1\"},"
             "{\"material_type\":\"git\",\"material\":\"git@github.com:acme/lib.git\","
             "\"changed\":%s,\"revision\":\"" SHA2 "\"},"
             "{\"material_type\":\"git\",\"config\":{\"url\":\"https://github.com/acme/docs\"},"
             "\"changed\":false,\"revision\":\"" SHA3 "\"},"
             "{\"material_type\":\"git\",\"config\":{\"url\":\"https://git.example.com/x/y.git\"},"
             "\"changed\":%s,\"revision\":\"" SHA4 "\"},"
             "{\"material_type\":\"git\",\"config\":{\"url\":\"https://github.com/acme/app\"},"
             "\"changed\":%s,\"revision\":\"" SHA1 "\"}]}",
             c, c, c, c);
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    return j;
}

static hr_event *stage_event(void)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    ev->pipeline_name = hr_strdup("app");
    ev->stage_name = hr_strdup("test");
    return ev;
}

typedef struct fixture {
    hr_config c;
    hr_route route;
    hr_target targets[5];
    hr_router *router;
} fixture;

/* One route to five targets: gh (GitHub), named (GitHub, repository
 * acme/docs), gl (GitLab: gitlab.com), hook (a webhook), pd (PagerDuty). */
static void fixture_init(fixture *f)
{
    static const char *const names[] = {"gh", "named", "gl", "hook", "pd"};
    static const hr_target_type types[] = {HR_TARGET_GITHUB, HR_TARGET_GITHUB, HR_TARGET_GITLAB,
                                           HR_TARGET_WEBHOOK, HR_TARGET_PAGERDUTY};
    hr_error err;

    memset(f, 0, sizeof(*f));
    f->route.name = (char *)"r";
    f->route.targets.items = (char **)names;
    f->route.targets.n = 5;
    for (size_t i = 0; i < 5; i++) {
        f->targets[i].name = (char *)names[i];
        f->targets[i].type = types[i];
        hr_target_state_defaults(&f->targets[i]);
    }
    f->targets[1].repository = hr_strdup("acme/docs");
    f->c.routes = &f->route;
    f->c.nroutes = 1;
    f->c.targets = f->targets;
    f->c.ntargets = 5;
    cr_assert_eq(hr_router_new(&f->c, &f->router, &err), HR_OK, "%s", err.msg);
    cr_expect(hr_router_needs_input(f->router));
}

static void fixture_fini(fixture *f)
{
    hr_router_free(f->router);
    for (size_t i = 0; i < 5; i++) {
        free(f->targets[i].context);
        free(f->targets[i].order_by);
        free(f->targets[i].severity);
        free(f->targets[i].repository);
    }
}

/* The matches as "target[subject]" joined by ",". */
static const char *shown(const hr_match *m, size_t n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s[%s]", i ? "," : "", m[i].target,
                                m[i].subject != NULL ? m[i].subject : "");
    return buf;
}

Test(commits, one_delivery_per_changed_git_material_on_the_host)
{
    fixture f;
    hr_match out[16];
    size_t n = 0;
    char buf[1024];
    hr_event *ev = stage_event();
    json_t *input = stage_input(true);

    fixture_init(&f);
    cr_assert_eq(hr_router_match(f.router, ev, input, out, 16, &n), HR_OK);
    cr_expect_str_eq(shown(out, n, buf, sizeof(buf)),
                     "gh[acme/app@" SHA1 "],gh[acme/lib@" SHA2 "],named[],gl[],hook[],pd[]");
    /* Each material's key is the target's (commit and context) and its
     * subject, so the two never supersede each other. */
    cr_expect_str_eq(out[0].key,
                     SHA1 "," SHA2 "," SHA3 "," SHA4 "," SHA1 " gocd/app/test acme/app@" SHA1);
    cr_expect_str_eq(out[1].key,
                     SHA1 "," SHA2 "," SHA3 "," SHA4 "," SHA1 " gocd/app/test acme/lib@" SHA2);
    cr_expect_eq(out[0].latest_wins, 1);
    cr_expect_eq(out[1].latest_wins, 1);
    cr_expect_str_eq(out[2].key, SHA1 "," SHA2 "," SHA3 "," SHA4 "," SHA1 " gocd/app/test");

    /* The bound: deliveries stop where out is full, materials included. */
    cr_assert_eq(hr_router_match(f.router, ev, input, out, 1, &n), HR_OK);
    cr_expect_str_eq(shown(out, n, buf, sizeof(buf)), "gh[acme/app@" SHA1 "]");
    cr_assert_eq(hr_router_match(f.router, ev, input, out, 3, &n), HR_OK);
    cr_expect_str_eq(shown(out, n, buf, sizeof(buf)),
                     "gh[acme/app@" SHA1 "],gh[acme/lib@" SHA2 "],named[]");
    json_decref(input);

    /* Nothing changed (a timer, a rerun): one delivery, as before. */
    input = stage_input(false);
    cr_assert_eq(hr_router_match(f.router, ev, input, out, 16, &n), HR_OK);
    cr_expect_str_eq(shown(out, n, buf, sizeof(buf)), "gh[],named[],gl[],hook[],pd[]");
    cr_expect_str_eq(out[0].key, SHA1 "," SHA2 "," SHA3 "," SHA4 "," SHA1 " gocd/app/test");
    json_decref(input);

    /* A CI build: one delivery. */
    input = json_loads("{\"source\":\"jenkins\",\"kind\":\"build-status\",\"job\":{\"name\":\"j\"},"
                       "\"build\":{\"scm\":{\"url\":\"https://github.com/acme/app\","
                       "\"commit\":\"" SHA1 "\"}}}",
                       0, NULL);
    cr_assert_eq(hr_router_match(f.router, ev, input, out, 16, &n), HR_OK);
    cr_expect_str_eq(shown(out, n, buf, sizeof(buf)), "gh[],named[],gl[],hook[],pd[]");
    json_decref(input);
    hr_event_free(ev);
    fixture_fini(&f);
}

Test(commits, the_materials_a_target_may_report)
{
    hr_target t = {.name = (char *)"t", .type = HR_TARGET_GITHUB};
    hr_commit found[8];
    char why[300] = "", subjects[4][HR_COMMIT_SUBJECT_MAX];
    json_t *ev = stage_input(true);

    cr_expect_eq(hr_commits_of(&t, ev, "github.com", false, found, 8, why, sizeof(why)), 4);
    cr_expect_eq(hr_commits_of(&t, ev, "github.com", true, found, 8, why, sizeof(why)), 3);
    cr_expect_str_eq(found[1].repo.path, "acme/lib");
    cr_expect_eq(hr_commit_subjects(&t, ev, "github.com", subjects, 4), 2, "app once");
    cr_expect_eq(hr_commit_subjects(&t, ev, "github.com", subjects, 1), 1);
    cr_expect_eq(hr_commits_of(&t, ev, "gitlab.com", false, found, 8, why, sizeof(why)), 0);
    cr_expect_str_eq(why, "no git material of the build cause is on gitlab.com");
    t.repository = (char *)"acme/docs";
    cr_expect_eq(hr_commits_of(&t, ev, "github.com", true, found, 8, why, sizeof(why)), 0);
    cr_expect_str_eq(why, "no git material on github.com changed");
    cr_expect_eq(hr_commit_subjects(&t, ev, "github.com", subjects, 4), 0, "named: one delivery");
    t.repository = (char *)"acme/nope";
    cr_expect_eq(hr_commits_of(&t, ev, "github.com", false, found, 8, why, sizeof(why)), 0);
    cr_expect_str_eq(why, "no git material on github.com is acme/nope");
    json_decref(ev);
    ev = json_loads("{\"kind\":\"stage-status\",\"build_cause\":[]}", 0, NULL);
    cr_expect_eq(hr_commits_of(&t, ev, "github.com", false, found, 8, why, sizeof(why)), 0);
    cr_expect_str_eq(why, "the build cause has no git material");
    json_decref(ev);

    t.repository = NULL;
    char *host = hr_commit_host(&t);
    cr_expect_str_eq(host, "github.com");
    free(host);
    t.api_url = (char *)"https://api.github.example.com/api/v3";
    host = hr_commit_host(&t);
    cr_expect_str_eq(host, "github.example.com");
    free(host);
    t.type = HR_TARGET_BITBUCKET;
    t.api_url = NULL;
    host = hr_commit_host(&t);
    cr_expect_str_eq(host, "bitbucket.org");
    free(host);
}
