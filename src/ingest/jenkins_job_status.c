/*
 * jenkins_job_status.c - the Job Status plugin's body (JSON by POST) and
 * query (GET), as ingest/jenkins.c describes.
 */
#include "ingest/jenkins.h"

#include "core/jscan.h"
#include "core/jpath.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "ingest/jenkins_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return clean != NULL ? clean : hr_jk__copy_string(v);
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
            hr_jk__report_type(&c, hr_jpath_name(path, "", key, strlen(key)), "a string", v);
    }
    jn = json_object_get(root, "JOB_NAME");
    if (jn == NULL || (json_is_string(jn) && json_string_length(jn) == 0))
        hr_jk__report(&c, "JOB_NAME", "a non-empty string", jn);
    sv = json_object_get(root, status_key);
    if (sv == NULL && json_object_get(root, "JOB_EXECUTE_STATUS") != NULL) {
        status_key = "JOB_EXECUTE_STATUS";
        sv = json_object_get(root, status_key);
    }
    if (sv == NULL || json_is_string(sv)) {
        w = hr_jk__find_status(sv, false);
        if (w == NULL)
            hr_jk__report(&c, status_key, JOB_STATUS_EXPECTED, sv);
    }
    /* BUILD_NUMBER wins; buildNo is the plugin's copy of it. */
    for (size_t i = 0; i < 2; i++) {
        const char *nk = i == 0 ? "BUILD_NUMBER" : "buildNo";
        const json_t *nv = json_object_get(root, nk);
        int64_t x;
        if (!json_is_string(nv))
            continue;
        if (!parse_number(nv, &x))
            hr_jk__report(&c, nk, "a build number such as \"42\"", nv);
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
    ev = hr_jk__new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_JOB_STATUS);
    b = &ev->build;
    b->job_name = redacted_var(r, root, "JOB_NAME", false);
    b->job_base_name = redacted_var(r, root, "JOB_BASE_NAME", false);
    if (b->job_base_name == NULL)
        b->job_base_name = hr_jk__base_name(b->job_name);
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
    hr_jk__set_status(b, w, body != NULL);
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

    rc = hr_jscan_load(body, len, &root, &err);
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
    hr_jk__set_raw_json(ev, red);
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
    hr_jk__problem(c, "query: pair %zu (\"%.*s%s%s\"): %s", no,
                   (int)(name > PAIR_QUOTE ? PAIR_QUOTE : name), pair,
                   name > PAIR_QUOTE ? "..." : "", eq != NULL ? "=..." : "", what);
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
            hr_jk__problem(&c, "query: more than %d pairs", HR_JENKINS_MAX_PAIRS);
            break;
        }
        eq = memchr(pair, '=', n);
        name = hr_malloc(n + 1);
        value = hr_malloc(n + 1);
        vlen = 0;
        if (!hr_jk__percent_decode(pair, eq != NULL ? (size_t)(eq - pair) : n, true, name, &nlen) ||
            (eq != NULL &&
             !hr_jk__percent_decode(eq + 1, n - (size_t)(eq + 1 - pair), true, value, &vlen))) {
            pair_problem(&c, no, pair, n, "invalid %-escape");
        } else if (!hr_jk__clean_utf8(name, nlen) || !hr_jk__clean_utf8(value, vlen)) {
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
