/*
 * Tests for src/event/doc.c and src/core/jwrite.c: the stored document
 * written in one pass is byte for byte json_dumps(JSON_COMPACT) of
 * hr_event_to_json without "id" and "transition" (the form the store kept
 * before), for every payload under tests/payloads and the GoCD fixtures
 * run through every parser that accepts it, and for events made by hand
 * that reach the corners (escapes, strings that are not UTF-8, reals,
 * dropped warnings, test and health events).
 */
#include "test_files.h"
#include <criterion/criterion.h>

#include "core/jwrite.h"
#include "event/event.h"
#include "ingest/gocd_notification.h"
#include "ingest/jenkins.h"
#include "ingest/package.h"
#include "ingest/redact.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The document the store wrote before: the tree, dumped. */
static char *old_doc(const hr_event *ev)
{
    json_t *doc = hr_event_to_json(ev);
    char *s;

    json_object_del(doc, "id");
    json_object_del(doc, "transition");
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return s;
}

static void same_doc(const hr_event *ev, const char *what)
{
    size_t len = 0;
    char *want = old_doc(ev), *got = hr_event_doc(ev, &len);

    cr_assert_not_null(want, "%s: no old document", what);
    cr_assert_not_null(got, "%s: no document", what);
    cr_expect_eq(len, strlen(got), "%s: length", what);
    cr_expect_str_eq(got, want, "%s", what);
    free(want);
    free(got);
}

/* Every parser that accepts the body; each accepted event is compared. */
static size_t every_parser(const char *body, size_t len, const char *name, const hr_redact *r)
{
    hr_event *ev;
    size_t accepted = 0;
    char what[1100];

#define TRY(call, label)                                                                           \
    do {                                                                                           \
        ev = NULL;                                                                                 \
        if ((call) == HR_OK) {                                                                     \
            ev->received_at = 1700000000123;                                                       \
            ev->id = 42;                                                                           \
            ev->transition = HR_TRANSITION_FIXED;                                                  \
            snprintf(what, sizeof(what), "%s via %s", name, label);                                \
            same_doc(ev, what);                                                                    \
            accepted++;                                                                            \
        }                                                                                          \
        hr_event_free(ev);                                                                         \
    } while (0)

    for (int v = HR_GOCD_MIN_VERSION; v <= HR_GOCD_MAX_VERSION; v++) {
        TRY(hr_gocd_stage_status(body, len, v, &ev, NULL), "stage-status");
        TRY(hr_gocd_agent_status(body, len, v, &ev, NULL), "agent-status");
    }
    TRY(hr_jenkins_job_status_json(body, len, r, &ev, NULL), "job-status");
    TRY(hr_jenkins_notification(body, len, r, &ev, NULL), "notification");
    TRY(hr_ci_notify(body, len, r, &ev, NULL), "notify");
    TRY(hr_package_revision_parse("repo", "pkg", body, len, 1700000000000, &ev, NULL), "package");
    if (strstr(name, ".query") != NULL) {
        char *token = NULL;
        TRY(hr_jenkins_job_status_query(body, len, r, &token, &ev, NULL), "query");
        free(token);
    }
#undef TRY
    return accepted;
}

static size_t every_file(const char *dir, const hr_redact *r)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t accepted = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        size_t len;
        char *body;
        if (e->d_name[0] == '.' || strstr(e->d_name, ".md") != NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        body = test_slurp(path, &len);
        cr_assert_not_null(body, "cannot open %s", path);
        accepted += every_parser(body, len, path, r);
        free(body);
    }
    closedir(d);
    return accepted;
}

Test(event_doc, every_payload_as_before)
{
    hr_redact *r = NULL;
    hr_error err;

    cr_assert_eq(hr_redact_new(NULL, 0, NULL, 0, &r, &err), HR_OK);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/tests/payloads/gocd", r), 11);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/tests/payloads/jenkins", r), 20);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/tests/payloads/package", r), 2);
    cr_expect_geq(every_file(HR_TEST_FIXTURES, r), 3);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/fuzz/corpus/gocd_notification", r), 10);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/fuzz/corpus/jenkins_job_status", r), 1);
    cr_expect_geq(every_file(HR_TEST_SRCDIR "/bench", r), 3);
    hr_redact_free(r);
}

Test(event_doc, corners_as_before)
{
    hr_event *ev = hr_event_new();

    ev->source = hr_strdup("gocd");
    ev->kind = hr_strdup("stage-status");
    ev->version = hr_strdup("4.0");
    ev->pipeline_name = hr_strdup("p\"q\\r/\x01\x1f\x7f\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    ev->stage_name = hr_strdup("bad \xff utf-8");
    ev->stage_counter = hr_strdup("");
    ev->previous_stage_counter = -3;
    ev->stage_created_at = 0;
    ev->ncauses = 2;
    ev->causes = hr_calloc(2, sizeof(*ev->causes));
    ev->causes[0].config = json_pack("{s:f,s:f,s:f,s:I,s:[]}", "a", 0.1, "b", 1e300, "c", -2.5, "d",
                                     (json_int_t)-9, "e");
    ev->causes[0].nmods = 2;
    ev->causes[0].mods = hr_calloc(2, sizeof(*ev->causes[0].mods));
    ev->causes[0].mods[0].data = json_pack("{s:s}", "k\n", "v\xe2\x80\xa8");
    ev->causes[0].mods[0].modified_at = HR_TIME_NONE;
    ev->causes[0].mods[1].revision = hr_strdup("r\xc0\xaf");
    ev->causes[0].mods[1].modified_at = 1;
    for (int i = 0; i < HR_MAX_ERRORS + 3; i++)
        hr_errlist_add(&ev->warnings, "warning %d: \"x\"", i);
    same_doc(ev, "stage corners");
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("herald");
    ev->kind = hr_strdup("test");
    ev->test_target = hr_strdup("t\xff");
    same_doc(ev, "test event, target not UTF-8");
    free(ev->test_target);
    ev->test_target = hr_strdup("team-\"chat\"");
    same_doc(ev, "test event");
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("herald");
    ev->kind = hr_strdup("target-health");
    ev->health = json_pack("{s:s,s:f,s:n}", "target", "x", "ratio", 0.25, "none");
    same_doc(ev, "health event");
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("jenkins");
    ev->kind = hr_strdup("build-status");
    ev->version = hr_strdup("notification");
    ev->has_build = true;
    ev->build.job_name = hr_strdup("a/b");
    ev->build.number = 7;
    ev->build.queue_id = -1;
    ev->build.duration_ms = 0;
    ev->build.test_summary = json_pack("{s:i,s:f}", "total", 3, "rate", 1.0 / 3);
    ev->build.environment = json_object();
    same_doc(ev, "build event");
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("package");
    ev->kind = hr_strdup("package-revision");
    ev->has_package = true;
    ev->package.repository = hr_strdup("r");
    ev->package.package = hr_strdup("\xe2\x82");
    ev->package.timestamp = 5;
    same_doc(ev, "package event, no data, name cut UTF-8");
    hr_event_free(ev);

    ev = hr_event_new();
    ev->has_agent = true;
    same_doc(ev, "agent event with nothing set");
    hr_event_free(ev);
}

Test(jwrite, bounded)
{
    hr_jw w;
    size_t len = 0;
    char *doc;

    hr_jw_init(&w, 16);
    hr_jw_array(&w);
    hr_jw_string(&w, "0123456789", 10);
    cr_expect_not(w.over);
    hr_jw_string(&w, "0123456789", 10);
    cr_expect(w.over);
    hr_jw_end_array(&w);
    cr_expect_null(hr_jw_take(&w, &len));

    hr_jw_init(&w, 64);
    hr_jw_object(&w);
    hr_jw_key(&w, "a");
    hr_jw_int(&w, INT64_MIN);
    hr_jw_key(&w, "b");
    cr_expect_eq(hr_jw_string(&w, "\xff", 1), HR_EINVAL);
    hr_jw_null(&w);
    hr_jw_key(&w, "c");
    hr_jw_array(&w);
    hr_jw_bool(&w, true);
    hr_jw_array(&w);
    hr_jw_end_array(&w);
    hr_jw_bool(&w, false);
    hr_jw_end_array(&w);
    hr_jw_end_object(&w);
    doc = hr_jw_take(&w, &len);
    cr_expect_str_eq(doc, "{\"a\":-9223372036854775808,\"b\":null,\"c\":[true,[],false]}");
    cr_expect_eq(len, strlen(doc));
    free(doc);
}
