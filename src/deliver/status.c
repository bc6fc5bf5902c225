/*
 * status.c - the state, the commit and the context the state types report
 * (status.h).
 */
#include "deliver/status.h"

#include "core/limits.h"
#include "core/mem.h"
#include "deliver/message.h"
#include "route/commits.h"
#include "route/jq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is(const char *s, const char *word)
{
    return s != NULL && strcmp(s, word) == 0;
}

/* A word from the event for a reason (the callers print at most 40 bytes
 * of it), or "none" when the event has none. */
static const char *shown(const char *s)
{
    return s != NULL ? s : "none";
}

/* The state of a completed result (Passed, Failed, Cancelled). */
static bool result_state(const char *r, hr_state *out)
{
    if (is(r, "Passed"))
        *out = HR_STATE_PASSED;
    else if (is(r, "Failed"))
        *out = HR_STATE_FAILED;
    else if (is(r, "Cancelled"))
        *out = HR_STATE_CANCELLED;
    else
        return false;
    return true;
}

bool hr__status_state(const json_t *event, hr_state *out, char *why, size_t size)
{
    const char *kind = hr_msg_str_at(event, "kind");

    if (is(kind, "stage-status")) {
        const char *st = hr_msg_str_at(event, "stage.state");
        if (is(st, "Building") || is(st, "Failing")) {
            *out = HR_STATE_RUNNING;
            return true;
        }
        if (result_state(st, out))
            return true;
        snprintf(why, size, "GoCD's stage state %.40s names no state to report", shown(st));
        return false;
    }
    if (is(kind, "build-status")) {
        const char *phase = hr_msg_str_at(event, "build.phase"),
                   *result = hr_msg_str_at(event, "build.result");
        if (is(phase, "queued")) {
            *out = HR_STATE_QUEUED;
            return true;
        }
        if (is(phase, "started") || is(phase, "running")) {
            *out = HR_STATE_RUNNING;
            return true;
        }
        if (result_state(result, out))
            return true;
        snprintf(why, size, "the build's result %.40s names no state to report", shown(result));
        return false;
    }
    snprintf(why, size, "a %.40s event is about no build", shown(kind));
    return false;
}

/* A GoCD stage's commit on host: the material subject names (one of the
 * changed ones, as the router found them: route/commits.h), else the one
 * the target's repository names, else the first that changed, else the
 * first. */
static bool gocd_commit(const hr_target *t, const json_t *ev, const char *host, const char *subject,
                        hr_status *s, char *why, size_t size)
{
    hr_commit found[HR_MAX_COMMITS_SCANNED];
    const hr_commit *c = NULL;
    size_t n = hr_commits_of(t, ev, host, true, found, HR_MAX_COMMITS_SCANNED, why, size);

    if (subject != NULL) {
        char each[HR_COMMIT_SUBJECT_MAX];
        for (size_t i = 0; i < n && c == NULL; i++) {
            hr_commit_subject(&found[i], each, sizeof(each));
            if (strcmp(each, subject) == 0)
                c = &found[i];
        }
        if (c == NULL) {
            snprintf(why, size, "no changed git material on %.100s is %.160s", host, subject);
            return false;
        }
    } else {
        if (n == 0)
            n = hr_commits_of(t, ev, host, false, found, 1, why, size);
        if (n == 0)
            return false;
        c = &found[0];
    }
    if (!hr_commit_is_sha(c->rev)) {
        snprintf(why, size, "the git material's revision is not a commit id");
        return false;
    }
    s->repo = c->repo;
    snprintf(s->sha, sizeof(s->sha), "%s", c->rev);
    return true;
}

/* A CI build's commit (build.scm): see status.h. */
static bool build_commit(const hr_target *t, const json_t *ev, const char *host, hr_status *s,
                         char *why, size_t size)
{
    const char *url = hr_msg_str_at(ev, "build.scm.url"),
               *sha = hr_msg_str_at(ev, "build.scm.commit");
    hr_error e;

    if (url == NULL || sha == NULL) {
        snprintf(why, size, "the build names no commit (build.scm.url and build.scm.commit)");
        return false;
    }
    if (hr_repo_parse(url, strlen(url), &s->repo, &e) != HR_OK) {
        snprintf(why, size, "build.scm.url: %.200s", e.msg);
        return false;
    }
    if (!hr_repo_on_host(&s->repo, host)) {
        snprintf(why, size, "the commit is on %.100s, not %.100s", s->repo.host, host);
        return false;
    }
    if (!hr_commit_names_repo(t, url, &s->repo)) {
        snprintf(why, size, "the build's repository is %.100s, not %.100s", s->repo.path,
                 t->repository);
        return false;
    }
    if (!hr_commit_is_sha(sha)) {
        snprintf(why, size, "build.scm.commit is not a commit id");
        return false;
    }
    snprintf(s->sha, sizeof(s->sha), "%s", sha);
    return true;
}

int hr__status_render(const char *what, const char *tmpl, const json_t *event, char **out,
                      hr_error *err)
{
    hr_template *t = NULL;
    hr_error e;
    int rc = hr_template_compile(tmpl, &t, &e);
    if (rc == HR_OK)
        rc = hr_template_render(t, event, false, out, &e);
    hr_template_free(t);
    if (rc != HR_OK)
        return hr_error_set(err, HR_EINVAL, "%s: %s", what, e.msg);
    return HR_OK;
}

int hr__status_read(const hr_target *t, const hr_svc_context *ctx, const hr_message *m,
                    hr_status *s, hr_svc_request *req, hr_error *err)
{
    char why[300];
    char *host = hr_commit_host(t);
    const json_t *ev = ctx->event;
    int rc = HR_OK;

    memset(s, 0, sizeof(*s));
    if (!hr__status_state(ev, &s->state, why, sizeof(why)) ||
        !(is(hr_msg_str_at(ev, "kind"), "stage-status")
              ? gocd_commit(t, ev, host, ctx->subject, s, why, sizeof(why))
              : build_commit(t, ev, host, s, why, sizeof(why)))) {
        req->skip = hr_strdup(why);
        goto out;
    }
    rc = hr__status_render("context", t->context != NULL ? t->context : "herald", ev, &s->context,
                           err);
    if (rc != HR_OK)
        goto out;
    s->url = m->url;
    s->description = hr_strdup(m->title != NULL ? m->title : "");
out:
    free(host);
    return rc;
}

void hr__status_clear(hr_status *s)
{
    free(s->context);
    free(s->description);
    memset(s, 0, sizeof(*s));
}

char *hr__status_api(const hr_target *t, const char *def)
{
    const char *base = t->api_url != NULL ? t->api_url : def;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return hr_strndup(base, n);
}

char *hr__status_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = hr_malloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/')) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

void hr__status_header(hr_svc_request *req, const char *line)
{
    req->headers.items = hr_realloc(req->headers.items, (req->headers.n + 1) * sizeof(char *));
    req->headers.items[req->headers.n++] = hr_strdup(line);
}
