/*
 * fuzz_package_revision.c - the publish parser (hr_package_revision_parse)
 * on any bytes, under valid names and under names that are refused.
 *
 * Whatever the input, the call must return HR_OK with an event and no
 * message, or HR_EINVAL/HR_ETOOBIG with at least one message and no event;
 * every message must be valid UTF-8 (it travels inside JSON). An accepted
 * revision must keep GoCD's rules (data keys of [A-Za-z0-9_]+ to strings,
 * a non-empty revision) and give a GoCD answer that parses back to the
 * same revision and timestamp. Everything returned is freed here, so
 * LeakSanitizer (or valgrind on the replay program) reports any path that
 * forgets to free.
 */
#include "fuzz_doc.h"
#include "core/timefmt.h"
#include "ingest/package.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2011-07-14T19:43:37.100Z: a fixed "now", so runs repeat. */
#define NOW_MS INT64_C(1310672617100)

static void check_messages(const hr_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        json_t *m = json_string(errs->msgs[i]);
        if (m == NULL)
            abort();
        json_decref(m);
    }
}

/* The accepted revision keeps GoCD's rules, and its answer reads back. */
static void check_revision(const hr_event *ev)
{
    const hr_package_rev *p = &ev->package;
    json_t *answer, *back;
    const char *key;
    json_t *v;
    int64_t t;

    if (!ev->has_package || p->revision == NULL || p->revision[0] == '\0' ||
        !json_is_object(p->data) || p->timestamp == HR_TIME_NONE)
        abort();
    json_object_foreach(p->data, key, v)
    {
        if (key[0] == '\0' ||
            strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789_") != strlen(key) ||
            !json_is_string(v))
            abort();
    }
    answer = hr_package_revision_json(p);
    back = json_object_get(answer, "timestamp");
    if (strcmp(json_string_value(json_object_get(answer, "revision")), p->revision) != 0 ||
        !json_is_string(back) ||
        hr_time_parse(json_string_value(back), json_string_length(back), &t) != HR_OK ||
        t != p->timestamp || !json_equal(json_object_get(answer, "data"), p->data))
        abort();
    json_decref(answer);
    fuzz_check_doc(ev);
}

static void run(const char *repository, const char *package, const char *body, size_t len)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_package_revision_parse(repository, package, body, len, NOW_MS, &ev, &errs);

    if (rc == HR_OK && (ev == NULL || hr_errlist_count(&errs) != 0))
        abort();
    if (rc != HR_OK &&
        ((rc != HR_EINVAL && rc != HR_ETOOBIG) || ev != NULL || hr_errlist_count(&errs) == 0))
        abort();
    check_messages(&errs);
    if (ev != NULL) {
        if (ev->raw_len != len || memcmp(ev->raw, body, len) != 0)
            abort();
        check_revision(ev);
    }
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    run("repo", "pkg", body, size);
    /* Refused names must not stop the body's own checks. */
    run("a b", "..", body, size);
    return 0;
}
