/*
 * jenkins_job_status.c - the Job Status plugin's body (JSON by POST) and
 * query (GET), as ingest/jenkins.c describes: read once into an hr_vars
 * list of members (from core/jscan tokens, or from the decoded query),
 * never into a jansson tree.
 */
#include "ingest/jenkins.h"

#include "core/jscan.h"
#include "core/limits.h"
#include "core/jwrite.h"
#include "core/vars.h"
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

/*
 * The members the checks and the mapping read, found in one pass over the
 * body's names. The plugin's own members (jobExecuteStatus,
 * JOB_EXECUTE_STATUS, buildNo, body) are not variables: they stay in raw
 * whatever the allow-list says, and never enter the environment.
 */
enum {
    F_JOB_NAME,
    F_STATUS,
    F_STATUS_UPPER,
    F_BUILD_NUMBER,
    F_BUILD_NO,
    F_BODY,
    F_JOB_BASE_NAME,
    F_JOB_URL,
    F_BRANCH_NAME,
    F_GIT_BRANCH,
    F_BUILD_DISPLAY_NAME,
    F_BUILD_URL,
    F_GIT_URL,
    F_GIT_COMMIT,
    NFIELDS
};

/* A name and its length, for a table. */
#define NAMED(s) s, sizeof(s) - 1

static const struct {
    const char *name;
    size_t len;
    bool plugin;
} field_names[NFIELDS] = {
    [F_JOB_NAME] = {NAMED("JOB_NAME"), false},
    [F_STATUS] = {NAMED("jobExecuteStatus"), true},
    [F_STATUS_UPPER] = {NAMED("JOB_EXECUTE_STATUS"), true},
    [F_BUILD_NUMBER] = {NAMED("BUILD_NUMBER"), false},
    [F_BUILD_NO] = {NAMED("buildNo"), true},
    [F_BODY] = {NAMED("body"), true},
    [F_JOB_BASE_NAME] = {NAMED("JOB_BASE_NAME"), false},
    [F_JOB_URL] = {NAMED("JOB_URL"), false},
    [F_BRANCH_NAME] = {NAMED("BRANCH_NAME"), false},
    [F_GIT_BRANCH] = {NAMED("GIT_BRANCH"), false},
    [F_BUILD_DISPLAY_NAME] = {NAMED("BUILD_DISPLAY_NAME"), false},
    [F_BUILD_URL] = {NAMED("BUILD_URL"), false},
    [F_GIT_URL] = {NAMED("GIT_URL"), false},
    [F_GIT_COMMIT] = {NAMED("GIT_COMMIT"), false},
};

/* Where a field stands in the body: missing, a value that is not a
 * string (already reported), or the string at vars index at. */
typedef enum { MISSING = 0, NOT_STRING, STRING } field_state;

typedef struct field {
    field_state state;
    size_t at;
} field;

/* The body read once: its string members in order, and the fields. */
typedef struct members {
    hr_vars *vars; /* owned */
    field f[NFIELDS];
} members;

/* The field named (name, n), or -1. Lengths first: most names are none. */
static int field_of(const char *name, size_t n)
{
    for (int i = 0; i < NFIELDS; i++)
        if (field_names[i].len == n && memcmp(field_names[i].name, name, n) == 0)
            return i;
    return -1;
}

/* Notes the member (name, n) in the fields: a string at vars index at, or
 * not a string. */
static void note_field(members *m, const char *name, size_t n, field_state state, size_t at)
{
    int i = field_of(name, n);
    if (i >= 0) {
        m->f[i].state = state;
        m->f[i].at = at;
    }
}

static const char *field_str(const members *m, int i)
{
    return hr_vars_value(m->vars, m->f[i].at);
}

static size_t field_len(const members *m, int i)
{
    return m->vars->v[m->f[i].at].value_len;
}

/* Field i redacted by the environment's name rules: new; NULL when it is
 * missing, not a string, or "" and !keep_empty. */
static char *redacted_field(const hr_redact *r, const members *m, int i, bool keep_empty)
{
    char *clean;

    if (m->f[i].state != STRING || (field_len(m, i) == 0 && !keep_empty))
        return NULL;
    clean = hr_redact_var(r, field_names[i].name, field_str(m, i), field_len(m, i), NULL);
    return clean != NULL ? clean : hr_strndup(field_str(m, i), field_len(m, i));
}

/* Parses a build number ("42": digits only, 1 or more). */
static bool parse_number(const char *s, size_t n, int64_t *out)
{
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

/* Step 1 past the types (reported while reading): the fields' rules.
 * Sets *w and *number; c counts the problems. */
static void check_fields(check *c, const members *m, const status_word **w, int64_t *number)
{
    int st = F_STATUS;

    if (m->f[F_JOB_NAME].state == MISSING)
        hr_jk__report_str(c, "JOB_NAME", "a non-empty string", NULL, 0);
    else if (m->f[F_JOB_NAME].state == STRING && field_len(m, F_JOB_NAME) == 0)
        hr_jk__report_str(c, "JOB_NAME", "a non-empty string", "", 0);
    if (m->f[F_STATUS].state == MISSING && m->f[F_STATUS_UPPER].state != MISSING)
        st = F_STATUS_UPPER;
    if (m->f[st].state == MISSING) {
        hr_jk__report_str(c, field_names[st].name, JOB_STATUS_EXPECTED, NULL, 0);
    } else if (m->f[st].state == STRING) {
        *w = hr_jk__find_status_str(field_str(m, st), field_len(m, st), false);
        if (*w == NULL)
            hr_jk__report_str(c, field_names[st].name, JOB_STATUS_EXPECTED, field_str(m, st),
                              field_len(m, st));
    }
    /* BUILD_NUMBER wins; buildNo is the plugin's copy of it. */
    for (int i = F_BUILD_NUMBER; i <= F_BUILD_NO; i++) {
        int64_t x;
        if (m->f[i].state != STRING)
            continue;
        if (!parse_number(field_str(m, i), field_len(m, i), &x))
            hr_jk__report_str(c, field_names[i].name, "a build number such as \"42\"",
                              field_str(m, i), field_len(m, i));
        else if (*number == 0)
            *number = x;
    }
}

/* The event's fields, from values redacted by the same rules as the
 * environment (read even when the allow-list drops them from it). */
static hr_event *map_fields(const hr_redact *r, const members *m, const status_word *w,
                            int64_t number)
{
    hr_event *ev = hr_jk__new_build_event(HR_SOURCE_JENKINS, HR_JENKINS_VERSION_JOB_STATUS);
    hr_build *b = &ev->build;
    char *body;

    b->job_name = redacted_field(r, m, F_JOB_NAME, false);
    b->job_base_name = redacted_field(r, m, F_JOB_BASE_NAME, false);
    if (b->job_base_name == NULL)
        b->job_base_name = hr_jk__base_name(b->job_name);
    b->job_url = redacted_field(r, m, F_JOB_URL, false);
    b->branch = redacted_field(r, m, F_BRANCH_NAME, false);
    if (b->branch == NULL)
        b->branch = redacted_field(r, m, F_GIT_BRANCH, false);
    b->number = number;
    b->display_name = redacted_field(r, m, F_BUILD_DISPLAY_NAME, false);
    b->url = redacted_field(r, m, F_BUILD_URL, false);
    b->scm_url = redacted_field(r, m, F_GIT_URL, false);
    b->scm_branch = redacted_field(r, m, F_GIT_BRANCH, false);
    b->scm_commit = redacted_field(r, m, F_GIT_COMMIT, false);
    body = redacted_field(r, m, F_BODY, true);
    hr_jk__set_status(b, w, body != NULL);
    b->body = body;
    return ev;
}

/* Whether vars entry i is one of the plugin's own members. */
static bool is_plugin(const hr_vars *vs, size_t i)
{
    int f = field_of(hr_vars_name(vs, i), vs->v[i].name_len);
    return f >= 0 && field_names[f].plugin;
}

/*
 * Step 2 on m->vars in place, in the body's order: the variables as
 * hr_redact_vars redacts them (dropped, hidden, scrubbed), the plugin's
 * members by the same name and value rules but never dropped, and
 * counted only when they changed. Returns the count.
 */
static size_t redact_members(const hr_redact *r, hr_vars *vs)
{
    size_t n = 0, kept = 0;

    for (size_t i = 0; i < vs->n; i++) {
        const char *name = hr_vars_name(vs, i), *value = hr_vars_value(vs, i);
        size_t len, vlen = vs->v[i].value_len;
        bool plugin = is_plugin(vs, i);
        char *clean;

        if (!plugin && !hr_redact_keeps(r, name))
            continue;
        vs->v[kept++] = vs->v[i];
        clean = hr_redact_var(r, name, value, vlen, &len);
        if (clean == NULL)
            continue;
        if (!plugin || len != vlen || memcmp(clean, value, len) != 0)
            n++;
        hr_vars_set_value(vs, kept - 1, clean, len);
        free(clean);
    }
    vs->n = kept;
    return n;
}

/*
 * Steps 1 to 3 for the members read from a body or a query. On success
 * *out is the event (raw and environment not yet set) and m->vars the
 * redacted members in the body's order, the plugin's members with them,
 * for raw.
 */
static int job_status_map(check *c, members *m, const hr_redact *r, hr_event **out)
{
    const status_word *w = NULL;
    int64_t number = 0;
    hr_event *ev;

    check_fields(c, m, &w, &number);
    if (c->problems > 0)
        return HR_EINVAL;
    /* Map first: the fields name members by index, which redacting in
     * place (dropping members) changes. */
    ev = map_fields(r, m, w, number);
    ev->build.redacted = redact_members(r, m->vars);
    *out = ev;
    return HR_OK;
}

/* Once raw is written: the redacted members but the plugin's become the
 * environment (m->vars is stolen), unless none is left. */
static void take_environment(hr_event *ev, members *m)
{
    hr_vars *vs = m->vars;
    size_t kept = 0;

    for (size_t i = 0; i < vs->n; i++)
        if (!is_plugin(vs, i))
            vs->v[kept++] = vs->v[i];
    vs->n = kept;
    if (kept > 0) {
        ev->build.environment = vs;
        m->vars = NULL;
    }
}

/* Tokens a body scans into on the stack before one allocation: a build's
 * environment of about a hundred variables fits. */
#define SCAN_TOKENS 512

/* Reads the body's members (c->js, root an object) into m: strings into
 * m->vars, a message for each other value. */
static void read_members(check *c, members *m)
{
    const hr_jscan *js = c->js;
    char path[PATH_LEN];
    uint32_t k = hr_jscan_first(0);

    hr_vars_reserve(m->vars, js->tok[0].n, js->len);
    for (uint32_t i = 0; i < js->tok[0].n; i++, k = hr_jscan_next(js, k + 1)) {
        const hr_jtok *kt = &js->tok[k], *vt = &js->tok[k + 1];
        char *name = NULL, *value = NULL;
        const char *np = js->buf + kt->off, *vp = js->buf + vt->off;
        size_t nlen = kt->len, vlen = vt->len;

        if (kt->flags & HR_JS_ESCAPED) {
            name = hr_jscan_strdup(js, k);
            np = name;
            nlen = strlen(name);
        }
        if (vt->type != HR_JS_STRING) {
            /* hr_jpath_name reads a plain name as a C string. */
            if (name == NULL)
                np = name = hr_strndup(np, nlen);
            hr_jk__report_type(c, hr_jpath_name(path, "", np, nlen), "a string", k + 1);
            note_field(m, np, nlen, NOT_STRING, 0);
        } else {
            if (vt->flags & HR_JS_ESCAPED) {
                value = hr_jscan_strdup(js, k + 1);
                vp = value;
                vlen = strlen(value);
            }
            note_field(m, np, nlen, STRING, m->vars->n);
            hr_vars_add(m->vars, np, nlen, vp, vlen);
        }
        free(name);
        free(value);
    }
}

/* Writes ev->raw from the redacted members, as compact JSON. */
static void set_raw_json(hr_event *ev, const hr_vars *vs)
{
    hr_jw w;

    hr_jw_init(&w, HR_MAX_EVENT_DOC_BYTES);
    hr_vars_write(&w, vs);
    hr_jk__set_raw(ev, &w);
}

int hr_jenkins_job_status_json(const char *body, size_t len, const hr_redact *r, hr_event **out,
                               hr_errlist *errs)
{
    hr_jtok stack[SCAN_TOKENS];
    hr_jscan js;
    check c = {errs, 0, &js};
    members m = {0};
    hr_error err;
    char brief[BRIEF_LEN];
    hr_event *ev = NULL;
    int rc;

    if (hr_jscan_parse_body(&js, body, len, stack, SCAN_TOKENS, &err) != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        return HR_EINVAL;
    }
    if (hr_jscan_type(&js, 0) != HR_JS_OBJECT) {
        hr_errlist_add(errs, "body: expected a JSON object of strings; got %s",
                       hr_jscan_brief(&js, 0, brief, sizeof(brief)));
        rc = HR_EINVAL;
        goto out;
    }
    m.vars = hr_vars_new();
    read_members(&c, &m);
    rc = job_status_map(&c, &m, r, &ev);
    if (rc != HR_OK)
        goto out;
    set_raw_json(ev, m.vars);
    take_environment(ev, &m);
    *out = ev;
out:
    hr_vars_free(m.vars);
    hr_jscan_free(&js);
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

/* Sets ev->raw to the pairs form-encoded and joined by '&'. */
static void set_raw_query(hr_event *ev, const hr_vars *vs)
{
    size_t cap = 1, at = 0;
    char *buf;

    for (size_t i = 0; i < vs->n; i++)
        cap += 3 * (vs->v[i].name_len + vs->v[i].value_len) + 2;
    buf = hr_malloc(cap);
    for (size_t i = 0; i < vs->n; i++) {
        if (at > 0)
            buf[at++] = '&';
        at = form_encode(buf, at, hr_vars_name(vs, i), vs->v[i].name_len);
        buf[at++] = '=';
        at = form_encode(buf, at, hr_vars_value(vs, i), vs->v[i].value_len);
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
    check c = {errs, 0, NULL};
    members m = {hr_vars_new(), {{0}}};
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
                hr_vars_set(m.vars, name, nlen, value, vlen);
            }
        }
        free(name);
        free(value);
        name = value = NULL;
    }
    if (c.problems > 0)
        goto out;
    for (size_t k = 0; k < m.vars->n; k++)
        note_field(&m, hr_vars_name(m.vars, k), m.vars->v[k].name_len, STRING, k);
    rc = job_status_map(&c, &m, r, &ev);
    if (rc != HR_OK)
        goto out;
    set_raw_query(ev, m.vars);
    take_environment(ev, &m);
    *out = ev;
out:
    hr_vars_free(m.vars);
    return rc;
}
