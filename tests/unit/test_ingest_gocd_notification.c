/*
 * Tests for src/ingest/gocd_notification.c.
 *
 * Three sources of bodies:
 * - GoCD's own test payloads in HR_TEST_FIXTURES (skipped when that folder
 *   is absent), with their %s placeholders filled as its README says;
 * - herald's own payloads in tests/payloads/gocd/, each checked field by
 *   field against a table below and against the JSON it came from;
 * - small variants of one valid body, built here, for every rule and its
 *   exact message.
 */
#include "test_files.h"
#include <criterion/criterion.h>

#include "core/mem.h"
#include "core/timefmt.h"
#include "event_test.h"
#include "ingest/gocd_notification.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PAYLOADS HR_TEST_SRCDIR "/tests/payloads/gocd"

#define STAGE_STATES "one of Building, Failing, Passed, Failed, Cancelled, Unknown"
#define RESULTS "one of Passed, Failed, Cancelled, Unknown"
#define JOB_STATES                                                                                 \
    "one of Unknown, Scheduled, Assigned, Preparing, Building, Completing, Completed, "            \
    "Discontinued, Rescheduled, Paused, Waiting"
#define TIME_EXPECTED                                                                              \
    "a timestamp like 2011-07-13T19:43:37.100Z or 2011-07-13T19:43:37.100+0000, or \"\""

/* ---- helpers ---------------------------------------------------------- */

static bool folder_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The template with each %s replaced, in order, by vals[i]; all n must be
 * used exactly. New. */
static char *fill(const char *tmpl, const char *const *vals, size_t n, size_t *len)
{
    size_t cap = strlen(tmpl) + 1, used = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        cap += strlen(vals[i]);
    char *out = malloc(cap);
    cr_assert_not_null(out);
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            cr_assert_lt(k, n, "template has more than %zu placeholders", n);
            size_t vl = strlen(vals[k]);
            memcpy(out + used, vals[k++], vl);
            used += vl;
            p++;
        } else {
            out[used++] = *p;
        }
    }
    cr_assert_eq(k, n, "template has %zu placeholders, expected %zu", k, n);
    out[used] = '\0';
    *len = used;
    return out;
}

/* The N of "_vN_" in a file name, or 0. */
static int version_in_name(const char *name)
{
    const char *v = strstr(name, "_v");
    return v != NULL && v[2] >= '1' && v[2] <= '9' && v[3] == '_' ? v[2] - '0' : 0;
}

static void expect_str(const char *got, const char *want, const char *what)
{
    if (want == NULL) {
        cr_expect_null(got, "%s: expected NULL, got \"%s\"", what, got ? got : "");
        return;
    }
    cr_expect_not_null(got, "%s: expected \"%s\", got NULL", what, want);
    if (got != NULL)
        cr_expect_str_eq(got, want, "%s: expected \"%s\", got \"%s\"", what, want, got);
}

static void expect_time(int64_t got, int64_t want, const char *what)
{
    cr_expect_eq(got, want, "%s: expected %lld, got %lld", what, (long long)want, (long long)got);
}

/* Parses a body that must be valid; the event is new. */
static hr_event *stage_ok(const char *body, size_t len, int version)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_gocd_stage_status(body, len, version, &ev, &errs);
    cr_assert_eq(rc, HR_OK, "v%d stage-status refused: %s (%zu problems)", version,
                 errs.n ? errs.msgs[0] : "?", hr_errlist_count(&errs));
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_not_null(ev);
    cr_assert_eq(hr_errlist_count(&ev->warnings), 0, "v%d stage-status warned: %s", version,
                 ev->warnings.n ? ev->warnings.msgs[0] : "?");
    return ev;
}

static hr_event *agent_ok(const char *body, size_t len, int version)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_gocd_agent_status(body, len, version, &ev, &errs);
    cr_assert_eq(rc, HR_OK, "v%d agent-status refused: %s (%zu problems)", version,
                 errs.n ? errs.msgs[0] : "?", hr_errlist_count(&errs));
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_not_null(ev);
    cr_assert_eq(hr_errlist_count(&ev->warnings), 0, "v%d agent-status warned: %s", version,
                 ev->warnings.n ? ev->warnings.msgs[0] : "?");
    return ev;
}

typedef int (*parse_fn)(const char *, size_t, int, hr_event **, hr_errlist *);

/* Parses a body that must be refused with exactly the messages listed
 * (NULL-terminated), and checks *out was left alone. */
static void expect_errors_with(parse_fn fn, const char *body, size_t len, int version,
                               const char *const *want)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event sentinel, *ev = &sentinel;
    size_t n = 0;
    int rc = fn(body, len, version, &ev, &errs);

    while (want[n] != NULL)
        n++;
    for (size_t i = 0; i < errs.n; i++)
        cr_log_info("message %zu: %s", i, errs.msgs[i]);
    cr_expect_eq(rc, HR_EINVAL, "expected HR_EINVAL, got %d", rc);
    cr_expect_eq(ev, &sentinel, "out was changed on failure");
    cr_expect_eq(hr_errlist_count(&errs), n, "expected %zu messages, got %zu", n,
                 hr_errlist_count(&errs));
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i], "message %zu:\n got  %s\n want %s", i, errs.msgs[i],
                         want[i]);
    hr_errlist_clear(&errs);
}

/* Parses a body that must be accepted, with nothing added to errs and
 * exactly the warnings listed (NULL-terminated) on the event; the event is
 * new. */
static hr_event *expect_warnings_with(parse_fn fn, const char *body, size_t len, int version,
                                      const char *const *want)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    size_t n = 0;
    int rc = fn(body, len, version, &ev, &errs);

    while (want[n] != NULL)
        n++;
    cr_assert_eq(rc, HR_OK, "refused: %s (%zu problems)", errs.n ? errs.msgs[0] : "?",
                 hr_errlist_count(&errs));
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_not_null(ev);
    for (size_t i = 0; i < ev->warnings.n; i++)
        cr_log_info("warning %zu: %s", i, ev->warnings.msgs[i]);
    cr_expect_eq(hr_errlist_count(&ev->warnings), n, "expected %zu warnings, got %zu", n,
                 hr_errlist_count(&ev->warnings));
    for (size_t i = 0; i < n && i < ev->warnings.n; i++)
        cr_expect_str_eq(ev->warnings.msgs[i], want[i], "warning %zu:\n got  %s\n want %s", i,
                         ev->warnings.msgs[i], want[i]);
    return ev;
}

#define EXPECT_STAGE_WARNINGS(body, version, ...)                                                  \
    hr_event_free(expect_warnings_with(hr_gocd_stage_status, (body), strlen(body), (version),      \
                                       (const char *const[]){__VA_ARGS__, NULL}))
#define EXPECT_AGENT_WARNINGS(body, version, ...)                                                  \
    hr_event_free(expect_warnings_with(hr_gocd_agent_status, (body), strlen(body), (version),      \
                                       (const char *const[]){__VA_ARGS__, NULL}))

#define EXPECT_STAGE_ERRORS(body, version, ...)                                                    \
    expect_errors_with(hr_gocd_stage_status, (body), strlen(body), (version),                      \
                       (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_AGENT_ERRORS(body, version, ...)                                                    \
    expect_errors_with(hr_gocd_agent_status, (body), strlen(body), (version),                      \
                       (const char *const[]){__VA_ARGS__, NULL})

/* ---- the event against the JSON it came from -------------------------- */

static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int64_t time_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    int64_t t = HR_TIME_NONE;
    if (json_is_string(v) && json_string_length(v) > 0)
        cr_assert_eq(hr_time_parse(json_string_value(v), json_string_length(v), &t), HR_OK,
                     "the test's own body has a bad time in %s", key);
    return t;
}

static void expect_header(const hr_event *ev, const char *kind, int version, const char *body,
                          size_t len)
{
    char v[8];
    snprintf(v, sizeof(v), "%d.0", version);
    expect_str(ev->source, "gocd", "source");
    expect_str(ev->kind, kind, "kind");
    expect_str(ev->version, v, "version");
    cr_expect_eq(ev->id, 0);
    cr_expect_eq(ev->received_at, 0);
    cr_expect_eq(ev->transition, HR_TRANSITION_NONE);
    cr_expect_eq(ev->raw_len, len);
    cr_assert_not_null(ev->raw);
    cr_expect_eq(memcmp(ev->raw, body, len), 0, "raw is not the exact body");
    cr_expect_eq(ev->raw[len], '\0');
}

/* What herald should make of one material, worked out independently. */
static void expect_material(const hr_cause *c, const json_t *m, int version, const char *what)
{
    const char *type = str_of(m, "type");
    char key[64];
    json_t *want_cfg;
    const char *want_desc;
    char desc[256];

    expect_str(c->material_type, type, what);
    expect_str(c->fingerprint, version >= 4 ? str_of(m, "fingerprint") : NULL, what);
    snprintf(key, sizeof(key), "%s-configuration", type);
    if (strcmp(type, "package") == 0) {
        want_cfg =
            json_pack("{s:s,s:O,s:O}", "plugin-id", str_of(m, "plugin-id"), "package-configuration",
                      json_object_get(m, "package-configuration"), "repository-configuration",
                      json_object_get(m, "repository-configuration"));
        want_desc = str_of(m, "plugin-id");
    } else if (strcmp(type, "scm") == 0) {
        want_cfg = json_pack("{s:s,s:O}", "plugin-id", str_of(m, "plugin-id"), "scm-configuration",
                             json_object_get(m, "scm-configuration"));
        want_desc = str_of(m, "plugin-id");
    } else if (strcmp(type, "pipeline") == 0) {
        const json_t *cfg = json_object_get(m, key);
        want_cfg = json_incref((json_t *)cfg);
        snprintf(desc, sizeof(desc), "%s/%s", str_of(cfg, "pipeline-name"),
                 str_of(cfg, "stage-name"));
        want_desc = desc;
    } else {
        const json_t *cfg = json_object_get(m, key);
        want_cfg = json_incref((json_t *)cfg);
        want_desc = str_of(cfg, "url");
    }
    cr_assert_not_null(want_cfg, "%s: the test body has no %s", what, key);
    expect_str(c->material, want_desc, what);
    cr_expect(json_equal(c->config, want_cfg), "%s: config differs", what);
    json_decref(want_cfg);
}

/* Checks every mapped field of a stage event against its body. */
static void check_stage_doc(const hr_event *ev, const char *body, size_t len, int version)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const json_t *p = json_object_get(doc, "pipeline"), *s = json_object_get(p, "stage");
    const json_t *jobs = json_object_get(s, "jobs"), *causes = json_object_get(p, "build-cause");
    const json_t *prev = json_object_get(s, "previous-stage-counter");

    cr_assert_not_null(doc);
    expect_header(ev, "stage-status", version, body, len);
    cr_expect_not(ev->has_agent);
    expect_str(ev->pipeline_name, str_of(p, "name"), "pipeline.name");
    expect_str(ev->pipeline_counter, str_of(p, "counter"), "pipeline.counter");
    expect_str(ev->pipeline_label, version >= 2 ? str_of(p, "label") : NULL, "pipeline.label");
    expect_str(ev->pipeline_group, str_of(p, "group"), "pipeline.group");
    expect_str(ev->stage_name, str_of(s, "name"), "stage.name");
    expect_str(ev->stage_counter, str_of(s, "counter"), "stage.counter");
    expect_str(ev->stage_state, str_of(s, "state"), "stage.state");
    expect_str(ev->stage_result, str_of(s, "result"), "stage.result");
    expect_str(ev->approval_type, str_of(s, "approval-type"), "stage.approval-type");
    expect_str(ev->approved_by, str_of(s, "approved-by"), "stage.approved-by");
    expect_str(ev->previous_stage_name, version >= 4 ? str_of(s, "previous-stage-name") : NULL,
               "stage.previous-stage-name");
    cr_expect_eq(ev->previous_stage_counter,
                 version >= 4 && prev != NULL ? json_integer_value(prev) : 0);
    expect_time(ev->stage_created_at, time_of(s, "create-time"), "stage.create-time");
    expect_time(ev->stage_transition_at, time_of(s, "last-transition-time"),
                "stage.last-transition-time");

    cr_assert_eq(ev->njobs, json_array_size(jobs));
    for (size_t i = 0; i < ev->njobs; i++) {
        const json_t *j = json_array_get(jobs, i);
        const hr_job *job = &ev->jobs[i];
        expect_str(job->name, str_of(j, "name"), "job.name");
        expect_str(job->state, str_of(j, "state"), "job.state");
        expect_str(job->result, str_of(j, "result"), "job.result");
        expect_str(job->agent_uuid, str_of(j, "agent-uuid"), "job.agent-uuid");
        expect_time(job->scheduled_at, time_of(j, "schedule-time"), "job.schedule-time");
        expect_time(job->assigned_at, version >= 2 ? time_of(j, "assign-time") : HR_TIME_NONE,
                    "job.assign-time");
        expect_time(job->completed_at, time_of(j, "complete-time"), "job.complete-time");
    }

    cr_assert_eq(ev->ncauses, json_array_size(causes));
    for (size_t i = 0; i < ev->ncauses; i++) {
        const json_t *bc = json_array_get(causes, i), *mods = json_object_get(bc, "modifications");
        const hr_cause *c = &ev->causes[i];
        expect_material(c, json_object_get(bc, "material"), version, "material");
        cr_expect_eq(c->changed, json_is_true(json_object_get(bc, "changed")));
        cr_assert_eq(c->nmods, json_array_size(mods));
        for (size_t k = 0; k < c->nmods; k++) {
            const json_t *m = json_array_get(mods, k), *data = json_object_get(m, "data");
            json_t *empty = json_object();
            expect_str(c->mods[k].revision, str_of(m, "revision"), "modification.revision");
            expect_time(c->mods[k].modified_at, time_of(m, "modified-time"),
                        "modification.modified-time");
            cr_assert_not_null(c->mods[k].data);
            cr_expect(json_equal(c->mods[k].data, json_is_object(data) ? data : empty));
            json_decref(empty);
        }
    }
    json_decref(doc);
}

/* The canonical spelling of an agent enum value, worked out independently. */
static const char *canonical(const char *v)
{
    static const char *const names[] = {"Pending",  "Enabled",     "Disabled", "Idle",
                                        "Building", "LostContact", "Missing",  "Cancelled",
                                        "Unknown",  NULL};
    for (size_t i = 0; names[i] != NULL; i++)
        if (strcasecmp(v, names[i]) == 0)
            return names[i];
    return NULL;
}

static void check_agent_doc(const hr_event *ev, const char *body, size_t len, int version)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const hr_agent *a = &ev->agent;

    cr_assert_not_null(doc);
    expect_header(ev, "agent-status", version, body, len);
    cr_expect(ev->has_agent);
    expect_str(a->uuid, str_of(doc, "uuid"), "uuid");
    expect_str(a->host_name, str_of(doc, "host_name"), "host_name");
    expect_str(a->ip_address, str_of(doc, "ip_address"), "ip_address");
    expect_str(a->operating_system, str_of(doc, "operating_system"), "operating_system");
    expect_str(a->free_space, str_of(doc, "free_space"), "free_space");
    expect_str(a->config_state, canonical(str_of(doc, "agent_config_state")), "config_state");
    expect_str(a->agent_state, canonical(str_of(doc, "agent_state")), "agent_state");
    expect_str(a->build_state, canonical(str_of(doc, "build_state")), "build_state");
    cr_expect_eq(a->is_elastic, json_is_true(json_object_get(doc, "is_elastic")));
    expect_time(a->transition_at, time_of(doc, "transition_time"), "transition_time");
    cr_expect_eq(ev->njobs, 0);
    cr_expect_eq(ev->ncauses, 0);
    cr_expect_null(ev->pipeline_name);
    json_decref(doc);
}

/* ---- version header --------------------------------------------------- */

Test(gocd_version, parses_every_form)
{
    int v = 0;
    cr_expect_eq(hr_gocd_parse_version("1.0", &v), HR_OK);
    cr_expect_eq(v, 1);
    cr_expect_eq(hr_gocd_parse_version("2.0", &v), HR_OK);
    cr_expect_eq(v, 2);
    cr_expect_eq(hr_gocd_parse_version("3.0", &v), HR_OK);
    cr_expect_eq(v, 3);
    cr_expect_eq(hr_gocd_parse_version("4.0", &v), HR_OK);
    cr_expect_eq(v, 4);
    cr_expect_eq(hr_gocd_parse_version("4", &v), HR_OK);
    cr_expect_eq(v, 4);
    cr_expect_eq(hr_gocd_parse_version("2", &v), HR_OK);
    cr_expect_eq(v, 2);
    v = 0;
    cr_expect_eq(hr_gocd_parse_version(NULL, &v), HR_OK);
    cr_expect_eq(v, HR_GOCD_MAX_VERSION);
    v = 0;
    cr_expect_eq(hr_gocd_parse_version("", &v), HR_OK);
    cr_expect_eq(v, HR_GOCD_MAX_VERSION);
}

Test(gocd_version, refuses_others)
{
    int v = 7;
    const char *bad[] = {"5.0", "0.0", "4.1", "1.00", "10", "v4", " 4.0", "4.0 ", "x", "5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(hr_gocd_parse_version(bad[i], &v), HR_EINVAL, "accepted \"%s\"", bad[i]);
    cr_expect_eq(v, 7, "out changed on failure");
}

/* ---- GoCD's own fixtures ---------------------------------------------- */

static char *fixture(const char *name, size_t *len)
{
    char path[1024];
    char *body;
    if (!folder_exists(HR_TEST_FIXTURES))
        cr_skip_test("no fixtures at %s", HR_TEST_FIXTURES);
    snprintf(path, sizeof(path), "%s/%s", HR_TEST_FIXTURES, name);
    body = test_slurp(path, len);
    cr_assert_not_null(body, "fixture %s is missing", path);
    return body;
}

/* The material order of the stage-status templates. */
static const char *const fixture_types[] = {"git",      "mercurial", "svn",     "tfs",
                                            "perforce", "pipeline",  "package", "scm"};
static const char *const fixture_descs[] = {"http://user:******@gitrepo.com",
                                            "http://user:******@hgrepo.com",
                                            "http://user:******@svnrepo.com",
                                            "http://user:******@tfsrepo.com",
                                            "127.0.0.1:1666",
                                            "pipeline-name/stage-name",
                                            "pluginid",
                                            "pluginid"};

/* Fills a stage-status template: v1..v3 take 8 modified-times, v4 takes 8
 * (fingerprint, modified-time) pairs. */
static char *stage_template(int version, size_t *len)
{
    char name[64];
    const char *vals[16];
    static const char *const fps[] = {"fp-git", "fp-hg",       "fp-svn",     "fp-tfs",
                                      "fp-p4",  "fp-pipeline", "fp-package", "fp-scm"};
    const char *t = version <= 2 ? "2024-01-02T03:04:05.678Z" : "2024-01-02T03:04:05.678+0000";
    size_t n = 0, tlen;
    char *tmpl, *body;

    snprintf(name, sizeof(name), "stage-status_v%d_request.json.tmpl", version);
    tmpl = fixture(name, &tlen);
    for (size_t i = 0; i < 8; i++) {
        if (version >= 4)
            vals[n++] = fps[i];
        vals[n++] = t;
    }
    body = fill(tmpl, vals, n, len);
    free(tmpl);
    return body;
}

static void check_stage_template(int version)
{
    size_t len;
    char *body = stage_template(version, &len);
    hr_event *ev = stage_ok(body, len, version);
    /* v1/v2 send 'Z' times, v3/v4 "+0000"; the instants differ in the files. */
    int64_t t = version <= 2 ? 1310586217100 : 1310566417100;

    check_stage_doc(ev, body, len, version);
    expect_str(ev->pipeline_name, "pipeline-name", "pipeline.name");
    expect_str(ev->pipeline_counter, "1", "pipeline.counter");
    expect_str(ev->pipeline_label, version >= 2 ? "LABEL-1" : NULL, "pipeline.label");
    expect_str(ev->pipeline_group, "pipeline-group", "pipeline.group");
    expect_str(ev->stage_name, "stage-name", "stage.name");
    expect_str(ev->stage_counter, "1", "stage.counter");
    expect_str(ev->stage_state, "Passed", "stage.state");
    expect_str(ev->stage_result, "Passed", "stage.result");
    expect_str(ev->approval_type, "success", "approval-type");
    expect_str(ev->approved_by, "changes", "approved-by");
    expect_str(ev->previous_stage_name, version >= 4 ? "previous-stage" : NULL,
               "previous-stage-name");
    cr_expect_eq(ev->previous_stage_counter, version >= 4 ? 1 : 0);
    expect_time(ev->stage_created_at, t, "create-time");
    expect_time(ev->stage_transition_at, t, "last-transition-time");
    cr_assert_eq(ev->njobs, 1);
    expect_str(ev->jobs[0].name, "job-name", "job.name");
    expect_str(ev->jobs[0].state, "Completed", "job.state");
    expect_str(ev->jobs[0].result, "Passed", "job.result");
    expect_str(ev->jobs[0].agent_uuid, "uuid", "job.agent-uuid");
    expect_time(ev->jobs[0].scheduled_at, t, "schedule-time");
    expect_time(ev->jobs[0].assigned_at, version >= 2 ? t : HR_TIME_NONE, "assign-time");
    expect_time(ev->jobs[0].completed_at, t, "complete-time");
    cr_assert_eq(ev->ncauses, 8);
    for (size_t i = 0; i < 8; i++) {
        const hr_cause *c = &ev->causes[i];
        char fp[32];
        snprintf(fp, sizeof(fp), "fp-%s", i == 1 ? "hg" : i == 4 ? "p4" : fixture_types[i]);
        expect_str(c->material_type, fixture_types[i], "material type");
        expect_str(c->material, fixture_descs[i], "material");
        expect_str(c->fingerprint, version >= 4 ? fp : NULL, "fingerprint");
        cr_expect(c->changed);
        cr_assert_eq(c->nmods, 1);
        expect_str(c->mods[0].revision, i == 5 ? "pipeline-name/1/stage-name/1" : "1", "revision");
        expect_time(c->mods[0].modified_at, 1704164645678, "modified-time");
        cr_expect_eq(json_object_size(c->mods[0].data), 0);
    }
    cr_expect_str_eq(json_string_value(json_object_get(ev->causes[0].config, "branch")), "branch");
    cr_expect(json_is_false(json_object_get(ev->causes[0].config, "shallow-clone")));
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(ev->causes[6].config, "package-configuration"), "k3")),
                     "package-v1");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(ev->causes[6].config, "repository-configuration"), "k1")),
                     "repo-v1");
    cr_expect_str_eq(json_string_value(json_object_get(ev->causes[7].config, "plugin-id")),
                     "pluginid");
    hr_event_free(ev);
    free(body);
}

Test(gocd_fixtures, stage_status_v1)
{
    check_stage_template(1);
}

Test(gocd_fixtures, stage_status_v2)
{
    check_stage_template(2);
}

Test(gocd_fixtures, stage_status_v3)
{
    check_stage_template(3);
}

Test(gocd_fixtures, stage_status_v4)
{
    check_stage_template(4);
}

Test(gocd_fixtures, docs_stage_start_v4_and_v3)
{
    size_t len;
    char *body = fixture("docs_stage-status_v4_stage-start_request.json", &len);
    for (int version = 3; version <= 4; version++) {
        hr_event *ev = stage_ok(body, len, version);
        check_stage_doc(ev, body, len, version);
        /* A shortened example: no label, no last-transition-time, no
         * assign-time, complete-time or agent-uuid. */
        expect_str(ev->pipeline_label, NULL, "label");
        expect_str(ev->pipeline_group, "defaultGroup", "group");
        expect_str(ev->stage_state, "Building", "state");
        expect_str(ev->stage_result, "Unknown", "result");
        expect_str(ev->approved_by, "timer", "approved-by");
        expect_str(ev->previous_stage_name, version == 4 ? "stage-1" : NULL, "previous");
        cr_expect_eq(ev->previous_stage_counter, version == 4 ? 1 : 0);
        expect_time(ev->stage_created_at, 1490301842119, "create-time");
        expect_time(ev->stage_transition_at, HR_TIME_NONE, "last-transition-time");
        cr_assert_eq(ev->njobs, 3);
        for (size_t i = 0; i < 3; i++) {
            expect_str(ev->jobs[i].state, "Scheduled", "job state");
            expect_str(ev->jobs[i].agent_uuid, NULL, "agent-uuid");
            expect_time(ev->jobs[i].scheduled_at, 1490301842119, "schedule-time");
            expect_time(ev->jobs[i].assigned_at, HR_TIME_NONE, "assign-time");
            expect_time(ev->jobs[i].completed_at, HR_TIME_NONE, "complete-time");
        }
        expect_str(ev->jobs[2].name, "job3", "job name");
        cr_assert_eq(ev->ncauses, 1);
        expect_str(ev->causes[0].material, "https://github.com/organization/repository",
                   "material");
        expect_str(ev->causes[0].fingerprint, NULL, "fingerprint");
        cr_expect_not(ev->causes[0].changed);
        expect_time(ev->causes[0].mods[0].modified_at, 1490290078000, "modified-time");
        hr_event_free(ev);
    }
    free(body);
}

Test(gocd_fixtures, docs_stage_complete_v4)
{
    size_t len;
    char *body = fixture("docs_stage-status_v4_stage-complete_request.json", &len);
    hr_event *ev = stage_ok(body, len, 4);
    check_stage_doc(ev, body, len, 4);
    expect_str(ev->pipeline_label, "pipeline-label", "label");
    expect_str(ev->stage_name, "stage-2", "stage");
    expect_time(ev->stage_transition_at, 1310586219100, "last-transition-time");
    expect_time(ev->jobs[0].assigned_at, 1310586218100, "assign-time");
    expect_time(ev->causes[0].mods[0].modified_at, 1459947003317, "modified-time");
    hr_event_free(ev);
    free(body);
}

static void check_agent_template(const char *name, int version, const char *when, int64_t at)
{
    size_t tlen, len;
    char *tmpl = fixture(name, &tlen);
    char *body = fill(tmpl, (const char *const[]){when}, 1, &len);
    hr_event *ev = agent_ok(body, len, version);

    check_agent_doc(ev, body, len, version);
    expect_str(ev->agent.uuid, "agent_uuid", "uuid");
    expect_str(ev->agent.host_name, "agent_hostname", "host_name");
    expect_str(ev->agent.ip_address, "127.0.0.1", "ip_address");
    expect_str(ev->agent.operating_system, "rh", "operating_system");
    expect_str(ev->agent.free_space, "100", "free_space");
    /* GoCD's own test sends lower-case values; herald stores them capitalised. */
    expect_str(ev->agent.config_state, "Enabled", "config_state");
    expect_str(ev->agent.agent_state, "Building", "agent_state");
    expect_str(ev->agent.build_state, "Building", "build_state");
    cr_expect(ev->agent.is_elastic);
    expect_time(ev->agent.transition_at, at, "transition_time");
    hr_event_free(ev);
    free(body);
    free(tmpl);
}

Test(gocd_fixtures, agent_status_v3)
{
    check_agent_template("agent-status_v3_request.json.tmpl", 3, "2018-02-15T06:31:28.998+0000",
                         1518676288998);
}

Test(gocd_fixtures, agent_status_v4)
{
    check_agent_template("agent-status_v4_request.json.tmpl", 4, "", HR_TIME_NONE);
}

Test(gocd_fixtures, docs_agent_status_v4)
{
    size_t len;
    char *body = fixture("docs_agent-status_v4_request.json", &len);
    hr_event *ev = agent_ok(body, len, 4);
    check_agent_doc(ev, body, len, 4);
    expect_str(ev->agent.agent_state, "Building", "agent_state");
    expect_time(ev->agent.transition_at, 1518676288998, "transition_time");
    hr_event_free(ev);
    free(body);
}

/* Every stage-status and agent-status file of the fixtures folder, with its
 * placeholders filled, is accepted under the version its name gives. */
Test(gocd_fixtures, every_notification_fixture_is_accepted)
{
    DIR *d;
    struct dirent *e;
    int seen = 0;

    if (!folder_exists(HR_TEST_FIXTURES))
        cr_skip_test("no fixtures at %s", HR_TEST_FIXTURES);
    d = opendir(HR_TEST_FIXTURES);
    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL) {
        bool stage = strstr(e->d_name, "stage-status") != NULL;
        bool agent = strstr(e->d_name, "agent-status") != NULL;
        int version = version_in_name(e->d_name);
        char path[1024];
        size_t tlen, len;
        char *tmpl, *body;
        const char *vals[16];
        size_t n = 0;

        if (!stage && !agent)
            continue;
        cr_assert_neq(version, 0, "no version in %s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", HR_TEST_FIXTURES, e->d_name);
        tmpl = test_slurp(path, &tlen);
        cr_assert_not_null(tmpl);
        for (const char *p = tmpl; (p = strstr(p, "%s")) != NULL; p += 2) {
            bool fingerprint = stage && version >= 4 && n % 2 == 0;
            cr_assert_lt(n, 16);
            vals[n++] = fingerprint    ? "0123abcd"
                        : version <= 2 ? "2011-07-13T19:43:37.100Z"
                                       : "2011-07-13T19:43:37.100+0000";
        }
        body = fill(tmpl, vals, n, &len);
        hr_event *ev = stage ? stage_ok(body, len, version) : agent_ok(body, len, version);
        if (stage)
            check_stage_doc(ev, body, len, version);
        else
            check_agent_doc(ev, body, len, version);
        hr_event_free(ev);
        free(body);
        free(tmpl);
        seen++;
    }
    closedir(d);
    cr_expect_geq(seen, 9, "only %d notification fixtures found", seen);
}

/* ---- herald's own payloads -------------------------------------------- */

#define NONE HR_TIME_NONE

typedef struct want_job {
    const char *name, *state, *result, *agent;
    int64_t scheduled, assigned, completed;
} want_job;

typedef struct want_cause {
    const char *type, *material, *fingerprint;
    bool changed;
    size_t nmods;
    const char *revision;              /* of the first modification */
    int64_t modified;                  /* of the first modification */
    const char *data_key, *data_value; /* one entry of its data, or NULL */
} want_cause;

typedef struct want_stage {
    const char *file;
    const char *name, *counter, *label, *group;
    const char *stage, *stage_counter, *state, *result, *approval, *approved_by, *previous;
    int64_t previous_counter, created, transition;
    size_t njobs;
    want_job jobs[3];
    size_t ncauses;
    want_cause causes[8];
} want_stage;

/* Designated, a few fields a line: the formatter would put one a line. */
/* clang-format off */
static const want_stage stage_payloads[] = {
    {.file = "stage-status_v1_building.json",
     .name = "herald-build", .counter = "17", .label = NULL, .group = NULL,
     .stage = "compile", .stage_counter = "1", .state = "Building", .result = "Unknown",
     .approval = "success", .approved_by = "changes", .previous = NULL, .previous_counter = 0,
     .created = 1709201760000, .transition = NONE,
     .njobs = 2,
     .jobs = {{"linux", "Scheduled", "Unknown", NULL, 1709201760000, NONE, NONE},
              {"macos", "Scheduled", "Unknown", NULL, 1709201760000, NONE, NONE}},
     .ncauses = 2,
     .causes = {{"git", "https://git.example.com/herald.git", NULL, true, 1,
                 "3f2c9e1a8b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e", 1709201730250, NULL, NULL},
                {"mercurial", "https://hg.example.com/docs", NULL, false, 1,
                 "b1946ac92492", 1709164799999, NULL, NULL}}},
    {.file = "stage-status_v1_completed_passed.json",
     .name = "herald-docs", .counter = "4", .label = NULL, .group = "docs",
     .stage = "publish", .stage_counter = "2", .state = "Passed", .result = "Passed",
     .approval = "manual", .approved_by = "alice", .previous = NULL, .previous_counter = 0,
     .created = 1704067260000, .transition = 1704067410500,
     .njobs = 1,
     .jobs = {{"upload", "Completed", "Passed", "0b1f7c52-6f55-4c4e-9a41-2c3d4e5f6a7b",
               1704067260000, NONE, 1704067410500}},
     .ncauses = 2,
     .causes = {{"svn", "svn://svn.example.com/docs/trunk", NULL, true, 1,
                 "1207", 1704067198001, NULL, NULL},
                {"pipeline", "herald-build/compile", NULL, false, 1,
                 "herald-build/17/compile/1", 1704067205000, NULL, NULL}}},
    {.file = "stage-status_v2_building.json",
     .name = "windows-installer", .counter = "31", .label = "2.4.0-31", .group = "defaultGroup",
     .stage = "package", .stage_counter = "1", .state = "Building", .result = "Unknown",
     .approval = "success", .approved_by = "changes", .previous = NULL, .previous_counter = 0,
     .created = 1710057662003, .transition = NONE,
     .njobs = 1,
     .jobs = {{"msi", "Scheduled", "Unknown", NULL, 1710057662003, NONE, NONE}},
     .ncauses = 1,
     .causes = {{"tfs", "https://tfs.example.com/tfs/DefaultCollection", NULL, true, 1,
                 "C4512", 1710057600000, NULL, NULL}}},
    {.file = "stage-status_v2_completed_cancelled.json",
     .name = "p4-nightly", .counter = "88", .label = "nightly-88", .group = "nightlies",
     .stage = "test", .stage_counter = "3", .state = "Cancelled", .result = "Cancelled",
     .approval = "manual", .approved_by = "bob", .previous = NULL, .previous_counter = 0,
     .created = 1710032400000, .transition = 1710033600000,
     .njobs = 2,
     .jobs = {{"unit", "Completed", "Cancelled", "a7c3e2d1-0000-4000-8000-000000000001",
               1710032400000, 1710032405000, 1710033600000},
              {"integration", "Completed", "Cancelled", NULL,
               1710032400000, NONE, 1710033600000}},
     .ncauses = 1,
     .causes = {{"perforce", "perforce.example.com:1666", NULL, true, 1,
                 "90211", 1710022200000, NULL, NULL}}},
    {.file = "stage-status_v3_building.json",
     .name = "deploy-staging", .counter = "112", .label = "112", .group = "deploy",
     .stage = "deploy", .stage_counter = "1", .state = "Building", .result = "Unknown",
     .approval = "success", .approved_by = "changes", .previous = NULL, .previous_counter = 0,
     .created = 1712059500000, .transition = 1712059510000,
     .njobs = 1,
     .jobs = {{"rollout", "Assigned", "Unknown", "d3b07384-d9a0-4c9b-8f5e-1a2b3c4d5e6f",
               1712059500000, 1712059510000, NONE}},
     .ncauses = 1,
     .causes = {{"package", "deb-repo-poller", NULL, true, 1,
                 "herald_0.1.0-3_amd64", 1712059200000, "VERSION", "0.1.0-3"}}},
    {.file = "stage-status_v3_completed_failed.json",
     .name = "api-service", .counter = "7", .label = "api-7", .group = "services",
     .stage = "test", .stage_counter = "1", .state = "Failed", .result = "Failed",
     .approval = "success", .approved_by = "changes", .previous = NULL, .previous_counter = 0,
     .created = 1716197460000, .transition = 1716198000000,
     .njobs = 2,
     .jobs = {{"lint", "Completed", "Passed", "agent-1",
               1716197460000, 1716197462000, 1716197580000},
              {"unit", "Completed", "Failed", "agent-2",
               1716197460000, 1716197463000, 1716198000000}},
     .ncauses = 2,
     .causes = {{"scm", "github.pr", NULL, true, 1,
                 "9fceb02d0ae598e95dc970b74767f19372d61af8", 1716197400000, "PR_AUTHOR", "carol"},
                {"pipeline", "base-image/publish", NULL, false, 1,
                 "base-image/12/publish/1", 1716141600000, NULL, NULL}}},
    {.file = "stage-status_v4_building.json",
     .name = "herald-build", .counter = "5", .label = "0.2.0-5", .group = NULL,
     .stage = "compile", .stage_counter = "1", .state = "Building", .result = "Unknown",
     .approval = "success", .approved_by = "changes", .previous = NULL, .previous_counter = 0,
     .created = 1717225260000, .transition = NONE,
     .njobs = 1,
     .jobs = {{"build", "Scheduled", "Unknown", NULL, 1717225260000, NONE, NONE}},
     .ncauses = 1,
     .causes = {{"git", "https://user:******@git.example.com/herald.git",
                 "2b9f8c6a1d0e4f3b7a5c9e8d1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c", true, 1,
                 "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00", 1717225200000, NULL, NULL}}},
    {.file = "stage-status_v4_completed_failed.json",
     .name = "release", .counter = "3", .label = "R-2024.06-3", .group = "release",
     .stage = "verify", .stage_counter = "2", .state = "Failed", .result = "Failed",
     .approval = "manual", .approved_by = "dave", .previous = "package", .previous_counter = 1,
     .created = 1718014200000, .transition = 1718015145678,
     .njobs = 3,
     .jobs = {{"smoke", "Completed", "Passed", "agent-smoke",
               1718014200000, 1718014201000, 1718014800000},
              {"soak", "Completed", "Failed", "agent-soak",
               1718014200000, 1718014202000, 1718015145678},
              {"manual-check", "Completed", "Cancelled", NULL,
               1718014200000, NONE, 1718015145678}},
     .ncauses = 8,
     .causes = {{"git", "https://git.example.com/release.git",
                 "f1000000000000000000000000000000000000000000000000000000000000a1", true, 2,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1718013600000, NULL, NULL},
                {"mercurial", "https://hg.example.com/assets",
                 "f1000000000000000000000000000000000000000000000000000000000000a2", false, 1,
                 "d2c4e6f8a0b1", 1717927200000, NULL, NULL},
                {"svn", "https://user:******@svn.example.com/legacy/trunk",
                 "f1000000000000000000000000000000000000000000000000000000000000a3", false, 1,
                 "5521", 1717840800000, NULL, NULL},
                {"tfs", "https://tfs.example.com/tfs/DefaultCollection",
                 "f1000000000000000000000000000000000000000000000000000000000000a4", false, 1,
                 "C9001", 1717754400000, NULL, NULL},
                {"perforce", "perforce.example.com:1666",
                 "f1000000000000000000000000000000000000000000000000000000000000a5", false, 1,
                 "77001", 1717668000000, NULL, NULL},
                {"pipeline", "herald-build/compile",
                 "f1000000000000000000000000000000000000000000000000000000000000a6", true, 1,
                 "herald-build/5/compile/1", 1718013900000, NULL, NULL},
                {"package", "deb-repo-poller",
                 "f1000000000000000000000000000000000000000000000000000000000000a7", false, 1,
                 "herald_0.2.0-5_amd64", 1717581600000, "VERSION", "0.2.0-5"},
                {"scm", "github.pr",
                 "f1000000000000000000000000000000000000000000000000000000000000a8", false, 1,
                 "1234567890abcdef1234567890abcdef12345678", 1717495200000, "PR_ID", "7"}}},
};
/* clang-format on */

static char *payload(const char *name, size_t *len)
{
    char path[1024];
    char *body;
    snprintf(path, sizeof(path), "%s/%s", PAYLOADS, name);
    body = test_slurp(path, len);
    cr_assert_not_null(body, "payload %s is missing", path);
    return body;
}

static void check_stage_payload(const want_stage *w)
{
    size_t len;
    char *body = payload(w->file, &len);
    int version = version_in_name(w->file);
    hr_event *ev = stage_ok(body, len, version);

    cr_log_info("checking %s", w->file);
    check_stage_doc(ev, body, len, version);
    expect_str(ev->pipeline_name, w->name, "pipeline.name");
    expect_str(ev->pipeline_counter, w->counter, "pipeline.counter");
    expect_str(ev->pipeline_label, w->label, "pipeline.label");
    expect_str(ev->pipeline_group, w->group, "pipeline.group");
    expect_str(ev->stage_name, w->stage, "stage.name");
    expect_str(ev->stage_counter, w->stage_counter, "stage.counter");
    expect_str(ev->stage_state, w->state, "stage.state");
    expect_str(ev->stage_result, w->result, "stage.result");
    expect_str(ev->approval_type, w->approval, "stage.approval-type");
    expect_str(ev->approved_by, w->approved_by, "stage.approved-by");
    expect_str(ev->previous_stage_name, w->previous, "stage.previous-stage-name");
    cr_expect_eq(ev->previous_stage_counter, w->previous_counter);
    expect_time(ev->stage_created_at, w->created, "stage.create-time");
    expect_time(ev->stage_transition_at, w->transition, "stage.last-transition-time");

    cr_assert_eq(ev->njobs, w->njobs, "%s: %zu jobs", w->file, ev->njobs);
    for (size_t i = 0; i < w->njobs; i++) {
        const hr_job *j = &ev->jobs[i];
        const want_job *wj = &w->jobs[i];
        expect_str(j->name, wj->name, "job.name");
        expect_str(j->state, wj->state, "job.state");
        expect_str(j->result, wj->result, "job.result");
        expect_str(j->agent_uuid, wj->agent, "job.agent-uuid");
        expect_time(j->scheduled_at, wj->scheduled, "job.schedule-time");
        expect_time(j->assigned_at, wj->assigned, "job.assign-time");
        expect_time(j->completed_at, wj->completed, "job.complete-time");
    }
    cr_assert_eq(ev->ncauses, w->ncauses, "%s: %zu causes", w->file, ev->ncauses);
    for (size_t i = 0; i < w->ncauses; i++) {
        const hr_cause *c = &ev->causes[i];
        const want_cause *wc = &w->causes[i];
        expect_str(c->material_type, wc->type, "material.type");
        expect_str(c->material, wc->material, "material");
        expect_str(c->fingerprint, wc->fingerprint, "material.fingerprint");
        cr_expect_eq(c->changed, wc->changed);
        cr_assert_eq(c->nmods, wc->nmods);
        expect_str(c->mods[0].revision, wc->revision, "modification.revision");
        expect_time(c->mods[0].modified_at, wc->modified, "modification.modified-time");
        cr_assert_not_null(c->config);
        if (wc->data_key != NULL)
            expect_str(json_string_value(json_object_get(c->mods[0].data, wc->data_key)),
                       wc->data_value, "modification.data");
    }
    hr_event_free(ev);
    free(body);
}

Test(gocd_payloads, stage_status_field_by_field)
{
    for (size_t i = 0; i < sizeof(stage_payloads) / sizeof(stage_payloads[0]); i++)
        check_stage_payload(&stage_payloads[i]);
}

typedef struct want_agent {
    const char *file;
    const char *uuid, *host, *ip, *os, *space, *config, *agent, *build;
    bool elastic;
    int64_t transition;
} want_agent;

/* clang-format off */
static const want_agent agent_payloads[] = {
    {.file = "agent-status_v3_capitalised.json",
     .uuid = "0b1f7c52-6f55-4c4e-9a41-2c3d4e5f6a7b", .host = "build-agent-03",
     .ip = "10.0.4.23", .os = "Debian GNU/Linux 12 (bookworm)", .space = "10.5 GB",
     .config = "Enabled", .agent = "Building", .build = "Building",
     .elastic = false, .transition = 1718014201250},
    {.file = "agent-status_v4_lowercase.json",
     .uuid = "elastic-7f9c", .host = "k8s-elastic-agent-7f9c",
     .ip = "10.244.1.17", .os = "Alpine Linux", .space = "100",
     .config = "Enabled", .agent = "Idle", .build = "Idle",
     .elastic = true, .transition = 1718015400000},
    {.file = "agent-status_v4_capitalised_lostcontact.json",
     .uuid = "9d5ed678-fe57-4cca-b8e0-3f2a1b0c9d8e", .host = "old-mac-mini",
     .ip = NULL, .os = NULL, .space = "Unknown",
     .config = "Pending", .agent = "LostContact", .build = "Unknown",
     .elastic = false, .transition = NONE},
};
/* clang-format on */

Test(gocd_payloads, agent_status_field_by_field)
{
    for (size_t i = 0; i < sizeof(agent_payloads) / sizeof(agent_payloads[0]); i++) {
        const want_agent *w = &agent_payloads[i];
        size_t len;
        char *body = payload(w->file, &len);
        int version = version_in_name(w->file);
        hr_event *ev = agent_ok(body, len, version);

        check_agent_doc(ev, body, len, version);
        expect_str(ev->agent.uuid, w->uuid, "uuid");
        expect_str(ev->agent.host_name, w->host, "host_name");
        expect_str(ev->agent.ip_address, w->ip, "ip_address");
        expect_str(ev->agent.operating_system, w->os, "operating_system");
        expect_str(ev->agent.free_space, w->space, "free_space");
        expect_str(ev->agent.config_state, w->config, "config_state");
        expect_str(ev->agent.agent_state, w->agent, "agent_state");
        expect_str(ev->agent.build_state, w->build, "build_state");
        cr_expect_eq(ev->agent.is_elastic, w->elastic);
        expect_time(ev->agent.transition_at, w->transition, "transition_time");
        hr_event_free(ev);
        free(body);
    }
}

/* Every .json file of the folder is valid under the version its name
 * gives, and has a row in the tables above. */
Test(gocd_payloads, every_payload_is_accepted_and_checked)
{
    DIR *d = opendir(PAYLOADS);
    struct dirent *e;
    int seen = 0;

    cr_assert_not_null(d, "no folder %s", PAYLOADS);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), len;
        bool stage = strncmp(e->d_name, "stage-status_", 13) == 0;
        bool known = false;
        char *body;
        hr_event *ev;
        int version;

        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        version = version_in_name(e->d_name);
        cr_assert(version >= 1 && version <= 4, "no version in %s", e->d_name);
        body = payload(e->d_name, &len);
        ev = stage ? stage_ok(body, len, version) : agent_ok(body, len, version);
        hr_event_free(ev);
        free(body);
        for (size_t i = 0; i < sizeof(stage_payloads) / sizeof(stage_payloads[0]); i++)
            known = known || strcmp(stage_payloads[i].file, e->d_name) == 0;
        for (size_t i = 0; i < sizeof(agent_payloads) / sizeof(agent_payloads[0]); i++)
            known = known || strcmp(agent_payloads[i].file, e->d_name) == 0;
        cr_expect(known, "%s has no expectations in this test", e->d_name);
        seen++;
    }
    closedir(d);
    cr_expect_eq(seen, 11);
}

/* ---- variants of one valid body --------------------------------------- */

static const char base[] =
    "{\"pipeline\":{\"name\":\"p\",\"counter\":\"1\",\"label\":\"p-1\",\"group\":\"g\","
    "\"build-cause\":[{\"material\":{\"type\":\"git\",\"fingerprint\":\"fp\","
    "\"git-configuration\":{\"url\":\"https://git.example.com/r.git\",\"branch\":\"main\","
    "\"shallow-clone\":false}},\"changed\":true,\"modifications\":[{\"revision\":\"abc\","
    "\"modified-time\":\"2011-07-13T19:43:37.100+0000\",\"data\":{}}]}],"
    "\"stage\":{\"name\":\"s\",\"counter\":\"1\",\"approval-type\":\"success\","
    "\"approved-by\":\"changes\",\"previous-stage-name\":null,\"previous-stage-counter\":0,"
    "\"state\":\"Passed\",\"result\":\"Passed\",\"create-time\":\"2011-07-13T19:43:37.100+0000\","
    "\"last-transition-time\":\"2011-07-13T19:43:39.100+0000\",\"jobs\":[{\"name\":\"j\","
    "\"schedule-time\":\"2011-07-13T19:43:37.100+0000\","
    "\"assign-time\":\"2011-07-13T19:43:38.100+0000\","
    "\"complete-time\":\"2011-07-13T19:43:39.100+0000\",\"state\":\"Completed\","
    "\"result\":\"Passed\",\"agent-uuid\":\"uuid\"}]}}}";

/*
 * The base body with the member at path ("pipeline/stage/jobs/0/state":
 * object keys and array indices separated by '/') set to value (stolen),
 * or removed when value is NULL. New; free with free().
 */
static char *variant_of(const char *body, const char *path, json_t *value)
{
    json_t *doc = json_loads(body, 0, NULL), *at;
    char tok[128];
    const char *p = path, *slash;
    char *out;

    cr_assert_not_null(doc);
    at = doc;
    while ((slash = strchr(p, '/')) != NULL) {
        snprintf(tok, sizeof(tok), "%.*s", (int)(slash - p), p);
        at = json_is_array(at) ? json_array_get(at, strtoul(tok, NULL, 10))
                               : json_object_get(at, tok);
        cr_assert_not_null(at, "no %s in the test body", path);
        p = slash + 1;
    }
    if (json_is_array(at)) {
        cr_assert_not_null(value);
        json_array_set_new(at, strtoul(p, NULL, 10), value);
    } else if (value != NULL) {
        json_object_set_new(at, p, value);
    } else {
        json_object_del(at, p);
    }
    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

static char *variant(const char *path, json_t *value)
{
    return variant_of(base, path, value);
}

/* The base body with one member changed (see variant_of) must be refused
 * under version with exactly the message want. */
static void expect_variant_refused(const char *path, json_t *value, int version, const char *want)
{
    char *body = variant(path, value);
    expect_errors_with(hr_gocd_stage_status, body, strlen(body), version,
                       (const char *const[]){want, NULL});
    free(body);
}

/* The base body with one member changed must be accepted under version
 * with exactly the warning want; the event is new. */
static hr_event *variant_warned(const char *path, json_t *value, int version, const char *want)
{
    char *body = variant(path, value);
    hr_event *ev = expect_warnings_with(hr_gocd_stage_status, body, strlen(body), version,
                                        (const char *const[]){want, NULL});
    free(body);
    return ev;
}

static void expect_variant_warned(const char *path, json_t *value, int version, const char *want)
{
    hr_event_free(variant_warned(path, value, version, want));
}

Test(gocd_stage, base_body_is_valid_in_every_version)
{
    for (int version = 1; version <= 4; version++) {
        hr_event *ev = stage_ok(base, strlen(base), version);
        check_stage_doc(ev, base, strlen(base), version);
        expect_str(ev->causes[0].fingerprint, version == 4 ? "fp" : NULL, "fingerprint");
        expect_str(ev->pipeline_label, version >= 2 ? "p-1" : NULL, "label");
        hr_event_free(ev);
    }
}

Test(gocd_stage, the_issue_example)
{
    hr_event *ev =
        variant_warned("pipeline/stage/state", json_string("Exploded"), 4,
                       "pipeline.stage.state: expected " STAGE_STATES "; got \"Exploded\"");
    expect_str(ev->stage_state, "Exploded", "state");
    hr_event_free(ev);
}

/* Another spelling is not GoCD's value: it is kept as sent, with a
 * warning. */
Test(gocd_stage, enums_are_exact_case)
{
    hr_event *ev = variant_warned("pipeline/stage/result", json_string("passed"), 4,
                                  "pipeline.stage.result: expected " RESULTS "; got \"passed\"");
    expect_str(ev->stage_result, "passed", "result");
    hr_event_free(ev);
    ev = variant_warned("pipeline/stage/jobs/0/state", json_string("Sleeping"), 2,
                        "pipeline.stage.jobs[0].state: expected " JOB_STATES "; got \"Sleeping\"");
    expect_str(ev->jobs[0].state, "Sleeping", "job state");
    hr_event_free(ev);
    ev = variant_warned("pipeline/stage/approval-type", json_string("Manual"), 1,
                        "pipeline.stage.approval-type: expected one of success, manual; got "
                        "\"Manual\"");
    expect_str(ev->approval_type, "Manual", "approval-type");
    hr_event_free(ev);
}

Test(gocd_stage, every_enum_value_is_accepted)
{
    const char *states[] = {"Building", "Failing", "Passed", "Failed", "Cancelled", "Unknown"};
    const char *jobs[] = {"Unknown",     "Scheduled",  "Assigned",  "Preparing",
                          "Building",    "Completing", "Completed", "Discontinued",
                          "Rescheduled", "Paused",     "Waiting"};
    for (size_t i = 0; i < 6; i++) {
        char *body = variant("pipeline/stage/state", json_string(states[i]));
        hr_event *ev = stage_ok(body, strlen(body), 4);
        expect_str(ev->stage_state, states[i], "state");
        hr_event_free(ev);
        free(body);
    }
    for (size_t i = 0; i < 11; i++) {
        char *body = variant("pipeline/stage/jobs/0/state", json_string(jobs[i]));
        hr_event *ev = stage_ok(body, strlen(body), 4);
        expect_str(ev->jobs[0].state, jobs[i], "job state");
        hr_event_free(ev);
        free(body);
    }
}

Test(gocd_stage, wrong_types)
{
    expect_variant_warned("pipeline/counter", json_integer(1), 4,
                          "pipeline.counter: expected a string; got 1");
    expect_variant_warned("pipeline/stage/jobs", json_string("none"), 4,
                          "pipeline.stage.jobs: expected an array; got \"none\"");
    expect_variant_warned("pipeline/group", json_integer(5), 4,
                          "pipeline.group: expected a string or null; got 5");
    expect_variant_warned("pipeline/stage/jobs/0/agent-uuid", json_false(), 4,
                          "pipeline.stage.jobs[0].agent-uuid: expected a string or null; "
                          "got false");
    expect_variant_warned("pipeline/stage/approved-by", json_null(), 4,
                          "pipeline.stage.approved-by: expected a string; got null");
    expect_variant_warned("pipeline/build-cause/0/changed", json_string("yes"), 4,
                          "pipeline.build-cause[0].changed: expected true or false; got "
                          "\"yes\"");
    expect_variant_refused("pipeline/stage", json_array(), 4,
                           "pipeline.stage: expected an object; got an array");
    expect_variant_warned("pipeline/stage/jobs/0", json_integer(3), 4,
                          "pipeline.stage.jobs[0]: expected an object; got 3");
    expect_variant_warned("pipeline/build-cause", json_object(), 4,
                          "pipeline.build-cause: expected an array; got an object");
    expect_variant_warned("pipeline/build-cause/0/modifications/0/revision", json_real(1.5), 4,
                          "pipeline.build-cause[0].modifications[0].revision: expected a "
                          "string; got 1.5");
}

/* What identifies a stage event refuses it when missing; anything else
 * missing is a warning. */
Test(gocd_stage, missing_required)
{
    expect_variant_refused("pipeline/name", NULL, 4,
                           "pipeline.name: expected a string; got nothing");
    expect_variant_refused("pipeline", NULL, 1, "pipeline: expected an object; got nothing");
    expect_variant_refused("pipeline/stage", NULL, 2,
                           "pipeline.stage: expected an object; got nothing");
    expect_variant_refused("pipeline/stage/name", NULL, 3,
                           "pipeline.stage.name: expected a string; got nothing");
    expect_variant_refused("pipeline/name", json_string(""), 4,
                           "pipeline.name: expected a non-empty string; got \"\"");
    expect_variant_refused("pipeline/stage/name", json_null(), 4,
                           "pipeline.stage.name: expected a string; got null");

    expect_variant_warned("pipeline/stage/jobs/0/result", NULL, 3,
                          "pipeline.stage.jobs[0].result: expected " RESULTS "; got nothing");
    expect_variant_warned("pipeline/stage/jobs", NULL, 3,
                          "pipeline.stage.jobs: expected an array; got nothing");
    expect_variant_warned("pipeline/build-cause/0/material/type", NULL, 3,
                          "pipeline.build-cause[0].material.type: expected one of git, mercurial, "
                          "svn, tfs, perforce, pipeline, package, scm; got nothing");
    expect_variant_warned("pipeline/counter", NULL, 4,
                          "pipeline.counter: expected a string; got nothing");
    expect_variant_warned("pipeline/stage/counter", NULL, 4,
                          "pipeline.stage.counter: expected a string; got nothing");
    hr_event *ev = variant_warned("pipeline/stage/jobs/0/name", json_string(""), 4,
                                  "pipeline.stage.jobs[0].name: expected a non-empty string; got "
                                  "\"\"");
    expect_str(ev->jobs[0].name, "", "job name");
    hr_event_free(ev);
}

Test(gocd_stage, optional_members_may_be_missing)
{
    const char *optional[] = {"pipeline/label",
                              "pipeline/group",
                              "pipeline/build-cause",
                              "pipeline/stage/approval-type",
                              "pipeline/stage/approved-by",
                              "pipeline/stage/previous-stage-name",
                              "pipeline/stage/previous-stage-counter",
                              "pipeline/stage/create-time",
                              "pipeline/stage/last-transition-time",
                              "pipeline/stage/jobs/0/schedule-time",
                              "pipeline/stage/jobs/0/assign-time",
                              "pipeline/stage/jobs/0/complete-time",
                              "pipeline/stage/jobs/0/agent-uuid",
                              "pipeline/build-cause/0/changed",
                              "pipeline/build-cause/0/modifications",
                              "pipeline/build-cause/0/material/fingerprint",
                              "pipeline/build-cause/0/modifications/0/modified-time",
                              "pipeline/build-cause/0/modifications/0/data"};
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
        char *body = variant(optional[i], NULL);
        for (int version = 1; version <= 4; version++) {
            hr_event *ev = stage_ok(body, strlen(body), version);
            check_stage_doc(ev, body, strlen(body), version);
            hr_event_free(ev);
        }
        free(body);
    }
}

Test(gocd_stage, null_values_and_empty_dates)
{
    char *b1 = variant("pipeline/group", json_null());
    char *b2 = variant_of(b1, "pipeline/label", json_null());
    char *b3 = variant_of(b2, "pipeline/stage/jobs/0/agent-uuid", json_null());
    char *b4 = variant_of(b3, "pipeline/stage/jobs/0/complete-time", json_string(""));
    char *body = variant_of(b4, "pipeline/stage/last-transition-time", json_string(""));
    hr_event *ev = stage_ok(body, strlen(body), 4);
    expect_str(ev->pipeline_group, NULL, "group");
    expect_str(ev->pipeline_label, NULL, "label");
    expect_str(ev->jobs[0].agent_uuid, NULL, "agent-uuid");
    expect_time(ev->jobs[0].completed_at, NONE, "complete-time");
    expect_time(ev->stage_transition_at, NONE, "last-transition-time");
    expect_time(ev->stage_created_at, 1310586217100, "create-time");
    hr_event_free(ev);
    free(body);
    free(b4);
    free(b3);
    free(b2);
    free(b1);
}

Test(gocd_stage, bad_timestamp)
{
    char *body = variant("pipeline/stage/create-time", json_string("yesterday"));
    EXPECT_STAGE_WARNINGS(
        body, 4, "pipeline.stage.create-time: expected " TIME_EXPECTED "; got \"yesterday\"");
    free(body);
    expect_variant_warned("pipeline/stage/jobs/0/schedule-time", json_integer(1310586217100), 1,
                          "pipeline.stage.jobs[0].schedule-time: expected " TIME_EXPECTED
                          "; got 1310586217100");
    expect_variant_warned("pipeline/build-cause/0/modifications/0/modified-time",
                          json_string("2011-02-29T10:00:00.000Z"), 2,
                          "pipeline.build-cause[0].modifications[0].modified-time: "
                          "expected " TIME_EXPECTED "; got \"2011-02-29T10:00:00.000Z\"");
    body = variant("pipeline/stage/last-transition-time", json_null());
    EXPECT_STAGE_WARNINGS(
        body, 3, "pipeline.stage.last-transition-time: expected " TIME_EXPECTED "; got null");
    free(body);
}

Test(gocd_stage, both_timestamp_forms_in_every_version)
{
    const char *forms[] = {"2011-07-13T19:43:37.100Z", "2011-07-13T19:43:37.100+0000",
                           "2011-07-14T01:13:37.100+0530", "2011-07-13T11:43:37.100-0800"};
    for (size_t i = 0; i < 4; i++) {
        char *body = variant("pipeline/stage/create-time", json_string(forms[i]));
        for (int version = 1; version <= 4; version++) {
            hr_event *ev = stage_ok(body, strlen(body), version);
            expect_time(ev->stage_created_at, 1310586217100, forms[i]);
            hr_event_free(ev);
        }
        free(body);
    }
}

Test(gocd_stage, previous_stage_counter_v4)
{
    char *body = variant("pipeline/stage/previous-stage-counter", json_string("1"));
    EXPECT_STAGE_WARNINGS(body, 4,
                          "pipeline.stage.previous-stage-counter: expected a whole number "
                          ">= 0; got \"1\"");
    /* Before 4.0 the member is not defined, so it is ignored. */
    hr_event *ev = stage_ok(body, strlen(body), 3);
    cr_expect_eq(ev->previous_stage_counter, 0);
    hr_event_free(ev);
    free(body);

    expect_variant_warned("pipeline/stage/previous-stage-counter", json_integer(-1), 4,
                          "pipeline.stage.previous-stage-counter: expected a whole number "
                          ">= 0; got -1");
    expect_variant_warned("pipeline/stage/previous-stage-counter", json_real(2.5), 4,
                          "pipeline.stage.previous-stage-counter: expected a whole number "
                          ">= 0; got 2.5");
    body = variant("pipeline/stage/previous-stage-counter", json_integer(12));
    ev = stage_ok(body, strlen(body), 4);
    cr_expect_eq(ev->previous_stage_counter, 12);
    hr_event_free(ev);
    free(body);
    expect_variant_warned("pipeline/stage/previous-stage-name", json_integer(1), 4,
                          "pipeline.stage.previous-stage-name: expected a string or null; "
                          "got 1");
}

Test(gocd_stage, members_of_later_versions_are_ignored_before)
{
    char *b1 = variant("pipeline/label", json_integer(12));
    char *body = variant_of(b1, "pipeline/stage/jobs/0/assign-time", json_string("soon"));
    hr_event *ev = stage_ok(body, strlen(body), 1);
    expect_str(ev->pipeline_label, NULL, "label");
    expect_time(ev->jobs[0].assigned_at, NONE, "assign-time");
    hr_event_free(ev);
    EXPECT_STAGE_WARNINGS(body, 2, "pipeline.label: expected a string or null; got 12",
                          "pipeline.stage.jobs[0].assign-time: expected " TIME_EXPECTED
                          "; got \"soon\"");
    free(body);
    free(b1);

    body = variant("pipeline/build-cause/0/material/fingerprint", json_integer(7));
    ev = stage_ok(body, strlen(body), 3);
    expect_str(ev->causes[0].fingerprint, NULL, "fingerprint");
    hr_event_free(ev);
    EXPECT_STAGE_WARNINGS(body, 4,
                          "pipeline.build-cause[0].material.fingerprint: expected a "
                          "string; got 7");
    free(body);
}

Test(gocd_stage, unknown_members_are_ignored)
{
    char *b1 = variant("pipeline/colour", json_string("blue"));
    char *b2 = variant_of(b1, "pipeline/stage/jobs/0/elastic-profile", json_pack("{s:i}", "x", 1));
    char *b3 = variant_of(b2, "pipeline/build-cause/0/material/name", json_null());
    char *body = variant_of(b3, "extra", json_pack("[i,i]", 1, 2));
    for (int version = 1; version <= 4; version++) {
        hr_event *ev = stage_ok(body, strlen(body), version);
        check_stage_doc(ev, body, strlen(body), version);
        hr_event_free(ev);
    }
    free(body);
    free(b3);
    free(b2);
    free(b1);
}

Test(gocd_stage, materials)
{
    expect_variant_warned("pipeline/build-cause/0/material/type", json_string("cvs"), 4,
                          "pipeline.build-cause[0].material.type: expected one of git, "
                          "mercurial, svn, tfs, perforce, pipeline, package, scm; got "
                          "\"cvs\"");
    /* A type whose configuration member is missing. */
    expect_variant_warned("pipeline/build-cause/0/material/type", json_string("svn"), 4,
                          "pipeline.build-cause[0].material.svn-configuration: expected "
                          "an object; got nothing");
    expect_variant_warned("pipeline/build-cause/0/material/git-configuration/url", NULL, 4,
                          "pipeline.build-cause[0].material.git-configuration.url: "
                          "expected a string; got nothing");
    expect_variant_warned("pipeline/build-cause/0/material",
                          json_pack("{s:s,s:{s:s}}", "type", "pipeline", "pipeline-configuration",
                                    "pipeline-name", "up"),
                          4,
                          "pipeline.build-cause[0].material.pipeline-configuration."
                          "stage-name: expected a string; got nothing");
    char *body =
        variant("pipeline/build-cause/0/material",
                json_pack("{s:s,s:{s:s},s:{s:i}}", "type", "package", "package-configuration", "k",
                          "v", "repository-configuration", "n", 1));
    EXPECT_STAGE_WARNINGS(body, 4,
                          "pipeline.build-cause[0].material.plugin-id: expected a string; got "
                          "nothing",
                          "pipeline.build-cause[0].material.repository-configuration.n: expected a "
                          "string; got 1");
    free(body);
    expect_variant_warned(
        "pipeline/build-cause/0/material",
        json_pack("{s:s,s:s,s:[]}", "type", "scm", "plugin-id", "x", "scm-configuration"), 4,
        "pipeline.build-cause[0].material.scm-configuration: expected "
        "an object; got an array");
    expect_variant_warned("pipeline/build-cause/0/material", json_string("git"), 4,
                          "pipeline.build-cause[0].material: expected an object; got "
                          "\"git\"");
}

Test(gocd_stage, package_and_scm_config_is_rebuilt)
{
    char *body =
        variant("pipeline/build-cause/0/material",
                json_pack("{s:s,s:s,s:{s:s},s:{s:s},s:s}", "type", "package", "plugin-id", "deb",
                          "package-configuration", "PACKAGE", "herald", "repository-configuration",
                          "URL", "https://apt", "fingerprint", "f"));
    hr_event *ev = stage_ok(body, strlen(body), 4);
    json_t *want = json_pack("{s:s,s:{s:s},s:{s:s}}", "plugin-id", "deb", "package-configuration",
                             "PACKAGE", "herald", "repository-configuration", "URL", "https://apt");
    expect_str(ev->causes[0].material, "deb", "material");
    expect_str(ev->causes[0].material_type, "package", "type");
    expect_str(ev->causes[0].fingerprint, "f", "fingerprint");
    cr_expect(json_equal(ev->causes[0].config, want));
    json_decref(want);
    hr_event_free(ev);
    free(body);
}

Test(gocd_stage, modification_data)
{
    expect_variant_warned("pipeline/build-cause/0/modifications/0/data",
                          json_pack("{s:s,s:i,s:s}", "PR_ID", "42", "PR_NUM", 42, "a b", "c"), 4,
                          "pipeline.build-cause[0].modifications[0].data.PR_NUM: expected "
                          "a string; got 42");
    expect_variant_warned("pipeline/build-cause/0/modifications/0/data", json_pack("{s:n}", "a b"),
                          4,
                          "pipeline.build-cause[0].modifications[0].data[\"a b\"]: "
                          "expected a string; got null");
    expect_variant_warned("pipeline/build-cause/0/modifications/0/data", json_string("x"), 4,
                          "pipeline.build-cause[0].modifications[0].data: expected an "
                          "object; got \"x\"");
    /* Odd keys are quoted with non-ASCII escaped, and cut without
     * splitting an escape: the path stays ASCII. */
    json_t *data = json_object();
    json_object_set_new(data, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                        json_integer(1));
    expect_variant_warned("pipeline/build-cause/0/modifications/0/data", data, 4,
                          "pipeline.build-cause[0].modifications[0].data[\"\\u00E9\\u00E9"
                          "\\u00E9\\u00E9\\u00E9\\u00E9...\"]: expected a string; got 1");
    /* null and missing data are an empty map, never NULL. */
    char *body = variant("pipeline/build-cause/0/modifications/0/data", json_null());
    hr_event *ev = stage_ok(body, strlen(body), 4);
    cr_assert_not_null(ev->causes[0].mods[0].data);
    cr_expect(json_is_object(ev->causes[0].mods[0].data));
    cr_expect_eq(json_object_size(ev->causes[0].mods[0].data), 0);
    hr_event_free(ev);
    free(body);
}

Test(gocd_stage, every_problem_is_reported_in_order)
{
    char *b1 = variant("pipeline/counter", json_integer(1));
    char *b2 = variant_of(b1, "pipeline/stage/state", json_string("Exploded"));
    char *b3 = variant_of(b2, "pipeline/stage/jobs/0/result", json_string("Meh"));
    char *body = variant_of(b3, "pipeline/build-cause/0/changed", json_integer(0));
    char *unnamed = variant_of(body, "pipeline/name", json_integer(1));
    EXPECT_STAGE_WARNINGS(body, 4, "pipeline.counter: expected a string; got 1",
                          "pipeline.build-cause[0].changed: expected true or false; got 0",
                          "pipeline.stage.state: expected " STAGE_STATES "; got \"Exploded\"",
                          "pipeline.stage.jobs[0].result: expected " RESULTS "; got \"Meh\"");
    /* A refusal names only what identifies the event. */
    EXPECT_STAGE_ERRORS(unnamed, 4, "pipeline.name: expected a string; got 1");
    free(unnamed);
    free(body);
    free(b3);
    free(b2);
    free(b1);
}

/* A JSON array of n copies of item; new (free()). */
static char *repeat_array(const char *item, size_t n)
{
    size_t il = strlen(item), len = 0;
    char *out = malloc(n * (il + 1) + 3);
    cr_assert_not_null(out);
    out[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = ',';
        memcpy(out + len, item, il);
        len += il;
    }
    out[len++] = ']';
    out[len] = '\0';
    return out;
}

Test(gocd_stage, too_many_problems_are_counted)
{
    char *jobs = repeat_array("{\"name\":\"j\",\"state\":\"Sleeping\",\"result\":\"Passed\"}", 25);
    char *body = variant("pipeline/stage/jobs", json_loads(jobs, 0, NULL));
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    json_t *list;

    cr_assert_eq(hr_gocd_stage_status(body, strlen(body), 4, &ev, &errs), HR_OK);
    cr_expect_eq(hr_errlist_count(&errs), 0);
    cr_expect_eq(ev->warnings.n, HR_MAX_ERRORS);
    cr_expect_eq(ev->warnings.dropped, 25 - HR_MAX_ERRORS);
    cr_expect_eq(hr_errlist_count(&ev->warnings), 25);
    cr_expect_str_eq(ev->warnings.msgs[0],
                     "pipeline.stage.jobs[0].state: expected " JOB_STATES "; got \"Sleeping\"");
    cr_expect_str_eq(ev->warnings.msgs[19],
                     "pipeline.stage.jobs[19].state: expected " JOB_STATES "; got \"Sleeping\"");
    /* Every value is kept, warned about or not. */
    expect_str(ev->jobs[24].state, "Sleeping", "the last job's state");
    list = hr_errlist_to_json(&ev->warnings);
    cr_expect_eq(json_array_size(list), HR_MAX_ERRORS + 1);
    cr_expect_str_eq(json_string_value(json_array_get(list, HR_MAX_ERRORS)),
                     "... and 5 more problems");
    json_decref(list);
    hr_event_free(ev);
    free(body);
    free(jobs);
}

Test(gocd_stage, jobs_and_causes_are_bounded)
{
    char *jobs = repeat_array("{\"name\":\"j\",\"state\":\"Scheduled\",\"result\":\"Unknown\"}",
                              HR_MAX_JOBS + 1);
    char *causes = repeat_array("{\"material\":{\"type\":\"pipeline\",\"pipeline-configuration\":"
                                "{\"pipeline-name\":\"up\",\"stage-name\":\"s\"}}}",
                                HR_MAX_CAUSES + 1);
    /* Past the bound the first entries are kept, with a warning. */
    hr_event *ev = variant_warned("pipeline/stage/jobs", json_loads(jobs, 0, NULL), 4,
                                  "pipeline.stage.jobs: expected at most 10000 entries; got 10001 "
                                  "(the first 10000 are kept)");
    cr_expect_eq(ev->njobs, HR_MAX_JOBS);
    hr_event_free(ev);
    ev = variant_warned("pipeline/build-cause", json_loads(causes, 0, NULL), 4,
                        "pipeline.build-cause: expected at most 1000 entries; got 1001 (the "
                        "first 1000 are kept)");
    cr_expect_eq(ev->ncauses, HR_MAX_CAUSES);
    hr_event_free(ev);
    free(causes);
    free(jobs);

    /* Exactly at the bound is fine. */
    jobs = repeat_array("{\"name\":\"j\",\"state\":\"Scheduled\",\"result\":\"Unknown\"}",
                        HR_MAX_JOBS);
    char *body = variant("pipeline/stage/jobs", json_loads(jobs, 0, NULL));
    ev = stage_ok(body, strlen(body), 4);
    cr_expect_eq(ev->njobs, HR_MAX_JOBS);
    hr_event_free(ev);
    free(body);
    free(jobs);
}

Test(gocd_stage, empty_jobs_and_causes)
{
    char *b1 = variant("pipeline/stage/jobs", json_array());
    char *body = variant_of(b1, "pipeline/build-cause", json_array());
    hr_event *ev = stage_ok(body, strlen(body), 4);
    cr_expect_eq(ev->njobs, 0);
    cr_expect_eq(ev->ncauses, 0);
    hr_event_free(ev);
    free(body);
    free(b1);
}

Test(gocd_stage, malformed_json)
{
    EXPECT_STAGE_ERRORS("{\"pipeline\": }", 4,
                        "invalid JSON at line 1, column 14: unexpected token near '}'");
    EXPECT_STAGE_ERRORS("{\"pipeline\":{},\"pipeline\":{}}", 4,
                        "invalid JSON at line 1, column 25: duplicate object key near "
                        "'\"pipeline\"'");
    EXPECT_STAGE_ERRORS("{\"pipeline\":\"\xff\"}", 4,
                        "invalid JSON at line 1, column 13: unable to decode byte 0xff near '\"'");
    EXPECT_STAGE_ERRORS("{} trailing", 4,
                        "invalid JSON at line 1, column 11: end of file expected near 'trailing'");
    EXPECT_STAGE_ERRORS("", 4, "invalid JSON: the body is empty");
    expect_errors_with(hr_gocd_stage_status, NULL, 0, 4,
                       (const char *const[]){"invalid JSON: the body is empty", NULL});
}

/* Messages reach GoCD inside JSON, so they must be valid UTF-8 even when
 * jansson quotes a broken character or a brief cuts one in two. */
Test(gocd_stage, messages_are_valid_utf8)
{
    char state[64];
    EXPECT_STAGE_ERRORS("[\"\\\xc3\xa9\"]", 4,
                        "invalid JSON at line 1, column 4: invalid escape near '\"\\?'");
    /* 39 ASCII letters, then 2-byte characters: the 40-character cut
     * falls inside the first of them. */
    memset(state, 'a', 39);
    memcpy(state + 39, "\xc3\xa9\xc3\xa9\xc3\xa9", 7);
    expect_variant_warned("pipeline/stage/state", json_string(state), 4,
                          "pipeline.stage.state: expected " STAGE_STATES
                          "; got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?...\"");
}

Test(gocd_stage, too_deep)
{
    char body[128];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof(body), "{\"pipeline\":");
    for (int i = 0; i < 32; i++)
        body[n++] = '[';
    body[n] = '\0';
    EXPECT_STAGE_ERRORS(body, 4, "invalid JSON: nested deeper than 32 levels at byte 43");
}

Test(gocd_stage, root_must_be_an_object)
{
    EXPECT_STAGE_ERRORS("[{\"pipeline\":{}}]", 4, "body: expected an object; got an array");
    EXPECT_STAGE_ERRORS("\"pipeline\"", 4, "body: expected an object; got \"pipeline\"");
    EXPECT_STAGE_ERRORS("null", 4, "body: expected an object; got null");
    EXPECT_STAGE_ERRORS("{\"pipeline\":[]}", 4, "pipeline: expected an object; got an array");
}

Test(gocd_stage, unsupported_versions)
{
    EXPECT_STAGE_ERRORS(base, 0,
                        "stage-status: herald speaks notification extension versions "
                        "1.0 to 4.0; got 0.0");
    EXPECT_STAGE_ERRORS(base, 5,
                        "stage-status: herald speaks notification extension versions "
                        "1.0 to 4.0; got 5.0");
}

Test(gocd_stage, raw_is_an_exact_copy_read_within_len)
{
    /* An exact-size buffer with no NUL: the sanitizers catch any read
     * beyond len. */
    size_t len = strlen(base) + 2;
    char *buf = malloc(len);
    cr_assert_not_null(buf);
    memcpy(buf, base, len - 2);
    memcpy(buf + len - 2, "\r\n", 2);
    hr_event *ev = stage_ok(buf, len, 4);
    cr_expect_eq(ev->raw_len, len);
    cr_expect_eq(memcmp(ev->raw, buf, len), 0);
    cr_expect_neq(ev->raw, buf);
    hr_event_free(ev);
    free(buf);
}

Test(gocd_stage, errs_may_be_null_and_may_hold_earlier_messages)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    cr_expect_eq(hr_gocd_stage_status("[]", 2, 4, &ev, NULL), HR_EINVAL);
    cr_expect_null(ev);
    cr_expect_eq(hr_gocd_stage_status(base, strlen(base), 4, &ev, NULL), HR_OK);
    hr_event_free(ev);
    ev = NULL;
    /* A list that already holds a message does not make a good body fail. */
    hr_errlist_add(&errs, "earlier");
    cr_expect_eq(hr_gocd_stage_status(base, strlen(base), 4, &ev, &errs), HR_OK);
    cr_expect_eq(hr_errlist_count(&errs), 1);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

Test(gocd_stage, event_json_form)
{
    hr_event *ev = stage_ok(base, strlen(base), 4);
    json_t *j = event_doc_json(ev);
    cr_expect_str_eq(json_string_value(json_object_get(j, "kind")), "stage-status");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "stage"), "created_at")),
                     "2011-07-13T19:43:37.100Z");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "build_cause"), 0), "material")),
                     "https://git.example.com/r.git");
    json_decref(j);
    hr_event_free(ev);
}

/* ---- agent-status ----------------------------------------------------- */

static const char agent_base[] =
    "{\"agent_config_state\":\"Enabled\",\"agent_state\":\"Idle\",\"build_state\":\"Idle\","
    "\"is_elastic\":false,\"free_space\":\"1 GB\",\"host_name\":\"h\",\"ip_address\":\"10.0.0.1\","
    "\"operating_system\":\"Linux\",\"uuid\":\"u-1\","
    "\"transition_time\":\"2018-02-15T06:31:28.998+0000\"}";

static char *agent_variant(const char *key, json_t *value)
{
    return variant_of(agent_base, key, value);
}

static void expect_agent_variant_refused(const char *key, json_t *value, int version,
                                         const char *want)
{
    char *body = agent_variant(key, value);
    expect_errors_with(hr_gocd_agent_status, body, strlen(body), version,
                       (const char *const[]){want, NULL});
    free(body);
}

static hr_event *agent_variant_warned(const char *key, json_t *value, int version, const char *want)
{
    char *body = agent_variant(key, value);
    hr_event *ev = expect_warnings_with(hr_gocd_agent_status, body, strlen(body), version,
                                        (const char *const[]){want, NULL});
    free(body);
    return ev;
}

Test(gocd_agent, base_body)
{
    for (int version = 3; version <= 4; version++) {
        hr_event *ev = agent_ok(agent_base, strlen(agent_base), version);
        check_agent_doc(ev, agent_base, strlen(agent_base), version);
        hr_event_free(ev);
    }
}

Test(gocd_agent, needs_version_3)
{
    EXPECT_AGENT_ERRORS(agent_base, 2,
                        "agent-status: needs notification extension version 3.0 or later; got 2.0");
    EXPECT_AGENT_ERRORS(agent_base, 1,
                        "agent-status: needs notification extension version 3.0 or later; got 1.0");
    EXPECT_AGENT_ERRORS(agent_base, 5,
                        "agent-status: herald speaks notification extension "
                        "versions 3.0 to 4.0; got 5.0");
}

Test(gocd_agent, enums_ignore_case_and_are_stored_capitalised)
{
    const char *cases[][2] = {{"LOSTCONTACT", "LostContact"}, {"lostcontact", "LostContact"},
                              {"missing", "Missing"},         {"Cancelled", "Cancelled"},
                              {"unknown", "Unknown"},         {"bUiLdInG", "Building"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *body = agent_variant("agent_state", json_string(cases[i][0]));
        hr_event *ev = agent_ok(body, strlen(body), 4);
        expect_str(ev->agent.agent_state, cases[i][1], cases[i][0]);
        hr_event_free(ev);
        free(body);
    }
    char *b1 = agent_variant("agent_config_state", json_string("disabled"));
    char *body = variant_of(b1, "build_state", json_string("CANCELLED"));
    hr_event *ev = agent_ok(body, strlen(body), 3);
    expect_str(ev->agent.config_state, "Disabled", "config");
    expect_str(ev->agent.build_state, "Cancelled", "build");
    hr_event_free(ev);
    free(body);
    free(b1);
}

/* A value herald does not know is kept as sent, with a warning; one of
 * the wrong type is left unset, with a warning. Only the uuid refuses. */
Test(gocd_agent, wrong_values)
{
    hr_event *ev = agent_variant_warned("agent_state", json_string("sleeping"), 4,
                                        "agent_state: expected one of Idle, Building, "
                                        "LostContact, Missing, Cancelled, Unknown; got "
                                        "\"sleeping\"");
    expect_str(ev->agent.agent_state, "sleeping", "agent_state");
    hr_event_free(ev);
    ev = agent_variant_warned("build_state", json_string("Lost Contact"), 4,
                              "build_state: expected one of Idle, Building, Cancelled, "
                              "Unknown; got \"Lost Contact\"");
    expect_str(ev->agent.build_state, "Lost Contact", "build_state");
    hr_event_free(ev);
    ev = agent_variant_warned("agent_config_state", json_integer(1), 4,
                              "agent_config_state: expected one of Pending, Enabled, "
                              "Disabled; got 1");
    expect_str(ev->agent.config_state, NULL, "config_state");
    hr_event_free(ev);
    hr_event_free(agent_variant_warned("is_elastic", json_string("yes"), 3,
                                       "is_elastic: expected true or false; got \"yes\""));
    hr_event_free(agent_variant_warned("free_space", json_integer(100), 3,
                                       "free_space: expected a string or null; got 100"));
    hr_event_free(agent_variant_warned("transition_time", json_string("2018-02-15 06:31:28"), 4,
                                       "transition_time: expected " TIME_EXPECTED
                                       "; got \"2018-02-15 06:31:28\""));
    expect_agent_variant_refused("uuid", json_string(""), 4,
                                 "uuid: expected a non-empty string; got \"\"");
    expect_agent_variant_refused("uuid", json_null(), 4, "uuid: expected a string; got null");
}

Test(gocd_agent, missing_required)
{
    EXPECT_AGENT_ERRORS("{}", 4, "uuid: expected a string; got nothing");
    EXPECT_AGENT_WARNINGS("{\"uuid\":\"u\"}", 4,
                          "agent_config_state: expected one of Pending, Enabled, Disabled; got "
                          "nothing",
                          "agent_state: expected one of Idle, Building, LostContact, Missing, "
                          "Cancelled, Unknown; got nothing",
                          "build_state: expected one of Idle, Building, Cancelled, Unknown; got "
                          "nothing");
}

Test(gocd_agent, optional_members)
{
    const char body[] = "{\"uuid\":\"u\",\"agent_config_state\":\"Pending\","
                        "\"agent_state\":\"Missing\",\"build_state\":\"Unknown\","
                        "\"host_name\":null,\"transition_time\":\"\"}";
    hr_event *ev = agent_ok(body, strlen(body), 4);
    check_agent_doc(ev, body, strlen(body), 4);
    cr_expect_not(ev->agent.is_elastic);
    expect_str(ev->agent.host_name, NULL, "host_name");
    expect_str(ev->agent.ip_address, NULL, "ip_address");
    expect_time(ev->agent.transition_at, NONE, "transition_time");
    hr_event_free(ev);
}

Test(gocd_agent, shape_and_json)
{
    EXPECT_AGENT_ERRORS("[]", 4, "body: expected an object; got an array");
    EXPECT_AGENT_ERRORS("{\"uuid\":\"a\",\"uuid\":\"b\"}", 4,
                        "invalid JSON at line 1, column 18: duplicate object key near '\"uuid\"'");
    hr_event *ev = NULL;
    cr_expect_eq(hr_gocd_agent_status(agent_base, strlen(agent_base), 2, &ev, NULL), HR_EINVAL);
    cr_expect_null(ev);
}

Test(gocd_agent, event_json_form)
{
    hr_event *ev = agent_ok(agent_base, strlen(agent_base), 4);
    json_t *j = event_doc_json(ev);
    json_t *a = json_object_get(j, "agent");
    cr_expect_str_eq(json_string_value(json_object_get(j, "kind")), "agent-status");
    cr_expect_str_eq(json_string_value(json_object_get(a, "agent_state")), "Idle");
    cr_expect_str_eq(json_string_value(json_object_get(a, "transition_at")),
                     "2018-02-15T06:31:28.998Z");
    json_decref(j);
    hr_event_free(ev);
}

/* ---- what a GoCD server can send -------------------------------------- */

/* The body labelled label in the fixtures' gocd-built-bodies.txt (one
 * "<label>: <json>" a line, as GoCD's own converters serialised them); new,
 * or a skipped test when the fixtures are absent. */
static char *built_body(const char *label)
{
    char path[1024];
    size_t len, llen = strlen(label);
    char *all, *line, *out = NULL;

    if (!folder_exists(HR_TEST_FIXTURES))
        cr_skip_test("no fixtures at %s", HR_TEST_FIXTURES);
    snprintf(path, sizeof(path), "%s/gocd-built-bodies.txt", HR_TEST_FIXTURES);
    all = test_slurp(path, &len);
    cr_assert_not_null(all, "no %s", path);
    for (line = all; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        if (strncmp(line, label, llen) == 0 && strncmp(line + llen, ": ", 2) == 0) {
            out = strdup(line + llen + 2);
            break;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    free(all);
    cr_assert_not_null(out, "no \"%s\" line in %s", label, path);
    return out;
}

/* GoCD's own serialisation (nulls kept) is accepted without a warning in
 * every version that reads it. */
Test(gocd_built, every_body_is_accepted_clean)
{
    char *v4 = built_body("v4 stage"), *v1 = built_body("v1 stage"),
         *agent = built_body("v4 agent");
    for (int version = 1; version <= 4; version++) {
        char *body = version == 4 ? v4 : v1;
        hr_event *ev = stage_ok(body, strlen(body), version);
        check_stage_doc(ev, body, strlen(body), version);
        cr_expect_eq(ev->ncauses, 8);
        hr_event_free(ev);
    }
    for (int version = 3; version <= 4; version++) {
        hr_event *ev = agent_ok(agent, strlen(agent), version);
        check_agent_doc(ev, agent, strlen(agent), version);
        hr_event_free(ev);
    }
    free(agent);
    free(v1);
    free(v4);
}

/* The index of the build cause whose material has the given type in the
 * v4 built body (the file's order: git, mercurial, svn, tfs, perforce,
 * pipeline, package, scm). */
static int cause_of(const char *type)
{
    static const char *const order[] = {"git",      "mercurial", "svn",     "tfs",
                                        "perforce", "pipeline",  "package", "scm"};
    for (int i = 0; i < 8; i++)
        if (strcmp(order[i], type) == 0)
            return i;
    cr_assert_fail("no material %s", type);
    return -1;
}

/* The v4 built body with one member changed must be accepted with exactly
 * the warning want, and the event's JSON form must hold expect (a JSON
 * value) at json_path (slash-separated): the value as sent. */
static void expect_kept(const char *path, json_t *value, const char *want, const char *json_path,
                        json_t *expect)
{
    char *built = built_body("v4 stage");
    char *body = variant_of(built, path, value);
    hr_event *ev = expect_warnings_with(hr_gocd_stage_status, body, strlen(body), 4,
                                        (const char *const[]){want, NULL});
    json_t *doc = event_doc_json(ev), *at = doc;
    char tok[128];
    const char *p = json_path, *slash;

    for (;;) {
        slash = strchr(p, '/');
        snprintf(tok, sizeof(tok), "%.*s", (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
        at = json_is_array(at) ? json_array_get(at, strtoul(tok, NULL, 10))
                               : json_object_get(at, tok);
        cr_assert_not_null(at, "%s: no %s in the event's JSON", path, json_path);
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    cr_expect(json_equal(at, expect), "%s: %s is not as sent", path, json_path);
    /* The warnings travel with the event's JSON form. */
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(doc, "warnings"), 0)), want);
    json_decref(expect);
    json_decref(doc);
    hr_event_free(ev);
    free(body);
    free(built);
}

Test(gocd_built, unknown_enum_values_are_kept)
{
    char mpath[128];
    expect_kept("pipeline/stage/state", json_string("Skipped"),
                "pipeline.stage.state: expected " STAGE_STATES "; got \"Skipped\"", "stage/state",
                json_string("Skipped"));
    expect_kept("pipeline/stage/result", json_string("Aborted"),
                "pipeline.stage.result: expected " RESULTS "; got \"Aborted\"", "stage/result",
                json_string("Aborted"));
    expect_kept("pipeline/stage/jobs/1/state", json_string("Queued"),
                "pipeline.stage.jobs[1].state: expected " JOB_STATES "; got \"Queued\"",
                "stage/jobs/1/state", json_string("Queued"));
    expect_kept("pipeline/stage/approval-type", json_string("timer"),
                "pipeline.stage.approval-type: expected one of success, manual; got \"timer\"",
                "stage/approval_type", json_string("timer"));
    /* A material type herald does not know keeps its type, its
     * "<type>-configuration" and its URL. */
    snprintf(mpath, sizeof(mpath), "pipeline/build-cause/%d/material", cause_of("git"));
    expect_kept(mpath,
                json_pack("{s:s,s:s,s:{s:s,s:s}}", "type", "gitlab", "fingerprint", "fp-gl",
                          "gitlab-configuration", "url", "https://gitlab.example/x/y.git",
                          "project", "x/y"),
                "pipeline.build-cause[0].material.type: expected one of git, mercurial, svn, tfs, "
                "perforce, pipeline, package, scm; got \"gitlab\"",
                "build_cause/0",
                json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:b,s:s,s:[{s:s,s:s,s:{}}]}", "material_type",
                          "gitlab", "material", "https://gitlab.example/x/y.git", "fingerprint",
                          "fp-gl", "config", "url", "https://gitlab.example/x/y.git", "project",
                          "x/y", "changed", 1, "revision", "9f3c2e1aa", "modifications", "revision",
                          "9f3c2e1aa", "modified_at", "2023-11-14T21:56:40.000Z", "data"));
}

Test(gocd_built, nulls_gocd_serialises_are_kept)
{
    char path[160], jpath[160], want[256];
    int pkg = cause_of("package"), scm = cause_of("scm"), git = cause_of("git");

    snprintf(path, sizeof(path), "pipeline/build-cause/%d/material/scm-configuration/token", scm);
    snprintf(want, sizeof(want),
             "pipeline.build-cause[%d].material.scm-configuration.token: expected a string; "
             "got null",
             scm);
    snprintf(jpath, sizeof(jpath), "build_cause/%d/config/scm-configuration/token", scm);
    expect_kept(path, json_null(), want, jpath, json_null());

    snprintf(path, sizeof(path),
             "pipeline/build-cause/%d/material/package-configuration/HERALD_PACKAGE", pkg);
    snprintf(want, sizeof(want),
             "pipeline.build-cause[%d].material.package-configuration.HERALD_PACKAGE: expected a "
             "string; got null",
             pkg);
    snprintf(jpath, sizeof(jpath), "build_cause/%d/config/package-configuration", pkg);
    expect_kept(path, json_null(), want, jpath, json_pack("{s:n}", "HERALD_PACKAGE"));

    snprintf(path, sizeof(path), "pipeline/build-cause/%d/material/plugin-id", scm);
    snprintf(want, sizeof(want),
             "pipeline.build-cause[%d].material.plugin-id: expected a string; got null", scm);
    snprintf(jpath, sizeof(jpath), "build_cause/%d/config", scm);
    expect_kept(path, json_null(), want, jpath,
                json_pack("{s:n,s:{s:s,s:s}}", "plugin-id", "scm-configuration", "url",
                          "https://github.com/x/y", "token", "t"));

    snprintf(path, sizeof(path), "pipeline/build-cause/%d/material/git-configuration/url", git);
    snprintf(want, sizeof(want),
             "pipeline.build-cause[%d].material.git-configuration.url: expected a string; got "
             "null",
             git);
    snprintf(jpath, sizeof(jpath), "build_cause/%d/config/url", git);
    expect_kept(path, json_null(), want, jpath, json_null());

    snprintf(path, sizeof(path), "pipeline/build-cause/%d/modifications/0/revision", pkg);
    snprintf(want, sizeof(want),
             "pipeline.build-cause[%d].modifications[0].revision: expected a string; got null",
             pkg);
    snprintf(jpath, sizeof(jpath), "build_cause/%d/modifications/0/revision", pkg);
    expect_kept(path, json_null(), want, jpath, json_null());

    expect_kept("pipeline/stage/approved-by", json_null(),
                "pipeline.stage.approved-by: expected a string; got null", "stage/approved_by",
                json_null());
}

Test(gocd_built, unknown_agent_values_are_kept)
{
    char *built = built_body("v4 agent");
    char *b1 = variant_of(built, "agent_state", json_string("Sleeping"));
    char *body = variant_of(b1, "agent_config_state", json_string("Archived"));
    hr_event *ev = expect_warnings_with(
        hr_gocd_agent_status, body, strlen(body), 4,
        (const char *const[]){"agent_config_state: expected one of Pending, Enabled, Disabled; "
                              "got \"Archived\"",
                              "agent_state: expected one of Idle, Building, LostContact, "
                              "Missing, Cancelled, Unknown; got \"Sleeping\"",
                              NULL});
    json_t *doc = event_doc_json(ev);
    expect_str(ev->agent.agent_state, "Sleeping", "agent_state");
    expect_str(ev->agent.config_state, "Archived", "config_state");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(doc, "agent"), "agent_state")),
        "Sleeping");
    cr_expect_eq(json_array_size(json_object_get(doc, "warnings")), 2);
    json_decref(doc);
    hr_event_free(ev);
    free(body);
    free(b1);
    free(built);
}

/* Entries that are not objects stay in place as empty ones, and the event's
 * JSON form is built from whatever was kept. */
Test(gocd_stage, odd_entries_are_kept_empty)
{
    char *b1 = variant("pipeline/stage/jobs/0", json_integer(3));
    char *b2 = variant_of(b1, "pipeline/build-cause/0/modifications/0", json_string("r1"));
    char *body =
        variant_of(b2, "pipeline/build-cause/0/material", json_pack("{s:s}", "type", "gitlab"));
    hr_event *ev = expect_warnings_with(
        hr_gocd_stage_status, body, strlen(body), 4,
        (const char *const[]){"pipeline.build-cause[0].material.type: expected one of git, "
                              "mercurial, svn, tfs, perforce, pipeline, package, scm; got "
                              "\"gitlab\"",
                              "pipeline.build-cause[0].modifications[0]: expected an object; "
                              "got \"r1\"",
                              "pipeline.stage.jobs[0]: expected an object; got 3", NULL});
    json_t *doc = event_doc_json(ev);
    json_t *cause = json_array_get(json_object_get(doc, "build_cause"), 0);
    json_t *job = json_array_get(json_object_get(json_object_get(doc, "stage"), "jobs"), 0);

    cr_expect(json_is_null(json_object_get(job, "name")));
    cr_expect_str_eq(json_string_value(json_object_get(cause, "material_type")), "gitlab");
    cr_expect(json_is_null(json_object_get(cause, "material")));
    cr_expect_eq(json_object_size(json_object_get(cause, "config")), 0);
    cr_expect(json_is_null(json_object_get(cause, "revision")));
    cr_expect_eq(json_object_size(json_object_get(
                     json_array_get(json_object_get(cause, "modifications"), 0), "data")),
                 0);
    json_decref(doc);
    hr_event_free(ev);
    free(body);
    free(b2);
    free(b1);
}
