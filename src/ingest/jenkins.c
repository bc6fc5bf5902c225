/*
 * jenkins.c - checks Jenkins' and `herald notify`'s bodies, redacts them,
 * and maps them to build-status events: the parts every parser shares (the
 * messages, the status words, the checks, redaction, the event). Each
 * parser has its own file: jenkins_job_status.c, jenkins_notification.c
 * and ci_notify.c.
 *
 * Each parser works in three steps, all on the one exit path:
 *   1. check: walk the parsed body and report every rule it breaks (a
 *      "path: expected X; got Y" message each); the walk goes on after a
 *      problem, so one call reports them all;
 *   2. redact: make a deep copy and redact it in place (hr_redact_env on
 *      the environment and on Notification build.parameters, URL
 *      credentials everywhere else), so nothing below sees a secret;
 *   3. map: read the event's fields from the redacted copy, and serialise
 *      the copy as ev->raw.
 * The Job Status plugin's body, one flat object of strings, is read
 * without a tree: core/jscan's tokens go straight into an hr_vars list
 * (core/vars.h) of its members, which is checked, redacted in place (the
 * copy of step 2 is the list itself), mapped, and written once as ev->raw
 * (core/jwrite); what is left of it but the plugin's own members becomes
 * the event's environment. Its GET form decodes its query into the same
 * list and shares everything after reading. The Notification and
 * `herald notify` parsers walk a jansson tree through steps 1 to 3.
 *
 * Facts read from the plugins' source that shape this file:
 * - Job Status (environment-variables-status-sync, utils/Utils.java,
 *   utils/HttpClient.java, NotificationStep.java, JobWorkspaceListener.java):
 *   the map is Jenkins' EnvVars plus jobExecuteStatus and
 *   JOB_EXECUTE_STATUS (the run's result when it has one, else START,
 *   RUNNING or COMPLETE), buildNo (a copy of BUILD_NUMBER) and, from the
 *   notify step, body. GET appends "?" and URLEncoder-encoded pairs to the
 *   configured URL whatever it already holds.
 * - Notification (notification-plugin, Phase.java, Format.java,
 *   the model classes): Gson with LOWER_CASE_WITH_UNDERSCORES and its defaults
 *   (nulls omitted, HTML characters escaped as \u003c); name is the job's
 *   own name, not its full name, and url is relative ("job/a/job/b/");
 *   build.display_name is declared but never set; log is always a string
 *   (a StringBuilder), scm and artifacts are always objects; timestamp is
 *   the queue time, start time, start + duration or "now" depending on
 *   the phase; duration is 0 until the build completes.
 */
#include "ingest/jenkins.h"

#include "core/ascii.h"
#include "core/jpath.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "ingest/jenkins_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages --------------------------------------------------------- */

void hr_jk__problem(check *c, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    c->problems++;
    hr_errlist_add(c->errs, "%s", buf);
}

void hr_jk__report(check *c, const char *at, const char *expected, const json_t *got)
{
    char brief[BRIEF_LEN];
    hr_jk__problem(c, "%s: expected %s; got %s", at, expected,
                   hr_json_brief(got, brief, sizeof(brief)));
}

/* The same for a string (s, n), or for nothing when s is NULL. */
void hr_jk__report_str(check *c, const char *at, const char *expected, const char *s, size_t n)
{
    json_t *v = s != NULL ? json_stringn(s, n) : NULL;
    hr_jk__report(c, at, expected, v);
    json_decref(v);
}

/*
 * The same for a value of a build's environment or parameters, which may
 * be a credential under any name: only its type is said, never the value,
 * since a refused body is never redacted and the message reaches the log
 * and the sender.
 */
void hr_jk__report_type(check *c, const char *at, const char *expected, const json_t *got)
{
    hr_jk__problem(c, "%s: expected %s; got %s", at, expected, hr_json_type_name(got));
}

/* ---- words ------------------------------------------------------------ */

static const status_word statuses[] = {
    {"START", "started", NULL},
    {"RUNNING", "running", NULL},
    {"SUCCESS", "completed", "Passed"},
    {"UNSTABLE", "completed", "Failed"},
    {"FAILURE", "completed", "Failed"},
    {"NOT_BUILT", "completed", "Unknown"},
    {"ABORTED", "completed", "Cancelled"},
    {"COMPLETE", "completed", "Unknown"},
};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

/* ASCII-only, so the result does not depend on the process's locale. */
bool hr_jk__same_ignoring_case(const char *a, size_t alen, const char *b)
{
    if (alen != strlen(b))
        return false;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* The status word (s, n) names, or NULL. results_only limits it to
 * Jenkins' Result words (the Notification plugin's status). */
const status_word *hr_jk__find_status_str(const char *s, size_t n, bool results_only)
{
    for (size_t i = 0; i < NSTATUSES; i++) {
        if (results_only &&
            (statuses[i].result == NULL || strcmp(statuses[i].word, "COMPLETE") == 0))
            continue;
        if (hr_jk__same_ignoring_case(s, n, statuses[i].word))
            return &statuses[i];
    }
    return NULL;
}

/* The same for a JSON value: NULL when it is not a string. */
const status_word *hr_jk__find_status(const json_t *v, bool results_only)
{
    if (!json_is_string(v))
        return NULL;
    return hr_jk__find_status_str(json_string_value(v), json_string_length(v), results_only);
}

/* Sets phase, status and result from a status word. mid_run: the word
 * came from a step inside a running build, so it is not a completion. */
void hr_jk__set_status(hr_build *b, const status_word *w, bool mid_run)
{
    if (w->result == NULL) {
        b->phase = hr_strdup(w->phase);
        return;
    }
    b->status = hr_strdup(w->word);
    if (mid_run) {
        b->phase = hr_strdup("running");
        return;
    }
    b->phase = hr_strdup(w->phase);
    b->result = hr_strdup(w->result);
}

/* ---- small helpers ---------------------------------------------------- */

/* A new copy of a JSON string, or NULL when v is not a string. */
char *hr_jk__copy_string(const json_t *v)
{
    return json_is_string(v) ? hr_strndup(json_string_value(v), json_string_length(v)) : NULL;
}

/* The part of a job's full name after its last '/' (the whole name when
 * that part would be empty). New. */
char *hr_jk__base_name(const char *full)
{
    const char *slash = strrchr(full, '/');
    return hr_strdup(slash != NULL && slash[1] != '\0' ? slash + 1 : full);
}

/* Whether [s, s+n) is valid UTF-8 without NUL bytes. */
bool hr_jk__clean_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k;
        if (s[i] == '\0')
            return false;
        k = hr_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Decodes %XX (and, when plus, '+' as a space) from [s, s+n) into out,
 * which has room for n bytes; sets *outlen. false on an invalid escape. */
bool hr_jk__percent_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return false;
            hi = hr_hex_value(s[i + 1]);
            lo = hr_hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    *outlen = o;
    return true;
}

/* ---- checks ----------------------------------------------------------- */

/* obj[key] when it is a string (borrowed); NULL when missing or null
 * (a problem when required) or not a string (always a problem). */
const json_t *hr_jk__want_string(check *c, const json_t *obj, const char *at, const char *key,
                                 bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if (json_is_string(v) && (!required || json_string_length(v) > 0))
        return v;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    hr_jk__report(c, hr_jpath_key(path, at, key), required ? "a non-empty string" : "a string", v);
    return NULL;
}

/* obj[key] when it is an object (borrowed), else NULL; missing or null is
 * a problem only when required. */
const json_t *hr_jk__want_object(check *c, const json_t *obj, const char *at, const char *key,
                                 bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if (json_is_object(v))
        return v;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    hr_jk__report(c, hr_jpath_key(path, at, key), "an object", v);
    return NULL;
}

/* Checks an optional integer obj[key] of at least min; stores it in *out
 * and returns true when it is there and right. */
bool hr_jk__want_int(check *c, const json_t *obj, const char *at, const char *key, int64_t min,
                     int64_t *out)
{
    char path[PATH_LEN], expected[64];
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return false;
    if (json_is_integer(v) && json_integer_value(v) >= min) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    snprintf(expected, sizeof(expected), "an integer of %lld or more", (long long)min);
    hr_jk__report(c, hr_jpath_key(path, at, key), expected, v);
    return false;
}

/* Checks that every value of the object map (at path at) is a string;
 * a message says the wrong value's type, not the value (report_type). */
void hr_jk__check_string_map(check *c, const json_t *map, const char *at)
{
    char path[PATH_LEN];
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)map, key, v)
    {
        if (!json_is_string(v))
            hr_jk__report_type(c, hr_jpath_name(path, at, key, strlen(key)), "a string", v);
    }
}

/* Checks an optional obj[key] that must be an array of strings. */
void hr_jk__check_string_array(check *c, const json_t *obj, const char *at, const char *key)
{
    char path[PATH_LEN], ipath[PATH_LEN];
    const json_t *v = json_object_get(obj, key);
    size_t i;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return;
    hr_jpath_key(path, at, key);
    if (!json_is_array(v)) {
        hr_jk__report(c, path, "an array of strings", v);
        return;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            hr_jk__report(c, hr_jpath_index(ipath, path, i), "a string", e);
    }
}

/* Checks an optional obj[key] that must be one of names (any case);
 * returns its index, or -1 when missing, null or wrong. */
int hr_jk__want_word(check *c, const json_t *obj, const char *at, const char *key,
                     const char *const *names, const char *expected, bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if ((v == NULL || json_is_null(v)) && !required)
        return -1;
    for (int i = 0; json_is_string(v) && names[i] != NULL; i++)
        if (hr_jk__same_ignoring_case(json_string_value(v), json_string_length(v), names[i]))
            return i;
    hr_jk__report(c, hr_jpath_key(path, at, key), expected, v);
    return -1;
}

/* obj[key] when it is a string, else NULL (borrowed). */
const char *hr_jk__str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A new reference to obj[key] when it is of the given type, else NULL. */
json_t *hr_jk__ref_at(const json_t *obj, const char *key, json_type type)
{
    json_t *v = json_object_get(obj, key);
    return v != NULL && json_typeof(v) == type ? json_incref(v) : NULL;
}

/* ---- redaction -------------------------------------------------------- */

/* Scrubs the credentials hr_redact_value finds from every member of obj
 * except skip (NULL for none), in place; returns how many strings
 * changed. */
size_t hr_jk__scrub_members(json_t *obj, const char *skip)
{
    const char *key;
    json_t *v;
    size_t n = 0;

    json_object_foreach(obj, key, v)
    {
        if (skip == NULL || strcmp(key, skip) != 0)
            n += hr_redact_values_in(v);
    }
    return n;
}

/* ---- events ----------------------------------------------------------- */

hr_event *hr_jk__new_build_event(const char *source, const char *version)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(source);
    ev->kind = hr_strdup(HR_KIND_BUILD_STATUS);
    ev->version = hr_strdup(version);
    ev->has_build = true;
    return ev;
}

/* A new list of obj's members, which are strings, in their order; NULL
 * when obj is not an object. */
hr_vars *hr_jk__vars_of(const json_t *obj)
{
    const char *key;
    json_t *v;
    hr_vars *vs;

    if (!json_is_object(obj))
        return NULL;
    vs = hr_vars_new();
    json_object_foreach((json_t *)obj, key, v)
    {
        hr_vars_add(vs, key, strlen(key), json_string_value(v), json_string_length(v));
    }
    return vs;
}

/* Sets ev->raw to obj as compact JSON, members in their order. */
void hr_jk__set_raw_json(hr_event *ev, const json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (s == NULL)
        hr_oom(0);
    ev->raw_len = strlen(s);
    ev->raw = hr_strndup(s, ev->raw_len);
    free(s);
}
