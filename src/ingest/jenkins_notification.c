/*
 * jenkins_notification.c - the Notification plugin's body, as ingest/jenkins.c
 * describes.
 */
#include "ingest/jenkins.h"

#include "core/jpath.h"
#include "core/limits.h"
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

/* Step 1 for a Notification body (c->js); returns the phase's index in
 * phases, or -1 after reporting problems. */
static int notification_check(check *c)
{
    const hr_jscan *js = c->js;
    uint32_t build, scm, params, tests, artifacts, status;
    char path[PATH_LEN];
    int64_t ignored;
    int phase;

    hr_jk__want_string(c, 0, "", "name", true);
    hr_jk__want_string(c, 0, "", "display_name", false);
    hr_jk__want_string(c, 0, "", "url", false);
    build = hr_jk__want_object(c, 0, "", "build", true);
    if (build == 0)
        return -1;
    hr_jk__want_string(c, build, "build", "full_url", false);
    hr_jk__want_int(c, build, "build", "number", 1, &ignored);
    hr_jk__want_int(c, build, "build", "queue_id", 0, &ignored);
    hr_jk__want_int(c, build, "build", "timestamp", 0, &ignored);
    hr_jk__want_int(c, build, "build", "duration", 0, &ignored);
    phase = hr_jk__want_word(c, build, "build", "phase", phases, PHASE_EXPECTED, true);
    status = hr_jscan_get(js, build, "status");
    if (status != 0 && hr_jscan_type(js, status) != HR_JS_NULL &&
        hr_jk__find_status(js, status, true) == NULL)
        hr_jk__report(c, "build.status", RESULT_EXPECTED, status);
    hr_jk__want_string(c, build, "build", "url", false);
    hr_jk__want_string(c, build, "build", "display_name", false);
    hr_jk__want_string(c, build, "build", "log", false);
    hr_jk__want_string(c, build, "build", "notes", false);
    scm = hr_jk__want_object(c, build, "build", "scm", false);
    if (scm != 0) {
        hr_jk__want_string(c, scm, "build.scm", "url", false);
        hr_jk__want_string(c, scm, "build.scm", "branch", false);
        hr_jk__want_string(c, scm, "build.scm", "commit", false);
        hr_jk__check_string_array(c, scm, "build.scm", "changes");
        hr_jk__check_string_array(c, scm, "build.scm", "culprits");
    }
    params = hr_jk__want_object(c, build, "build", "parameters", false);
    if (params != 0)
        hr_jk__check_string_map(c, params, "build.parameters");
    tests = hr_jk__want_object(c, build, "build", "test_summary", false);
    if (tests != 0) {
        hr_jk__want_int(c, tests, "build.test_summary", "total", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "failed", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "passed", 0, &ignored);
        hr_jk__want_int(c, tests, "build.test_summary", "skipped", 0, &ignored);
        hr_jk__check_string_array(c, tests, "build.test_summary", "failed_tests");
    }
    artifacts = hr_jk__want_object(c, build, "build", "artifacts", false);
    if (artifacts != 0) {
        uint32_t k = hr_jscan_first(artifacts);
        for (uint32_t i = 0; i < js->tok[artifacts].n; i++, k = hr_jscan_next(js, k + 1)) {
            size_t n;
            char *file = hr_jk__tok_str(js, k, &n);
            hr_jpath_name(path, "build.artifacts", file, n);
            free(file);
            if (hr_jscan_type(js, k + 1) == HR_JS_OBJECT)
                hr_jk__check_string_map(c, k + 1, path);
            else
                hr_jk__report(c, path, "an object of location -> URL", k + 1);
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

/* Tokens a body scans into on the stack before one allocation. */
#define SCAN_TOKENS 512

/*
 * Steps 2 and 3's raw: the body written again with build.parameters
 * redacted by the name and value rules (into *params, new, when it is an
 * object) and every other string by the value rules, members in their
 * order. Returns how many values changed.
 */
static size_t write_redacted(hr_jw *w, const hr_jscan *js, uint32_t build, const hr_redact *r,
                             hr_vars **params)
{
    size_t changed = 0;
    uint32_t k = hr_jscan_first(0);

    hr_jw_object(w);
    for (uint32_t i = 0; i < js->tok[0].n; i++, k = hr_jscan_next(js, k + 1)) {
        hr_jk__write_key(w, js, k);
        if (k + 1 != build) {
            changed += hr_jk__write_scrubbed(w, js, k + 1);
            continue;
        }
        hr_jw_object(w);
        for (uint32_t b = hr_jscan_first(build), m = 0; m < js->tok[build].n;
             m++, b = hr_jscan_next(js, b + 1)) {
            hr_jk__write_key(w, js, b);
            if (hr_jscan_streq(js, b, "parameters", 10) &&
                hr_jscan_type(js, b + 1) == HR_JS_OBJECT) {
                *params = hr_jk__vars_of(js, b + 1);
                changed += hr_redact_vars(r, *params);
                hr_vars_write(w, *params);
            } else {
                changed += hr_jk__write_scrubbed(w, js, b + 1);
            }
        }
        hr_jw_end_object(w);
    }
    hr_jw_end_object(w);
    return changed;
}

/* Integer member key of obj (a token of js) into *out; false when it is
 * missing or not an integer. */
static bool int_at(const hr_jscan *js, uint32_t obj, const char *key, int64_t *out)
{
    uint32_t v = hr_jscan_get(js, obj, key);
    return v != 0 && hr_jscan_int64(js, v, out) == HR_OK;
}

int hr_jenkins_notification(const char *body, size_t len, const hr_redact *r, hr_event **out,
                            hr_errlist *errs)
{
    static const char *const phase_names[] = {"queued", "started", "completed", "finalized"};
    hr_jtok stack[SCAN_TOKENS];
    hr_jscan js;
    check c = {errs, 0, &js};
    const status_word *w;
    hr_event *ev;
    hr_build *b;
    hr_jw raw;
    char *url, *full_url, *build_url;
    int64_t timestamp = 0, duration = 0, x;
    bool has_ts, has_duration, done;
    uint32_t build, scm;
    int rc = HR_EINVAL, phase;

    if (hr_jenkins_is_xml(body, len)) {
        hr_errlist_add(errs, "%s", HR_JENKINS_XML_REFUSED);
        return HR_EINVAL;
    }
    if (hr_jscan_parse_object(&js, body, len, stack, SCAN_TOKENS, errs) != HR_OK)
        return HR_EINVAL;
    phase = notification_check(&c);
    if (phase < 0)
        goto out;

    build = hr_jscan_get(&js, 0, "build");
    ev = hr_jk__new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_NOTIFICATION);
    b = &ev->build;
    hr_jw_init(&raw, HR_MAX_EVENT_DOC_BYTES);
    b->redacted = write_redacted(&raw, &js, build, r, &b->parameters);
    hr_jk__set_raw(ev, &raw);

    /* Map, from values scrubbed as raw's are. */
    url = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "url"));
    full_url = hr_jk__scrubbed(&js, hr_jscan_get(&js, build, "full_url"));
    build_url = hr_jk__scrubbed(&js, hr_jscan_get(&js, build, "url"));
    b->job_base_name = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "name"));
    b->job_name = full_name_from_url(url, b->job_base_name);
    b->job_url = job_url_of(url, full_url, build_url);
    b->url = hr_strdup(full_url != NULL ? full_url : build_url);
    free(url);
    free(full_url);
    free(build_url);
    if (int_at(&js, build, "number", &x))
        b->number = x;
    if (int_at(&js, build, "queue_id", &x))
        b->queue_id = x;
    b->display_name = hr_jk__scrubbed(&js, hr_jscan_get(&js, build, "display_name"));
    b->phase = hr_strdup(phase_names[phase]);
    done = phase >= 2;
    w = hr_jk__find_status(&js, hr_jscan_get(&js, build, "status"), true);
    if (w != NULL)
        b->status = hr_strdup(w->word);
    if (done)
        b->result = hr_strdup(w != NULL ? w->result : "Unknown");
    has_ts = int_at(&js, build, "timestamp", &timestamp);
    has_duration = int_at(&js, build, "duration", &duration);
    if (done && has_duration)
        b->duration_ms = duration;
    if (phase == 1 && has_ts)
        b->started_at = timestamp;
    else if (phase == 2 && has_ts && has_duration && (x = timestamp - duration) >= 0)
        b->started_at = x;
    scm = hr_jscan_get(&js, build, "scm");
    if (scm != 0 && hr_jscan_type(&js, scm) == HR_JS_OBJECT) {
        b->scm_url = hr_jk__scrubbed(&js, hr_jscan_get(&js, scm, "url"));
        b->scm_branch = hr_jk__scrubbed(&js, hr_jscan_get(&js, scm, "branch"));
        b->scm_commit = hr_jk__scrubbed(&js, hr_jscan_get(&js, scm, "commit"));
        b->scm_changes = hr_jk__scrubbed_json(&js, hr_jscan_get(&js, scm, "changes"), HR_JS_ARRAY);
        b->scm_culprits =
            hr_jk__scrubbed_json(&js, hr_jscan_get(&js, scm, "culprits"), HR_JS_ARRAY);
    }
    b->branch = hr_strdup(b->scm_branch);
    b->test_summary =
        hr_jk__scrubbed_json(&js, hr_jscan_get(&js, build, "test_summary"), HR_JS_OBJECT);
    b->artifacts = hr_jk__scrubbed_json(&js, hr_jscan_get(&js, build, "artifacts"), HR_JS_OBJECT);
    b->log = hr_jk__scrubbed(&js, hr_jscan_get(&js, build, "log"));
    b->notes = hr_jk__scrubbed(&js, hr_jscan_get(&js, build, "notes"));
    *out = ev;
    rc = HR_OK;
out:
    hr_jscan_free(&js);
    return rc;
}
