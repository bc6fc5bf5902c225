/*
 * packages.c - package revisions published to herald, and GoCD's
 * package-repository extension over them.
 *
 *   POST /api/v1/packages/<repository>/<package>/revisions   publish
 *   GET  /api/v1/packages/<repository>/<package>/revisions   newest first
 *   GET  /api/v1/packages                                    every package (lists.c)
 *   POST /gocd/package-repository/<request-name>             GoCD polls
 *
 * Publishing follows the events' rule: 201 only after the revision (and
 * its event) is committed. A revision already published from the same
 * bytes is answered 200 with the stored one, so a publisher may retry
 * safely; from other bytes, 409. Publishing needs the package's publish
 * token (the config's packages section) when it has one, else herald's API
 * token; with neither, only a herald started with --insecure-local takes
 * it. Tokens come as a bearer token, Basic auth's password, or ?token=.
 */
#include "api/api.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "ingest/package.h"
#include "store/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "packages"

/* Splits "<repository>/<package>/revisions" into its names (new). Returns
 * 0 when the path has another shape. */
static int split_path(const char *rest, char **repo, char **pkg)
{
    const char *a = strchr(rest, '/');
    const char *b = a != NULL ? strchr(a + 1, '/') : NULL;

    if (a == NULL || b == NULL || strcmp(b, "/revisions") != 0)
        return 0;
    *repo = hr_strndup(rest, (size_t)(a - rest));
    *pkg = hr_strndup(a + 1, (size_t)(b - a - 1));
    return 1;
}

/* The revision as the API shows it: the stored form plus published_at
 * and event_id. */
static json_t *revision_answer(const hr_event *ev)
{
    json_t *o = hr_store_revision_doc(&ev->package);
    char when[HR_TIME_STR_MAX];
    json_object_set_new(o, "published_at",
                        json_string(hr_time_format(ev->received_at, when, sizeof(when))));
    json_object_set_new(o, "event_id", json_integer((json_int_t)ev->id));
    return o;
}

/* The answer to a stored revision (on an HTTP thread). */
static void answer_published(hr_api_pending *p)
{
    const hr_package_rev *r = &p->ev->package;

    if (p->status == HR_OK && r->duplicate) {
        /* The store gave ev the first publish's timestamp and publish
         * time: the answer is the first one's. */
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, true);
        hr_log_info(SUB, "%s/%s revision \"%s\" was published before from the same bytes",
                    r->repository, r->package, r->revision);
        hr_http_reply_json(p->req, 200, revision_answer(p->ev));
    } else if (p->status == HR_OK) {
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, true);
        hr_log_info(SUB, "published %s/%s revision \"%s\" (event %lld)", r->repository, r->package,
                    r->revision, (long long)p->ev->id);
        hr_http_reply_json(p->req, 201, revision_answer(p->ev));
    } else if (p->status == HR_ECONFLICT) {
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, false);
        hr_http_reply_error(p->req, 409, p->err.msg);
    } else {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the revision: %s", p->err.msg);
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, false);
        hr_http_reply_error(p->req, 503, msg);
    }
}

static void publish(hr_api *api, hr_http_req *req, const char *repo, const char *pkg)
{
    const hr_config *c;
    const hr_repository_decl *rd;
    const hr_package_decl *pd;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    hr_error err;
    size_t len;
    const char *body = hr_http_body(req, &len);
    const char *token;
    int rc;

    hr_app_current(api->app, &c, NULL);
    token = hr_config_publish_token(c, repo, pkg);
    if (token != NULL) {
        if (!hr_api_check_token(req, token, NULL, "the package's publish token"))
            return;
    } else if (api->api_token != NULL) {
        if (!hr_api_check_token(req, api->api_token, NULL,
                                "herald's API token (the package has no publish token)"))
            return;
    } else {
        /* A revision starts GoCD pipelines: no token at all is no default. */
        char why[512];
        if (!hr_api_open_write(api, req,
                               "publish token for this package (packages in the config) and no API "
                               "token (--api-token-file)",
                               "publishing", why, sizeof(why))) {
            hr_http_reply_error(req, 403, why);
            return;
        }
    }
    hr_config_package(c, repo, pkg, &rd, &pd);
    if (!c->packages.create && pd == NULL) {
        char msg[600];
        if (rd == NULL)
            snprintf(msg, sizeof(msg),
                     "unknown repository \"%.200s\": it is not declared in the configuration, "
                     "and packages.create is false",
                     repo);
        else
            snprintf(msg, sizeof(msg),
                     "unknown package \"%.200s\" in repository \"%.200s\": it is not declared "
                     "in the configuration, and packages.create is false",
                     pkg, repo);
        hr_http_reply_error(req, 404, msg);
        return;
    }
    rc = hr_package_revision_parse(repo, pkg, body, len, hr_time_now_ms(), &ev, &errs);
    if (rc != HR_OK) {
        json_t *all = hr_errlist_to_json(&errs);
        const char *first = errs.n ? errs.msgs[0] : "invalid";
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, false);
        hr_log_info(SUB, "rejected a revision of %s/%s: %s", repo, pkg, first);
        hr_http_reply_json(req, rc == HR_ETOOBIG ? 413 : 400,
                           json_pack("{s:s,s:o}", "error", first, "errors", all));
        hr_errlist_clear(&errs);
        return;
    }
    hr_api_pending *p = hr_api_pending_new(req, ev, HR_KIND_PACKAGE_REVISION, answer_published);
    if (hr_store_submit(api->store, ev, hr_api_stored, p, &err) != HR_OK) {
        char msg[HR_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "herald could not store the revision: %s", err.msg);
        hr_metrics_event(HR_KIND_PACKAGE_REVISION, false);
        hr_http_reply_error(req, 503, msg);
        hr_event_free(ev);
        free(p);
    }
}

static void list_revisions(hr_api *api, hr_http_req *req, const char *repo, const char *pkg)
{
    const char *v;
    long long before = 0, limit = 50;
    json_t *items = NULL;
    int64_t next = 0;
    hr_error err;
    int rc;

    if ((v = hr_http_query(req, "limit")) != NULL) {
        char *end;
        errno = 0;
        limit = strtoll(v, &end, 10);
        if (errno || *v == '\0' || *end != '\0' || limit < 1 || limit > HR_MAX_API_PAGE) {
            hr_http_reply_error(req, 400,
                                "query parameter limit: expected a whole number from "
                                "1 to 500");
            return;
        }
    }
    if ((v = hr_http_query(req, "cursor")) != NULL) {
        char *end;
        errno = 0;
        before = strtoll(v, &end, 10);
        if (errno || *v == '\0' || *end != '\0' || before < 1) {
            hr_http_reply_error(req, 400,
                                "query parameter cursor: expected a cursor from a "
                                "previous page's \"next\"");
            return;
        }
    }
    rc = hr_store_list_revisions(api->store, repo, pkg, before, (size_t)limit, &items, &next, &err);
    if (rc != HR_OK) {
        hr_http_reply_error(req, 500, err.msg);
        return;
    }
    char cursor[24];
    snprintf(cursor, sizeof(cursor), "%lld", (long long)next);
    hr_http_reply_json(req, 200,
                       json_pack("{s:o,s:o}", "revisions", items, "next",
                                 next ? json_string(cursor) : json_null()));
}

void hr_api_packages(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    char *repo = NULL, *pkg = NULL;
    hr_error err;

    if (!split_path(hr_http_path_rest(req), &repo, &pkg)) {
        hr_http_reply_error(req, 404,
                            "no such endpoint (/api/v1/packages/<repository>/<package>/revisions)");
        return;
    }
    if (hr_package_check_name("repository", repo, &err) != HR_OK ||
        hr_package_check_name("package", pkg, &err) != HR_OK) {
        hr_http_reply_json(req, 400, json_pack("{s:s,s:[s]}", "error", err.msg, "errors", err.msg));
    } else if (strcmp(hr_http_method(req), "POST") == 0) {
        publish(api, req, repo, pkg);
    } else {
        list_revisions(api, req, repo, pkg);
    }
    free(repo);
    free(pkg);
}

/* ---- GoCD's package-repository extension ---------------------------------- */

/* Reads a revision in the API's form into r (borrowing nothing: copies). */
static void rev_from_json(const json_t *j, hr_package_rev *r)
{
    const char *s;
    memset(r, 0, sizeof(*r));
    r->repository = hr_strdup(json_string_value(json_object_get(j, "repository")));
    r->package = hr_strdup(json_string_value(json_object_get(j, "package")));
    r->revision = hr_strdup(json_string_value(json_object_get(j, "revision")));
    r->timestamp = HR_TIME_NONE;
    if ((s = json_string_value(json_object_get(j, "timestamp"))) != NULL)
        hr_time_parse(s, strlen(s), &r->timestamp);
    s = json_string_value(json_object_get(j, "user"));
    r->user = s ? hr_strdup(s) : NULL;
    s = json_string_value(json_object_get(j, "revisionComment"));
    r->comment = s ? hr_strdup(s) : NULL;
    s = json_string_value(json_object_get(j, "trackbackUrl"));
    r->trackback_url = s ? hr_strdup(s) : NULL;
    r->data = json_deep_copy(json_object_get(j, "data"));
    if (!json_is_object(r->data)) {
        json_decref(r->data);
        r->data = json_object();
    }
}

static void rev_clear(hr_package_rev *r)
{
    free(r->repository);
    free(r->package);
    free(r->revision);
    free(r->user);
    free(r->comment);
    free(r->trackback_url);
    json_decref(r->data);
}

/* How many revisions herald holds of repository/package. */
static size_t count_revisions(hr_api *api, const char *repo, const char *pkg)
{
    json_t *list = NULL, *item;
    size_t i, n = 0;
    hr_error err;

    if (hr_store_list_packages(api->store, repo, &list, &err) != HR_OK)
        return 0;
    json_array_foreach(list, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "package"));
        if (name != NULL && strcmp(name, pkg) == 0)
            n = (size_t)json_integer_value(json_object_get(item, "revisions"));
    }
    json_decref(list);
    return n;
}

/* The number of packages herald knows in a repository: those with
 * revisions plus those the configuration declares. */
static int count_packages(hr_api *api, const char *repo, size_t *n, hr_error *err)
{
    const hr_config *c;
    const hr_repository_decl *rd;
    const hr_package_decl *pd;
    json_t *list = NULL;
    size_t i, count;
    json_t *item;

    if (hr_store_list_packages(api->store, repo, &list, err) != HR_OK)
        return HR_ESTORE;
    count = json_array_size(list);
    hr_app_current(api->app, &c, NULL);
    hr_config_package(c, repo, NULL, &rd, &pd);
    for (size_t k = 0; rd != NULL && k < rd->npackages; k++) {
        int found = 0;
        json_array_foreach(list, i, item)
        {
            const char *name = json_string_value(json_object_get(item, "package"));
            found |= name != NULL && strcmp(name, rd->packages[k].name) == 0;
        }
        count += !found;
    }
    json_decref(list);
    *n = count;
    return HR_OK;
}

static void reply_answer(hr_http_req *req, hr_pkgrepo_answer *a)
{
    hr_http_reply(req, a->status, a->content_type, a->body, a->len);
    hr_pkgrepo_answer_clear(a);
}

void hr_api_gocd_package_repository(hr_http_req *req, void *ctx)
{
    hr_api *api = ctx;
    const char *name = hr_http_path_rest(req);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    hr_pkgrepo_answer a = {0, NULL, NULL, 0};
    hr_package_rev latest;
    json_t *found = NULL;
    hr_error err;
    size_t len, n;
    const char *body = hr_http_body(req, &len);
    int rc;

    if (!hr_api_gocd_authorized(api, req))
        return;
    rc = hr_pkgrepo_parse(name, body, len, &r, &errs);
    if (rc == HR_ENOTFOUND) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "unknown request name for the package-repository extension: %.100s", name);
        hr_http_reply_error(req, 404, msg);
        return;
    }
    if (rc != HR_OK) {
        hr_log_info("gocd", "refused %s: %s", name, errs.n ? errs.msgs[0] : "invalid");
        hr_pkgrepo_refusal(r.kind, &errs, &a);
        reply_answer(req, &a);
        hr_errlist_clear(&errs);
        hr_pkgrepo_request_clear(&r);
        return;
    }
    switch (r.kind) {
    case HR_PKGREPO_REPOSITORY_CONFIGURATION:
        hr_http_reply_json(req, 200, hr_pkgrepo_repository_configuration());
        break;
    case HR_PKGREPO_PACKAGE_CONFIGURATION:
        hr_http_reply_json(req, 200, hr_pkgrepo_package_configuration());
        break;
    case HR_PKGREPO_VALIDATE_REPOSITORY:
        hr_http_reply_json(req, 200, hr_pkgrepo_validate_repository(&r));
        break;
    case HR_PKGREPO_VALIDATE_PACKAGE:
        hr_http_reply_json(req, 200, hr_pkgrepo_validate_package(&r));
        break;
    case HR_PKGREPO_CHECK_REPOSITORY:
        if (count_packages(api, r.repository, &n, &err) != HR_OK)
            hr_http_reply_json(
                req, 200,
                hr_pkgrepo_check_answer(false, "herald cannot read its store: %s", err.msg));
        else
            hr_http_reply_json(req, 200, hr_pkgrepo_check_repository(r.repository, n));
        break;
    case HR_PKGREPO_CHECK_PACKAGE:
    case HR_PKGREPO_LATEST_REVISION:
    case HR_PKGREPO_LATEST_REVISION_SINCE:
        if (hr_store_latest_revision(api->store, r.repository, r.package, &found, &err) != HR_OK) {
            if (r.kind == HR_PKGREPO_CHECK_PACKAGE)
                hr_http_reply_json(
                    req, 200,
                    hr_pkgrepo_check_answer(false, "herald cannot read its store: %s", err.msg));
            else
                hr_http_reply_error(req, 503, err.msg);
            break;
        }
        if (found != NULL)
            rev_from_json(found, &latest);
        if (r.kind == HR_PKGREPO_CHECK_PACKAGE) {
            hr_http_reply_json(req, 200,
                               hr_pkgrepo_check_package(
                                   r.repository, r.package, found ? &latest : NULL,
                                   found ? count_revisions(api, r.repository, r.package) : 0));
        } else {
            if (r.kind == HR_PKGREPO_LATEST_REVISION)
                hr_pkgrepo_latest_answer(found ? &latest : NULL, r.repository, r.package, &a);
            else
                hr_pkgrepo_since_answer(found ? &latest : NULL, &r, &a);
            reply_answer(req, &a);
        }
        if (found != NULL)
            rev_clear(&latest);
        json_decref(found);
        break;
    }
    hr_pkgrepo_request_clear(&r);
}
