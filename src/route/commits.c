/*
 * commits.c - the git materials a commit-status target reports (commits.h).
 */
#include "route/commits.h"

#include "core/ascii.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool hr_commit_type(hr_target_type type)
{
    return type == HR_TARGET_GITHUB || type == HR_TARGET_GITLAB || type == HR_TARGET_BITBUCKET;
}

/* The host a service's public instance keeps its repositories on. */
static const char *service_host(hr_target_type type)
{
    switch (type) {
    case HR_TARGET_GITLAB:
        return "gitlab.com";
    case HR_TARGET_BITBUCKET:
        return "bitbucket.org";
    default:
        return "github.com";
    }
}

char *hr_commit_host(const hr_target *t)
{
    hr_url u;
    if (t->host != NULL)
        return hr_strdup(t->host);
    if (t->api_url != NULL && hr_url_check(t->api_url, strlen(t->api_url), 0, &u, NULL) == HR_OK) {
        char *h = hr_url_host(t->api_url, &u);
        if (strncasecmp(h, "api.", 4) == 0)
            memmove(h, h + 4, strlen(h + 4) + 1);
        return h;
    }
    return hr_strdup(service_host(t->type));
}

bool hr_commit_is_sha(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 7 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (hr_hex_value(s[i]) < 0)
            return false;
    return true;
}

bool hr_commit_names_repo(const hr_target *t, const char *url, const hr_repo *r)
{
    hr_repo want;
    if (t->repository == NULL || strcmp(t->repository, url) == 0 ||
        strcasecmp(t->repository, r->path) == 0)
        return true;
    return hr_repo_parse(t->repository, strlen(t->repository), &want, NULL) == HR_OK &&
           strcasecmp(want.host, r->host) == 0 && strcasecmp(want.path, r->path) == 0;
}

/* o's member name when it is a string, else NULL. */
static const char *str_of(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* One git material's URL (its config's, else the material's name) and
 * revision, or false. */
static bool git_material(const json_t *cause, const char **url, const char **rev)
{
    const char *type = str_of(cause, "material_type");
    if (type == NULL || strcmp(type, "git") != 0)
        return false;
    *url = str_of(json_object_get(cause, "config"), "url");
    if (*url == NULL)
        *url = str_of(cause, "material");
    *rev = str_of(cause, "revision");
    return *url != NULL;
}

size_t hr_commits_of(const hr_target *t, const json_t *ev, const char *host, bool changed_only,
                     hr_commit *out, size_t max, char *why, size_t size)
{
    const json_t *c;
    bool any_git = false, any_here = false, any_named = false;
    size_t i, n = 0;

    json_array_foreach(json_object_get(ev, "build_cause"), i, c)
    {
        const char *url, *rev;
        hr_repo r;

        if (n >= max)
            break;
        if (!git_material(c, &url, &rev))
            continue;
        any_git = true;
        if (hr_repo_parse(url, strlen(url), &r, NULL) != HR_OK || !hr_repo_on_host(&r, host))
            continue;
        any_here = true;
        if (!hr_commit_names_repo(t, url, &r))
            continue;
        any_named = true;
        out[n].changed = json_is_true(json_object_get(c, "changed"));
        if (changed_only && !out[n].changed)
            continue;
        out[n].repo = r;
        out[n].url = url;
        out[n].rev = rev != NULL ? rev : "";
        n++;
    }
    if (n == 0 && !any_git)
        snprintf(why, size, "the build cause has no git material");
    else if (n == 0 && !any_here)
        snprintf(why, size, "no git material of the build cause is on %.100s", host);
    else if (n == 0 && !any_named)
        snprintf(why, size, "no git material on %.100s is %.100s", host, t->repository);
    else if (n == 0)
        snprintf(why, size, "no git material on %.100s changed", host);
    return n;
}

void hr_commit_subject(const hr_commit *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s@%.64s", c->repo.path, c->rev);
}

size_t hr_commit_subjects(const hr_target *t, const json_t *ev, const char *host,
                          char (*out)[HR_COMMIT_SUBJECT_MAX], size_t max)
{
    hr_commit all[HR_MAX_COMMITS_SCANNED];
    const char *kind = str_of(ev, "kind");
    char why[300];
    size_t n, got = 0;

    if (!hr_commit_type(t->type) || t->repository != NULL || kind == NULL ||
        strcmp(kind, "stage-status") != 0)
        return 0;
    n = hr_commits_of(t, ev, host, true, all, HR_MAX_COMMITS_SCANNED, why, sizeof(why));
    for (size_t i = 0; i < n && got < max; i++) {
        bool seen = false;
        if (!hr_commit_is_sha(all[i].rev))
            continue;
        hr_commit_subject(&all[i], out[got], HR_COMMIT_SUBJECT_MAX);
        for (size_t k = 0; k < got && !seen; k++)
            seen = strcmp(out[k], out[got]) == 0;
        got += !seen;
    }
    return got;
}
