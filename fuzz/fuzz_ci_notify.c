/*
 * fuzz_ci_notify.c - `herald notify`'s body (hr_ci_notify) under two sets
 * of redaction rules.
 *
 * Besides the contract every parser keeps (see check_outcome): the source
 * is "ci" or a name of a-z, 0-9 and '-'; with the default rules, the raw
 * body an accepted input produces must be accepted again and produce
 * itself byte for byte. Everything is freed here, so LeakSanitizer reports
 * any forgotten path.
 */
#include "ingest/jenkins.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The default rules, and narrower ones that hide and drop the variables
 * the mapping reads (created once; the fuzzer runs one thread). */
static hr_redact *redactor(int which)
{
    static hr_redact *r[2];
    static const char *const patterns[] = {"*URL*", "*NAME*", "*TOKEN*"};
    static const char *const keep[] = {"JOB_*", "BUILD_*", "body", "A*"};

    if (r[which] == NULL &&
        (which == 0 ? hr_redact_new(NULL, 0, NULL, 0, &r[0], NULL)
                    : hr_redact_new(patterns, 3, keep, 4, &r[1], NULL)) != HR_OK)
        abort();
    return r[which];
}

/* Crashes (so the fuzzer records the input) when a call breaks its
 * contract: HR_OK with an event and no message, or HR_EINVAL with at
 * least one message and no event; messages valid UTF-8 (they travel in
 * JSON); an event complete enough for the store and templates. */
static void check_outcome(int rc, const hr_event *ev, const hr_errlist *errs)
{
    if (rc == HR_OK && (ev == NULL || hr_errlist_count(errs) != 0))
        abort();
    if (rc != HR_OK && (rc != HR_EINVAL || ev != NULL || hr_errlist_count(errs) == 0))
        abort();
    for (size_t i = 0; i < errs->n; i++) {
        json_t *m = json_string(errs->msgs[i]);
        if (m == NULL)
            abort();
        json_decref(m);
    }
    if (ev == NULL)
        return;
    if (!ev->has_build || ev->source == NULL || ev->kind == NULL || ev->version == NULL ||
        ev->build.job_name == NULL || ev->build.job_base_name == NULL || ev->build.phase == NULL ||
        ev->raw == NULL || strlen(ev->raw) != ev->raw_len || ev->received_at != 0)
        abort();
    if ((ev->build.result == NULL) !=
        (strcmp(ev->build.phase, "completed") != 0 && strcmp(ev->build.phase, "finalized") != 0))
        abort();
    json_decref(hr_event_to_json(ev));
}

static hr_event *run(const char *body, size_t len, int which)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_ci_notify(body, len, redactor(which), &ev, &errs);

    check_outcome(rc, ev, &errs);
    if (ev != NULL &&
        (strlen(ev->source) == 0 || strlen(ev->source) > 32 ||
         strspn(ev->source, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(ev->source)))
        abort();
    hr_errlist_clear(&errs);
    return ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_event *ev = run((const char *)data, size, 0), *again;

    if (ev != NULL) {
        again = run(ev->raw, ev->raw_len, 0);
        if (again == NULL || again->raw_len != ev->raw_len ||
            memcmp(again->raw, ev->raw, ev->raw_len) != 0)
            abort();
        hr_event_free(again);
    }
    hr_event_free(ev);
    hr_event_free(run((const char *)data, size, 1));
    return 0;
}
