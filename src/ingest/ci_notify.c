/*
 * ci_notify.c - `herald notify`'s body (any CI), as ingest/jenkins.c
 * describes.
 */
#include "ingest/jenkins.h"

#include "core/ascii.h"
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

/* `herald notify`'s aliases, with the word each stands for. */
static const char *const aliases[][2] = {
    {"started", "START"},     {"passed", "SUCCESS"},   {"failed", "FAILURE"},
    {"cancelled", "ABORTED"}, {"canceled", "ABORTED"},
};
/* ---- herald notify ---------------------------------------------------- */

static const char *const notify_members[] = {
    "ci",     "job",     "build",        "status", "url",         "job_url", "branch",
    "commit", "scm_url", "display_name", "body",   "environment", NULL};

#define NOTIFY_MEMBERS                                                                             \
    "ci, job, build, status, url, job_url, branch, commit, scm_url, display_name, body, "          \
    "environment"

/* The status word a notify status names (a word or an alias), or NULL;
 * v a token of js, 0 when missing. */
static const status_word *notify_status(const hr_jscan *js, uint32_t v)
{
    const status_word *w = hr_jk__find_status(js, v, false);
    size_t n;
    char *s;

    if (w != NULL || v == 0 || hr_jscan_type(js, v) != HR_JS_STRING)
        return w;
    s = hr_jk__tok_str(js, v, &n);
    for (size_t i = 0; w == NULL && i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (hr_ascii_same_ignoring_case(s, n, aliases[i][0]))
            w = hr_jk__find_status_str(aliases[i][1], strlen(aliases[i][1]), false);
    free(s);
    return w;
}

/* Whether (s, n) is a CI name: 1 to 32 of a-z, 0-9 and '-'. */
static bool is_ci_name(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Tokens a body scans into on the stack before one allocation. */
#define SCAN_TOKENS 256

/* Step 1: every rule the body breaks, reported to c. Sets *w, *number and
 * *ci (the CI name token, 0 when none is named). */
static void notify_check(check *c, const status_word **w, int64_t *number, char **ci)
{
    static const char *const strings[] = {"url",     "job_url",      "branch", "commit",
                                          "scm_url", "display_name", "body",   NULL};
    const hr_jscan *js = c->js;
    char path[PATH_LEN];
    uint32_t k = hr_jscan_first(0), v, env;

    for (uint32_t i = 0; i < js->tok[0].n; i++, k = hr_jscan_next(js, k + 1)) {
        bool known = false;
        size_t n;
        char *key = hr_jk__tok_str(js, k, &n);
        for (size_t m = 0; !known && notify_members[m] != NULL; m++)
            known = strcmp(key, notify_members[m]) == 0;
        if (!known)
            hr_jk__problem(c, "%s: unknown member; the members are " NOTIFY_MEMBERS,
                           hr_jpath_name(path, "", key, n));
        free(key);
    }
    v = hr_jscan_get(js, 0, "ci");
    if (v != 0 && hr_jscan_type(js, v) == HR_JS_STRING) {
        size_t n;
        *ci = hr_jk__tok_str(js, v, &n);
        if (!is_ci_name(*ci, n)) {
            free(*ci);
            *ci = NULL;
        }
    }
    if (v != 0 && hr_jscan_type(js, v) != HR_JS_NULL && *ci == NULL)
        hr_jk__report(c, "ci", "a name of 1 to 32 characters from a-z, 0-9 and '-'", v);
    hr_jk__want_string(c, 0, "", "job", true);
    hr_jk__want_int(c, 0, "", "build", 1, number);
    v = hr_jscan_get(js, 0, "status");
    *w = notify_status(js, v);
    if (*w == NULL)
        hr_jk__report(c, "status", NOTIFY_STATUS_EXPECTED, v);
    for (size_t i = 0; strings[i] != NULL; i++)
        hr_jk__want_string(c, 0, "", strings[i], false);
    env = hr_jk__want_object(c, 0, "", "environment", false);
    if (env != 0)
        hr_jk__check_string_map(c, env, "environment");
}

int hr_ci_notify(const char *body, size_t len, const hr_redact *r, hr_event **out, hr_errlist *errs)
{
    hr_jtok stack[SCAN_TOKENS];
    hr_jscan js;
    check c = {errs, 0, &js};
    const status_word *w = NULL;
    char *ci = NULL;
    hr_event *ev;
    hr_build *b;
    hr_vars *env = NULL;
    hr_jw raw;
    int64_t number = 0;
    uint32_t k, v;
    int rc = HR_EINVAL;

    if (hr_jscan_parse_object(&js, body, len, stack, SCAN_TOKENS, errs) != HR_OK)
        return HR_EINVAL;
    notify_check(&c, &w, &number, &ci);
    if (c.problems > 0)
        goto out;

    /* Redact and write raw in one pass: the environment by the name and
     * value rules, every other string by the value rules. */
    ev = hr_jk__new_build_event(ci != NULL ? ci : HR_SOURCE_CI, HR_JENKINS_VERSION_NOTIFY);
    b = &ev->build;
    hr_jw_init(&raw, HR_MAX_EVENT_DOC_BYTES);
    hr_jw_object(&raw);
    k = hr_jscan_first(0);
    for (uint32_t i = 0; i < js.tok[0].n; i++, k = hr_jscan_next(&js, k + 1)) {
        v = k + 1;
        if (hr_jscan_streq(&js, k, "environment", 11) && hr_jscan_type(&js, v) == HR_JS_OBJECT) {
            env = hr_jk__vars_of(&js, v);
            b->redacted += hr_redact_vars(r, env);
            hr_jw_key(&raw, "environment");
            hr_vars_write(&raw, env);
        } else {
            hr_jk__write_key(&raw, &js, k);
            b->redacted += hr_jk__write_scrubbed(&raw, &js, v);
        }
    }
    hr_jw_end_object(&raw);
    hr_jk__set_raw(ev, &raw);

    b->job_name = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "job"));
    b->job_base_name = hr_jk__base_name(b->job_name);
    b->job_url = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "job_url"));
    b->branch = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "branch"));
    b->number = number;
    b->display_name = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "display_name"));
    b->url = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "url"));
    hr_jk__set_status(b, w, false);
    b->scm_url = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "scm_url"));
    b->scm_branch = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "branch"));
    b->scm_commit = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "commit"));
    b->body = hr_jk__scrubbed(&js, hr_jscan_get(&js, 0, "body"));
    b->environment = env;
    *out = ev;
    rc = HR_OK;
out:
    free(ci);
    hr_jscan_free(&js);
    return rc;
}
