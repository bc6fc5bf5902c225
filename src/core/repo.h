/*
 * repo.h - where a commit lives: the host and the repository's path read
 * from a git remote URL, as CI systems report it (a GoCD git material's
 * url, Jenkins' GIT_URL, herald notify's scm_url).
 *
 * Three spellings are read:
 *   https://[user[:password]@]host[:port]/owner/repo[.git][/]  (http, too)
 *   ssh://[user@]host[:port]/owner/repo[.git]                  (git://, git+ssh://)
 *   [user@]host:owner/repo[.git]                               (scp-like, git's own)
 * The path keeps every segment (a GitLab subgroup: group/sub/project); the
 * commit-status services (svc_github.c, svc_gitlab.c, svc_bitbucket.c)
 * decide how many they take. Pure: no I/O, no allocation.
 */
#ifndef HR_CORE_REPO_H
#define HR_CORE_REPO_H

#include "core/error.h"

#include <stddef.h>

#define HR_REPO_HOST_MAX 256
#define HR_REPO_PATH_MAX 512

typedef struct hr_repo {
    char host[HR_REPO_HOST_MAX]; /* lower case, without user, port or brackets */
    char path[HR_REPO_PATH_MAX]; /* "owner/repo": no ".git", no '/' at either end */
    size_t nsegments;            /* how many '/'-separated parts path has (at least 2) */
} hr_repo;

/* Reads the URL (url, n) into *out. HR_EINVAL (with why, never quoting a
 * password) when it is none of the three spellings, its host is not a
 * host name or address, or its path has fewer than two segments, an
 * empty one, "." or "..", or a byte that is a space or control
 * character. */
int hr_repo_parse(const char *url, size_t n, hr_repo *out, hr_error *err);

/* Whether host (NUL-terminated) names r's host, ignoring case. */
int hr_repo_on_host(const hr_repo *r, const char *host);

#endif
