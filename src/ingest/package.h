/*
 * package.h - package revisions: what publishers send herald, and what
 * herald answers GoCD's package-repository extension (version 1.0).
 *
 * Pure functions: no I/O, no globals, no clock (the caller passes "now").
 *
 * Publishers POST a revision of <repository>/<package>; herald checks it the
 * way GoCD will judge it when it polls (data keys of [A-Za-z0-9_], string
 * values, a non-empty revision, a timestamp GoCD can parse) and maps it to
 * an hr_event. Validation collects every problem, each message naming a
 * JSON path and what was expected, for example
 *   data.DATA-THREE: expected a key of A-Z a-z 0-9 _ (GoCD refuses others)
 *
 * GoCD polls herald as a package material: the repository configuration
 * holds one key, HERALD_REPOSITORY, and the package configuration one key,
 * HERALD_PACKAGE; their values are the names used when publishing. The
 * hr_pkgrepo_* functions read GoCD's request bodies and build every answer
 * (status and body) herald sends back; the lookups between the two (the
 * store) are the caller's.
 *
 * What stays true: a repository or package name that passed
 * hr_package_check_name is 1 to HR_MAX_PACKAGE_NAME_BYTES bytes of
 * [A-Za-z0-9_.-] and neither "." nor "..", so it is safe in a URL path, a
 * message and a file name; an accepted revision's data is an object of
 * string values whose keys match [A-Za-z0-9_]+.
 */
#ifndef HR_INGEST_PACKAGE_H
#define HR_INGEST_PACKAGE_H

#include "core/json.h"
#include "event/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version herald puts in a package-revision event. */
#define HR_PACKAGE_EVENT_VERSION "1"

/* The configuration keys herald asks GoCD for. */
#define HR_PKGREPO_REPOSITORY_KEY "HERALD_REPOSITORY"
#define HR_PKGREPO_PACKAGE_KEY "HERALD_PACKAGE"

/* ---- publishing -------------------------------------------------------- */

/*
 * Checks a repository or package name (name is a NUL-terminated string,
 * borrowed; what is "repository" or "package" and starts the message).
 * Returns HR_OK, or HR_EINVAL with err set to
 *   repository: expected 1 to 128 of A-Z a-z 0-9 _ . -; got "a b"
 *   repository: expected a name other than "." and ".."; got "."
 * (a NULL name reads "got nothing"). err may be NULL.
 */
int hr_package_check_name(const char *what, const char *name, hr_error *err);

/*
 * Validates the body of POST /api/v1/packages/<repository>/<package>/revisions
 * and maps it to an event. repository and package are the decoded path
 * segments (borrowed, checked here with hr_package_check_name); body is
 * borrowed and read as (body, len) only. now_ms is the default timestamp.
 *
 * The body is an object with
 *   "revision"        a non-empty string of at most HR_MAX_PACKAGE_REVISION_BYTES (required)
 *   "timestamp"       yyyy-MM-dd'T'HH:mm:ss.SSS'Z' (or any form hr_time_parse
 *                     reads), from 1970 to 9999; missing or null means now_ms
 *   "user", "revisionComment", "trackbackUrl"   strings; missing or null means not set
 *   "data"            an object of at most HR_MAX_PACKAGE_DATA_KEYS keys of
 *                     [A-Za-z0-9_]+ (at most HR_MAX_PACKAGE_DATA_KEY_BYTES)
 *                     to strings of at most HR_MAX_PACKAGE_DATA_VALUE_BYTES;
 *                     missing or null means {}
 * and nothing else: an unknown member is refused by name (it is most likely
 * a misspelling, and it would be lost silently).
 *
 * On success *out is a new event: source HR_SOURCE_PACKAGE, kind
 * HR_KIND_PACKAGE_REVISION, version HR_PACKAGE_EVENT_VERSION, has_package
 * with ev->package filled (data never NULL), raw a copy of the body,
 * received_at left 0 for the caller. On failure *out is left alone and errs
 * gets at least one message: HR_ETOOBIG when the body is over
 * HR_MAX_PACKAGE_BODY_BYTES ("body: expected at most 65536 bytes; got
 * 70000"; the body is not read), HR_EINVAL for everything else (names first,
 * then the members in the order above, then unknown members in body order).
 * errs may be NULL.
 */
int hr_package_revision_parse(const char *repository, const char *package, const char *body,
                              size_t len, int64_t now_ms, hr_event **out, hr_errlist *errs);

/*
 * A new object in the exact shape GoCD reads as a package revision:
 * {"revision", "timestamp", "user", "revisionComment", "trackbackUrl", "data"},
 * the timestamp as yyyy-MM-dd'T'HH:mm:ss.SSS'Z' in UTC. Strings that are
 * not set are left out (GoCD reads a missing member and a null alike, and
 * its schema allows only strings); "data" is always an object. p is
 * borrowed.
 */
json_t *hr_package_revision_json(const hr_package_rev *p);

/* ---- the package-repository extension ---------------------------------- */

/* GoCD's request names, in the order of PackageRepositoryExtension. */
typedef enum {
    HR_PKGREPO_REPOSITORY_CONFIGURATION, /* repository-configuration */
    HR_PKGREPO_PACKAGE_CONFIGURATION,    /* package-configuration */
    HR_PKGREPO_VALIDATE_REPOSITORY,      /* validate-repository-configuration */
    HR_PKGREPO_VALIDATE_PACKAGE,         /* validate-package-configuration */
    HR_PKGREPO_CHECK_REPOSITORY,         /* check-repository-connection */
    HR_PKGREPO_CHECK_PACKAGE,            /* check-package-connection */
    HR_PKGREPO_LATEST_REVISION,          /* latest-revision */
    HR_PKGREPO_LATEST_REVISION_SINCE,    /* latest-revision-since */
} hr_pkgrepo_kind;

#define HR_PKGREPO_NKINDS 8

/* The kind of a request name (NUL-terminated, borrowed): HR_OK, or
 * HR_ENOTFOUND for a name the extension does not have. */
int hr_pkgrepo_kind_of(const char *request_name, hr_pkgrepo_kind *out);
/* The request name of a kind (static). */
const char *hr_pkgrepo_request_name(hr_pkgrepo_kind kind);

/* One request from GoCD, as hr_pkgrepo_parse read it. Owns every pointer. */
typedef struct hr_pkgrepo_request {
    hr_pkgrepo_kind kind;
    /* The configuration maps flattened to {"KEY": "value"}: an entry sent as
     * null, {} or {"value": null} reads "". repository_config is NULL only
     * for the two configuration requests; package_config is NULL for the
     * requests that carry no package configuration. */
    json_t *repository_config;
    json_t *package_config;
    /* HERALD_REPOSITORY's and HERALD_PACKAGE's values; NULL when missing or
     * "" (and package always NULL without a package configuration). For
     * check-*, latest-revision and latest-revision-since they are valid
     * names; for validate-* they may be anything (the validators judge). */
    char *repository;
    char *package;
    /* latest-revision-since only: GoCD's previous revision (revision never
     * NULL there; timestamp HR_TIME_NONE when GoCD sent "" or nothing; data
     * never NULL there, {} when GoCD sent none). */
    char *previous_revision;
    int64_t previous_timestamp;
    json_t *previous_data;
} hr_pkgrepo_request;

/*
 * Reads a request body of GoCD's package-repository extension. request_name
 * is the last part of the URL (NUL-terminated, borrowed); body is borrowed
 * and read as (body, len) only.
 *
 * Returns HR_ENOTFOUND for an unknown request name (out untouched, errs
 * untouched). Otherwise *out is overwritten (the caller need not
 * initialise it) and out->kind is set, even on failure, so the caller can
 * answer with hr_pkgrepo_refusal; release it with hr_pkgrepo_request_clear.
 *
 * repository-configuration and package-configuration have no body; it is
 * ignored. Every other request must be a JSON object; lenient where GoCD
 * is: a missing or null configuration map is an empty one, an entry may be
 * null, {} or {"value": null} (GoCD leaves out unset values), unknown
 * members and unknown keys are ignored (validate-* report unknown keys).
 * Strict where an answer would otherwise be wrong: for check-*,
 * latest-revision and latest-revision-since, HERALD_REPOSITORY (and
 * HERALD_PACKAGE for the package-level ones) must be valid names, and
 * latest-revision-since needs "previous-revision" with a string
 * "revision". On such a failure returns HR_EINVAL with messages such as
 *   package-configuration.HERALD_PACKAGE: expected 1 to 128 of A-Z a-z 0-9 _ . -; got nothing
 * errs may be NULL.
 */
int hr_pkgrepo_parse(const char *request_name, const char *body, size_t len,
                     hr_pkgrepo_request *out, hr_errlist *errs);
/* Frees what a request owns and zeroes it; accepts NULL. */
void hr_pkgrepo_request_clear(hr_pkgrepo_request *r);

/* repository-configuration and package-configuration: new objects
 * {"HERALD_REPOSITORY": {"default-value": "", "part-of-identity": true,
 * "secure": false, "required": true, "display-name": ..., "display-order": "0"}}
 * and the same for HERALD_PACKAGE. */
json_t *hr_pkgrepo_repository_configuration(void);
json_t *hr_pkgrepo_package_configuration(void);

/*
 * validate-repository-configuration and validate-package-configuration: a
 * new array [{"key", "message"}], [] when the configuration is fine. The
 * herald key comes first: missing ("HERALD_REPOSITORY is required: ..."),
 * empty ("HERALD_REPOSITORY must not be empty") or not a name
 * ("expected 1 to 128 of A-Z a-z 0-9 _ . -; got \"a b\""); then one entry
 * for each unknown key, in the order GoCD sent them. The package validator
 * judges the package configuration only (GoCD validates the repository on
 * its own page). r is borrowed.
 */
json_t *hr_pkgrepo_validate_repository(const hr_pkgrepo_request *r);
json_t *hr_pkgrepo_validate_package(const hr_pkgrepo_request *r);

/* A new check-connection answer {"status": "success"|"failure",
 * "messages": [message]}, the message formatted like printf. */
json_t *hr_pkgrepo_check_answer(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * check-repository-connection, once the caller has counted the packages
 * herald holds in the repository (a valid name, borrowed): success
 * 'herald has 2 packages in repository "ci"', or, with none, failure
 * 'herald has no package in repository "ci" yet: publish a revision with
 * POST /api/v1/packages/ci/<package>/revisions'. New.
 */
json_t *hr_pkgrepo_check_repository(const char *repository, size_t npackages);

/*
 * check-package-connection, once the caller has looked up the package's
 * latest revision (NULL when it has none) and counted its revisions:
 * success 'herald has package ci/app with 3 revisions; latest revision
 * "1.2.3" of 2011-07-14T19:43:37.100Z' (without " of ..." when
 * latest->timestamp is HR_TIME_NONE), or failure with
 * hr_pkgrepo_no_revision's sentence. New.
 */
json_t *hr_pkgrepo_check_package(const char *repository, const char *package,
                                 const hr_package_rev *latest, size_t nrevisions);

/* 'herald has no revision of package ci/app yet: publish one with POST
 * /api/v1/packages/ci/app/revisions', into buf (returned). */
const char *hr_pkgrepo_no_revision(const char *repository, const char *package, char *buf,
                                   size_t size);

/* The status, content type and body herald sends GoCD for one request. */
typedef struct hr_pkgrepo_answer {
    int status;
    const char *content_type; /* static: application/json or text/plain; charset=utf-8 */
    char *body;               /* new (free()), NUL-terminated */
    size_t len;
} hr_pkgrepo_answer;

/* Frees the body and zeroes the answer; accepts NULL. */
void hr_pkgrepo_answer_clear(hr_pkgrepo_answer *a);

/*
 * latest-revision, once the caller has looked up the package's latest
 * revision (latest, borrowed; NULL when the package has none):
 *   200, application/json, hr_package_revision_json(latest); or
 *   404, text/plain, hr_pkgrepo_no_revision's sentence.
 * Why 404 and not GoCD's documented {}: see package.c, "No revision yet".
 */
void hr_pkgrepo_latest_answer(const hr_package_rev *latest, const char *repository,
                              const char *package, hr_pkgrepo_answer *out);

/*
 * latest-revision-since, once the caller has looked up the package's latest
 * revision (NULL when it has none; req->repository and req->package name
 * it): 200 {} ("nothing new") when latest is GoCD's previous revision (the
 * same revision string), 200 with the revision when it is another one, and
 * the 404 of hr_pkgrepo_latest_answer when the package has none at all.
 */
void hr_pkgrepo_since_answer(const hr_package_rev *latest, const hr_pkgrepo_request *req,
                             hr_pkgrepo_answer *out);

/*
 * The answer to a request hr_pkgrepo_parse refused (kind from out->kind;
 * errs borrowed, at least one message), in the form GoCD shows its operator
 * best for that request:
 *   validate-*: 200 [{"message": m}, ...] (general errors, no key);
 *   check-*: 200 {"status": "failure", "messages": [m, ...]};
 *   latest-revision(-since): 400, text/plain, "herald cannot answer
 *   latest-revision: m; m" (GoCD quotes a non-200 body in its error).
 */
void hr_pkgrepo_refusal(hr_pkgrepo_kind kind, const hr_errlist *errs, hr_pkgrepo_answer *out);

#endif
