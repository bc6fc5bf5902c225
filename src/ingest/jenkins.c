/*
 * jenkins.c - checks Jenkins' and `herald notify`'s bodies, redacts them,
 * and maps them to build-status events: the parts every parser shares (the
 * messages, the status words, the checks, redaction, the event). Each
 * parser has its own file: jenkins_job_status.c, jenkins_notification.c
 * and ci_notify.c.
 *
 * No parser builds a jansson tree of the body: each reads it once with
 * core/jscan (tokens on the HTTP thread's stack for a typical body) and
 * works in three steps, all on the one exit path:
 *   1. check: walk the tokens and report every rule the body breaks (a
 *      "path: expected X; got Y" message each); the walk goes on after a
 *      problem, so one call reports them all;
 *   2. redact: a build's environment (Job Status, `herald notify`) and
 *      Notification build.parameters become core/vars lists, redacted in
 *      place by the name and value rules (hr_redact_vars); every other
 *      string is scrubbed by the value rules as it is copied out, so
 *      nothing below sees a secret;
 *   3. map and write: the event's fields are copied out of the redacted
 *      values, and ev->raw is written once with core/jwrite from the same
 *      lists and scrubbed tokens, members in the body's order, the bytes
 *      json_dumps(JSON_COMPACT) made of the redacted tree before.
 * Job Status's flat object of strings goes whole into one list, checked
 * and mapped from it; what is left but the plugin's own members becomes
 * the event's environment. Its GET form decodes its query into the same
 * list and shares everything after reading. Only the parts of a
 * Notification body an event keeps as JSON (scm changes and culprits,
 * test_summary, artifacts) are built as jansson values, from their tokens.
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
#include "core/jscan.h"
#include "core/jwrite.h"
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

/* "at: expected X; got Y", Y the brief of token got of c->js (0: nothing). */
void hr_jk__report(check *c, const char *at, const char *expected, uint32_t got)
{
    char brief[BRIEF_LEN];
    hr_jk__problem(c, "%s: expected %s; got %s", at, expected,
                   got != 0 ? hr_jscan_brief(c->js, got, brief, sizeof(brief))
                            : hr_json_brief(NULL, brief, sizeof(brief)));
}

/* The same for a string (s, n), or for nothing when s is NULL. */
void hr_jk__report_str(check *c, const char *at, const char *expected, const char *s, size_t n)
{
    char brief[BRIEF_LEN];
    json_t *v = s != NULL ? json_stringn(s, n) : NULL;
    hr_jk__problem(c, "%s: expected %s; got %s", at, expected,
                   hr_json_brief(v, brief, sizeof(brief)));
    json_decref(v);
}

/*
 * The same for a value of a build's environment or parameters, which may
 * be a credential under any name: only its type is said, never the value,
 * since a refused body is never redacted and the message reaches the log
 * and the sender.
 */
void hr_jk__report_type(check *c, const char *at, const char *expected, uint32_t got)
{
    hr_jk__problem(c, "%s: expected %s; got %s", at, expected, hr_jscan_type_name(c->js, got));
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

/* The status word (s, n) names, or NULL. results_only limits it to
 * Jenkins' Result words (the Notification plugin's status). */
const status_word *hr_jk__find_status_str(const char *s, size_t n, bool results_only)
{
    for (size_t i = 0; i < NSTATUSES; i++) {
        if (results_only &&
            (statuses[i].result == NULL || strcmp(statuses[i].word, "COMPLETE") == 0))
            continue;
        if (hr_ascii_same_ignoring_case(s, n, statuses[i].word))
            return &statuses[i];
    }
    return NULL;
}

/* The same for token v of js: NULL when it is 0 or not a string. */
const status_word *hr_jk__find_status(const hr_jscan *js, uint32_t v, bool results_only)
{
    const status_word *w;
    size_t n;
    char *s;

    if (v == 0 || hr_jscan_type(js, v) != HR_JS_STRING)
        return NULL;
    s = hr_jk__tok_str(js, v, &n);
    w = hr_jk__find_status_str(s, n, results_only);
    free(s);
    return w;
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

/* String token i of js unescaped: new, NUL-terminated, its length in
 * *n (the reader refuses \u0000, so it holds no NUL). */
char *hr_jk__tok_str(const hr_jscan *js, uint32_t i, size_t *n)
{
    char *s = hr_jscan_strdup(js, i);
    *n = strlen(s);
    return s;
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

/* Whether token v is missing (0) or null. */
static bool absent(const hr_jscan *js, uint32_t v)
{
    return v == 0 || hr_jscan_type(js, v) == HR_JS_NULL;
}

/* obj[key] when it is a string (a token); 0 when missing or null (a
 * problem when required) or not a string (always a problem). */
uint32_t hr_jk__want_string(check *c, uint32_t obj, const char *at, const char *key, bool required)
{
    char path[PATH_LEN];
    uint32_t v = hr_jscan_get(c->js, obj, key);

    if (v != 0 && hr_jscan_type(c->js, v) == HR_JS_STRING && (!required || c->js->tok[v].len > 0))
        return v;
    if (absent(c->js, v) && !required)
        return 0;
    hr_jk__report(c, hr_jpath_key(path, at, key), required ? "a non-empty string" : "a string", v);
    return 0;
}

/* obj[key] when it is an object (a token), else 0; missing or null is a
 * problem only when required. */
uint32_t hr_jk__want_object(check *c, uint32_t obj, const char *at, const char *key, bool required)
{
    char path[PATH_LEN];
    uint32_t v = hr_jscan_get(c->js, obj, key);

    if (v != 0 && hr_jscan_type(c->js, v) == HR_JS_OBJECT)
        return v;
    if (absent(c->js, v) && !required)
        return 0;
    hr_jk__report(c, hr_jpath_key(path, at, key), "an object", v);
    return 0;
}

/* Checks an optional integer obj[key] of at least min; stores it in *out
 * and returns true when it is there and right. */
bool hr_jk__want_int(check *c, uint32_t obj, const char *at, const char *key, int64_t min,
                     int64_t *out)
{
    char path[PATH_LEN], expected[64];
    uint32_t v = hr_jscan_get(c->js, obj, key);
    int64_t x;

    if (absent(c->js, v))
        return false;
    if (hr_jscan_int64(c->js, v, &x) == HR_OK && x >= min) {
        *out = x;
        return true;
    }
    snprintf(expected, sizeof(expected), "an integer of %lld or more", (long long)min);
    hr_jk__report(c, hr_jpath_key(path, at, key), expected, v);
    return false;
}

/* Checks that every value of the object map (at path at) is a string;
 * a message says the wrong value's type, not the value (report_type). */
void hr_jk__check_string_map(check *c, uint32_t map, const char *at)
{
    char path[PATH_LEN];
    uint32_t k = hr_jscan_first(map);

    for (uint32_t i = 0; i < c->js->tok[map].n; i++, k = hr_jscan_next(c->js, k + 1)) {
        size_t n;
        char *key;
        if (hr_jscan_type(c->js, k + 1) == HR_JS_STRING)
            continue;
        key = hr_jk__tok_str(c->js, k, &n);
        hr_jk__report_type(c, hr_jpath_name(path, at, key, n), "a string", k + 1);
        free(key);
    }
}

/* Checks an optional obj[key] that must be an array of strings. */
void hr_jk__check_string_array(check *c, uint32_t obj, const char *at, const char *key)
{
    char path[PATH_LEN], ipath[PATH_LEN];
    uint32_t v = hr_jscan_get(c->js, obj, key), e;

    if (absent(c->js, v))
        return;
    hr_jpath_key(path, at, key);
    if (hr_jscan_type(c->js, v) != HR_JS_ARRAY) {
        hr_jk__report(c, path, "an array of strings", v);
        return;
    }
    e = hr_jscan_first(v);
    for (uint32_t i = 0; i < c->js->tok[v].n; i++, e = hr_jscan_next(c->js, e)) {
        if (hr_jscan_type(c->js, e) != HR_JS_STRING)
            hr_jk__report(c, hr_jpath_index(ipath, path, i), "a string", e);
    }
}

/* Checks an optional obj[key] that must be one of names (any case);
 * returns its index, or -1 when missing, null or wrong. */
int hr_jk__want_word(check *c, uint32_t obj, const char *at, const char *key,
                     const char *const *names, const char *expected, bool required)
{
    char path[PATH_LEN];
    uint32_t v = hr_jscan_get(c->js, obj, key);
    int found = -1;

    if (absent(c->js, v) && !required)
        return -1;
    if (v != 0 && hr_jscan_type(c->js, v) == HR_JS_STRING) {
        size_t n;
        char *s = hr_jk__tok_str(c->js, v, &n);
        for (int i = 0; found < 0 && names[i] != NULL; i++)
            if (hr_ascii_same_ignoring_case(s, n, names[i]))
                found = i;
        free(s);
    }
    if (found < 0)
        hr_jk__report(c, hr_jpath_key(path, at, key), expected, v);
    return found;
}

/* ---- redaction -------------------------------------------------------- */

/* String token v of js with the credentials hr_redact_value finds
 * scrubbed: new; NULL when v is 0 or not a string. */
char *hr_jk__scrubbed(const hr_jscan *js, uint32_t v)
{
    size_t n;
    char *s, *clean;

    if (v == 0 || hr_jscan_type(js, v) != HR_JS_STRING)
        return NULL;
    s = hr_jk__tok_str(js, v, &n);
    clean = hr_redact_value(s, n, NULL);
    if (clean == NULL)
        return s;
    free(s);
    return clean;
}

/* Token v of js (and what it holds) as a jansson value with every string
 * scrubbed: new; NULL when v is 0 or not of the given type. */
json_t *hr_jk__scrubbed_json(const hr_jscan *js, uint32_t v, hr_jtype type)
{
    json_t *j;

    if (v == 0 || hr_jscan_type(js, v) != type)
        return NULL;
    j = hr_jscan_to_json(js, v);
    hr_redact_values_in(j);
    return j;
}

/* Writes key token k of js as a member's key (unescaped, then escaped as
 * jansson escapes it). */
void hr_jk__write_key(hr_jw *w, const hr_jscan *js, uint32_t k)
{
    size_t n;
    char *key = hr_jk__tok_str(js, k, &n);
    hr_jw_keyn(w, key, n);
    free(key);
}

/* Writes token i of js (and what it holds) with every string scrubbed as
 * hr_redact_values_in scrubs a tree; returns how many strings changed.
 * Numbers are written as jansson writes what it read. */
size_t hr_jk__write_scrubbed(hr_jw *w, const hr_jscan *js, uint32_t i)
{
    const hr_jtok *t = &js->tok[i];
    size_t changed = 0, n, cn;
    uint32_t k;
    int64_t x;
    char *s, *clean;
    json_t *real;

    switch (t->type) {
    case HR_JS_OBJECT:
        hr_jw_object(w);
        k = hr_jscan_first(i);
        for (uint32_t m = 0; m < t->n; m++, k = hr_jscan_next(js, k + 1)) {
            hr_jk__write_key(w, js, k);
            changed += hr_jk__write_scrubbed(w, js, k + 1);
        }
        hr_jw_end_object(w);
        break;
    case HR_JS_ARRAY:
        hr_jw_array(w);
        k = hr_jscan_first(i);
        for (uint32_t m = 0; m < t->n; m++, k = hr_jscan_next(js, k))
            changed += hr_jk__write_scrubbed(w, js, k);
        hr_jw_end_array(w);
        break;
    case HR_JS_STRING:
        s = hr_jk__tok_str(js, i, &n);
        clean = hr_redact_value(s, n, &cn);
        changed = clean != NULL;
        hr_jw_string(w, clean != NULL ? clean : s, clean != NULL ? cn : n);
        free(clean);
        free(s);
        break;
    case HR_JS_NUMBER:
        if (hr_jscan_int64(js, i, &x) == HR_OK) {
            hr_jw_int(w, x);
        } else {
            real = hr_jscan_to_json(js, i);
            hr_jw_json(w, real);
            json_decref(real);
        }
        break;
    case HR_JS_TRUE:
    case HR_JS_FALSE:
        hr_jw_bool(w, t->type == HR_JS_TRUE);
        break;
    default:
        hr_jw_null(w);
        break;
    }
    return changed;
}

/* A new list of the members of object token obj of js, which are strings,
 * in their order. */
hr_vars *hr_jk__vars_of(const hr_jscan *js, uint32_t obj)
{
    hr_vars *vs = hr_vars_new();
    uint32_t k = hr_jscan_first(obj);

    hr_vars_reserve(vs, js->tok[obj].n, js->tok[obj].len);
    for (uint32_t i = 0; i < js->tok[obj].n; i++, k = hr_jscan_next(js, k + 1)) {
        size_t nlen, vlen;
        char *name = hr_jk__tok_str(js, k, &nlen), *value = hr_jk__tok_str(js, k + 1, &vlen);
        hr_vars_add(vs, name, nlen, value, vlen);
        free(name);
        free(value);
    }
    return vs;
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

/* Sets ev->raw to what w holds (w is emptied), w bounded by
 * HR_MAX_EVENT_DOC_BYTES. Redaction makes a hidden value HR_REDACTED and
 * a scrubbed one at most 8 times longer ("a://b@h": one byte becomes
 * HR_REDACTED), so the raw of any body herald reads (HR_MAX_BODY_BYTES)
 * stays far below that bound and is never NULL. */
void hr_jk__set_raw(hr_event *ev, hr_jw *w)
{
    ev->raw = hr_jw_take(w, &ev->raw_len);
}
