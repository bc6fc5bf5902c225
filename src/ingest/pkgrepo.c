/*
 * pkgrepo.c - package revisions out: GoCD's package-repository extension
 * 1.0, its requests read and every answer built.
 *
 * What GoCD does with the answers (gocd/gocd, plugin-infra/go-plugin-access,
 * packagematerial/JsonMessageHandler1_0.java and its test, and
 * PluginRequestHelper.java):
 * - toPackageRevision casts "revision", "user", "revisionComment" and
 *   "trackbackUrl" to String (a missing member and a null both give null),
 *   parses "timestamp" with Dates.parseIso8601StrictOffset (ISO offset date
 *   time: "2011-07-14T19:43:37.100Z" works) and fails when it is missing,
 *   and hands "data" to PackageRevision, whose validateDataKey refuses a key
 *   that is empty or not [a-zA-Z0-9_]*. So herald refuses such a revision
 *   when it is published, not when GoCD polls.
 * - responseMessageForLatestRevision turns a null revision (empty body,
 *   null, or {}) into "Empty response body";
 *   responseMessageForLatestRevisionSince returns null for the same bodies,
 *   which PackageMaterialPoller reads as "no new modification".
 * - PluginRequestHelper.submitRequest calls the handler only for status
 *   200; any other status becomes "The plugin sent a response that could
 *   not be understood by Go. Plugin returned with code '404' and the
 *   following response: '<body>'", which MaterialDatabaseUpdater shows as
 *   the description of "Modification check failed for material: ...".
 */
#include "ingest/package.h"
#include "ingest/package_int.h"

#include "core/limits.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

static const char *const kind_names[HR_PKGREPO_NKINDS] = {
    "repository-configuration",
    "package-configuration",
    "validate-repository-configuration",
    "validate-package-configuration",
    "check-repository-connection",
    "check-package-connection",
    "latest-revision",
    "latest-revision-since",
};

static void report(hr_errlist *errs, const char *at, const char *expected, const json_t *got)
{
    char brief[BRIEF_LEN];
    hr_errlist_add(errs, "%s: expected %s; got %s", at, expected,
                   hr_json_brief(got, brief, sizeof(brief)));
}

/* ---- GoCD's package-repository requests (a jansson tree: small, rare) -- */

/* A new copy of a JSON string's bytes (hr_json_load refuses NUL in
 * strings, so the copy is the whole string). */
static char *copy_string(const json_t *v)
{
    return hr_strndup(json_string_value(v), json_string_length(v));
}

/* parse_time_text of a JSON string; HR_EINVAL for anything else. */
static int parse_time(const json_t *v, int64_t *out)
{
    if (!json_is_string(v))
        return HR_EINVAL;
    return hr_pkg__parse_time(json_string_value(v), json_string_length(v), out);
}

int hr_pkgrepo_kind_of(const char *request_name, hr_pkgrepo_kind *out)
{
    for (int i = 0; i < HR_PKGREPO_NKINDS; i++) {
        if (request_name != NULL && strcmp(request_name, kind_names[i]) == 0) {
            *out = (hr_pkgrepo_kind)i;
            return HR_OK;
        }
    }
    return HR_ENOTFOUND;
}

const char *hr_pkgrepo_request_name(hr_pkgrepo_kind kind)
{
    return (unsigned)kind < HR_PKGREPO_NKINDS ? kind_names[kind] : "?";
}

static bool has_package_config(hr_pkgrepo_kind k)
{
    return k == HR_PKGREPO_VALIDATE_PACKAGE || k == HR_PKGREPO_CHECK_PACKAGE ||
           k == HR_PKGREPO_LATEST_REVISION || k == HR_PKGREPO_LATEST_REVISION_SINCE;
}

/* Requests herald answers by looking a name up: their names must be
 * right, or the answer would be about another package or none. */
static bool is_lookup(hr_pkgrepo_kind k)
{
    return k == HR_PKGREPO_CHECK_REPOSITORY || k == HR_PKGREPO_CHECK_PACKAGE ||
           k == HR_PKGREPO_LATEST_REVISION || k == HR_PKGREPO_LATEST_REVISION_SINCE;
}

/* Flattens root[member], a configuration map, into a new {"KEY": "value"}
 * object; NULL (with messages) when it is not of GoCD's shape. */
static json_t *flatten_config(hr_errlist *errs, const json_t *root, const char *member)
{
    char path[PATH_LEN], vpath[PATH_LEN + 8];
    const json_t *map = json_object_get(root, member);
    json_t *flat = json_object(), *entry;
    const char *key;
    size_t before = hr_errlist_count(errs);

    if (map == NULL || json_is_null(map))
        return flat;
    if (!json_is_object(map)) {
        report(errs, member, "an object", map);
        json_decref(flat);
        return NULL;
    }
    json_object_foreach((json_t *)map, key, entry)
    {
        const json_t *value;
        hr_pkg__key_path(path, member, key, strlen(key));
        if (json_is_null(entry)) {
            json_object_set_new(flat, key, json_string(""));
            continue;
        }
        if (!json_is_object(entry)) {
            report(errs, path, "{\"value\": \"...\"} or null", entry);
            continue;
        }
        value = json_object_get(entry, "value");
        if (value == NULL || json_is_null(value)) {
            json_object_set_new(flat, key, json_string(""));
        } else if (json_is_string(value)) {
            json_object_set(flat, key, (json_t *)value);
        } else {
            snprintf(vpath, sizeof(vpath), "%s.value", path);
            report(errs, vpath, "a string or null", value);
        }
    }
    if (hr_errlist_count(errs) != before) {
        json_decref(flat);
        return NULL;
    }
    return flat;
}

/* The value of key in a flattened map when it is not "", new; else NULL. */
static char *config_value(const json_t *flat, const char *key)
{
    const json_t *v = json_object_get(flat, key);
    return json_is_string(v) && json_string_length(v) > 0 ? copy_string(v) : NULL;
}

/* For lookups: checks the name at member.key is present and valid. */
static void need_name(hr_errlist *errs, const json_t *flat, const char *member, const char *key)
{
    char problem[BRIEF_LEN + 64];
    const json_t *v = json_object_get(flat, key);

    if (v == NULL)
        hr_errlist_add(errs, "%s.%s: expected " NAME_EXPECTED "; got nothing", member, key);
    else if (hr_pkg__name_problem(json_string_value(v), json_string_length(v), problem,
                                  sizeof(problem)) != NULL)
        hr_errlist_add(errs, "%s.%s: %s", member, key, problem);
}

static void take_previous(hr_errlist *errs, const json_t *root, hr_pkgrepo_request *r)
{
    char path[PATH_LEN];
    const json_t *prev = json_object_get(root, "previous-revision"), *v, *data;
    const char *key;
    json_t *dv;
    size_t before = hr_errlist_count(errs);

    if (!json_is_object(prev)) {
        report(errs, "previous-revision", "an object", prev);
        return;
    }
    v = json_object_get(prev, "revision");
    if (!json_is_string(v))
        report(errs, "previous-revision.revision", "a string", v);
    /* GoCD writes a revision without a time as "" (Dates.formatIso8601UtcWithMillis). */
    v = json_object_get(prev, "timestamp");
    r->previous_timestamp = HR_TIME_NONE;
    if (v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0) &&
        parse_time(v, &r->previous_timestamp) != HR_OK)
        report(errs, "previous-revision.timestamp", TIME_EXPECTED ", \"\" or null", v);
    /* GoCD leaves "data" out when the revision has none (Gson drops nulls). */
    data = json_object_get(prev, "data");
    if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
        report(errs, "previous-revision.data", "an object of strings or null", data);
    } else if (json_is_object(data)) {
        json_object_foreach((json_t *)data, key, dv)
        {
            if (!json_is_string(dv))
                report(errs, hr_pkg__key_path(path, "previous-revision.data", key, strlen(key)),
                       "a string", dv);
        }
    }
    if (hr_errlist_count(errs) != before)
        return;
    r->previous_revision = copy_string(json_object_get(prev, "revision"));
    r->previous_data = json_is_object(data) ? json_deep_copy(data) : json_object();
}

int hr_pkgrepo_parse(const char *request_name, const char *body, size_t len,
                     hr_pkgrepo_request *out, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    hr_pkgrepo_kind kind;
    json_t *root = NULL;
    size_t before;
    int rc = HR_EINVAL;

    if (hr_pkgrepo_kind_of(request_name, &kind) != HR_OK)
        return HR_ENOTFOUND;
    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.previous_timestamp = HR_TIME_NONE;
    if (kind == HR_PKGREPO_REPOSITORY_CONFIGURATION || kind == HR_PKGREPO_PACKAGE_CONFIGURATION) {
        rc = HR_OK;
        goto out;
    }
    if (hr_json_load_object(body, len, errs, &root) != HR_OK)
        goto out;

    r.repository_config = flatten_config(errs, root, "repository-configuration");
    if (has_package_config(kind))
        r.package_config = flatten_config(errs, root, "package-configuration");
    if (is_lookup(kind) && r.repository_config != NULL)
        need_name(errs, r.repository_config, "repository-configuration", HR_PKGREPO_REPOSITORY_KEY);
    if (is_lookup(kind) && r.package_config != NULL)
        need_name(errs, r.package_config, "package-configuration", HR_PKGREPO_PACKAGE_KEY);
    if (kind == HR_PKGREPO_LATEST_REVISION_SINCE)
        take_previous(errs, root, &r);
    if (hr_errlist_count(errs) != before)
        goto out;

    r.repository = config_value(r.repository_config, HR_PKGREPO_REPOSITORY_KEY);
    if (r.package_config != NULL)
        r.package = config_value(r.package_config, HR_PKGREPO_PACKAGE_KEY);
    rc = HR_OK;
out:
    json_decref(root);
    hr_errlist_clear(&scratch);
    if (rc != HR_OK) {
        hr_pkgrepo_request_clear(&r);
        r.kind = kind;
    }
    *out = r;
    return rc;
}

void hr_pkgrepo_request_clear(hr_pkgrepo_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->repository_config);
    json_decref(r->package_config);
    free(r->repository);
    free(r->package);
    free(r->previous_revision);
    json_decref(r->previous_data);
    memset(r, 0, sizeof(*r));
    r->previous_timestamp = HR_TIME_NONE;
}

/* ---- answers ----------------------------------------------------------- */

static json_t *property(const char *display_name)
{
    return json_pack("{s:s,s:b,s:b,s:b,s:s,s:s}", "default-value", "", "part-of-identity", 1,
                     "secure", 0, "required", 1, "display-name", display_name, "display-order",
                     "0");
}

json_t *hr_pkgrepo_repository_configuration(void)
{
    return json_pack("{s:o}", HR_PKGREPO_REPOSITORY_KEY, property("Repository name in herald"));
}

json_t *hr_pkgrepo_package_configuration(void)
{
    return json_pack("{s:o}", HR_PKGREPO_PACKAGE_KEY, property("Package name in herald"));
}

static void add_problem(json_t *answer, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(json_t *answer, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(answer, json_pack("{s:s,s:s}", "key", key, "message", msg));
}

/* The validate-* answer for one flattened map whose only key is want. */
static json_t *validate_map(const json_t *flat, const char *want, const char *what)
{
    json_t *answer = json_array();
    const json_t *v = flat != NULL ? json_object_get(flat, want) : NULL;
    char problem[BRIEF_LEN + 64];
    const char *key;
    json_t *entry;

    if (v == NULL)
        add_problem(answer, want,
                    "%s is required: the %s name used in POST "
                    "/api/v1/packages/<repository>/<package>/revisions",
                    want, what);
    else if (json_string_length(v) == 0)
        add_problem(answer, want, "%s must not be empty", want);
    else if (hr_pkg__name_problem(json_string_value(v), json_string_length(v), problem,
                                  sizeof(problem)) != NULL)
        add_problem(answer, want, "%s", problem);
    if (flat == NULL)
        return answer;
    json_object_foreach((json_t *)flat, key, entry)
    {
        if (strcmp(key, want) != 0)
            add_problem(answer, key,
                        "herald does not use this key (the %s configuration has only %s)", what,
                        want);
    }
    return answer;
}

json_t *hr_pkgrepo_validate_repository(const hr_pkgrepo_request *r)
{
    return validate_map(r->repository_config, HR_PKGREPO_REPOSITORY_KEY, "repository");
}

json_t *hr_pkgrepo_validate_package(const hr_pkgrepo_request *r)
{
    return validate_map(r->package_config, HR_PKGREPO_PACKAGE_KEY, "package");
}

json_t *hr_pkgrepo_check_answer(bool ok, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:s,s:[s]}", "status", ok ? "success" : "failure", "messages", msg);
}

json_t *hr_pkgrepo_check_repository(const char *repository, size_t npackages)
{
    if (npackages == 0)
        return hr_pkgrepo_check_answer(
            false,
            "herald has no package in repository \"%s\" yet: publish "
            "a revision with POST /api/v1/packages/%s/<package>/revisions",
            repository, repository);
    return hr_pkgrepo_check_answer(true, "herald has %zu package%s in repository \"%s\"", npackages,
                                   npackages == 1 ? "" : "s", repository);
}

const char *hr_pkgrepo_no_revision(const char *repository, const char *package, char *buf,
                                   size_t size)
{
    snprintf(buf, size,
             "herald has no revision of package %s/%s yet: publish one with POST "
             "/api/v1/packages/%s/%s/revisions",
             repository, package, repository, package);
    return buf;
}

json_t *hr_pkgrepo_check_package(const char *repository, const char *package,
                                 const hr_package_rev *latest, size_t nrevisions)
{
    char buf[1024], ts[HR_TIME_STR_MAX];

    if (latest == NULL)
        return hr_pkgrepo_check_answer(
            false, "%s", hr_pkgrepo_no_revision(repository, package, buf, sizeof(buf)));
    hr_pkg__quote(latest->revision ? latest->revision : "",
                  latest->revision ? strlen(latest->revision) : 0, buf);
    /* A revision read back from elsewhere may have lost its time. */
    if (latest->timestamp == HR_TIME_NONE)
        return hr_pkgrepo_check_answer(true,
                                       "herald has package %s/%s with %zu revision%s; latest "
                                       "revision %s",
                                       repository, package, nrevisions, nrevisions == 1 ? "" : "s",
                                       buf);
    return hr_pkgrepo_check_answer(
        true, "herald has package %s/%s with %zu revision%s; latest revision %s of %s", repository,
        package, nrevisions, nrevisions == 1 ? "" : "s", buf,
        hr_time_format(latest->timestamp, ts, sizeof(ts)));
}

void hr_pkgrepo_answer_clear(hr_pkgrepo_answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    memset(a, 0, sizeof(*a));
}

/* Sets a 200 JSON answer from v (stolen). */
static void answer_json(hr_pkgrepo_answer *out, int status, json_t *v)
{
    out->status = status;
    out->content_type = CT_JSON;
    out->body = json_dumps(v, JSON_COMPACT);
    if (out->body == NULL)
        hr_oom(0);
    out->len = strlen(out->body);
    json_decref(v);
}

static void answer_text(hr_pkgrepo_answer *out, int status, const char *text)
{
    out->status = status;
    out->content_type = CT_TEXT;
    out->body = hr_strdup(text);
    out->len = strlen(text);
}

/*
 * No revision yet. GoCD's documented answer, {}, and an empty body both
 * reach the operator as a bare "Empty response body"
 * (JsonMessageHandler1_0.responseMessageForLatestRevision, asserted by
 * JsonMessageHandler1_0Test.shouldThrowExceptionWhenAttemptingToGetLatest-
 * RevisionFromEmptyResponse), which says nothing about why. A 200 body can
 * only bring GoCD's own fixed texts ("Package revision timestamp should
 * be ..."), which would mislead. Any other status makes
 * PluginRequestHelper.submitRequest fail with "... Plugin returned with code
 * '404' and the following response: '<body>'", and that text is what
 * MaterialDatabaseUpdater shows under "Modification check failed for
 * material". So herald answers 404 with one plain sentence that says what
 * is missing and how to publish it; GoCD polls again and succeeds once a
 * revision is there.
 */
void hr_pkgrepo_latest_answer(const hr_package_rev *latest, const char *repository,
                              const char *package, hr_pkgrepo_answer *out)
{
    char buf[1024];

    if (latest == NULL) {
        answer_text(out, 404, hr_pkgrepo_no_revision(repository, package, buf, sizeof(buf)));
        return;
    }
    answer_json(out, 200, hr_package_revision_json(latest));
}

/*
 * Nothing new. JsonMessageHandler1_0.responseMessageForLatestRevisionSince
 * returns null for an empty body, a null body and {} alike
 * (JsonMessageHandler1_0Test.shouldBuildNullPackageRevisionFromLatest-
 * RevisionSinceWhenEmptyResponse), and PackageMaterialPoller turns null
 * into "no modifications". herald sends {}: it is what the extension's
 * documentation names, it is valid JSON for every relay between herald and
 * GoCD (an empty body may become null or "" on the way, both fine, but {}
 * needs no such luck), and it reads as intended in a log.
 */
void hr_pkgrepo_since_answer(const hr_package_rev *latest, const hr_pkgrepo_request *req,
                             hr_pkgrepo_answer *out)
{
    if (latest == NULL) {
        hr_pkgrepo_latest_answer(NULL, req->repository, req->package, out);
        return;
    }
    if (req->previous_revision != NULL && latest->revision != NULL &&
        strcmp(req->previous_revision, latest->revision) == 0) {
        answer_json(out, 200, json_object());
        return;
    }
    answer_json(out, 200, hr_package_revision_json(latest));
}

void hr_pkgrepo_refusal(hr_pkgrepo_kind kind, const hr_errlist *errs, hr_pkgrepo_answer *out)
{
    json_t *msgs = hr_errlist_to_json(errs), *m;
    size_t i;

    switch (kind) {
    case HR_PKGREPO_VALIDATE_REPOSITORY:
    case HR_PKGREPO_VALIDATE_PACKAGE: {
        /* A ValidationError without a key is shown as a general error. */
        json_t *answer = json_array();
        json_array_foreach(msgs, i, m)
        {
            json_array_append_new(answer, json_pack("{s:O}", "message", m));
        }
        json_decref(msgs);
        answer_json(out, 200, answer);
        return;
    }
    case HR_PKGREPO_LATEST_REVISION:
    case HR_PKGREPO_LATEST_REVISION_SINCE: {
        /* GoCD quotes a non-200 body in its error (see the top of this
         * file); a 200 body could not carry these messages. */
        char text[4096];
        size_t at = (size_t)snprintf(text, sizeof(text),
                                     "herald cannot answer %s: ", hr_pkgrepo_request_name(kind));
        json_array_foreach(msgs, i, m)
        {
            if (at >= sizeof(text))
                break;
            at += (size_t)snprintf(text + at, sizeof(text) - at, "%s%s", i ? "; " : "",
                                   json_string_value(m));
        }
        json_decref(msgs);
        answer_text(out, 400, text);
        return;
    }
    default:
        /* check-*: GoCD lists a failure's messages to the operator. The
         * two configuration requests are never refused. */
        answer_json(out, 200, json_pack("{s:s,s:o}", "status", "failure", "messages", msgs));
        return;
    }
}
