/*
 * jenkins.c - checks Jenkins' and `herald notify`'s bodies, redacts them,
 * and maps them to build-status events.
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
 * The Job Status plugin's GET form first decodes its query into the same
 * object of strings its POST form sends, and shares steps 1 to 3.
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

#include "core/jpath.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest path written into a message; longer ones are cut. */
#define PATH_LEN HR_JPATH_LEN
/* Room for an hr_json_brief of any value. */
#define BRIEF_LEN 64
/* Longest part of a raw query pair quoted in a message. */
#define PAIR_QUOTE 40
/* The longest build number accepted, in digits (fits an int64). */
#define NUMBER_DIGITS 18

/* Where messages go, and how many problems were seen (errs may be NULL). */
typedef struct check {
    hr_errlist *errs;
    size_t problems;
} check;

/* ---- messages --------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void problem(check *c, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    c->problems++;
    hr_errlist_add(c->errs, "%s", buf);
}

static void report(check *c, const char *at, const char *expected, const json_t *got)
{
    char brief[BRIEF_LEN];
    problem(c, "%s: expected %s; got %s", at, expected, hr_json_brief(got, brief, sizeof(brief)));
}

/*
 * The same for a value of a build's environment or parameters, which may
 * be a credential under any name: only its type is said, never the value,
 * since a refused body is never redacted and the message reaches the log
 * and the sender.
 */
static void report_type(check *c, const char *at, const char *expected, const json_t *got)
{
    problem(c, "%s: expected %s; got %s", at, expected, hr_json_type_name(got));
}

/* ---- words ------------------------------------------------------------ */

/* A status word and what it means. */
typedef struct status_word {
    const char *word;
    const char *phase;  /* "started", "running" or "completed" */
    const char *result; /* GoCD's word; NULL for START and RUNNING */
} status_word;

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

#define JOB_STATUS_EXPECTED                                                                        \
    "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE"
#define RESULT_EXPECTED "one of SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED"
#define PHASE_EXPECTED "one of QUEUED, STARTED, COMPLETED, FINALIZED"
#define NOTIFY_STATUS_EXPECTED                                                                     \
    "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE (in any "     \
    "case), started, passed, failed, cancelled or canceled"

/* The Notification plugin's phases (its Phase enum, without NONE, which
 * only its notifyEndpoints step can name and which says nothing). */
static const char *const phases[] = {"QUEUED", "STARTED", "COMPLETED", "FINALIZED", NULL};

/* `herald notify`'s aliases, with the word each stands for. */
static const char *const aliases[][2] = {
    {"started", "START"},     {"passed", "SUCCESS"},   {"failed", "FAILURE"},
    {"cancelled", "ABORTED"}, {"canceled", "ABORTED"},
};

/* ASCII-only, so the result does not depend on the process's locale. */
static bool same_ignoring_case(const char *a, size_t alen, const char *b)
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

/* The status word v names (a JSON string), or NULL. results_only limits
 * it to Jenkins' Result words (the Notification plugin's status). */
static const status_word *find_status(const json_t *v, bool results_only)
{
    if (!json_is_string(v))
        return NULL;
    for (size_t i = 0; i < NSTATUSES; i++) {
        if (results_only &&
            (statuses[i].result == NULL || strcmp(statuses[i].word, "COMPLETE") == 0))
            continue;
        if (same_ignoring_case(json_string_value(v), json_string_length(v), statuses[i].word))
            return &statuses[i];
    }
    return NULL;
}

/* Sets phase, status and result from a status word. mid_run: the word
 * came from a step inside a running build, so it is not a completion. */
static void set_status(hr_build *b, const status_word *w, bool mid_run)
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
static char *copy_string(const json_t *v)
{
    return json_is_string(v) ? hr_strndup(json_string_value(v), json_string_length(v)) : NULL;
}

/* The part of a job's full name after its last '/' (the whole name when
 * that part would be empty). New. */
static char *base_name(const char *full)
{
    const char *slash = strrchr(full, '/');
    return hr_strdup(slash != NULL && slash[1] != '\0' ? slash + 1 : full);
}

/* Whether [s, s+n) is valid UTF-8 without NUL bytes. */
static bool clean_utf8(const char *s, size_t n)
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

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX (and, when plus, '+' as a space) from [s, s+n) into out,
 * which has room for n bytes; sets *outlen. false on an invalid escape. */
static bool percent_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return false;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
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
static const json_t *want_string(check *c, const json_t *obj, const char *at, const char *key,
                                 bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if (json_is_string(v) && (!required || json_string_length(v) > 0))
        return v;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    report(c, hr_jpath_key(path, at, key), required ? "a non-empty string" : "a string", v);
    return NULL;
}

/* obj[key] when it is an object (borrowed), else NULL; missing or null is
 * a problem only when required. */
static const json_t *want_object(check *c, const json_t *obj, const char *at, const char *key,
                                 bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if (json_is_object(v))
        return v;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    report(c, hr_jpath_key(path, at, key), "an object", v);
    return NULL;
}

/* Checks an optional integer obj[key] of at least min; stores it in *out
 * and returns true when it is there and right. */
static bool want_int(check *c, const json_t *obj, const char *at, const char *key, int64_t min,
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
    report(c, hr_jpath_key(path, at, key), expected, v);
    return false;
}

/* Checks that every value of the object map (at path at) is a string;
 * a message says the wrong value's type, not the value (report_type). */
static void check_string_map(check *c, const json_t *map, const char *at)
{
    char path[PATH_LEN];
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)map, key, v)
    {
        if (!json_is_string(v))
            report_type(c, hr_jpath_name(path, at, key, strlen(key)), "a string", v);
    }
}

/* Checks an optional obj[key] that must be an array of strings. */
static void check_string_array(check *c, const json_t *obj, const char *at, const char *key)
{
    char path[PATH_LEN], ipath[PATH_LEN];
    const json_t *v = json_object_get(obj, key);
    size_t i;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return;
    hr_jpath_key(path, at, key);
    if (!json_is_array(v)) {
        report(c, path, "an array of strings", v);
        return;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            report(c, hr_jpath_index(ipath, path, i), "a string", e);
    }
}

/* Checks an optional obj[key] that must be one of names (any case);
 * returns its index, or -1 when missing, null or wrong. */
static int want_word(check *c, const json_t *obj, const char *at, const char *key,
                     const char *const *names, const char *expected, bool required)
{
    char path[PATH_LEN];
    const json_t *v = json_object_get(obj, key);

    if ((v == NULL || json_is_null(v)) && !required)
        return -1;
    for (int i = 0; json_is_string(v) && names[i] != NULL; i++)
        if (same_ignoring_case(json_string_value(v), json_string_length(v), names[i]))
            return i;
    report(c, hr_jpath_key(path, at, key), expected, v);
    return -1;
}

/* ---- redaction -------------------------------------------------------- */

/* Scrubs the credentials hr_redact_value finds from every member of obj
 * except skip (NULL for none), in place; returns how many strings
 * changed. */
static size_t scrub_members(json_t *obj, const char *skip)
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

static hr_event *new_build_event(const char *source, const char *version)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(source);
    ev->kind = hr_strdup(HR_KIND_BUILD_STATUS);
    ev->version = hr_strdup(version);
    ev->has_build = true;
    return ev;
}

/* Sets ev->raw to obj as compact JSON, members in their order. */
static void set_raw_json(hr_event *ev, const json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    if (s == NULL)
        hr_oom(0);
    ev->raw_len = strlen(s);
    ev->raw = hr_strndup(s, ev->raw_len);
    free(s);
}

/* ---- the Job Status plugin -------------------------------------------- */

/* Members the plugin adds to the environment; they are not variables. */
static bool is_plugin_key(const char *k)
{
    return strcmp(k, "jobExecuteStatus") == 0 || strcmp(k, "JOB_EXECUTE_STATUS") == 0 ||
           strcmp(k, "buildNo") == 0 || strcmp(k, "body") == 0;
}

/* root[name] redacted by the environment's name rules: new; NULL when it
 * is missing, not a string, or "" and !keep_empty. */
static char *redacted_var(const hr_redact *r, const json_t *root, const char *name, bool keep_empty)
{
    const json_t *v = json_object_get(root, name);
    char *clean;

    if (!json_is_string(v) || (json_string_length(v) == 0 && !keep_empty))
        return NULL;
    if (hr_redact_hides(r, name))
        return hr_strdup(HR_REDACTED);
    clean = hr_redact_value(json_string_value(v), json_string_length(v), NULL);
    return clean != NULL ? clean : copy_string(v);
}

/* Parses a build number ("42": digits only, 1 or more). */
static bool parse_number(const json_t *v, int64_t *out)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int64_t x = 0;

    if (n == 0 || n > NUMBER_DIGITS)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    if (x < 1)
        return false;
    *out = x;
    return true;
}

/*
 * Steps 1 to 3 for the Job Status plugin's object of strings (borrowed).
 * On success *out is the event (raw not yet set) and *redacted the
 * redacted object (new), members in root's order.
 */
static int job_status_map(const json_t *root, const hr_redact *r, hr_errlist *errs, hr_event **out,
                          json_t **redacted)
{
    check c = {errs, 0};
    char path[PATH_LEN];
    const char *key, *status_key = "jobExecuteStatus";
    const json_t *sv, *jn;
    const status_word *w = NULL;
    json_t *v, *env = NULL, *red = NULL;
    hr_event *ev = NULL;
    hr_build *b;
    int64_t number = 0;
    size_t n = 0;
    char *body = NULL;

    json_object_foreach((json_t *)root, key, v)
    {
        if (!json_is_string(v))
            report_type(&c, hr_jpath_name(path, "", key, strlen(key)), "a string", v);
    }
    jn = json_object_get(root, "JOB_NAME");
    if (jn == NULL || (json_is_string(jn) && json_string_length(jn) == 0))
        report(&c, "JOB_NAME", "a non-empty string", jn);
    sv = json_object_get(root, status_key);
    if (sv == NULL && json_object_get(root, "JOB_EXECUTE_STATUS") != NULL) {
        status_key = "JOB_EXECUTE_STATUS";
        sv = json_object_get(root, status_key);
    }
    if (sv == NULL || json_is_string(sv)) {
        w = find_status(sv, false);
        if (w == NULL)
            report(&c, status_key, JOB_STATUS_EXPECTED, sv);
    }
    /* BUILD_NUMBER wins; buildNo is the plugin's copy of it. */
    for (size_t i = 0; i < 2; i++) {
        const char *nk = i == 0 ? "BUILD_NUMBER" : "buildNo";
        const json_t *nv = json_object_get(root, nk);
        int64_t x;
        if (!json_is_string(nv))
            continue;
        if (!parse_number(nv, &x))
            report(&c, nk, "a build number such as \"42\"", nv);
        else if (number == 0)
            number = x;
    }
    if (c.problems > 0)
        return HR_EINVAL;

    /* Redact: the variables through hr_redact_env, the plugin's own
     * members through the same name rules, in root's order. */
    env = json_object();
    json_object_foreach((json_t *)root, key, v)
    {
        if (!is_plugin_key(key))
            json_object_set_new(env, key,
                                json_stringn(json_string_value(v), json_string_length(v)));
    }
    n = hr_redact_env(r, env);
    red = json_object();
    json_object_foreach((json_t *)root, key, v)
    {
        if (is_plugin_key(key)) {
            char *clean = redacted_var(r, root, key, true);
            if (strcmp(clean, json_string_value(v)) != 0)
                n++;
            json_object_set_new(red, key, json_string(clean));
            free(clean);
        } else if (json_object_get(env, key) != NULL) {
            json_object_set(red, key, json_object_get(env, key));
        }
    }

    /* Map, from values redacted by the same rules (read even when the
     * allow-list dropped them from the environment). */
    ev = new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_JOB_STATUS);
    b = &ev->build;
    b->job_name = redacted_var(r, root, "JOB_NAME", false);
    b->job_base_name = redacted_var(r, root, "JOB_BASE_NAME", false);
    if (b->job_base_name == NULL)
        b->job_base_name = base_name(b->job_name);
    b->job_url = redacted_var(r, root, "JOB_URL", false);
    b->branch = redacted_var(r, root, "BRANCH_NAME", false);
    if (b->branch == NULL)
        b->branch = redacted_var(r, root, "GIT_BRANCH", false);
    b->number = number;
    b->display_name = redacted_var(r, root, "BUILD_DISPLAY_NAME", false);
    b->url = redacted_var(r, root, "BUILD_URL", false);
    b->scm_url = redacted_var(r, root, "GIT_URL", false);
    b->scm_branch = redacted_var(r, root, "GIT_BRANCH", false);
    b->scm_commit = redacted_var(r, root, "GIT_COMMIT", false);
    body = redacted_var(r, root, "body", true);
    set_status(b, w, body != NULL);
    b->body = body;
    if (json_object_size(env) > 0)
        b->environment = json_incref(env);
    b->redacted = n;

    *out = ev;
    *redacted = red;
    json_decref(env);
    return HR_OK;
}

int hr_jenkins_job_status_json(const char *body, size_t len, const hr_redact *r, hr_event **out,
                               hr_errlist *errs)
{
    hr_error err;
    char brief[BRIEF_LEN];
    json_t *root = NULL, *red = NULL;
    hr_event *ev = NULL;
    int rc;

    rc = hr_json_load(body, len, &root, &err);
    if (rc != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        return HR_EINVAL;
    }
    if (!json_is_object(root)) {
        hr_errlist_add(errs, "body: expected a JSON object of strings; got %s",
                       hr_json_brief(root, brief, sizeof(brief)));
        rc = HR_EINVAL;
        goto out;
    }
    rc = job_status_map(root, r, errs, &ev, &red);
    if (rc != HR_OK)
        goto out;
    set_raw_json(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}

/* Appends s form-encoded as Java's URLEncoder does (letters, digits and
 * ".-*_" as they are, ' ' as '+', every other byte as %XX) at buf + at;
 * returns the new end. The caller sized buf for 3 bytes per input byte. */
static size_t form_encode(char *buf, size_t at, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '-' || ch == '*' || ch == '_') {
            buf[at++] = (char)ch;
        } else if (ch == ' ') {
            buf[at++] = '+';
        } else {
            buf[at++] = '%';
            buf[at++] = hex[ch >> 4];
            buf[at++] = hex[ch & 15];
        }
    }
    return at;
}

/* Sets ev->raw to obj's pairs form-encoded and joined by '&'. */
static void set_raw_query(hr_event *ev, const json_t *obj)
{
    const char *key;
    json_t *v;
    size_t cap = 1, at = 0;
    char *buf;

    json_object_foreach((json_t *)obj, key, v)
    {
        cap += 3 * (strlen(key) + json_string_length(v)) + 2;
    }
    buf = hr_malloc(cap);
    json_object_foreach((json_t *)obj, key, v)
    {
        if (at > 0)
            buf[at++] = '&';
        at = form_encode(buf, at, key, strlen(key));
        buf[at++] = '=';
        at = form_encode(buf, at, json_string_value(v), json_string_length(v));
    }
    buf[at] = '\0';
    ev->raw = buf;
    ev->raw_len = at;
}

/* Reports a problem with query pair number no, quoting the raw text of
 * its name only: the value may be a credential, and a refused query is
 * never redacted. */
static void pair_problem(check *c, size_t no, const char *pair, size_t n, const char *what)
{
    const char *eq = memchr(pair, '=', n);
    size_t name = eq != NULL ? (size_t)(eq - pair) : n;
    problem(c, "query: pair %zu (\"%.*s%s%s\"): %s", no,
            (int)(name > PAIR_QUOTE ? PAIR_QUOTE : name), pair, name > PAIR_QUOTE ? "..." : "",
            eq != NULL ? "=..." : "", what);
}

int hr_jenkins_job_status_query(const char *query, size_t len, const hr_redact *r, char **token,
                                hr_event **out, hr_errlist *errs)
{
    check c = {errs, 0};
    json_t *root = json_object(), *red = NULL;
    hr_event *ev = NULL;
    char *name = NULL, *value = NULL;
    size_t no = 0, i = 0;
    int rc = HR_EINVAL;

    *token = NULL;
    while (i < len) {
        const char *pair = query + i, *eq;
        size_t n = 0, nlen, vlen;

        while (i + n < len && query[i + n] != '&' && query[i + n] != '?')
            n++;
        i += n + 1;
        if (n == 0)
            continue;
        if (++no > HR_JENKINS_MAX_PAIRS) {
            problem(&c, "query: more than %d pairs", HR_JENKINS_MAX_PAIRS);
            break;
        }
        eq = memchr(pair, '=', n);
        name = hr_malloc(n + 1);
        value = hr_malloc(n + 1);
        vlen = 0;
        if (!percent_decode(pair, eq != NULL ? (size_t)(eq - pair) : n, true, name, &nlen) ||
            (eq != NULL &&
             !percent_decode(eq + 1, n - (size_t)(eq + 1 - pair), true, value, &vlen))) {
            pair_problem(&c, no, pair, n, "invalid %-escape");
        } else if (!clean_utf8(name, nlen) || !clean_utf8(value, vlen)) {
            pair_problem(&c, no, pair, n, "not valid UTF-8, or holds a NUL byte, once decoded");
        } else if (nlen == 0) {
            pair_problem(&c, no, pair, n, "the name is empty");
        } else {
            name[nlen] = '\0';
            value[vlen] = '\0';
            if (strcmp(name, "token") == 0) {
                free(*token);
                *token = value;
                value = NULL;
            } else {
                json_object_set_new(root, name, json_stringn(value, vlen));
            }
        }
        free(name);
        free(value);
        name = value = NULL;
    }
    if (c.problems > 0)
        goto out;
    rc = job_status_map(root, r, errs, &ev, &red);
    if (rc != HR_OK)
        goto out;
    set_raw_query(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}

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

    want_string(c, root, "", "name", true);
    want_string(c, root, "", "display_name", false);
    want_string(c, root, "", "url", false);
    build = want_object(c, root, "", "build", true);
    if (build == NULL)
        return -1;
    want_string(c, build, "build", "full_url", false);
    want_int(c, build, "build", "number", 1, &ignored);
    want_int(c, build, "build", "queue_id", 0, &ignored);
    want_int(c, build, "build", "timestamp", 0, &ignored);
    want_int(c, build, "build", "duration", 0, &ignored);
    phase = want_word(c, build, "build", "phase", phases, PHASE_EXPECTED, true);
    if (json_object_get(build, "status") != NULL &&
        !json_is_null(json_object_get(build, "status")) &&
        find_status(json_object_get(build, "status"), true) == NULL)
        report(c, "build.status", RESULT_EXPECTED, json_object_get(build, "status"));
    want_string(c, build, "build", "url", false);
    want_string(c, build, "build", "display_name", false);
    want_string(c, build, "build", "log", false);
    want_string(c, build, "build", "notes", false);
    scm = want_object(c, build, "build", "scm", false);
    if (scm != NULL) {
        want_string(c, scm, "build.scm", "url", false);
        want_string(c, scm, "build.scm", "branch", false);
        want_string(c, scm, "build.scm", "commit", false);
        check_string_array(c, scm, "build.scm", "changes");
        check_string_array(c, scm, "build.scm", "culprits");
    }
    params = want_object(c, build, "build", "parameters", false);
    if (params != NULL)
        check_string_map(c, params, "build.parameters");
    tests = want_object(c, build, "build", "test_summary", false);
    if (tests != NULL) {
        want_int(c, tests, "build.test_summary", "total", 0, &ignored);
        want_int(c, tests, "build.test_summary", "failed", 0, &ignored);
        want_int(c, tests, "build.test_summary", "passed", 0, &ignored);
        want_int(c, tests, "build.test_summary", "skipped", 0, &ignored);
        check_string_array(c, tests, "build.test_summary", "failed_tests");
    }
    artifacts = want_object(c, build, "build", "artifacts", false);
    if (artifacts != NULL) {
        const char *file;
        json_t *locations;
        json_object_foreach((json_t *)artifacts, file, locations)
        {
            hr_jpath_name(path, "build.artifacts", file, strlen(file));
            if (json_is_object(locations))
                check_string_map(c, locations, path);
            else
                report(c, path, "an object of location -> URL", locations);
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
            if (!percent_decode(next, nseg, false, out + at, &n) || !clean_utf8(out + at, n))
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

/* obj[key] when it is a string, else NULL (borrowed). */
static const char *str_at(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A new reference to obj[key] when it is of the given type, else NULL. */
static json_t *ref_at(const json_t *obj, const char *key, json_type type)
{
    json_t *v = json_object_get(obj, key);
    return v != NULL && json_typeof(v) == type ? json_incref(v) : NULL;
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
    ev = new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_NOTIFICATION);
    b = &ev->build;
    b->redacted = json_is_object(params) ? hr_redact_env(r, params) : 0;
    b->redacted += scrub_members(red, "build") + scrub_members(build, "parameters");

    b->job_base_name = hr_strdup(str_at(red, "name"));
    b->job_name = full_name_from_url(str_at(red, "url"), b->job_base_name);
    b->job_url = job_url_of(str_at(red, "url"), str_at(build, "full_url"), str_at(build, "url"));
    b->url =
        hr_strdup(str_at(build, "full_url") ? str_at(build, "full_url") : str_at(build, "url"));
    if (json_is_integer(json_object_get(build, "number")))
        b->number = (int64_t)json_integer_value(json_object_get(build, "number"));
    if (json_is_integer(json_object_get(build, "queue_id")))
        b->queue_id = (int64_t)json_integer_value(json_object_get(build, "queue_id"));
    b->display_name = hr_strdup(str_at(build, "display_name"));
    b->phase = hr_strdup(phase_names[phase]);
    done = phase >= 2;
    w = find_status(json_object_get(build, "status"), true);
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
        b->scm_url = hr_strdup(str_at(scm, "url"));
        b->scm_branch = hr_strdup(str_at(scm, "branch"));
        b->scm_commit = hr_strdup(str_at(scm, "commit"));
        b->scm_changes = ref_at(scm, "changes", JSON_ARRAY);
        b->scm_culprits = ref_at(scm, "culprits", JSON_ARRAY);
    }
    b->branch = hr_strdup(b->scm_branch);
    b->parameters = ref_at(build, "parameters", JSON_OBJECT);
    b->test_summary = ref_at(build, "test_summary", JSON_OBJECT);
    b->artifacts = ref_at(build, "artifacts", JSON_OBJECT);
    b->log = hr_strdup(str_at(build, "log"));
    b->notes = hr_strdup(str_at(build, "notes"));
    set_raw_json(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}

/* ---- herald notify ---------------------------------------------------- */

static const char *const notify_members[] = {
    "ci",     "job",     "build",        "status", "url",         "job_url", "branch",
    "commit", "scm_url", "display_name", "body",   "environment", NULL};

#define NOTIFY_MEMBERS                                                                             \
    "ci, job, build, status, url, job_url, branch, commit, scm_url, display_name, body, "          \
    "environment"

/* The status word a notify status names (a word or an alias), or NULL. */
static const status_word *notify_status(const json_t *v)
{
    const status_word *w = find_status(v, false);

    for (size_t i = 0; w == NULL && json_is_string(v) && i < sizeof(aliases) / sizeof(aliases[0]);
         i++) {
        if (same_ignoring_case(json_string_value(v), json_string_length(v), aliases[i][0])) {
            json_t *word = json_string(aliases[i][1]);
            w = find_status(word, false);
            json_decref(word);
        }
    }
    return w;
}

/* Whether v is a CI name: 1 to 32 of a-z, 0-9 and '-'. */
static bool is_ci_name(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (!json_is_string(v) || n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

int hr_ci_notify(const char *body, size_t len, const hr_redact *r, hr_event **out, hr_errlist *errs)
{
    static const char *const strings[] = {"url",     "job_url",      "branch", "commit",
                                          "scm_url", "display_name", "body",   NULL};
    check c = {errs, 0};
    char path[PATH_LEN];
    json_t *root = NULL, *red = NULL, *env, *v;
    const json_t *ci;
    const status_word *w = NULL;
    const char *key;
    hr_event *ev;
    hr_build *b;
    int64_t number = 0;
    int rc;

    rc = hr_json_load_object(body, len, errs, &root);
    if (rc != HR_OK)
        return rc;
    json_object_foreach(root, key, v)
    {
        bool known = false;
        for (size_t i = 0; !known && notify_members[i] != NULL; i++)
            known = strcmp(key, notify_members[i]) == 0;
        if (!known)
            problem(&c, "%s: unknown member; the members are " NOTIFY_MEMBERS,
                    hr_jpath_name(path, "", key, strlen(key)));
    }
    ci = json_object_get(root, "ci");
    if (ci != NULL && !json_is_null(ci) && !is_ci_name(ci))
        report(&c, "ci", "a name of 1 to 32 characters from a-z, 0-9 and '-'", ci);
    want_string(&c, root, "", "job", true);
    want_int(&c, root, "", "build", 1, &number);
    v = json_object_get(root, "status");
    w = notify_status(v);
    if (w == NULL)
        report(&c, "status", NOTIFY_STATUS_EXPECTED, v);
    for (size_t i = 0; strings[i] != NULL; i++)
        want_string(&c, root, "", strings[i], false);
    env = (json_t *)want_object(&c, root, "", "environment", false);
    if (env != NULL)
        check_string_map(&c, env, "environment");
    if (c.problems > 0) {
        rc = HR_EINVAL;
        goto out;
    }

    red = json_deep_copy(root);
    env = json_object_get(red, "environment");
    ev = new_build_event(is_ci_name(ci) ? json_string_value(ci) : HR_SOURCE_CI,
                         HR_JENKINS_VERSION_NOTIFY);
    b = &ev->build;
    b->redacted = json_is_object(env) ? hr_redact_env(r, env) : 0;
    b->redacted += scrub_members(red, "environment");
    b->job_name = hr_strdup(str_at(red, "job"));
    b->job_base_name = base_name(b->job_name);
    b->job_url = hr_strdup(str_at(red, "job_url"));
    b->branch = hr_strdup(str_at(red, "branch"));
    b->number = number;
    b->display_name = hr_strdup(str_at(red, "display_name"));
    b->url = hr_strdup(str_at(red, "url"));
    set_status(b, w, false);
    b->scm_url = hr_strdup(str_at(red, "scm_url"));
    b->scm_branch = hr_strdup(str_at(red, "branch"));
    b->scm_commit = hr_strdup(str_at(red, "commit"));
    b->body = hr_strdup(str_at(red, "body"));
    b->environment = ref_at(red, "environment", JSON_OBJECT);
    set_raw_json(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}
