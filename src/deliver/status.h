/*
 * status.h - what the state types share (svc_github.c, svc_gitlab.c,
 * svc_bitbucket.c, svc_pagerduty.c; hr__status: not for the engine): the
 * state a build is in, the commit it ran, the context it is reported
 * under, and the API's root.
 *
 * The state: a GoCD stage's (Building and Failing run, Passed, Failed,
 * Cancelled) or a CI build's (queued, started and running, then its
 * result). The commit: a CI build's build.scm.url and build.scm.commit;
 * for a GoCD stage, a git material of its build cause on the target's
 * host -- the one the delivery's subject names (the router makes one
 * delivery per changed material: route/commits.h), else the one the
 * target's repository names, else the first that changed, else the first
 * -- so one delivery reports one commit. An event
 * with no state or no commit on the target's host is skipped, with why.
 */
#ifndef HR_DELIVER_STATUS_H
#define HR_DELIVER_STATUS_H

#include "core/repo.h"
#include "deliver/service.h"

/* A build's state, in the words every service maps from. */
typedef enum hr_state {
    HR_STATE_QUEUED = 0, /* a CI build waiting for an executor */
    HR_STATE_RUNNING,    /* GoCD Building or Failing; a build started or running */
    HR_STATE_PASSED,
    HR_STATE_FAILED,
    HR_STATE_CANCELLED,
} hr_state;

/* A commit status, as the three commit services send it. */
typedef struct hr_status {
    hr_state state;
    hr_repo repo;
    char sha[65];
    char *context;     /* rendered from the target's template (new) */
    const char *url;   /* the run's page (the message's), or NULL */
    char *description; /* the result in words (new) */
} hr_status;

/*
 * Reads event's state and its commit on the target's host
 * (route/commits.h's hr_commit_host) into *s (cleared with
 * hr__status_clear); for a GoCD stage, the git material ctx->subject
 * names when the delivery has one. Returns HR_OK, or HR_OK with req->skip
 * set (the event is not for this target), or HR_EINVAL (the context's
 * template failed).
 */
int hr__status_read(const hr_target *t, const hr_svc_context *ctx, const hr_message *m,
                    hr_status *s, hr_svc_request *req, hr_error *err);
void hr__status_clear(hr_status *s);

/* The event's state alone; false (why in why) when it has none. */
bool hr__status_state(const json_t *event, hr_state *out, char *why, size_t size);

/* The target's template rendered on the event into *out (new). */
int hr__status_render(const char *what, const char *tmpl, const json_t *event, char **out,
                      hr_error *err);

/* The API's root: the target's api_url or def, without a trailing '/'. New. */
char *hr__status_api(const hr_target *t, const char *def);

/* s percent-encoded (RFC 3986's unreserved characters kept; '/' too when
 * keep_slash). New. */
char *hr__status_encode(const char *s, bool keep_slash);

/* Adds a header line to the request. */
void hr__status_header(hr_svc_request *req, const char *line);

#endif
