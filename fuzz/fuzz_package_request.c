/*
 * fuzz_package_request.c - hr_pkgrepo_parse and every answer built from
 * its result. The first input byte picks the request name (one of the
 * extension's eight, or an unknown one); the rest is the body.
 *
 * Whatever the input: an unknown name gives HR_ENOTFOUND and nothing else;
 * a known one gives HR_OK with no message, or HR_EINVAL with at least one
 * message from which hr_pkgrepo_refusal builds an answer; lookups that
 * succeed have valid names; every answer is valid JSON (or text) and every
 * message valid UTF-8. Everything is freed here for LeakSanitizer.
 */
#include "core/timefmt.h"
#include "ingest/package.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
    "repository-configuration",
    "package-configuration",
    "validate-repository-configuration",
    "validate-package-configuration",
    "check-repository-connection",
    "check-package-connection",
    "latest-revision",
    "latest-revision-since",
    "latest-revision-until",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static void check_answer(hr_pkgrepo_answer *a)
{
    if (a->body == NULL || strlen(a->body) != a->len)
        abort();
    if (strcmp(a->content_type, "application/json") == 0) {
        json_t *v = json_loadb(a->body, a->len, 0, NULL);
        if (v == NULL)
            abort();
        json_decref(v);
    } else if (a->status == 200) {
        abort();
    }
    hr_pkgrepo_answer_clear(a);
}

static void check_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (v == NULL || s == NULL)
        abort();
    free(s);
    json_decref(v);
}

static void answer_all(const hr_pkgrepo_request *r)
{
    hr_pkgrepo_answer a = {0};
    hr_error err;
    hr_package_rev rev = {0};

    switch (r->kind) {
    case HR_PKGREPO_REPOSITORY_CONFIGURATION:
    case HR_PKGREPO_PACKAGE_CONFIGURATION:
        if (r->repository_config != NULL || r->package_config != NULL)
            abort();
        break;
    case HR_PKGREPO_VALIDATE_REPOSITORY:
        check_json(hr_pkgrepo_validate_repository(r));
        break;
    case HR_PKGREPO_VALIDATE_PACKAGE:
        check_json(hr_pkgrepo_validate_package(r));
        break;
    case HR_PKGREPO_CHECK_REPOSITORY:
        if (hr_package_check_name("repository", r->repository, &err) != HR_OK)
            abort();
        check_json(hr_pkgrepo_check_repository(r->repository, 0));
        check_json(hr_pkgrepo_check_repository(r->repository, 2));
        break;
    case HR_PKGREPO_CHECK_PACKAGE:
    case HR_PKGREPO_LATEST_REVISION:
    case HR_PKGREPO_LATEST_REVISION_SINCE:
        if (hr_package_check_name("repository", r->repository, &err) != HR_OK ||
            hr_package_check_name("package", r->package, &err) != HR_OK)
            abort();
        if (r->kind == HR_PKGREPO_LATEST_REVISION_SINCE &&
            (r->previous_revision == NULL || !json_is_object(r->previous_data)))
            abort();
        rev.repository = r->repository;
        rev.package = r->package;
        rev.revision = r->previous_revision ? r->previous_revision : "1.0";
        rev.timestamp = 0;
        rev.data = r->previous_data;
        check_json(hr_pkgrepo_check_package(r->repository, r->package, NULL, 0));
        check_json(hr_pkgrepo_check_package(r->repository, r->package, &rev, 2));
        hr_pkgrepo_latest_answer(NULL, r->repository, r->package, &a);
        check_answer(&a);
        hr_pkgrepo_latest_answer(&rev, r->repository, r->package, &a);
        check_answer(&a);
        if (r->kind == HR_PKGREPO_LATEST_REVISION_SINCE) {
            hr_pkgrepo_since_answer(&rev, r, &a);
            if (a.status != 200 || strcmp(a.body, "{}") != 0)
                abort();
            check_answer(&a);
            hr_pkgrepo_since_answer(NULL, r, &a);
            check_answer(&a);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    hr_pkgrepo_answer a = {0};
    const char *name;
    int rc;

    if (size == 0)
        return 0;
    name = names[data[0] % NNAMES];
    rc = hr_pkgrepo_parse(name, (const char *)data + 1, size - 1, &r, &errs);
    if (data[0] % NNAMES == NNAMES - 1) {
        if (rc != HR_ENOTFOUND || hr_errlist_count(&errs) != 0)
            abort();
        return 0;
    }
    for (size_t i = 0; i < errs.n; i++)
        check_json(json_string(errs.msgs[i]));
    if (rc == HR_OK) {
        if (hr_errlist_count(&errs) != 0 || strcmp(hr_pkgrepo_request_name(r.kind), name) != 0)
            abort();
        answer_all(&r);
    } else {
        if (rc != HR_EINVAL || hr_errlist_count(&errs) == 0 ||
            strcmp(hr_pkgrepo_request_name(r.kind), name) != 0)
            abort();
        hr_pkgrepo_refusal(r.kind, &errs, &a);
        check_answer(&a);
    }
    hr_pkgrepo_request_clear(&r);
    hr_errlist_clear(&errs);
    return 0;
}
