/*
 * Tests for src/ingest/package.c: names, the publish parser and each of its
 * messages, the revision GoCD reads, and every message of the
 * package-repository extension (requests, validation, answers). GoCD's own
 * test payloads in HR_TEST_FIXTURES (package_*, docs_package_*) are the
 * vectors where they fit; the tests that need them are skipped when that
 * folder is absent.
 */
#include "test_files.h"
#include <criterion/criterion.h>

#include "core/limits.h"
#include "core/timefmt.h"
#include "event_test.h"
#include "ingest/package.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 2011-07-14T19:43:37.100Z */
#define NOW_MS INT64_C(1310672617100)
#define NAME_RULE "expected 1 to 128 of A-Z a-z 0-9 _ . -"
#define KEY_RULE "expected a key of A-Z a-z 0-9 _ (GoCD refuses others)"
#define TIME_RULE                                                                                  \
    "expected yyyy-MM-ddTHH:mm:ss.SSSZ from 1970 to 9999, such as 2011-07-14T19:43:37.100Z or "    \
    "2011-07-14T21:43:37.100+0200 or null"
#define MEMBERS "revision, timestamp, user, revisionComment, trackbackUrl and data"

/* ---- helpers ---------------------------------------------------------- */

/* A fixture from HR_TEST_FIXTURES, new; skips the test when the folder is
 * absent. */
static char *fixture(const char *name, size_t *len)
{
    char path[1024];
    struct stat st;
    char *body;
    if (stat(HR_TEST_FIXTURES, &st) != 0)
        cr_skip_test("no fixtures at %s", HR_TEST_FIXTURES);
    snprintf(path, sizeof(path), "%s/%s", HR_TEST_FIXTURES, name);
    body = test_slurp(path, len);
    cr_assert_not_null(body, "fixture %s is missing", path);
    return body;
}

/* Compact JSON of v, new; v is stolen. */
static char *dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    cr_assert_not_null(s);
    return s;
}

static void expect_dump(json_t *v, const char *want)
{
    char *got = dump(v);
    cr_expect_str_eq(got, want);
    free(got);
}

/* Publishes body under repo/pkg; must be accepted. New event. */
static hr_event *publish_ok(const char *body)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_package_revision_parse("repo", "pkg", body, strlen(body), NOW_MS, &ev, &errs);
    cr_assert_eq(rc, HR_OK, "refused %s: %s", body, errs.n ? errs.msgs[0] : "?");
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_not_null(ev);
    return ev;
}

/* Publishes (repo, pkg, body) and expects exactly the messages given
 * (NULL-terminated) and the return code rc. */
static void expect_refused(const char *repo, const char *pkg, const char *body, size_t len, int rc,
                           const char *const *msgs)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    size_t n = 0;
    int got = hr_package_revision_parse(repo, pkg, body, len, NOW_MS, &ev, &errs);
    cr_expect_eq(got, rc, "rc %d for %.200s", got, body);
    cr_expect_null(ev);
    while (msgs[n] != NULL)
        n++;
    cr_expect_eq(hr_errlist_count(&errs), n, "%zu messages for %.200s, first: %s",
                 hr_errlist_count(&errs), body, errs.n ? errs.msgs[0] : "");
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], msgs[i]);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

#define MSGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define REFUSED(body, ...)                                                                         \
    expect_refused("repo", "pkg", body, strlen(body), HR_EINVAL, MSGS(__VA_ARGS__))

/* ---- names ------------------------------------------------------------ */

static void expect_name_error(const char *name, const char *msg)
{
    hr_error err;
    cr_expect_eq(hr_package_check_name("repository", name, &err), HR_EINVAL, "%s accepted", name);
    cr_expect_str_eq(err.msg, msg);
}

Test(names, valid)
{
    char longest[HR_MAX_PACKAGE_NAME_BYTES + 1];
    hr_error err;
    memset(longest, 'x', HR_MAX_PACKAGE_NAME_BYTES);
    longest[HR_MAX_PACKAGE_NAME_BYTES] = '\0';
    const char *ok[] = {"a", "repo", "my-app_2.0", "...", ".hidden", "A.B-C_d9", longest};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_expect_eq(hr_package_check_name("repository", ok[i], &err), HR_OK, "%s", ok[i]);
        cr_expect_str_eq(err.msg, "");
    }
    cr_expect_eq(hr_package_check_name("package", "p", NULL), HR_OK);
}

Test(names, invalid)
{
    char too_long[HR_MAX_PACKAGE_NAME_BYTES + 2];
    memset(too_long, 'x', HR_MAX_PACKAGE_NAME_BYTES + 1);
    too_long[HR_MAX_PACKAGE_NAME_BYTES + 1] = '\0';

    expect_name_error("a b", "repository: " NAME_RULE "; got \"a b\"");
    expect_name_error("", "repository: " NAME_RULE "; got \"\"");
    expect_name_error(NULL, "repository: " NAME_RULE "; got nothing");
    expect_name_error("a/b", "repository: " NAME_RULE "; got \"a/b\"");
    expect_name_error("caf\xc3\xa9", "repository: " NAME_RULE "; got \"caf\xc3\xa9\"");
    expect_name_error("bad\xff", "repository: " NAME_RULE "; got \"bad?\"");
    expect_name_error("q\"\\\n\x01", "repository: " NAME_RULE "; got \"q\\\"\\\\\\n\\u0001\"");
    expect_name_error(too_long, "repository: " NAME_RULE
                                "; got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
    expect_name_error(".", "repository: expected a name other than \".\" and \"..\"; got \".\"");
    expect_name_error("..", "repository: expected a name other than \".\" and \"..\"; got \"..\"");
    cr_expect_eq(hr_package_check_name("package", "a b", NULL), HR_EINVAL);
}

/* ---- publishing: accepted --------------------------------------------- */

Test(publish, gocd_fixture_round_trips)
{
    size_t len;
    char *body = fixture("package_latest-revision_response.json", &len);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    json_t *want, *got;
    char ts[HR_TIME_STR_MAX];

    cr_assert_eq(hr_package_revision_parse("yum", "abc", body, len, NOW_MS, &ev, &errs), HR_OK,
                 "%s", errs.n ? errs.msgs[0] : "");
    const hr_package_rev *p = &ev->package;
    cr_expect_str_eq(ev->source, HR_SOURCE_PACKAGE);
    cr_expect_str_eq(ev->kind, HR_KIND_PACKAGE_REVISION);
    cr_expect_str_eq(ev->version, "1");
    cr_expect(ev->has_package);
    cr_expect_not(ev->has_agent);
    cr_expect_eq(ev->received_at, 0);
    cr_expect_str_eq(p->repository, "yum");
    cr_expect_str_eq(p->package, "abc");
    cr_expect_str_eq(p->revision, "abc.rpm");
    cr_expect_str_eq(hr_time_format(p->timestamp, ts, sizeof(ts)), "2011-07-14T19:43:37.100Z");
    cr_expect_str_eq(p->user, "some-user");
    cr_expect_str_eq(p->comment, "comment");
    cr_expect_str_eq(p->trackback_url, "http:\\localhost:9999");
    cr_expect_eq(json_object_size(p->data), 2);
    cr_expect_str_eq(json_string_value(json_object_get(p->data, "dataKeyOne")), "data-value-one");
    cr_expect_str_eq(json_string_value(json_object_get(p->data, "dataKeyTwo")), "data-value-two");
    cr_expect_eq(ev->raw_len, len);
    cr_expect_eq(memcmp(ev->raw, body, len), 0);

    /* The answer GoCD reads is the fixture GoCD's own test reads. */
    want = json_loadb(body, len, 0, NULL);
    got = hr_package_revision_json(p);
    cr_expect(json_equal(want, got));
    expect_dump(got, "{\"revision\":\"abc.rpm\",\"timestamp\":\"2011-07-14T19:43:37.100Z\","
                     "\"user\":\"some-user\",\"revisionComment\":\"comment\","
                     "\"trackbackUrl\":\"http:\\\\localhost:9999\",\"data\":{\"dataKeyOne\":"
                     "\"data-value-one\",\"dataKeyTwo\":\"data-value-two\"}}");
    json_decref(want);
    hr_event_free(ev);
    free(body);
}

Test(publish, minimal_defaults)
{
    hr_event *ev = publish_ok("{\"revision\":\"1.0.0\"}");
    const hr_package_rev *p = &ev->package;
    cr_expect_eq(p->timestamp, NOW_MS);
    cr_expect_null(p->user);
    cr_expect_null(p->comment);
    cr_expect_null(p->trackback_url);
    cr_expect(json_is_object(p->data));
    cr_expect_eq(json_object_size(p->data), 0);
    /* Unset strings are left out of GoCD's answer; data is always there. */
    expect_dump(hr_package_revision_json(p), "{\"revision\":\"1.0.0\",\"timestamp\":"
                                             "\"2011-07-14T19:43:37.100Z\",\"data\":{}}");
    hr_event_free(ev);
}

Test(publish, nulls_mean_not_sent)
{
    hr_event *ev = publish_ok("{\"revision\":\"r\",\"timestamp\":null,\"user\":null,"
                              "\"revisionComment\":null,\"trackbackUrl\":null,\"data\":null}");
    cr_expect_eq(ev->package.timestamp, NOW_MS);
    cr_expect_null(ev->package.user);
    cr_expect_null(ev->package.comment);
    cr_expect_null(ev->package.trackback_url);
    cr_expect_eq(json_object_size(ev->package.data), 0);
    hr_event_free(ev);
}

Test(publish, timestamp_forms)
{
    static const struct {
        const char *in, *utc;
    } cases[] = {
        {"2011-07-14T19:43:37.100Z", "2011-07-14T19:43:37.100Z"},
        {"2011-07-14T19:43:37Z", "2011-07-14T19:43:37.000Z"},
        {"2011-07-14T21:43:37.100+0200", "2011-07-14T19:43:37.100Z"},
        {"2011-07-14T14:43:37.100-0500", "2011-07-14T19:43:37.100Z"},
        {"1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z"},
        {"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256], ts[HR_TIME_STR_MAX];
        snprintf(body, sizeof(body), "{\"revision\":\"r\",\"timestamp\":\"%s\"}", cases[i].in);
        hr_event *ev = publish_ok(body);
        cr_expect_str_eq(hr_time_format(ev->package.timestamp, ts, sizeof(ts)), cases[i].utc);
        hr_event_free(ev);
    }
}

Test(publish, limits_are_inclusive)
{
    size_t cap = HR_MAX_PACKAGE_BODY_BYTES, at = 0;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    at += (size_t)snprintf(body + at, cap - at, "{\"revision\":\"");
    memset(body + at, 'r', HR_MAX_PACKAGE_REVISION_BYTES);
    at += HR_MAX_PACKAGE_REVISION_BYTES;
    at += (size_t)snprintf(body + at, cap - at, "\",\"data\":{");
    for (unsigned i = 0; i < HR_MAX_PACKAGE_DATA_KEYS; i++)
        at += (size_t)snprintf(body + at, cap - at, "%s\"K%u\":\"v\"", i ? "," : "", i);
    snprintf(body + at, cap - at, "}}");
    hr_event *ev = publish_ok(body);
    cr_expect_eq(strlen(ev->package.revision), HR_MAX_PACKAGE_REVISION_BYTES);
    cr_expect_eq(json_object_size(ev->package.data), HR_MAX_PACKAGE_DATA_KEYS);
    hr_event_free(ev);
    free(body);
}

Test(publish, long_key_and_value_at_the_limit)
{
    char key[HR_MAX_PACKAGE_DATA_KEY_BYTES + 1], value[HR_MAX_PACKAGE_DATA_VALUE_BYTES + 1];
    char body[HR_MAX_PACKAGE_DATA_KEY_BYTES + HR_MAX_PACKAGE_DATA_VALUE_BYTES + 64];
    memset(key, 'K', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"revision\":\"r\",\"data\":{\"%s\":\"%s\"}}", key, value);
    hr_event *ev = publish_ok(body);
    cr_expect_eq(json_string_length(json_object_get(ev->package.data, key)),
                 HR_MAX_PACKAGE_DATA_VALUE_BYTES);
    hr_event_free(ev);
}

Test(publish, event_json_carries_the_package)
{
    hr_event *ev = publish_ok("{\"revision\":\"2.1\",\"user\":\"ci\",\"revisionComment\":\"c\","
                              "\"trackbackUrl\":\"https://ci/1\",\"data\":{\"VERSION\":\"2.1\"}}");
    json_t *j = event_doc_json(ev);
    json_t *p = json_object_get(j, "package");
    cr_expect_str_eq(json_string_value(json_object_get(j, "source")), "package");
    cr_expect_str_eq(json_string_value(json_object_get(j, "kind")), "package-revision");
    cr_expect_str_eq(json_string_value(json_object_get(p, "repository")), "repo");
    cr_expect_str_eq(json_string_value(json_object_get(p, "name")), "pkg");
    cr_expect_str_eq(json_string_value(json_object_get(p, "revision")), "2.1");
    cr_expect_str_eq(json_string_value(json_object_get(p, "timestamp")),
                     "2011-07-14T19:43:37.100Z");
    cr_expect_str_eq(json_string_value(json_object_get(p, "user")), "ci");
    cr_expect_str_eq(json_string_value(json_object_get(p, "revision_comment")), "c");
    cr_expect_str_eq(json_string_value(json_object_get(p, "trackback_url")), "https://ci/1");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(p, "data"), "VERSION")),
                     "2.1");
    json_decref(j);
    hr_event_free(ev);
}

/* ---- publishing: every refusal ---------------------------------------- */

Test(publish, docs_example_key_is_refused)
{
    size_t len;
    char *body = fixture("docs_package_latest-revision_response.json", &len);
    expect_refused("repo", "pkg", body, len, HR_EINVAL, MSGS("data.DATA-THREE: " KEY_RULE));
    free(body);
}

Test(publish, bad_names)
{
    expect_refused("a b", "..", "{\"revision\":\"1\"}", 16, HR_EINVAL,
                   MSGS("repository: " NAME_RULE "; got \"a b\"",
                        "package: expected a name other than \".\" and \"..\"; got \"..\""));
    /* A bad name does not stop the body's own checks. */
    expect_refused("ok", "", "{\"revision\":\"\"}", 15, HR_EINVAL,
                   MSGS("package: " NAME_RULE "; got \"\"",
                        "revision: expected a non-empty string; got \"\""));
}

Test(publish, revision)
{
    REFUSED("{\"revision\":\"\"}", "revision: expected a non-empty string; got \"\"");
    REFUSED("{}", "revision: expected a non-empty string; got nothing");
    REFUSED("{\"revision\":5}", "revision: expected a non-empty string; got 5");
    REFUSED("{\"revision\":null}", "revision: expected a non-empty string; got null");
    REFUSED("{\"revision\":[\"1\"]}", "revision: expected a non-empty string; got an array");

    char body[HR_MAX_PACKAGE_REVISION_BYTES + 64];
    int n = snprintf(body, sizeof(body), "{\"revision\":\"");
    memset(body + n, 'r', HR_MAX_PACKAGE_REVISION_BYTES + 1);
    snprintf(body + n + HR_MAX_PACKAGE_REVISION_BYTES + 1, 8, "\"}");
    REFUSED(body, "revision: expected at most 1024 bytes; got 1025");
}

Test(publish, timestamp)
{
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"yesterday\"}",
            "timestamp: " TIME_RULE "; got \"yesterday\"");
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"\"}", "timestamp: " TIME_RULE "; got \"\"");
    REFUSED("{\"revision\":\"1\",\"timestamp\":1310672617100}",
            "timestamp: " TIME_RULE "; got 1310672617100");
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"12-01-2014\"}",
            "timestamp: " TIME_RULE "; got \"12-01-2014\"");
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"1969-12-31T23:59:59.999Z\"}",
            "timestamp: " TIME_RULE "; got \"1969-12-31T23:59:59.999Z\"");
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"9999-12-31T23:59:59.999-0100\"}",
            "timestamp: " TIME_RULE "; got \"9999-12-31T23:59:59.999-0100\"");
    REFUSED("{\"revision\":\"1\",\"timestamp\":\"2011-02-30T00:00:00.000Z\"}",
            "timestamp: " TIME_RULE "; got \"2011-02-30T00:00:00.000Z\"");
}

Test(publish, optional_strings)
{
    REFUSED("{\"revision\":\"1\",\"user\":5}", "user: expected a string or null; got 5");
    REFUSED("{\"revision\":\"1\",\"revisionComment\":{}}",
            "revisionComment: expected a string or null; got an object");
    REFUSED("{\"revision\":\"1\",\"trackbackUrl\":true}",
            "trackbackUrl: expected a string or null; got true");
}

Test(publish, data)
{
    REFUSED("{\"revision\":\"1\",\"data\":[]}",
            "data: expected an object of strings or null; got an array");
    REFUSED("{\"revision\":\"1\",\"data\":\"x\"}",
            "data: expected an object of strings or null; got \"x\"");
    REFUSED("{\"revision\":\"1\",\"data\":{\"VERSION\":5}}",
            "data.VERSION: expected a string; got 5");
    REFUSED("{\"revision\":\"1\",\"data\":{\"VERSION\":null}}",
            "data.VERSION: expected a string; got null");
    REFUSED("{\"revision\":\"1\",\"data\":{\"a b\":\"x\"}}", "data[\"a b\"]: " KEY_RULE);
    REFUSED("{\"revision\":\"1\",\"data\":{\"\":\"x\"}}", "data[\"\"]: " KEY_RULE);
    REFUSED("{\"revision\":\"1\",\"data\":{\"caf\xc3\xa9\":\"x\"}}",
            "data[\"caf\xc3\xa9\"]: " KEY_RULE);
    REFUSED("{\"revision\":\"1\",\"data\":{\"A.B\":\"x\"}}", "data[\"A.B\"]: " KEY_RULE);
    /* Both problems of one entry, then the next entry's. */
    REFUSED("{\"revision\":\"1\",\"data\":{\"X-Y\":1,\"OK\":\"fine\",\"Z-Z\":\"z\"}}",
            "data.X-Y: " KEY_RULE, "data.X-Y: expected a string; got 1", "data.Z-Z: " KEY_RULE);
}

Test(publish, data_bounds)
{
    char key[HR_MAX_PACKAGE_DATA_KEY_BYTES + 2];
    char body[HR_MAX_PACKAGE_DATA_VALUE_BYTES + 256], msg[512];
    memset(key, 'K', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"revision\":\"1\",\"data\":{\"%s\":\"v\"}}", key);
    snprintf(msg, sizeof(msg), "data.%.64s: expected a key of at most 128 bytes; got 129", key);
    /* The key is not plain enough for a dotted path (over 64), so: */
    snprintf(msg, sizeof(msg),
             "data[\"KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK...\"]: expected a key of at most 128 "
             "bytes; got 129");
    REFUSED(body, msg);

    int n = snprintf(body, sizeof(body), "{\"revision\":\"1\",\"data\":{\"V\":\"");
    memset(body + n, 'v', HR_MAX_PACKAGE_DATA_VALUE_BYTES + 1);
    snprintf(body + n + HR_MAX_PACKAGE_DATA_VALUE_BYTES + 1, 8, "\"}}");
    REFUSED(body, "data.V: expected at most 4096 bytes; got 4097");

    size_t at = (size_t)snprintf(body, sizeof(body), "{\"revision\":\"1\",\"data\":{");
    for (unsigned i = 0; i <= HR_MAX_PACKAGE_DATA_KEYS; i++)
        at += (size_t)snprintf(body + at, sizeof(body) - at, "%s\"K%u\":\"v\"", i ? "," : "", i);
    snprintf(body + at, sizeof(body) - at, "}}");
    REFUSED(body, "data: expected at most 100 keys; got 101");
}

Test(publish, unknown_members)
{
    REFUSED("{\"revision\":\"1\",\"version\":\"1\",\"trackbackURL\":\"x\"}",
            "version: unknown member (herald reads " MEMBERS ")",
            "trackbackURL: unknown member (herald reads " MEMBERS ")");
    REFUSED("{\"revision\":\"1\",\"the data\":{}}",
            "[\"the data\"]: unknown member (herald reads " MEMBERS ")");
}

Test(publish, body_shape)
{
    REFUSED("[]", "body: expected an object; got an array");
    REFUSED("\"1.0\"", "body: expected an object; got \"1.0\"");
    expect_refused("repo", "pkg", "", 0, HR_EINVAL, MSGS("invalid JSON: the body is empty"));
    expect_refused("repo", "pkg", "{\"revision\":\"1\"", 15, HR_EINVAL,
                   MSGS("invalid JSON at line 1, column 15: '}' expected near end of file"));
    REFUSED("{\"revision\":\"1\",\"revision\":\"2\"}",
            "invalid JSON at line 1, column 26: duplicate object key near '\"revision\"'");
}

Test(publish, too_big)
{
    size_t len = HR_MAX_PACKAGE_BODY_BYTES + 1;
    char *body = malloc(len);
    cr_assert_not_null(body);
    memset(body, ' ', len);
    memcpy(body, "{\"revision\":\"1\"}", 16);
    expect_refused("repo", "pkg", body, len, HR_ETOOBIG,
                   MSGS("body: expected at most 65536 bytes; got 65537"));
    /* At the limit it is read. */
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    cr_expect_eq(hr_package_revision_parse("repo", "pkg", body, len - 1, NOW_MS, &ev, &errs),
                 HR_OK);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
    free(body);
}

Test(publish, errs_may_be_null_and_are_appended)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    cr_expect_eq(hr_package_revision_parse("r", "p", "{}", 2, NOW_MS, &ev, NULL), HR_EINVAL);
    cr_expect_null(ev);
    hr_errlist_add(&errs, "earlier");
    cr_expect_eq(
        hr_package_revision_parse("r", "p", "{\"revision\":\"1\"}", 16, NOW_MS, &ev, &errs), HR_OK);
    cr_expect_eq(hr_errlist_count(&errs), 1);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

/* ---- the extension: request names and configuration ------------------- */

Test(pkgrepo, request_names)
{
    static const char *const names[] = {
        "repository-configuration",
        "package-configuration",
        "validate-repository-configuration",
        "validate-package-configuration",
        "check-repository-connection",
        "check-package-connection",
        "latest-revision",
        "latest-revision-since",
    };
    hr_pkgrepo_kind k;
    for (int i = 0; i < HR_PKGREPO_NKINDS; i++) {
        cr_expect_eq(hr_pkgrepo_kind_of(names[i], &k), HR_OK);
        cr_expect_eq((int)k, i);
        cr_expect_str_eq(hr_pkgrepo_request_name(k), names[i]);
    }
    cr_expect_eq(hr_pkgrepo_kind_of("latest-revisions", &k), HR_ENOTFOUND);
    cr_expect_eq(hr_pkgrepo_kind_of("", &k), HR_ENOTFOUND);
    cr_expect_eq(hr_pkgrepo_kind_of(NULL, &k), HR_ENOTFOUND);
}

Test(pkgrepo, unknown_request_name)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    memset(&r, 0x5a, sizeof(r));
    cr_expect_eq(hr_pkgrepo_parse("go.plugin-settings.get-view", "{}", 2, &r, &errs), HR_ENOTFOUND);
    cr_expect_eq(hr_errlist_count(&errs), 0);
    cr_expect_eq(*(unsigned char *)&r, 0x5a, "out was touched");
}

Test(pkgrepo, configurations)
{
    expect_dump(hr_pkgrepo_repository_configuration(),
                "{\"HERALD_REPOSITORY\":{\"default-value\":\"\",\"part-of-identity\":true,"
                "\"secure\":false,\"required\":true,\"display-name\":\"Repository name in "
                "herald\",\"display-order\":\"0\"}}");
    expect_dump(hr_pkgrepo_package_configuration(),
                "{\"HERALD_PACKAGE\":{\"default-value\":\"\",\"part-of-identity\":true,"
                "\"secure\":false,\"required\":true,\"display-name\":\"Package name in herald\","
                "\"display-order\":\"0\"}}");
}

/* Our properties carry exactly the members, with the types, of the full
 * entry in GoCD's own test ("key-two"). */
Test(pkgrepo, configuration_matches_gocd_fixture)
{
    size_t len;
    char *body = fixture("package_repository-configuration_response.json", &len);
    json_t *want = json_loadb(body, len, 0, NULL);
    json_t *configs[2] = {hr_pkgrepo_repository_configuration(),
                          hr_pkgrepo_package_configuration()};
    const char *keys[2] = {"HERALD_REPOSITORY", "HERALD_PACKAGE"};
    const json_t *full = json_object_get(want, "key-two");
    cr_assert_not_null(full);
    for (int i = 0; i < 2; i++) {
        const json_t *ours = json_object_get(configs[i], keys[i]);
        const char *key;
        json_t *v;
        cr_expect_eq(json_object_size(configs[i]), 1);
        cr_expect_eq(json_object_size(ours), json_object_size(full));
        json_object_foreach((json_t *)full, key, v)
        {
            const json_t *mine = json_object_get(ours, key);
            cr_expect_not_null(mine, "%s", key);
            cr_expect(json_is_boolean(v) ? json_is_boolean(mine)
                                         : json_typeof(mine) == json_typeof(v),
                      "%s", key);
        }
        /* GoCD reads display-order with Integer.valueOf((String) ...). */
        cr_expect_str_eq(json_string_value(json_object_get(ours, "display-order")), "0");
        json_decref(configs[i]);
    }
    json_decref(want);
    free(body);
}

/* ---- the extension: reading requests ---------------------------------- */

/* Parses and must succeed. */
static void parse_ok(const char *name, const char *body, hr_pkgrepo_request *r)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    int rc = hr_pkgrepo_parse(name, body, body ? strlen(body) : 0, r, &errs);
    cr_assert_eq(rc, HR_OK, "%s refused %s: %s", name, body, errs.n ? errs.msgs[0] : "?");
    cr_assert_eq(hr_errlist_count(&errs), 0);
}

/* Parses and must be refused with exactly msgs. */
static void parse_refused(const char *name, const char *body, const char *const *msgs)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    hr_pkgrepo_kind k;
    size_t n = 0;
    int rc = hr_pkgrepo_parse(name, body, strlen(body), &r, &errs);
    cr_expect_eq(rc, HR_EINVAL, "%s accepted %s", name, body);
    cr_expect_eq(hr_pkgrepo_kind_of(name, &k), HR_OK);
    cr_expect_eq(r.kind, k);
    cr_expect_null(r.repository_config);
    cr_expect_null(r.repository);
    while (msgs[n] != NULL)
        n++;
    cr_expect_eq(hr_errlist_count(&errs), n, "%s: %zu messages, first %s", body,
                 hr_errlist_count(&errs), errs.n ? errs.msgs[0] : "");
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], msgs[i]);
    hr_pkgrepo_request_clear(&r);
    hr_errlist_clear(&errs);
}

/* GoCD's own latest-revision(-since) request, with its first repository
 * and package keys renamed to herald's. New. */
static char *herald_fixture(const char *name)
{
    size_t len;
    char *body = fixture(name, &len), *out, *at;
    const char *from[] = {"\"key-one\"", "\"key-three\""};
    const char *to[] = {"\"HERALD_REPOSITORY\"", "\"HERALD_PACKAGE\""};
    out = malloc(len + 64);
    cr_assert_not_null(out);
    memcpy(out, body, len + 1);
    for (int i = 0; i < 2; i++) {
        at = strstr(out, from[i]);
        cr_assert_not_null(at);
        memmove(at + strlen(to[i]), at + strlen(from[i]), strlen(at + strlen(from[i])) + 1);
        memcpy(at, to[i], strlen(to[i]));
    }
    free(body);
    return out;
}

Test(pkgrepo, latest_revision_fixture)
{
    char *body = herald_fixture("package_latest-revision_request.json");
    hr_pkgrepo_request r;
    parse_ok("latest-revision", body, &r);
    cr_expect_eq(r.kind, HR_PKGREPO_LATEST_REVISION);
    cr_expect_str_eq(r.repository, "value-one");
    cr_expect_str_eq(r.package, "value-three");
    expect_dump(json_incref(r.repository_config),
                "{\"HERALD_REPOSITORY\":\"value-one\",\"key-two\":\"value-two\"}");
    expect_dump(json_incref(r.package_config),
                "{\"HERALD_PACKAGE\":\"value-three\",\"key-four\":\"value-four\"}");
    cr_expect_null(r.previous_revision);
    cr_expect_null(r.previous_data);
    cr_expect_eq(r.previous_timestamp, HR_TIME_NONE);
    hr_pkgrepo_request_clear(&r);
    cr_expect_null(r.repository_config);
    hr_pkgrepo_request_clear(NULL);
    free(body);
}

Test(pkgrepo, latest_revision_since_fixture)
{
    char *body = herald_fixture("package_latest-revision-since_request.json");
    hr_pkgrepo_request r;
    char ts[HR_TIME_STR_MAX];
    parse_ok("latest-revision-since", body, &r);
    cr_expect_eq(r.kind, HR_PKGREPO_LATEST_REVISION_SINCE);
    cr_expect_str_eq(r.repository, "value-one");
    cr_expect_str_eq(r.package, "value-three");
    cr_expect_str_eq(r.previous_revision, "abc.rpm");
    cr_expect_str_eq(hr_time_format(r.previous_timestamp, ts, sizeof(ts)),
                     "2011-07-13T19:43:37.100Z");
    expect_dump(json_incref(r.previous_data),
                "{\"dataKeyOne\":\"data-value-one\",\"dataKeyTwo\":\"data-value-two\"}");
    hr_pkgrepo_request_clear(&r);
    free(body);
}

/* GoCD's fixtures as they are: no herald keys, so lookups are refused with
 * the reason, and validation names every key. */
Test(pkgrepo, gocd_fixture_without_herald_keys)
{
    size_t len;
    char *body = fixture("package_latest-revision_request.json", &len);
    parse_refused("latest-revision", body,
                  MSGS("repository-configuration.HERALD_REPOSITORY: " NAME_RULE "; got nothing",
                       "package-configuration.HERALD_PACKAGE: " NAME_RULE "; got nothing"));
    parse_refused("check-repository-connection", body,
                  MSGS("repository-configuration.HERALD_REPOSITORY: " NAME_RULE "; got nothing"));

    hr_pkgrepo_request r;
    parse_ok("validate-package-configuration", body, &r);
    cr_expect_null(r.repository);
    cr_expect_null(r.package);
    expect_dump(hr_pkgrepo_validate_package(&r),
                "[{\"key\":\"HERALD_PACKAGE\",\"message\":\"HERALD_PACKAGE is required: the "
                "package name used in POST /api/v1/packages/<repository>/<package>/revisions\"},"
                "{\"key\":\"key-three\",\"message\":\"herald does not use this key (the package "
                "configuration has only HERALD_PACKAGE)\"},{\"key\":\"key-four\",\"message\":"
                "\"herald does not use this key (the package configuration has only "
                "HERALD_PACKAGE)\"}]");
    hr_pkgrepo_request_clear(&r);
    parse_ok("validate-repository-configuration", body, &r);
    cr_expect_null(r.package_config);
    expect_dump(hr_pkgrepo_validate_repository(&r),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"HERALD_REPOSITORY is required: "
                "the repository name used in POST "
                "/api/v1/packages/<repository>/<package>/revisions\"},{\"key\":\"key-one\","
                "\"message\":\"herald does not use this key (the repository configuration has "
                "only HERALD_REPOSITORY)\"},{\"key\":\"key-two\",\"message\":\"herald does not "
                "use this key (the repository configuration has only HERALD_REPOSITORY)\"}]");
    hr_pkgrepo_request_clear(&r);
    free(body);
}

Test(pkgrepo, configuration_requests_ignore_the_body)
{
    hr_pkgrepo_request r;
    parse_ok("repository-configuration", NULL, &r);
    cr_expect_eq(r.kind, HR_PKGREPO_REPOSITORY_CONFIGURATION);
    cr_expect_null(r.repository_config);
    hr_pkgrepo_request_clear(&r);
    parse_ok("package-configuration", "not json", &r);
    cr_expect_eq(r.kind, HR_PKGREPO_PACKAGE_CONFIGURATION);
    hr_pkgrepo_request_clear(&r);
}

Test(pkgrepo, lenient_entries)
{
    hr_pkgrepo_request r;
    /* null, {} and {"value": null} are all "", unknown members ignored. */
    parse_ok("validate-repository-configuration",
             "{\"repository-configuration\":{\"HERALD_REPOSITORY\":null,\"A\":{},\"B\":{\"value\":"
             "null,\"secure\":false}},\"extra\":1}",
             &r);
    expect_dump(json_incref(r.repository_config),
                "{\"HERALD_REPOSITORY\":\"\",\"A\":\"\",\"B\":\"\"}");
    cr_expect_null(r.repository);
    hr_pkgrepo_request_clear(&r);
    /* A missing or null map is an empty one. */
    parse_ok("validate-package-configuration", "{\"package-configuration\":null}", &r);
    expect_dump(json_incref(r.repository_config), "{}");
    expect_dump(json_incref(r.package_config), "{}");
    hr_pkgrepo_request_clear(&r);
    /* check-repository-connection ignores a package map it does not need. */
    parse_ok("check-repository-connection",
             "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"ci\"}},"
             "\"package-configuration\":5}",
             &r);
    cr_expect_str_eq(r.repository, "ci");
    cr_expect_null(r.package_config);
    cr_expect_null(r.package);
    hr_pkgrepo_request_clear(&r);
}

Test(pkgrepo, shape_errors)
{
    parse_refused("validate-repository-configuration", "{\"repository-configuration\":5}",
                  MSGS("repository-configuration: expected an object; got 5"));
    parse_refused("validate-repository-configuration",
                  "{\"repository-configuration\":{\"HERALD_REPOSITORY\":\"ci\"}}",
                  MSGS("repository-configuration.HERALD_REPOSITORY: expected {\"value\": "
                       "\"...\"} or null; got \"ci\""));
    parse_refused("validate-package-configuration",
                  "{\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":5},\"a b\":[]}}",
                  MSGS("package-configuration.HERALD_PACKAGE.value: expected a string or null; "
                       "got 5",
                       "package-configuration[\"a b\"]: expected {\"value\": \"...\"} or null; "
                       "got an array"));
    parse_refused("latest-revision", "[]", MSGS("body: expected an object; got an array"));
    parse_refused("check-package-connection", "", MSGS("invalid JSON: the body is empty"));
}

Test(pkgrepo, lookups_need_valid_names)
{
    parse_refused("check-package-connection",
                  "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"a b\"}},"
                  "\"package-configuration\":{\"HERALD_PACKAGE\":{}}}",
                  MSGS("repository-configuration.HERALD_REPOSITORY: " NAME_RULE "; got \"a b\"",
                       "package-configuration.HERALD_PACKAGE: " NAME_RULE "; got \"\""));
    parse_refused("latest-revision",
                  "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"..\"}},"
                  "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"p\"}}}",
                  MSGS("repository-configuration.HERALD_REPOSITORY: expected a name other than "
                       "\".\" and \"..\"; got \"..\""));
}

#define SINCE_HEAD                                                                                 \
    "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"ci\"}},"                    \
    "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"app\"}}"

Test(pkgrepo, previous_revision)
{
    hr_pkgrepo_request r;
    /* GoCD writes a missing time as "" and leaves null data out. */
    parse_ok("latest-revision-since",
             SINCE_HEAD ",\"previous-revision\":{\"revision\":\"3\",\"timestamp\":\"\"}}", &r);
    cr_expect_str_eq(r.previous_revision, "3");
    cr_expect_eq(r.previous_timestamp, HR_TIME_NONE);
    expect_dump(json_incref(r.previous_data), "{}");
    hr_pkgrepo_request_clear(&r);

    parse_refused("latest-revision-since", SINCE_HEAD "}",
                  MSGS("previous-revision: expected an object; got nothing"));
    parse_refused("latest-revision-since",
                  SINCE_HEAD ",\"previous-revision\":{\"revision\":3,\"timestamp\":\"x\","
                             "\"data\":{\"K\":1}}}",
                  MSGS("previous-revision.revision: expected a string; got 3",
                       "previous-revision.timestamp: expected yyyy-MM-ddTHH:mm:ss.SSSZ from "
                       "1970 to 9999, such as 2011-07-14T19:43:37.100Z or "
                       "2011-07-14T21:43:37.100+0200, \"\" or null; got \"x\"",
                       "previous-revision.data.K: expected a string; got 1"));
    parse_refused("latest-revision-since",
                  SINCE_HEAD ",\"previous-revision\":{\"revision\":\"1\",\"data\":[]}}",
                  MSGS("previous-revision.data: expected an object of strings or null; got an "
                       "array"));
}

/* ---- the extension: validation ---------------------------------------- */

static json_t *validate_repo(const char *entry)
{
    char body[512];
    hr_pkgrepo_request r;
    json_t *out;
    snprintf(body, sizeof(body), "{\"repository-configuration\":{%s}}", entry);
    parse_ok("validate-repository-configuration", body, &r);
    out = hr_pkgrepo_validate_repository(&r);
    hr_pkgrepo_request_clear(&r);
    return out;
}

Test(pkgrepo, validate_repository)
{
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":{\"value\":\"ci\"}"), "[]");
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":{\"value\":\"\"}"),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"HERALD_REPOSITORY must not be "
                "empty\"}]");
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":null"),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"HERALD_REPOSITORY must not be "
                "empty\"}]");
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":{\"value\":\"my repo\"}"),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"" NAME_RULE
                "; got \\\"my repo\\\"\"}]");
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":{\"value\":\".\"}"),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"expected a name other than "
                "\\\".\\\" and \\\"..\\\"; got \\\".\\\"\"}]");
    expect_dump(validate_repo("\"HERALD_REPOSITORY\":{\"value\":\"ci\"},\"URL\":{\"value\":\"x\"}"),
                "[{\"key\":\"URL\",\"message\":\"herald does not use this key (the repository "
                "configuration has only HERALD_REPOSITORY)\"}]");
    /* Case matters: GoCD's keys are exact. */
    expect_dump(validate_repo("\"herald_repository\":{\"value\":\"ci\"}"),
                "[{\"key\":\"HERALD_REPOSITORY\",\"message\":\"HERALD_REPOSITORY is required: "
                "the repository name used in POST "
                "/api/v1/packages/<repository>/<package>/revisions\"},{\"key\":"
                "\"herald_repository\",\"message\":\"herald does not use this key (the "
                "repository configuration has only HERALD_REPOSITORY)\"}]");
}

Test(pkgrepo, validate_package_judges_the_package_only)
{
    hr_pkgrepo_request r;
    parse_ok("validate-package-configuration",
             "{\"repository-configuration\":{\"X\":{\"value\":\"bad\"}},"
             "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"app\"}}}",
             &r);
    cr_expect_str_eq(r.package, "app");
    expect_dump(hr_pkgrepo_validate_package(&r), "[]");
    hr_pkgrepo_request_clear(&r);
    parse_ok("validate-package-configuration",
             "{\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"a/b\"}}}", &r);
    expect_dump(hr_pkgrepo_validate_package(&r),
                "[{\"key\":\"HERALD_PACKAGE\",\"message\":\"" NAME_RULE "; got \\\"a/b\\\"\"}]");
    hr_pkgrepo_request_clear(&r);
}

/* Our validation answers have the members GoCD's own test reads. */
Test(pkgrepo, validation_shape_matches_gocd_fixture)
{
    size_t len;
    char *body = fixture("package_validate_response.json", &len);
    json_t *want = json_loadb(body, len, 0, NULL);
    json_t *ours = validate_repo("\"URL\":{}");
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_answer a;
    json_t *general;

    cr_assert(json_is_array(want));
    cr_expect_eq(json_object_size(json_array_get(ours, 0)),
                 json_object_size(json_array_get(want, 0)));
    /* A refused validate request gives general errors, like GoCD's second
     * entry. */
    hr_errlist_add(&errs, "repository-configuration: expected an object; got 5");
    hr_pkgrepo_refusal(HR_PKGREPO_VALIDATE_REPOSITORY, &errs, &a);
    general = json_loadb(a.body, a.len, 0, NULL);
    cr_expect_eq(json_object_size(json_array_get(general, 0)),
                 json_object_size(json_array_get(want, 1)));
    cr_expect_not_null(json_object_get(json_array_get(general, 0), "message"));
    json_decref(general);
    json_decref(ours);
    json_decref(want);
    hr_pkgrepo_answer_clear(&a);
    hr_errlist_clear(&errs);
    free(body);
}

/* ---- the extension: answers ------------------------------------------- */

static hr_package_rev sample_rev(json_t *data)
{
    hr_package_rev rev = {0};
    rev.repository = "ci";
    rev.package = "app";
    rev.revision = "3";
    rev.timestamp = NOW_MS;
    rev.user = "bob";
    rev.data = data;
    return rev;
}

Test(answers, check_connection)
{
    hr_package_rev rev = sample_rev(NULL);
    expect_dump(hr_pkgrepo_check_answer(true, "ok %d", 1),
                "{\"status\":\"success\",\"messages\":[\"ok 1\"]}");
    expect_dump(hr_pkgrepo_check_repository("ci", 0),
                "{\"status\":\"failure\",\"messages\":[\"herald has no package in repository "
                "\\\"ci\\\" yet: publish a revision with POST "
                "/api/v1/packages/ci/<package>/revisions\"]}");
    expect_dump(hr_pkgrepo_check_repository("ci", 1),
                "{\"status\":\"success\",\"messages\":[\"herald has 1 package in repository "
                "\\\"ci\\\"\"]}");
    expect_dump(hr_pkgrepo_check_repository("ci", 2),
                "{\"status\":\"success\",\"messages\":[\"herald has 2 packages in repository "
                "\\\"ci\\\"\"]}");
    expect_dump(hr_pkgrepo_check_package("ci", "app", NULL, 0),
                "{\"status\":\"failure\",\"messages\":[\"herald has no revision of package "
                "ci/app yet: publish one with POST /api/v1/packages/ci/app/revisions\"]}");
    expect_dump(hr_pkgrepo_check_package("ci", "app", &rev, 3),
                "{\"status\":\"success\",\"messages\":[\"herald has package ci/app with 3 "
                "revisions; latest revision \\\"3\\\" of 2011-07-14T19:43:37.100Z\"]}");
    rev.timestamp = HR_TIME_NONE;
    expect_dump(hr_pkgrepo_check_package("ci", "app", &rev, 1),
                "{\"status\":\"success\",\"messages\":[\"herald has package ci/app with 1 "
                "revision; latest revision \\\"3\\\"\"]}");
}

Test(answers, latest_revision)
{
    json_t *data = json_pack("{s:s}", "VERSION", "3.0");
    hr_package_rev rev = sample_rev(data);
    hr_pkgrepo_answer a;

    hr_pkgrepo_latest_answer(&rev, "ci", "app", &a);
    cr_expect_eq(a.status, 200);
    cr_expect_str_eq(a.content_type, "application/json");
    cr_expect_str_eq(a.body, "{\"revision\":\"3\",\"timestamp\":\"2011-07-14T19:43:37.100Z\","
                             "\"user\":\"bob\",\"data\":{\"VERSION\":\"3.0\"}}");
    cr_expect_eq(a.len, strlen(a.body));
    hr_pkgrepo_answer_clear(&a);
    cr_expect_null(a.body);

    hr_pkgrepo_latest_answer(NULL, "ci", "app", &a);
    cr_expect_eq(a.status, 404);
    cr_expect_str_eq(a.content_type, "text/plain; charset=utf-8");
    cr_expect_str_eq(a.body, "herald has no revision of package ci/app yet: publish one with "
                             "POST /api/v1/packages/ci/app/revisions");
    hr_pkgrepo_answer_clear(&a);
    hr_pkgrepo_answer_clear(NULL);
    json_decref(data);
}

Test(answers, latest_revision_since)
{
    hr_package_rev rev = sample_rev(NULL);
    hr_pkgrepo_request r;
    hr_pkgrepo_answer a;

    parse_ok("latest-revision-since",
             SINCE_HEAD ",\"previous-revision\":{\"revision\":\"3\",\"timestamp\":"
                        "\"2011-07-14T19:43:37.100Z\",\"data\":{}}}",
             &r);
    /* The latest is GoCD's previous one: nothing new. */
    hr_pkgrepo_since_answer(&rev, &r, &a);
    cr_expect_eq(a.status, 200);
    cr_expect_str_eq(a.content_type, "application/json");
    cr_expect_str_eq(a.body, "{}");
    hr_pkgrepo_answer_clear(&a);
    /* Another one: it is the answer. */
    rev.revision = "4";
    hr_pkgrepo_since_answer(&rev, &r, &a);
    cr_expect_eq(a.status, 200);
    cr_expect_str_eq(a.body, "{\"revision\":\"4\",\"timestamp\":\"2011-07-14T19:43:37.100Z\","
                             "\"user\":\"bob\",\"data\":{}}");
    hr_pkgrepo_answer_clear(&a);
    /* None at all: the same 404 as latest-revision. */
    hr_pkgrepo_since_answer(NULL, &r, &a);
    cr_expect_eq(a.status, 404);
    cr_expect_str_eq(a.body, "herald has no revision of package ci/app yet: publish one with "
                             "POST /api/v1/packages/ci/app/revisions");
    hr_pkgrepo_answer_clear(&a);
    hr_pkgrepo_request_clear(&r);
}

static void expect_refusal(hr_pkgrepo_kind kind, int status, const char *ct, const char *body)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_answer a;
    hr_errlist_add(&errs, "one");
    hr_errlist_add(&errs, "two");
    hr_pkgrepo_refusal(kind, &errs, &a);
    cr_expect_eq(a.status, status, "%s", hr_pkgrepo_request_name(kind));
    cr_expect_str_eq(a.content_type, ct);
    cr_expect_str_eq(a.body, body);
    cr_expect_eq(a.len, strlen(body));
    hr_pkgrepo_answer_clear(&a);
    hr_errlist_clear(&errs);
}

Test(answers, refusals)
{
    expect_refusal(HR_PKGREPO_VALIDATE_REPOSITORY, 200, "application/json",
                   "[{\"message\":\"one\"},{\"message\":\"two\"}]");
    expect_refusal(HR_PKGREPO_VALIDATE_PACKAGE, 200, "application/json",
                   "[{\"message\":\"one\"},{\"message\":\"two\"}]");
    expect_refusal(HR_PKGREPO_CHECK_REPOSITORY, 200, "application/json",
                   "{\"status\":\"failure\",\"messages\":[\"one\",\"two\"]}");
    expect_refusal(HR_PKGREPO_CHECK_PACKAGE, 200, "application/json",
                   "{\"status\":\"failure\",\"messages\":[\"one\",\"two\"]}");
    expect_refusal(HR_PKGREPO_LATEST_REVISION, 400, "text/plain; charset=utf-8",
                   "herald cannot answer latest-revision: one; two");
    expect_refusal(HR_PKGREPO_LATEST_REVISION_SINCE, 400, "text/plain; charset=utf-8",
                   "herald cannot answer latest-revision-since: one; two");
}

Test(answers, refusal_of_many_messages_stays_bounded)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_pkgrepo_answer a;
    char msg[600];
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (int i = 0; i < HR_MAX_ERRORS + 5; i++)
        hr_errlist_add(&errs, "%s", msg);
    hr_pkgrepo_refusal(HR_PKGREPO_LATEST_REVISION, &errs, &a);
    cr_expect_eq(a.status, 400);
    cr_expect_lt(a.len, 4096);
    cr_expect_eq(strncmp(a.body, "herald cannot answer latest-revision: mmm", 41), 0);
    hr_pkgrepo_answer_clear(&a);
    hr_pkgrepo_refusal(HR_PKGREPO_CHECK_PACKAGE, &errs, &a);
    json_t *v = json_loadb(a.body, a.len, 0, NULL);
    cr_expect_eq(json_array_size(json_object_get(v, "messages")), HR_MAX_ERRORS + 1);
    cr_expect_str_eq(
        json_string_value(json_array_get(json_object_get(v, "messages"), HR_MAX_ERRORS)),
        "... and 5 more problems");
    json_decref(v);
    hr_pkgrepo_answer_clear(&a);
    hr_errlist_clear(&errs);
}

Test(answers, no_revision_sentence)
{
    char buf[256];
    cr_expect_str_eq(hr_pkgrepo_no_revision("r", "p", buf, sizeof(buf)),
                     "herald has no revision of package r/p yet: publish one with POST "
                     "/api/v1/packages/r/p/revisions");
}
