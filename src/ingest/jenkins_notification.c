/*
 * jenkins_notification.c - the Notification plugin's body, as ingest/jenkins.c
 * describes.
 */
#include "ingest/jenkins.h"

#include "core/jpath.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "ingest/jenkins_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Notification plugin's phases (its Phase enum, without NONE, which
 * only its notifyEndpoints step can name and which says nothing). */
static const char *const phases[] = {"QUEUED", "STARTED", "COMPLETED", "FINALIZED", NULL};

/* ---- the Notification plugin ------------------------------------------ */

bool hr_jenkins_is_xml(const char *body, size_t len)
{
    size_t i = 0;

    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    return i < len && body[i] == '<';
}

/* Step 1 for a Notification body; returns the phase's index in phases,
 * or -1 after reporting problems. */
static int notification_check(check *c, const json_t *root)
{
    const json_t *build, *scm, *params, *tests, *artifacts;
    char path[PATH_LEN];
    int64_t ignored;
    int phase;

    hr_jk__want_string(c, root, "", "name", true);
    hr_jk__want_string(c, root, "", "display_name", false);
    hr_jk__want_string(c, root, "", "url", false);
    build = hr_jk__want_object(c, root, "", "build", true);
    if (build == NULL)
        return -1;
    hr_jk__want_string(c, build, "build", "full_url", false);
    hr_jk__want_int(c, build, "build", "number", 1, &ignored);
    hr_jk__want_int(c, build, "build", "queue_id", 0, &ignored);
    hr_jk__want_int(c, build, "build", "timestamp", 0, &ignored);
    hr_jk__want_int(c, build, "build", "duration", 0, &ignored);
    phase = hr_jk__want_word(c, build, "build", "phase", phases, PHASE_EXPECTED, true);
    if (json_object_get(build, "status") != NULL &&
        !json_is_null(json_object_get(build, "status")) &&
        hr_jk__find_status(json_object_get(build, "status"), true) == NULL)
        hr_jk__report(c, "build.status", RESULT_EXPECTED, json_object_get(build, "status"));
    hr_jk__want_string(c, build, "build", "url", false);
    hr_jk__want_string(c, build, "build", "display_name", false);
    hr_jk__want_string(c, build, "build", "log", false);
    hr_jk__want_string(c, build, "build", "notes", false);
    scm = hr_jk__want_object(c, build, "build", "scm", false);
    if (scm != NULL) {
        hr_jk__want_string(c, scm, "build.scm", "url", false);
        hr_jk__want_string(c, scm, "build.scm", "branch", false);
        hr_jk__want_string(c, scm, "build.scm", "commit", false);
        hr_jk__check_string_array(c, scm, "build.scm", "changes");
        hr_jk__check_string_array(c, scm, "build.scm", "culprits");
    }
    params = hr_jk__want_object(c, build, "build", "parameters", false);
    if (params != NULL)
        hr_jk__check_string_map(c, params, "build.parameters");
    tests = hr_jk__want_object(c, build, "build", "test_summary", false);
    if (tests != NULL) {
        hr_jk__want_int(c, tests, "build.test_summary", "total", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "failed", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "passed", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "skipped", 0, &ignored);
        hr_jk__check_string_array(c, tests, "build.test_summary", "failed_tests");
    }
    artifacts = hr_jk__want_object(c, build, "build", "artifacts", false);
    if (artifacts != NULL) {
        const char *file;
        json_t *locations;
        json_object_foreach((json_t *)artifacts, file, locations)
        {
            hr_jpath_name(path, "build.artifacts", file, strlen(file));
            if (json_is_object(locations))
                hr_jk__check_string_map(c, locations, path);
            else
                hr_jk__report(c, path, "an object of location -> URL", locations);
        }
    }
    return c->problems > 0 ? -1 : phase;
}

/*
 * The job's full name from its relative URL: the name after each "job"
 * segment, %-decoded, joined by '/' ("job/a/job/b%20c/" gives "a/b c").
 * Falls back to name when the URL holds none, or when what it gives does
 * not end with name. New.
 */
static char *full_name_from_url(const char *url, const char *name)
{
    size_t len = url != NULL ? strlen(url) : 0, at = 0, n;
    char *out = hr_malloc(len + 1);
    const char *p = url, *last = NULL;

    while (p != NULL && *p != '\0') {
        size_t seg = strcspn(p, "/");
        const char *next = p + seg + (p[seg] == '/');
        if (seg == 3 && memcmp(p, "job", 3) == 0 && *next != '\0' && *next != '/') {
            size_t nseg = strcspn(next, "/");
            if (at > 0)
                out[at++] = '/';
            if (!hr_jk__percent_decode(next, nseg, false, out + at, &n) ||
                !hr_jk__clean_utf8(out + at, n))
                goto fallback;
            last = out + at;
            at += n;
            next += nseg + (next[nseg] == '/');
        }
        p = next;
    }
    out[at] = '\0';
    if (last != NULL && strcmp(last, name) == 0)
        return out;
fallback:
    free(out);
    return hr_strdup(name);
}

/* The job's absolute URL: the root URL (build.full_url without build.url
 * at its end) followed by the job's relative url; url itself when that
 * cannot be done. New, or NULL without url. */
static char *job_url_of(const char *url, const char *full_url, const char *build_url)
{
    size_t fl, bl, ul;
    char *out;

    if (url == NULL)
        return NULL;
    if (full_url == NULL || build_url == NULL || strstr(url, "://") != NULL)
        return hr_strdup(url);
    fl = strlen(full_url);
    bl = strlen(build_url);
    ul = strlen(url);
    if (bl == 0 || bl > fl || strcmp(full_url + fl - bl, build_url) != 0)
        return hr_strdup(url);
    out = hr_malloc(fl - bl + ul + 1);
    memcpy(out, full_url, fl - bl);
    memcpy(out + fl - bl, url, ul + 1);
    return out;
}

int hr_jenkins_notification(const char *body, size_t len, const hr_redact *r, hr_event **out,
                            hr_errlist *errs)
{
    static const char *const phase_names[] = {"queued", "started", "completed", "finalized"};
    check c = {errs, 0};
    json_t *root = NULL, *red = NULL, *build, *scm, *params;
    const status_word *w;
    hr_event *ev;
    hr_build *b;
    int64_t timestamp = 0, duration = 0, x;
    bool has_ts, has_duration, done;
    int rc, phase;

    if (hr_jenkins_is_xml(body, len)) {
        hr_errlist_add(errs, "%s", HR_JENKINS_XML_REFUSED);
        return HR_EINVAL;
    }
    rc = hr_json_load_object(body, len, errs, &root);
    if (rc != HR_OK)
        return rc;
    phase = notification_check(&c, root);
    if (phase < 0) {
        rc = HR_EINVAL;
        goto out;
    }

    red = json_deep_copy(root);
    build = json_object_get(red, "build");
    params = json_object_get(build, "parameters");
    ev = hr_jk__new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_NOTIFICATION);
    b = &ev->build;
    b->redacted = json_is_object(params) ? hr_redact_env(r, params) : 0;
    b->redacted += hr_jk__scrub_members(red, "build") + hr_jk__scrub_members(build, "parameters");

    b->job_base_name = hr_strdup(hr_jk__str_at(red, "name"));
    b->job_name = full_name_from_url(hr_jk__str_at(red, "url"), b->job_base_name);
    b->job_url = job_url_of(hr_jk__str_at(red, "url"), hr_jk__str_at(build, "full_url"),
                            hr_jk__str_at(build, "url"));
    b->url = hr_strdup(hr_jk__str_at(build, "full_url") ? hr_jk__str_at(build, "full_url")
                                                        : hr_jk__str_at(build, "url"));
    if (json_is_integer(json_object_get(build, "number")))
        b->number = (int64_t)json_integer_value(json_object_get(build, "number"));
    if (json_is_integer(json_object_get(build, "queue_id")))
        b->queue_id = (int64_t)json_integer_value(json_object_get(build, "queue_id"));
    b->display_name = hr_strdup(hr_jk__str_at(build, "display_name"));
    b->phase = hr_strdup(phase_names[phase]);
    done = phase >= 2;
    w = hr_jk__find_status(json_object_get(build, "status"), true);
    if (w != NULL)
        b->status = hr_strdup(w->word);
    if (done)
        b->result = hr_strdup(w != NULL ? w->result : "Unknown");
    has_ts = json_is_integer(json_object_get(build, "timestamp"));
    if (has_ts)
        timestamp = (int64_t)json_integer_value(json_object_get(build, "timestamp"));
    has_duration = json_is_integer(json_object_get(build, "duration"));
    if (has_duration)
        duration = (int64_t)json_integer_value(json_object_get(build, "duration"));
    if (done && has_duration)
        b->duration_ms = duration;
    if (phase == 1 && has_ts)
        b->started_at = timestamp;
    else if (phase == 2 && has_ts && has_duration && (x = timestamp - duration) >= 0)
        b->started_at = x;
    scm = json_object_get(build, "scm");
    if (json_is_object(scm)) {
        b->scm_url = hr_strdup(hr_jk__str_at(scm, "url"));
        b->scm_branch = hr_strdup(hr_jk__str_at(scm, "branch"));
        b->scm_commit = hr_strdup(hr_jk__str_at(scm, "commit"));
        b->scm_changes = hr_jk__ref_at(scm, "changes", JSON_ARRAY);
        b->scm_culprits = hr_jk__ref_at(scm, "culprits", JSON_ARRAY);
    }
    b->branch = hr_strdup(b->scm_branch);
    b->parameters = hr_jk__ref_at(build, "parameters", JSON_OBJECT);
    b->test_summary = hr_jk__ref_at(build, "test_summary", JSON_OBJECT);
    b->artifacts = hr_jk__ref_at(build, "artifacts", JSON_OBJECT);
    b->log = hr_strdup(hr_jk__str_at(build, "log"));
    b->notes = hr_strdup(hr_jk__str_at(build, "notes"));
    hr_jk__set_raw_json(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}
