/*
 * ci_notify.c - `herald notify`'s body (any CI), as ingest/jenkins.c
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

/* The status word a notify status names (a word or an alias), or NULL. */
static const status_word *notify_status(const json_t *v)
{
    const status_word *w = hr_jk__find_status(v, false);

    for (size_t i = 0; w == NULL && json_is_string(v) && i < sizeof(aliases) / sizeof(aliases[0]);
         i++) {
        if (hr_jk__same_ignoring_case(json_string_value(v), json_string_length(v), aliases[i][0])) {
            json_t *word = json_string(aliases[i][1]);
            w = hr_jk__find_status(word, false);
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
            hr_jk__problem(&c, "%s: unknown member; the members are " NOTIFY_MEMBERS,
                           hr_jpath_name(path, "", key, strlen(key)));
    }
    ci = json_object_get(root, "ci");
    if (ci != NULL && !json_is_null(ci) && !is_ci_name(ci))
        hr_jk__report(&c, "ci", "a name of 1 to 32 characters from a-z, 0-9 and '-'", ci);
    hr_jk__want_string(&c, root, "", "job", true);
    hr_jk__want_int(&c, root, "", "build", 1, &number);
    v = json_object_get(root, "status");
    w = notify_status(v);
    if (w == NULL)
        hr_jk__report(&c, "status", NOTIFY_STATUS_EXPECTED, v);
    for (size_t i = 0; strings[i] != NULL; i++)
        hr_jk__want_string(&c, root, "", strings[i], false);
    env = (json_t *)hr_jk__want_object(&c, root, "", "environment", false);
    if (env != NULL)
        hr_jk__check_string_map(&c, env, "environment");
    if (c.problems > 0) {
        rc = HR_EINVAL;
        goto out;
    }

    red = json_deep_copy(root);
    env = json_object_get(red, "environment");
    ev = hr_jk__new_build_event(is_ci_name(ci) ? json_string_value(ci) : HR_SOURCE_CI,
                                HR_JENKINS_VERSION_NOTIFY);
    b = &ev->build;
    b->redacted = json_is_object(env) ? hr_redact_env(r, env) : 0;
    b->redacted += hr_jk__scrub_members(red, "environment");
    b->job_name = hr_strdup(hr_jk__str_at(red, "job"));
    b->job_base_name = hr_jk__base_name(b->job_name);
    b->job_url = hr_strdup(hr_jk__str_at(red, "job_url"));
    b->branch = hr_strdup(hr_jk__str_at(red, "branch"));
    b->number = number;
    b->display_name = hr_strdup(hr_jk__str_at(red, "display_name"));
    b->url = hr_strdup(hr_jk__str_at(red, "url"));
    hr_jk__set_status(b, w, false);
    b->scm_url = hr_strdup(hr_jk__str_at(red, "scm_url"));
    b->scm_branch = hr_strdup(hr_jk__str_at(red, "branch"));
    b->scm_commit = hr_strdup(hr_jk__str_at(red, "commit"));
    b->body = hr_strdup(hr_jk__str_at(red, "body"));
    b->environment = hr_jk__vars_of(json_object_get(red, "environment"));
    hr_jk__set_raw_json(ev, red);
    *out = ev;
out:
    json_decref(red);
    json_decref(root);
    return rc;
}
