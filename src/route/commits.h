/*
 * commits.h - the commits a commit-status target (GitHub, GitLab,
 * Bitbucket) reports for a GoCD stage: the git materials of the stage's
 * build cause that are on the target's git host.
 *
 * Two sides use it and so agree: the router, which makes one delivery per
 * changed git material on the host, each with a subject naming its
 * repository and commit ("acme/app@3f78..."); and the delivery engine
 * (deliver/status.c), which reports on the material its delivery's subject
 * names, or, without one, on the material the target's repository names,
 * else the first that changed, else the first. Pure: the event's strings
 * are borrowed, nothing is kept.
 */
#ifndef HR_ROUTE_COMMITS_H
#define HR_ROUTE_COMMITS_H

#include "core/repo.h"
#include "route/config.h"

#include <jansson.h>
#include <stdbool.h>

/* A subject's room: "owner/repo@sha" and its NUL. */
#define HR_COMMIT_SUBJECT_MAX (HR_REPO_PATH_MAX + 1 + 64 + 1)

/* One git material of a build cause, on the target's host. */
typedef struct hr_commit {
    hr_repo repo;
    const char *url; /* the material's URL (borrowed from the event) */
    const char *rev; /* its revision (borrowed; "" when it has none) */
    bool changed;    /* GoCD's "changed": a modification triggered the run */
} hr_commit;

/* Whether the type posts commit statuses (GitHub, GitLab, Bitbucket). */
bool hr_commit_type(hr_target_type type);

/* The git host whose commits t reports (new): its host when written, else
 * api_url's host without a leading "api.", else the service's own
 * (github.com, gitlab.com, bitbucket.org). */
char *hr_commit_host(const hr_target *t);

/* Whether s is a git commit id: 7 to 64 hexadecimal digits. */
bool hr_commit_is_sha(const char *s);

/* Whether t's repository (owner/repo or a URL) names r (read from url);
 * true when t names none. */
bool hr_commit_names_repo(const hr_target *t, const char *url, const hr_repo *r);

/*
 * The git materials of the GoCD stage event ev's build cause that t may
 * report: on host, named by t's repository when it names one, and changed
 * when changed_only; in the build cause's order, at most max of them into
 * out. Returns how many; with none, why says so ("the build cause has no
 * git material", "no git material of the build cause is on github.com",
 * "no git material on github.com is acme/app", "no git material on
 * github.com changed").
 */
size_t hr_commits_of(const hr_target *t, const json_t *ev, const char *host, bool changed_only,
                     hr_commit *out, size_t max, char *why, size_t size);

/* c's subject, "owner/repo@revision", into buf. */
void hr_commit_subject(const hr_commit *c, char *buf, size_t size);

/*
 * The subjects the router makes t's deliveries of ev with, one delivery
 * each: the changed git materials on host with a commit id (of the first
 * HR_MAX_COMMITS_SCANNED changed ones), without repeats, when t posts
 * commit statuses, names no repository and ev is a GoCD stage. At most
 * max into out (each HR_COMMIT_SUBJECT_MAX bytes); returns how many, 0
 * when the event goes to t as one delivery (nothing changed: a timer, a
 * rerun).
 */
size_t hr_commit_subjects(const hr_target *t, const json_t *ev, const char *host,
                          char (*out)[HR_COMMIT_SUBJECT_MAX], size_t max);

#endif
