/*
 * test_event.c - the event model: transitions, their names, and the
 * stored document (hr_event_doc, the normalised JSON form without "id" and
 * "transition") of stage, agent, build and package events.
 */
#include "event/event.h"
#include "event_test.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void assert_json_text(json_t *got, const char *want_text)
{
    json_error_t jerr;
    json_t *want = json_loads(want_text, 0, &jerr);
    cr_assert_not_null(want, "bad expected JSON: %s", jerr.text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
        cr_log_error("got:\n%s\nwant:\n%s", g, w);
        free(g);
        free(w);
        cr_assert_fail("JSON differs");
    }
    json_decref(want);
}

Test(event, transition_of)
{
    static const struct {
        const char *state, *result, *prev;
        hr_transition want;
    } cases[] = {
        {"Building", "Unknown", NULL, HR_TRANSITION_BUILDING},
        {"Building", "Unknown", "Failed", HR_TRANSITION_BUILDING},
        {"Building", NULL, "Passed", HR_TRANSITION_BUILDING},
        {"Failing", "Unknown", "Passed", HR_TRANSITION_FAILING},
        {"Failing", "Failed", "Failed", HR_TRANSITION_FAILING},
        {"Passed", "Passed", NULL, HR_TRANSITION_PASSED},
        {"Passed", "Passed", "Passed", HR_TRANSITION_PASSED},
        {"Passed", "Passed", "Failed", HR_TRANSITION_FIXED},
        {"Passed", "Passed", "Cancelled", HR_TRANSITION_PASSED},
        {"Failed", "Failed", NULL, HR_TRANSITION_FAILED},
        {"Failed", "Failed", "Passed", HR_TRANSITION_BROKEN},
        {"Failed", "Failed", "Failed", HR_TRANSITION_STILL_FAILING},
        {"Failed", "Failed", "Unknown", HR_TRANSITION_FAILED},
        {"Cancelled", "Cancelled", "Passed", HR_TRANSITION_CANCELLED},
        {"Cancelled", "Unknown", NULL, HR_TRANSITION_CANCELLED},
        {"Cancelled", NULL, "Failed", HR_TRANSITION_CANCELLED},
        {"Unknown", "Unknown", "Passed", HR_TRANSITION_UNKNOWN},
        {NULL, NULL, NULL, HR_TRANSITION_UNKNOWN},
        {"passed", "passed", NULL, HR_TRANSITION_UNKNOWN}, /* names are case-sensitive */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_transition got = hr_transition_of(cases[i].state, cases[i].result, cases[i].prev);
        cr_expect_eq(got, cases[i].want, "case %zu (%s, %s, prev %s): got %s, want %s", i,
                     cases[i].state ? cases[i].state : "NULL",
                     cases[i].result ? cases[i].result : "NULL",
                     cases[i].prev ? cases[i].prev : "NULL", hr_transition_name(got),
                     hr_transition_name(cases[i].want));
    }
}

/* A build's transition from its job's history, with no store: the rule
 * lives with the event model, and the history moves as the store keeps
 * it. */
Test(event, build_transition_moves_the_history)
{
    static const struct {
        const char *phase, *result;
        int64_t number;
        hr_transition want;
        const char *last, *prev; /* the history after */
    } steps[] = {
        {"started", NULL, 1, HR_TRANSITION_BUILDING, NULL, NULL},
        {"completed", "Passed", 1, HR_TRANSITION_PASSED, "Passed", NULL},
        {"finalized", "Passed", 1, HR_TRANSITION_NONE, "Passed", NULL},
        {"completed", "Failed", 2, HR_TRANSITION_BROKEN, "Failed", "Passed"},
        /* The same build's result again (a retry, a second plugin) is
         * judged against the result before that build. */
        {"completed", "Failed", 2, HR_TRANSITION_BROKEN, "Failed", "Passed"},
        {"completed", "Failed", 3, HR_TRANSITION_STILL_FAILING, "Failed", "Failed"},
        {"completed", "Aborted", 4, HR_TRANSITION_UNKNOWN, "Failed", "Failed"},
        {"completed", "Passed", 5, HR_TRANSITION_FIXED, "Passed", "Failed"},
    };
    hr_job_history h = {NULL, NULL, 0};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        hr_build b = {0};
        b.phase = (char *)steps[i].phase;
        b.result = (char *)steps[i].result;
        b.number = steps[i].number;
        hr_transition got = hr_build_transition(&b, &h);
        cr_expect_eq(got, steps[i].want, "step %zu: %s, want %s", i, hr_transition_name(got),
                     hr_transition_name(steps[i].want));
        cr_expect(steps[i].last ? h.last_result && strcmp(h.last_result, steps[i].last) == 0
                                : h.last_result == NULL,
                  "step %zu: last_result %s", i, h.last_result ? h.last_result : "NULL");
        cr_expect(steps[i].prev ? h.prev_result && strcmp(h.prev_result, steps[i].prev) == 0
                                : h.prev_result == NULL,
                  "step %zu: prev_result %s", i, h.prev_result ? h.prev_result : "NULL");
    }
    hr_job_history_clear(&h);
    cr_assert_null(h.last_result);
}

/* herald notify keeps a job's history per branch; Jenkins per job. */
Test(event, build_history_branch)
{
    hr_event *ev = hr_event_new();
    ev->build.branch = hr_strdup("main");
    ev->version = hr_strdup("notify");
    cr_assert_str_eq(hr_build_history_branch(ev), "main");
    free(ev->version);
    ev->version = hr_strdup("1");
    cr_assert_str_eq(hr_build_history_branch(ev), "");
    hr_event_free(ev);
}

Test(event, transition_names)
{
    static const struct {
        hr_transition t;
        const char *name;
    } names[] = {
        {HR_TRANSITION_BUILDING, "building"},
        {HR_TRANSITION_FAILING, "failing"},
        {HR_TRANSITION_PASSED, "passed"},
        {HR_TRANSITION_FIXED, "fixed"},
        {HR_TRANSITION_FAILED, "failed"},
        {HR_TRANSITION_BROKEN, "broken"},
        {HR_TRANSITION_STILL_FAILING, "still_failing"},
        {HR_TRANSITION_CANCELLED, "cancelled"},
        {HR_TRANSITION_UNKNOWN, "unknown"},
    };
    cr_assert_null(hr_transition_name(HR_TRANSITION_NONE));
    cr_assert_null(hr_transition_name((hr_transition)1000));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_str_eq(hr_transition_name(names[i].t), names[i].name);
}

Test(event, new_and_free)
{
    hr_event *ev = hr_event_new();
    cr_assert_eq(ev->id, 0);
    cr_assert_eq(ev->received_at, 0);
    cr_assert_eq(ev->stage_created_at, HR_TIME_NONE);
    cr_assert_eq(ev->stage_transition_at, HR_TIME_NONE);
    cr_assert_eq(ev->agent.transition_at, HR_TIME_NONE);
    cr_assert_eq(ev->transition, HR_TRANSITION_NONE);
    cr_assert_null(ev->source);
    hr_event_free(ev);
    hr_event_free(NULL);
}

static hr_event *stage_event(void)
{
    hr_event *ev = hr_event_new();
    ev->id = 7;
    ev->received_at = 1310586217100;
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    ev->version = hr_strdup("1.0");
    ev->pipeline_name = hr_strdup("pipeline1");
    ev->pipeline_counter = hr_strdup("1");
    ev->pipeline_group = hr_strdup("pipeline-group");
    /* pipeline_label left unset: null */
    ev->stage_name = hr_strdup("stage");
    ev->stage_counter = hr_strdup("1");
    ev->stage_state = hr_strdup("Failed");
    ev->stage_result = hr_strdup("Failed");
    ev->approval_type = hr_strdup("success");
    ev->approved_by = hr_strdup("changes");
    ev->stage_created_at = 1310584997100;
    /* stage_transition_at left HR_TIME_NONE: null */
    ev->transition = HR_TRANSITION_BROKEN;
    ev->njobs = 1;
    ev->jobs = hr_calloc(1, sizeof(hr_job));
    ev->jobs[0].name = hr_strdup("job1");
    ev->jobs[0].state = hr_strdup("Completed");
    ev->jobs[0].result = hr_strdup("Failed");
    ev->jobs[0].scheduled_at = 1310584997100;
    ev->jobs[0].assigned_at = HR_TIME_NONE;
    ev->jobs[0].completed_at = 1310586217100;
    ev->ncauses = 2;
    ev->causes = hr_calloc(2, sizeof(hr_cause));
    ev->causes[0].material_type = hr_strdup("git");
    ev->causes[0].material = hr_strdup("https://github.com/gocd/gocd");
    ev->causes[0].config =
        json_pack("{s:s,s:s}", "url", "https://github.com/gocd/gocd", "branch", "master");
    ev->causes[0].changed = true;
    ev->causes[0].nmods = 1;
    ev->causes[0].mods = hr_calloc(1, sizeof(hr_modification));
    ev->causes[0].mods[0].revision = hr_strdup("1");
    ev->causes[0].mods[0].modified_at = 1310584000000;
    ev->causes[0].mods[0].data = json_pack("{s:s}", "k", "v");
    ev->causes[1].material_type = hr_strdup("pipeline");
    ev->causes[1].material = hr_strdup("upstream/build");
    return ev;
}

Test(event, stage_doc)
{
    hr_event *ev = stage_event();
    json_t *o = event_doc_json(ev);
    assert_json_text(
        o, "{\"received_at\": \"2011-07-13T19:43:37.100Z\", \"source\": \"gocd\","
           " \"kind\": \"stage-status\", \"version\": \"1.0\","
           " \"pipeline\": {\"name\": \"pipeline1\", \"counter\": \"1\", \"label\": null,"
           "   \"group\": \"pipeline-group\"},"
           " \"stage\": {\"name\": \"stage\", \"counter\": \"1\", \"state\": \"Failed\","
           "   \"result\": \"Failed\", \"approval_type\": \"success\","
           "   \"approved_by\": \"changes\", \"previous_stage_name\": null,"
           "   \"previous_stage_counter\": 0, \"created_at\": \"2011-07-13T19:23:17.100Z\","
           "   \"last_transition_at\": null,"
           "   \"jobs\": [{\"name\": \"job1\", \"state\": \"Completed\", \"result\": \"Failed\","
           "     \"agent_uuid\": null, \"scheduled_at\": \"2011-07-13T19:23:17.100Z\","
           "     \"assigned_at\": null, \"completed_at\": \"2011-07-13T19:43:37.100Z\"}]},"
           " \"build_cause\": ["
           "   {\"material_type\": \"git\", \"material\": \"https://github.com/gocd/gocd\","
           "    \"fingerprint\": null,"
           "    \"config\": {\"url\": \"https://github.com/gocd/gocd\", \"branch\": \"master\"},"
           "    \"changed\": true, \"revision\": \"1\","
           "    \"modifications\": [{\"revision\": \"1\","
           "      \"modified_at\": \"2011-07-13T19:06:40.000Z\", \"data\": {\"k\": \"v\"}}]},"
           "   {\"material_type\": \"pipeline\", \"material\": \"upstream/build\","
           "    \"fingerprint\": null, \"config\": {}, \"changed\": false, \"revision\": null,"
           "    \"modifications\": []}],"
           " \"summary\": {\"name\": \"pipeline1/stage\", \"number\": \"1\","
           "   \"result\": \"Failed\", \"url\": null}}");
    cr_assert_null(json_object_get(o, "agent"));
    json_decref(o);
    hr_event_free(ev);
}

Test(event, stage_doc_leaves_id_and_transition_to_the_store)
{
    hr_event *ev = stage_event();
    json_t *o;
    ev->received_at = 0;
    o = event_doc_json(ev);
    /* stage_event has both: the store keeps them in columns instead. */
    cr_assert_null(json_object_get(o, "id"));
    cr_assert_null(json_object_get(o, "transition"));
    cr_assert(json_is_null(json_object_get(o, "received_at")));
    json_decref(o);
    hr_event_free(ev);
}

Test(event, agent_doc)
{
    hr_event *ev = hr_event_new();
    json_t *o;
    ev->id = 3;
    ev->received_at = 1518676289000;
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_AGENT_STATUS);
    ev->version = hr_strdup("4.0");
    ev->has_agent = true;
    ev->agent.uuid = hr_strdup("agent_uuid");
    ev->agent.host_name = hr_strdup("agent_hostname");
    ev->agent.ip_address = hr_strdup("127.0.0.1");
    ev->agent.operating_system = hr_strdup("rh");
    /* free_space left unset: null */
    ev->agent.config_state = hr_strdup("Enabled");
    ev->agent.agent_state = hr_strdup("Building");
    ev->agent.build_state = hr_strdup("Building");
    ev->agent.is_elastic = true;
    ev->agent.transition_at = 1518676288998;
    o = event_doc_json(ev);
    assert_json_text(o, "{\"received_at\": \"2018-02-15T06:31:29.000Z\","
                        " \"source\": \"gocd\", \"kind\": \"agent-status\", \"version\": \"4.0\","
                        " \"agent\": {\"uuid\": \"agent_uuid\", \"host_name\": \"agent_hostname\","
                        "   \"ip_address\": \"127.0.0.1\", \"operating_system\": \"rh\","
                        "   \"free_space\": null, \"config_state\": \"Enabled\","
                        "   \"agent_state\": \"Building\", \"build_state\": \"Building\","
                        "   \"is_elastic\": true,"
                        "   \"transition_at\": \"2018-02-15T06:31:28.998Z\"}}");
    json_decref(o);

    ev->agent.transition_at = HR_TIME_NONE;
    o = event_doc_json(ev);
    cr_assert(json_is_null(json_object_get(json_object_get(o, "agent"), "transition_at")));
    json_decref(o);
    hr_event_free(ev);
}

Test(event, build_doc)
{
    hr_event *ev = hr_event_new();
    json_t *o, *want;
    ev->id = 9;
    ev->received_at = 1310584997100;
    ev->source = hr_strdup("jenkins");
    ev->kind = hr_strdup(HR_KIND_BUILD_STATUS);
    ev->version = hr_strdup("notification");
    ev->has_build = true;
    ev->build.job_name = hr_strdup("folder/app");
    ev->build.job_base_name = hr_strdup("app");
    ev->build.number = 42;
    ev->build.url = hr_strdup("http://ci/job/folder/job/app/42/");
    ev->build.phase = hr_strdup("completed");
    ev->build.status = hr_strdup("UNSTABLE");
    ev->build.result = hr_strdup("Failed");
    ev->build.duration_ms = 1500;
    ev->build.scm_commit = hr_strdup("abc");
    ev->build.parameters = hr_vars_new();
    hr_vars_add(ev->build.parameters, "P", 1, "v", 1);
    ev->build.environment = hr_vars_new();
    hr_vars_add(ev->build.environment, "GITHUB_TOKEN", 12, "********", 8);
    ev->transition = HR_TRANSITION_BROKEN;
    o = event_doc_json(ev);
    want = json_loads(
        "{\"received_at\": \"2011-07-13T19:23:17.100Z\", \"source\": \"jenkins\","
        " \"kind\": \"build-status\", \"version\": \"notification\","
        " \"job\": {\"name\": \"folder/app\", \"base_name\": \"app\", \"url\": null,"
        "   \"branch\": null},"
        " \"build\": {\"number\": 42, \"display_name\": null,"
        "   \"url\": \"http://ci/job/folder/job/app/42/\", \"phase\": \"completed\","
        "   \"status\": \"UNSTABLE\", \"result\": \"Failed\", \"queue_id\": null,"
        "   \"started_at\": null, \"duration_ms\": 1500,"
        "   \"scm\": {\"url\": null, \"branch\": null, \"commit\": \"abc\", \"changes\": null,"
        "     \"culprits\": null},"
        "   \"parameters\": {\"P\": \"v\"}, \"test_summary\": null, \"artifacts\": null,"
        "   \"log\": null, \"notes\": null, \"body\": null},"
        " \"environment\": {\"GITHUB_TOKEN\": \"********\"},"
        " \"summary\": {\"name\": \"folder/app\", \"number\": \"42\", \"result\": \"Failed\","
        "   \"url\": \"http://ci/job/folder/job/app/42/\"}}",
        0, NULL);
    cr_assert_not_null(want);
    cr_assert(json_equal(o, want), "got %s", json_dumps(o, JSON_SORT_KEYS));
    json_decref(want);
    json_decref(o);
    hr_event_free(ev);
}

Test(event, package_doc)
{
    hr_event *ev = hr_event_new();
    json_t *o, *want;
    ev->id = 3;
    ev->received_at = 1310584997100;
    ev->source = hr_strdup(HR_SOURCE_PACKAGE);
    ev->kind = hr_strdup(HR_KIND_PACKAGE_REVISION);
    ev->version = hr_strdup("1");
    ev->has_package = true;
    ev->package.repository = hr_strdup("rel");
    ev->package.package = hr_strdup("app");
    ev->package.revision = hr_strdup("1.2");
    ev->package.timestamp = 1310672617100;
    ev->package.user = hr_strdup("me");
    ev->package.data = json_pack("{s:s}", "VERSION", "1.2");
    o = event_doc_json(ev);
    want = json_loads(
        "{\"received_at\": \"2011-07-13T19:23:17.100Z\", \"source\": \"package\","
        " \"kind\": \"package-revision\", \"version\": \"1\","
        " \"package\": {\"repository\": \"rel\", \"name\": \"app\", \"revision\": \"1.2\","
        "   \"timestamp\": \"2011-07-14T19:43:37.100Z\", \"user\": \"me\","
        "   \"revision_comment\": null, \"trackback_url\": null, \"data\": {\"VERSION\": \"1.2\"}},"
        " \"summary\": {\"name\": \"rel/app\", \"number\": \"1.2\", \"result\": null,"
        "   \"url\": null}}",
        0, NULL);
    cr_assert_not_null(want);
    cr_assert(json_equal(o, want), "got %s", json_dumps(o, JSON_SORT_KEYS));
    json_decref(want);
    json_decref(o);
    hr_event_free(ev);
}
